"""The visual student on onnxruntime: a face crop in, FER+ class probabilities and valence/arousal out.

Preprocessing is read from the model's manifest entry (``input``: size, channels, scale, mean, std), the single
source of truth shared with the trainer and the independent re-scoring, so a model trained at another resolution
or on colour crops runs correctly without code changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models.runtime import make_session
from models.fer_anchors import expected_valence_arousal
from models.manifest import load_manifest, verified_path

#: Manifest name of the bundled visual student.
VISUAL_STUDENT = "visual_student"


@dataclass(frozen=True)
class FaceAffect:
    """The student's reading of one face crop."""

    probabilities: np.ndarray  #: (n_classes,) softmax over the FER+ classes
    classes: tuple[str, ...]
    valence: float
    arousal: float

    @property
    def label(self) -> str:
        return self.classes[int(np.argmax(self.probabilities))]


class FaceStudent:
    """Runs the exported visual student on face crops.

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
    def from_manifest(cls, device: str = "cpu", precision: str = "int8") -> FaceStudent:
        """The bundled student after its sha256 check.

        ``int8`` (the default) takes the statically quantised model when one is bundled: it is only bundled when it
        was measured faster at an accuracy within 0.5 pp of fp32 (see its manifest metrics).
        """
        names = [f"{VISUAL_STUDENT}_int8", VISUAL_STUDENT] if precision == "int8" else [VISUAL_STUDENT]
        available = load_manifest()["models"]
        name = next((n for n in names if n in available), VISUAL_STUDENT)
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

    def __call__(self, crop: np.ndarray) -> FaceAffect:
        logits = self.session.run([self._logits], {self._input: self.preprocess(crop)})[0][0]
        p = np.exp(logits - logits.max())
        p /= p.sum()
        valence, arousal = expected_valence_arousal(p, self.classes)
        return FaceAffect(p, self.classes, float(valence), float(arousal))
