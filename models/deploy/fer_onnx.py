"""A FER+ classifier from the manifest on onnxruntime: preprocessing as its manifest entry states, and logits.

The one runner of the bundled FER+ models, shared by the live face path
(:class:`affectstream.pipelines.face.student.FaceStudent` adds the probabilities and the valence/arousal reading), the
Visual-to-EEG KD teacher's frame features and the NeuroGaze-Distill KD teacher. Preprocessing is read from the entry's
``input`` block (size, channels, scale, mean, std): the single source of truth shared with the trainer and the
independent re-scoring, so a model trained at another resolution or on colour crops runs correctly without code changes.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from affectstream.models.deploy.manifest import verified_path
from affectstream.models.deploy.runtime import make_session

__all__ = ["FerOnnx", "VISUAL_STUDENT"]

#: Manifest name of the bundled visual student.
VISUAL_STUDENT = "visual_student"


class FerOnnx:
    """Runs an exported FER+ classifier.

    Parameters
    ----------
    onnx_path : Path
        The exported graph.
    entry : dict
        Its manifest entry (``input``, ``classes``, ``outputs``).
    device : {"cpu", "cuda", "auto"}
        onnxruntime provider choice.
    """

    def __init__(self, onnx_path: Path, entry: dict, device: str = "cpu") -> None:
        spec = entry["input"]
        self.size = tuple(int(v) for v in spec["size"])  # (H, W)
        self.channels = int(spec["channels"])
        self.scale = float(spec["scale"])
        self.mean = np.asarray(spec["mean"], dtype=np.float32).reshape(-1, 1, 1)
        self.std = np.asarray(spec["std"], dtype=np.float32).reshape(-1, 1, 1)
        self.classes = tuple(entry["classes"])
        self.session = make_session(onnx_path, threads=1, device=device)
        self._input = self.session.get_inputs()[0].name
        self._logits = entry["outputs"]["logits"]

    @classmethod
    def from_name(cls, name: str = VISUAL_STUDENT, device: str = "cpu"):
        """The manifest's model ``name`` after its sha256 check (raises ModelIntegrityError)."""
        path, entry = verified_path(name)
        return cls(path, entry, device)

    def preprocess(self, crop: np.ndarray) -> np.ndarray:
        """uint8 crop (H, W) grey or (H, W, 3) BGR -> (1, C, H, W) float32 as the manifest specifies."""
        if crop.ndim == 3 and self.channels == 1:
            crop = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
        if crop.shape[:2] != self.size:
            crop = cv2.resize(crop, self.size[::-1], interpolation=cv2.INTER_LINEAR)  # as the manifest states
        x = crop.astype(np.float32) * self.scale
        x = x[None] if x.ndim == 2 else x.transpose(2, 0, 1)
        if x.shape[0] != self.channels:  # a grey crop for a colour model: repeat it
            x = np.repeat(x, self.channels, axis=0)
        return ((x - self.mean) / self.std)[None]

    def logits(self, x: np.ndarray, batch: int = 256) -> np.ndarray:
        """Preprocessed images ``(N, C, H, W)`` -> logits ``(N, n_classes)`` float32, in batches of ``batch``."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        return np.concatenate([self.session.run([self._logits], {self._input: x[i:i + batch]})[0]
                               for i in range(0, len(x), batch)]).astype(np.float32)
