"""The distilled EEG student in the live path, on onnxruntime.

The student is a causal TCN whose receptive field is 13 frames (3.25 s at the 4 Hz hop). Instead of re-running it
over a growing history, the estimator keeps the last 13 normalised frames and runs the exported "streaming" graph,
which computes only the columns that feed the newest output: one hop costs one step.

Confidence folds in the fraction of usable channels, the fill of the frame history and the warm-up of the
per-subject normaliser, so the fusion step trusts the student only once it has seen enough of this subject.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from affectstream.models.deploy.runtime import make_session
from affectstream.core.feature_layout import N_CHANNELS, N_FEATURES
from affectstream.core.feature_norm import NORM_MEMORY_FRAMES, RunningFeatureNorm
from affectstream.models.deploy.manifest import EEG_STUDENT, EEG_STUDENT_TORCH, verified_path

from affectstream.pipelines.eeg.batches import window_view
from affectstream.pipelines.fusion import ModalityEstimate

log = logging.getLogger(__name__)

#: The values of ``eeg_model_trained_on``: the simulator, real EEG of other people, or this subject's calibration.
TRAINED_ON = ("synthetic", "real", "subject")


class EEGStudentEstimator:
    """Per-hop valence/arousal from the ONNX EEG student.

    Parameters
    ----------
    onnx_path : Path
        The streaming graph (input ``(1, N_FEATURES, receptive_field)``, output ``(1, 2)``).
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

    def __init__(self, onnx_path: Path, receptive_field: int, norm_memory: float = NORM_MEMORY_FRAMES,
                 warmup_frames: int = 40, device: str = "cpu", trained_on: str = "synthetic") -> None:
        #: what the weights have seen (:data:`TRAINED_ON`), written into every output so nobody mistakes a
        #: simulator-trained student's numbers on real EEG for a validated reading
        self.trained_on = trained_on
        self.session = make_session(onnx_path, threads=1, device=device)
        self._input = self.session.get_inputs()[0].name
        self.receptive_field = receptive_field
        self.norm = RunningFeatureNorm(N_FEATURES, memory=norm_memory)
        self.frames = np.zeros((N_FEATURES, receptive_field), dtype=np.float32)
        self.warmup_frames = warmup_frames
        self._n = 0
        #: montage channels the estimate may use (a profile's bad ones are not)
        self.keep = np.ones(N_CHANNELS, dtype=bool)

    @classmethod
    def from_manifest(cls, device: str = "cpu", manifest: Path | None = None) -> EEGStudentEstimator:
        """The bundled student (or the one of ``manifest``), after its sha256 check (raises ModelIntegrityError)."""
        path, entry = verified_path(EEG_STUDENT, manifest)
        memory = float(entry["input"].get("norm_memory", NORM_MEMORY_FRAMES))
        trained_on = "real" if entry.get("data") == "real" else "synthetic"  # unlabelled weights are not trusted
        return cls(path, int(entry["input"]["frames"]), memory, device=device, trained_on=trained_on)

    @classmethod
    def from_profile(cls, folder: str | Path, device: str = "cpu") -> EEGStudentEstimator:
        """A subject's calibrated student: its fine-tuned weights, its normaliser started from the resting baseline,
        and its bad channels kept out (``affectstream.calibration.profiles``; the folder was checked by
        ``load_profile``)."""
        import json

        folder = Path(folder)
        estimator = cls.from_manifest(device, folder / "manifest.json")
        # A profile adapted on this subject's real recording is "subject"; a dry run on the simulator stays synthetic.
        estimator.trained_on = "subject" if estimator.trained_on == "real" else "synthetic"
        with np.load(folder / "baseline.npz", allow_pickle=False) as z:
            estimator.norm.load_state({k: z[k] for k in z.files})
        from affectstream.core.montage import MONTAGE_32

        bad = json.loads((folder / "bad_channels.json").read_text())
        estimator.keep = np.array([label not in bad for label in MONTAGE_32])
        return estimator

    def step_many(self, log_power: np.ndarray, good: np.ndarray) -> tuple[list[ModalityEstimate], np.ndarray]:
        """Consecutive hops at once: (k, 6, 32) log band power and (k, 32) masks -> k estimates and the k inputs.

        The normaliser and the frame history advance hop by hop, exactly as one hop at a time would (the
        normaliser's running statistics in its own loop, :meth:`RunningFeatureNorm.transform_sequence`); the k
        inputs are then read off the history extended by the new frames, and the network runs once on them (one
        onnxruntime call instead of k - what makes replay fast). A hop without usable channels adds no frame and
        repeats the previous input. Returns the (k, N_FEATURES, receptive_field) inputs too, for saliency.
        """
        k, n0 = len(log_power), self._n
        good = good & self.keep
        usable = good.any(axis=1)
        z = self.norm.transform_sequence(np.where(good[:, None, :], log_power, np.nan)[usable])
        history = np.concatenate([self.frames, z.T], axis=1)  # (N_FEATURES, receptive_field + new frames)
        added = np.cumsum(usable)  # new frames up to and including hop i
        # hop i's input is the receptive_field columns of the history that end at its newest frame
        inputs = window_view(history, self.receptive_field, 1, history.shape[1] - self.receptive_field + 1)[added]
        self.frames = history[:, len(z):]
        self._n = n0 + len(z)
        out = self.session.run(None, {self._input: inputs})[0] if len(z) else np.full((k, 2), np.nan)
        fill = np.minimum(1.0, (n0 + added) / max(self.receptive_field, self.warmup_frames))
        confidence = (fill * good.mean(axis=1)).tolist()
        valid = (usable & np.isfinite(out).all(axis=1)).tolist()
        values = np.clip(out, -1, 1).tolist()
        estimates = [ModalityEstimate(v, a, c, self.name) if ok else ModalityEstimate(source=self.name)
                     for ok, (v, a), c in zip(valid, values, confidence)]
        return estimates, inputs


def load_torch_student():
    """The bundled student as a torch module (calibration's fine-tuning starts from it; ``affectstream bench``
    times it), after the sha256 check; weights only, no pickle. Needs PyTorch (``affectstream[train]``); the live
    path never calls it (its saliency runs on onnxruntime, :mod:`affectstream.pipelines.eeg.saliency`)."""
    import torch

    from affectstream.models.nets.eeg_tcn import EEGTCN

    # One intra-op thread: with torch's default pool (a thread per core) competing with onnxruntime, OpenCV and the
    # GUI on the 2-core machines, this model's backward pass took 10-130 ms instead of ~2 ms (measured in the
    # dashboard); the wizard fine-tunes it beside its GUI.
    torch.set_num_threads(1)
    path, entry = verified_path(EEG_STUDENT_TORCH)
    model = EEGTCN(**entry["architecture"])
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()
