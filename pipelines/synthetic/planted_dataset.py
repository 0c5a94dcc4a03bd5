"""The planted benchmark on disk: SYNTHETIC sessions from the simulator, written as the project's XDF recordings.

The trainer reads them like any recording with calibration labels (:mod:`affectstream.models.datasets.xdf_sessions`):
the EEG (with a sample counter), trial markers, the planted valence and arousal as a GroundTruth stream, and aligned
face crops as a Video stream. Every stream says ``synthetic=true``.
"""

from __future__ import annotations

import json
from pathlib import Path

from affectstream.models.training.config import TrainConfig
from affectstream.pipelines.config import PipelineConfig
from affectstream.pipelines.synthetic.recording import write_simulated_recording
from affectstream.pipelines.synthetic.sim_config import SimulatorConfig

#: Side of the face box over the side of a square rendered frame (the renderer's face spans 0.51 of it).
FACE_SHARE = 0.55

#: Feature extraction only (the live path's features for training): the estimator does not change them, so the
#: student is not loaded.
FEATURES_ONLY = PipelineConfig(eeg_estimator="baseline")


def build_planted_xdf_dataset(folder: str | Path, n_subjects: int = 12, n_trials: int = 10, trial_s: float = 60.0,
                              rest_s: float = 5.0, seed: int = 0, face_size: int = 48, face_fps: float = 4.0,
                              progress: bool = True) -> list[Path]:
    """Write the planted benchmark as the project's XDF recordings, one per subject (SYNTHETIC data).

    ``sub-simNN_ses-1_task-planted.xdf``: 32-channel EEG at 256 Hz with a sample counter, trial markers, the planted
    truth as a GroundTruth stream (the calibration-label stream
    :func:`affectstream.models.datasets.xdf_sessions.load_xdf_sessions` reads) and ``face_size`` px aligned face crops
    as a Video stream at ``face_fps``: the renderer draws the face centred in a frame of ``face_size / 0.55`` px and the
    crop keeps the face box, the role OpenFace's 48x48 aligned crops play in Zhang et al. (at 4 frames per second
    instead of 64, to keep the files small). An existing file with the same settings is reused.
    """
    from tqdm import tqdm

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


def ensure_planted_data(config: TrainConfig, progress: bool = True) -> None:
    """Write the planted benchmark where a training config asks for it (``[data] generate_planted``).

    The trainer (``affectstream.models``) cannot run the simulator, which lives in this layer, so the caller of the
    runner does this first; a benchmark already in the folder is reused.
    """
    data = config.data
    if data.kind != "xdf" or not data.generate_planted:
        return
    pl = data.planted
    build_planted_xdf_dataset(config.resolve(data.path), n_subjects=pl.n_subjects, n_trials=pl.n_trials,
                              trial_s=pl.trial_s, rest_s=pl.rest_s, seed=pl.seed, face_size=pl.face_size,
                              progress=progress)
