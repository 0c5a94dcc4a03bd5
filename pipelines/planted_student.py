"""Train, evaluate and bundle the EEG student on the planted simulator benchmark (SYNTHETIC data).

One command (``affectstream train-eeg-planted``) reproduces the bundled EEG student: simulate subjects, extract
features with the live pipeline (:mod:`.planted_dataset`), train the TCN with the CCC loss
(:mod:`models.train_eeg_student`) on the training subjects, select on validation subjects, score held-out test
subjects, export the streaming ONNX graph and the weights-only state dict, and record both in the manifest with the
metrics and the words "synthetic" wherever a number appears.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from models.export import export_eeg_student
from models.manifest import WEIGHTS_DIR, save_entry
from models.train_eeg_student import EEGTrainConfig, Subject, evaluate, normalise_subject, train_eeg_student

from .eeg_student import EEG_STUDENT, EEG_STUDENT_TORCH
from .planted_dataset import session_features
from .simulator import SimulatorConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlantedStudentConfig:
    """Which simulated subjects train, validate and test the bundled student."""

    n_train: int = 10
    n_val: int = 2
    n_test: int = 3
    duration_s: float = 600.0
    seed: int = 0

    def subjects(self) -> tuple[list[str], list[str], list[str]]:
        names = [f"sim{i:02d}" for i in range(1, self.n_train + self.n_val + self.n_test + 1)]
        return (names[:self.n_train], names[self.n_train:self.n_train + self.n_val],
                names[self.n_train + self.n_val:])


def _subject(name: str, cfg: PlantedStudentConfig, train_cfg: EEGTrainConfig) -> Subject:
    arrays = session_features(SimulatorConfig(seed=cfg.seed, subject=name), cfg.duration_s)
    return Subject(normalise_subject(arrays["features"], train_cfg.norm_memory), arrays["valence"], arrays["arousal"])


def train_planted_student(out_dir: Path = WEIGHTS_DIR, cfg: PlantedStudentConfig = PlantedStudentConfig(),
                          train_cfg: EEGTrainConfig = EEGTrainConfig(), progress: bool = True,
                          command: str = "affectstream train-eeg-planted") -> dict:
    """Run the whole recipe; returns the metrics written to the manifest."""
    start = time.perf_counter()
    train_names, val_names, test_names = cfg.subjects()
    train = [_subject(n, cfg, train_cfg) for n in train_names]
    val = [_subject(n, cfg, train_cfg) for n in val_names]
    test = [_subject(n, cfg, train_cfg) for n in test_names]
    result = train_eeg_student(train, val, train_cfg, progress=progress)
    model = result.model
    metrics = {"data": "synthetic", "val": evaluate(model, val), "test": evaluate(model, test),
               "test_subjects": test_names}

    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path, torch_path, max_diff = export_eeg_student(model, out_dir)

    architecture = {"channels": list(train_cfg.channels), "kernel_size": train_cfg.kernel_size,
                    "dropout": train_cfg.dropout}
    trained_on = (f"SYNTHETIC: affectstream simulator (planted truth), subjects {', '.join(train_names)}, "
                  f"{cfg.duration_s:g} s each, seed {cfg.seed}; validation {', '.join(val_names)}")
    common = {"data": "synthetic", "trained_on": trained_on, "command": command,
              "training": {"config": asdict(train_cfg), "best_epoch": result.best_epoch,
                           "epochs_run": len(result.history), "wall_s": round(time.perf_counter() - start, 1)}}
    save_entry(EEG_STUDENT, {
        **common, "file": onnx_path.name, "task": "eeg_valence_arousal",
        "input": {"name": "frames", "shape": [1, 192, model.receptive_field], "frames": model.receptive_field,
                  "features": "log10 Welch band power, 6 bands x 32 channels band-major (models/bandpower.py)",
                  "normalisation": "RunningFeatureNorm per subject", "norm_memory": train_cfg.norm_memory},
        "outputs": {"valence_arousal": "valence_arousal"}, "metrics": metrics, "onnx_max_abs_diff": max_diff,
    }, out_dir / "manifest.json")
    save_entry(EEG_STUDENT_TORCH, {**common, "file": torch_path.name, "architecture": architecture,
                                   "task": "eeg_valence_arousal (torch weights for saliency)"},
               out_dir / "manifest.json")
    (out_dir.parent / "reports").mkdir(exist_ok=True)
    (out_dir.parent / "reports" / "eeg_student_planted.json").write_text(
        json.dumps({"data": "synthetic", "metrics": metrics, "history": result.history, "command": command},
                   indent=2) + "\n")
    return metrics
