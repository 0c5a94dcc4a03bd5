"""The distilled EEG student in the live path, on onnxruntime.

The student is a causal TCN whose receptive field is 13 frames (3.25 s at the 4 Hz hop). Instead of re-running it
over a growing history, the estimator keeps the last 13 normalised frames and runs the exported "streaming" graph,
which computes only the columns that feed the newest output: one hop costs one step (~0.1 ms).

Confidence folds in the fraction of usable channels, the fill of the frame history and the warm-up of the
per-subject normaliser, so the fusion step trusts the student only once it has seen enough of this subject.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from models.runtime import make_session
from models.feature_norm import RunningFeatureNorm
from models.manifest import verified_path

from .fusion import ModalityEstimate

log = logging.getLogger(__name__)

#: Manifest name of the bundled EEG student.
EEG_STUDENT = "eeg_student"


class EEGStudentEstimator:
    """Per-hop valence/arousal from the ONNX EEG student.

    Parameters
    ----------
    onnx_path : Path
        The streaming graph (input ``(1, 192, receptive_field)``, output ``(1, 2)``).
    receptive_field : int
        Frames the graph takes.
    norm_memory : float
        Memory (frames) of the per-subject running normaliser; must match training.
    warmup_frames : int
        Frames before the normaliser is trusted fully (confidence ramps up over them).
    device : {"cpu", "cuda", "auto"}
        onnxruntime provider choice (falls back to CPU with one notice).
    """

    name = "student"

    def __init__(self, onnx_path: Path, receptive_field: int, norm_memory: float = 1200.0,
                 warmup_frames: int = 40, device: str = "cpu") -> None:
        self.session = make_session(onnx_path, threads=1, device=device)
        self._input = self.session.get_inputs()[0].name
        self.receptive_field = receptive_field
        self.norm = RunningFeatureNorm(192, memory=norm_memory)
        self.frames = np.zeros((192, receptive_field), dtype=np.float32)
        self.warmup_frames = warmup_frames
        self._n = 0

    @classmethod
    def from_manifest(cls, device: str = "cpu") -> EEGStudentEstimator:
        """The bundled student, after its sha256 check (raises ModelIntegrityError)."""
        path, entry = verified_path(EEG_STUDENT)
        return cls(path, int(entry["input"]["frames"]), float(entry["input"].get("norm_memory", 1200.0)),
                   device=device)

    def step(self, log_power: np.ndarray, good: np.ndarray) -> ModalityEstimate:
        """Normalise this hop's (6, 32) log band power, append it to the history and run one step."""
        if not good.any():
            return ModalityEstimate(source=self.name)
        z = self.norm(np.where(good[None, :], log_power, np.nan).ravel())
        self.frames[:, :-1] = self.frames[:, 1:]
        self.frames[:, -1] = z
        self._n += 1
        out = self.session.run(None, {self._input: self.frames[None]})[0][0]
        fill = min(1.0, self._n / max(self.receptive_field, self.warmup_frames))
        return ModalityEstimate(
            valence=float(np.clip(out[0], -1.0, 1.0)),
            arousal=float(np.clip(out[1], -1.0, 1.0)),
            confidence=fill * float(good.mean()),
            source=self.name,
        ) if math.isfinite(out[0]) and math.isfinite(out[1]) else ModalityEstimate(source=self.name)


#: Manifest name of the student's torch weights (weights-only state dict), used for gradient saliency.
EEG_STUDENT_TORCH = "eeg_student_torch"


def load_torch_student():
    """The bundled student as a torch module for saliency, after the sha256 check; weights only, no pickle."""
    import torch

    from models.eeg_tcn import EEGTCN

    path, entry = verified_path(EEG_STUDENT_TORCH)
    model = EEGTCN(**entry["architecture"])
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()
