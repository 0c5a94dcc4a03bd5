"""Band-power sequences of simulated (SYNTHETIC) sessions, computed by the live pipeline itself.

Training data for the EEG student on the planted benchmark is produced by running each simulated session through
:class:`~.engine.AffectPipeline` exactly as a replay would (same windowing, quality checks, re-referencing and
Welch features), so the student is trained on the features it will see live. Labels are the planted valence and
arousal at the centre of each 2 s window, where the window's information is centred (Zhang et al. align labels
the same way).

File format (``.npz``, no pickles): for subject ``s``, ``{s}/features`` (T, 6, 32) log10 band power with NaN for
excluded channels, ``{s}/valence``, ``{s}/arousal`` (T,), ``{s}/t`` (T,) window-end times; plus ``subjects`` and a
JSON ``meta`` string that records the simulator settings and ``"data": "synthetic"``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .config import PipelineConfig
from .engine import AffectPipeline, EEGStreamSpec
from models.montage import MONTAGE_32
from .simulator import SimulatorConfig, simulate


#: Feature extraction only: the estimator choice does not change the features, so skip loading the student.
FEATURES_ONLY = PipelineConfig(eeg_estimator="baseline")


def session_features(config: SimulatorConfig, duration_s: float,
                     pipeline: PipelineConfig = FEATURES_ONLY) -> dict[str, np.ndarray]:
    """Features and planted labels of one simulated session."""
    rec = simulate(config, duration_s)
    pipe = AffectPipeline(EEGStreamSpec(sfreq=rec.srate, n_channels=32, labels=MONTAGE_32, synthetic=True), pipeline)
    results = pipe.push_eeg(rec.eeg, rec.times)
    t = np.array([r.t for r in results])
    centre = np.clip(np.round((t - pipeline.window_s / 2) * rec.srate).astype(int), 0, len(rec.times) - 1)
    return {
        "features": np.stack([r.features for r in results]).astype(np.float32),
        "valence": rec.valence[centre].astype(np.float32),
        "arousal": rec.arousal[centre].astype(np.float32),
        "t": t,
    }


def build_planted_dataset(path: str | Path, subjects: list[str], duration_s: float, seed: int = 0,
                          **simulator_options) -> Path:
    """Simulate ``subjects`` for ``duration_s`` each and write the features to ``path`` (.npz)."""
    arrays: dict[str, np.ndarray] = {}
    for subject in subjects:
        for key, value in session_features(SimulatorConfig(seed=seed, subject=subject, **simulator_options),
                                           duration_s).items():
            arrays[f"{subject}/{key}"] = value
    meta = {"data": "synthetic", "generator": "affectstream simulator", "seed": seed, "duration_s": duration_s,
            "subjects": subjects, "simulator_options": simulator_options}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, subjects=np.array(subjects), meta=np.array(json.dumps(meta)), **arrays)
    return path


def load_planted_dataset(path: str | Path) -> tuple[dict[str, dict[str, np.ndarray]], dict]:
    """Read a file written by :func:`build_planted_dataset`: ({subject: arrays}, meta)."""
    with np.load(path, allow_pickle=False) as f:
        subjects = [str(s) for s in f["subjects"]]
        meta = json.loads(str(f["meta"]))
        data = {s: {k: f[f"{s}/{k}"] for k in ("features", "valence", "arousal", "t")} for s in subjects}
    return data, meta
