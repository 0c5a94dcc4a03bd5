"""A lab's copy of a published dataset as the trainer's trials (``[data] kind = "deap"`` ... ``"seed_v"``).

Every method of the trainer reads trials of one form, the form the project's own XDF sessions have
(:mod:`affectstream.models.datasets.xdf_sessions`): a signal, labels per feature frame (4 Hz), and optional face
frames. This module gives a dataset's trials that form, with the facts of :mod:`.dataset_kinds`:

* **Cropping.** ``baseline = "drop"`` cuts the pre-stimulus baseline that DEAP (3 s) and MAHNOB-HCI (30 s before
  the first Status trigger, and the 30 s after the second) record with each clip; ``crop_s`` keeps the last seconds
  of a clip (the DREAMER papers use the last 60 s). MAHNOB's continuous-valence trials keep the whole recording,
  because their frames are centred on the annotations, which need a 2 s window on either side of the clip's edges.
* **Frames and labels.** The band-power frames are the ones :func:`~.features.frame_starts` gives (2 s windows every
  0.25 s from the first sample); each frame carries the trial's rating mapped onto [-1, 1] (``continuous`` valence,
  ``meta["arousal"]``) and, for the SEED family, the class index (``meta["emotion"]``). A rating is one number per
  clip, so within a clip the targets are constant: methods train on them with a loss that is defined for a constant
  target (mean squared error, not a per-window CCC).
* **Signals on disk.** A study does not fit in memory (SEED's 675 trials of 62 channels are 8 GB as float32), so each
  trial's cropped EEG is written once to ``<cache>/signals`` and held as a read-only memory map; the feature cache
  then computes band power from it as it does for any recording. SEED-V's release holds no signal, only
  differential-entropy features (``features["eeg_de"]``, 4 s windows), which the methods that can use them read.
* **Faces.** A trial with a video carries the frame times on the video's clock (``meta["video_times"]``); a method
  with a visual teacher has the face crops cut there by ``Run.face_frames`` (the app passes the face path's, which
  lives in ``pipelines``), so that a method without one never runs a face detector over a study. ASSUMED: a
  trial's video starts with its signal (MAHNOB's and DEAP's videos are cut per trial; neither documents an offset).
* **Synthetic replicas.** A copy whose root holds :data:`SYNTHETIC_MARKER` is a replica in the distributed format
  with made-up signals (the tests write them); its trials say ``synthetic``, as the simulator's do.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from affectstream.models.datasets.common import ContinuousLabels, DatasetLayoutError, Trial
from affectstream.models.datasets.dataset_kinds import DatasetKind, dataset_kind
from affectstream.models.datasets.features import FeatureConfig, frame_starts

__all__ = ["SYNTHETIC_MARKER", "load_trainer_trials", "rating_to_unit"]

log = logging.getLogger(__name__)

#: A file of this name in a copy's root says the copy is a SYNTHETIC replica (the tests' replicas of the distributed
#: formats, a simulation written in a dataset's layout): its trials, runs and reports are labelled synthetic.
SYNTHETIC_MARKER = "SYNTHETIC_REPLICA"


def rating_to_unit(value: float | np.ndarray, scale: tuple[float, float]) -> np.ndarray:
    """A rating on ``scale = (low, high)`` mapped onto [-1, 1]: ``(r - middle) / half_range``."""
    low, high = scale
    return (np.asarray(value, dtype=np.float64) - (low + high) / 2) / ((high - low) / 2)


def _source_stamp(trial: Trial) -> str:
    """Size and modification time of the trial's source file: a changed copy misses every cache."""
    for key in ("bdf_path", "source"):
        path = trial.meta.get(key)
        if path is not None and Path(path).is_file():
            st = Path(path).stat()
            return f"{Path(path).name}:{st.st_size}:{st.st_mtime_ns}"
    return ""


class _SignalStore:
    """Cropped trial signals as ``.npy`` files, opened as read-only memory maps (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def hold(self, kind: str, trial: Trial, eeg: np.ndarray, stamp: str) -> np.ndarray:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", trial.key).strip("_")
        tag = hashlib.sha256(f"{stamp}|{eeg.shape}".encode()).hexdigest()[:16]
        path = self.root / kind / f"{safe}__{tag}.npy"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as fh:
                    np.save(fh, np.ascontiguousarray(eeg, dtype=np.float32), allow_pickle=False)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        held = np.load(path, mmap_mode="r", allow_pickle=False)
        if held.shape != eeg.shape:  # a stale file under the same name: rewrite it
            path.unlink()
            return self.hold(kind, trial, eeg, stamp)
        return held


def _crop(spec: DatasetKind, trial: Trial, baseline: str, crop_s: float) -> tuple[np.ndarray, float]:
    """The part of the trial's EEG the models see, and where it starts (s) on the trial's own time axis."""
    eeg, start, stop = trial.eeg, 0, trial.eeg.shape[1]
    if spec.baseline == "prefix" and baseline == "drop":
        if "baseline_samples" in trial.meta:  # DEAP
            start = int(trial.meta["baseline_samples"])
        elif trial.meta.get("stimulus_onset_s") is not None:  # MAHNOB: the clip between the Status triggers
            start = int(round(trial.meta["stimulus_onset_s"] * trial.sfreq))
            if trial.meta.get("stimulus_offset_s") is not None:
                stop = int(round(trial.meta["stimulus_offset_s"] * trial.sfreq))
        else:
            log.warning("%s: no stimulus onset marked; the whole recording is kept", trial.key)
    if crop_s > 0:
        start = max(start, stop - int(round(crop_s * trial.sfreq)))
    return eeg[:, start:stop], start / trial.sfreq


def _frame_times(eeg: np.ndarray, sfreq: float, features: FeatureConfig, key: str) -> np.ndarray:
    """Centre times of the band-power frames of a signal without labels (frames from its first sample)."""
    stand_in = Trial("frames", 0, 0, np.zeros((1, eeg.shape[1]), np.float32), sfreq, ("x",))
    try:
        return frame_starts(stand_in, replace(features, align="start"))[1]
    except ValueError:
        raise DatasetLayoutError(f"{key}: {eeg.shape[1] / sfreq:.2f} s of EEG, shorter than one "
                                 f"{features.window_s:g} s analysis window") from None


def _class_index(spec: DatasetKind, code: int, key: str) -> int:
    if code not in spec.class_codes:
        raise DatasetLayoutError(f"{key}: emotion label {code} is not one of {spec.title}'s {list(spec.class_codes)}")
    return spec.class_codes.index(code)


def _labels(spec: DatasetKind, trial: Trial, n: int) -> tuple[np.ndarray | None, dict]:
    """Per-frame valence (or None) and the other per-frame label arrays of ``meta``."""
    meta: dict = {}
    valence = None
    for name, scale in spec.ratings.items():
        if name not in trial.labels:
            raise DatasetLayoutError(f"{trial.key}: no {name} rating")
        unit = float(rating_to_unit(trial.labels[name], scale))
        if not -1.0 <= unit <= 1.0:
            raise DatasetLayoutError(f"{trial.key}: {name} rating {trial.labels[name]} is outside "
                                     f"{spec.title}'s scale {scale[0]:g}-{scale[1]:g}")
        if name == "valence":
            valence = np.full(n, unit, np.float32)
        else:
            meta[name] = np.full(n, unit, np.float32)
    if spec.classes:
        window = trial.meta.get("window_labels")
        codes = np.asarray(window if window is not None and len(window) == n else
                           np.full(n, trial.labels["emotion"]), dtype=np.int64)
        meta["emotion"] = np.array([_class_index(spec, int(c), trial.key) for c in codes], np.int64)
        meta["class_names"] = spec.classes
        if spec.valence_from_classes:  # SEED: negative, neutral, positive
            valence = np.asarray(spec.class_codes, np.float32)[meta["emotion"]]
    return valence, meta


def _convert(spec: DatasetKind, trial: Trial, store: _SignalStore, features: FeatureConfig, baseline: str,
             crop_s: float, synthetic: bool) -> Trial:
    stamp = _source_stamp(trial)
    meta = {"synthetic": synthetic, "dataset_kind": spec.name, "source": trial.meta.get("source"),
            "source_stamp": stamp}
    if trial.eeg is None:  # SEED-V: the release's 4 s feature windows are the frames
        n = len(next(iter(trial.features.values())))
        times = (np.arange(n) + 0.5) / trial.sfreq
        eeg, t0, sfreq = None, 0.0, trial.sfreq
    elif spec.continuous:  # frames on the annotations
        eeg, t0, sfreq = trial.eeg, 0.0, trial.sfreq
        times = trial.continuous.times
        n = times.size
    else:
        eeg, t0 = _crop(spec, trial, baseline, crop_s)
        sfreq = trial.sfreq
        times = _frame_times(eeg, sfreq, features, trial.key)
        n = times.size
    feats = dict(trial.features)
    window_s = trial.meta.get("feature_window_s")
    if window_s and eeg is not None:  # SEED-IV's eye features on 4 s windows: each frame takes its window's
        for name, x in feats.items():
            feats[name] = x[np.clip(np.floor((times + t0) / window_s).astype(np.int64), 0, len(x) - 1)]
    valence, label_meta = _labels(spec, trial, n)
    meta.update(label_meta)
    continuous = trial.continuous if spec.continuous else (
        None if valence is None else ContinuousLabels("valence", times, valence, 1.0 / features.hop_s))
    if eeg is not None:
        meta["n_samples"] = int(eeg.shape[1])
        eeg = store.hold(spec.name, trial, eeg, stamp)
    if trial.video_path is not None:  # the face crops are cut by the methods that need them (Run.face_frames)
        meta["video_times"] = times + t0
    return Trial(dataset=spec.name, subject=trial.subject, trial=trial.trial, eeg=eeg, sfreq=sfreq,
                 ch_names=trial.ch_names, labels=dict(trial.labels), continuous=continuous, session=trial.session,
                 video_path=trial.video_path, features=feats, meta=meta)


def load_trainer_trials(kind: str, root: Path, *, features: FeatureConfig = FeatureConfig(),
                        cache_dir: Path, subjects: Iterable[int] = (), baseline: str = "drop", crop_s: float = 0.0,
                        progress: bool = True) -> list[Trial]:
    """The trials of the copy of dataset ``kind`` at ``root`` in the trainer's form (module docstring).

    Raises
    ------
    DatasetLayoutError
        The copy is not laid out as distributed, or a trial's labels or length cannot be used (one line naming it).
    """
    spec = dataset_kind(kind)
    root = Path(root)
    if not str(root) or not root.exists():
        raise DatasetLayoutError(f"[data] root {str(root) or '(empty)'!r} does not exist: point it at your copy of "
                                 f"{spec.title} (docs/datasets.md), e.g. --set data.root=/data/{spec.name}")
    store = _SignalStore(Path(cache_dir) / "signals")
    synthetic = (root / SYNTHETIC_MARKER).is_file()
    if synthetic:
        log.warning("%s holds %s: a SYNTHETIC replica of %s; every result is labelled synthetic", root,
                    SYNTHETIC_MARKER, spec.title)
    wanted = tuple(subjects) or None
    out = []
    for trial in tqdm(spec.load(root, wanted), desc=f"{spec.title} trials", unit="trial", disable=not progress):
        out.append(_convert(spec, trial, store, features, baseline, crop_s, synthetic))
    if not out:
        raise DatasetLayoutError(f"{root}: no {spec.title} trials" + (f" of subjects {list(wanted)}" if wanted else ""))
    return out
