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


#: Side of the face box over the side of a square rendered frame (the renderer's face spans 0.51 of it).
FACE_SHARE = 0.55

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


def build_planted_xdf_dataset(folder: str | Path, n_subjects: int = 12, n_trials: int = 10, trial_s: float = 60.0,
                              rest_s: float = 5.0, seed: int = 0, face_size: int = 48, face_fps: float = 4.0,
                              progress: bool = True) -> list[Path]:
    """Write the planted benchmark as the project's XDF recordings, one per subject (SYNTHETIC data).

    ``sub-simNN_ses-1_task-planted.xdf``: 32-channel EEG at 256 Hz with a sample counter, trial markers, the planted
    truth as a GroundTruth stream (the calibration-label stream :func:`models.datasets.xdf_sessions.load_xdf_sessions`
    reads) and ``face_size`` px aligned face crops as a Video stream at ``face_fps``: the renderer draws the face
    centred in a frame of ``face_size / 0.55`` px and the crop keeps the face box, the role OpenFace's 48x48 aligned
    crops play in Zhang et al. (at 4 frames per second instead of 64, to keep the files small). An existing file
    with the same settings is reused.
    """
    from tqdm import tqdm

    from .replay import write_simulated_recording

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    duration = n_trials * (rest_s + trial_s) + rest_s
    stamp = folder / "settings.json"
    settings = {"data": "synthetic", "n_subjects": n_subjects, "n_trials": n_trials, "trial_s": trial_s,
                "rest_s": rest_s, "seed": seed, "face_size": face_size, "face_fps": face_fps}
    reuse = stamp.is_file() and json.loads(stamp.read_text()) == settings
    paths = []
    for k in tqdm(range(1, n_subjects + 1), desc="planted XDF sessions", unit="subject", disable=not progress):
        path = folder / f"sub-sim{k:02d}_ses-1_task-planted.xdf"
        if not (reuse and path.is_file()):
            frame = int(round(face_size / FACE_SHARE))
            config = SimulatorConfig(seed=seed, subject=k, trial_s=trial_s, rest_s=rest_s,
                                     video_size=(frame, frame), video_fps=face_fps)
            write_simulated_recording(path, duration, config=config, video=True, face_crop=face_size)
        paths.append(path)
    stamp.write_text(json.dumps(settings))
    return paths
