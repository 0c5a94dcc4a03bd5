"""DEAP, preprocessed Python release (docs/methods.md §7.2).

Layout::

    <root>/data_preprocessed_python/s01.dat ... s32.dat   (or <root> = that folder)
        Python-2 pickle of {'data': (40 trials, 40 channels, 8064) float64, 'labels': (40, 4) float64}
        8064 = 63 s x 128 Hz; the first 3 s of each trial are the pre-trial baseline
        channels 1-32 EEG (Geneva order, :data:`DEAP_EEG_CHANNELS`), 33-40 hEOG vEOG zEMG tEMG GSR Resp Plet Temp
        labels columns: valence, arousal, dominance, liking (continuous, 1-9)
        trials are in video (Experiment_id) order, not presentation order
    <root>/metadata_csv/participant_ratings.csv            optional (Participant_id, Trial, Experiment_id, ...)
    <root>/face_video/sNN/sNN_trialYY.avi                  optional, s01-s22 only, YY = *presentation* trial

The ``.dat`` files are pickles: the one documented exception to the project's no-pickle rule.  They are read with
``encoding="latin1"`` after a one-time warning, through
:func:`~affectstream.models.datasets.common.restricted_unpickle`, which lets the pickle rebuild numpy arrays and nothing
else (``trusted_pickle=True`` falls back to a plain ``pickle.load`` for a file the whitelist refuses).

Units: the preprocessed release is already in microvolts (downsampled to 128 Hz, EOG removed, 4-45 Hz band-pass,
common average reference, per the DEAP manual); values are passed through unchanged, cast to float32.
"""

from __future__ import annotations

import csv
import logging
import pickle
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from affectstream.core.montage import MONTAGE_32
from affectstream.models.datasets.common import (
    DatasetLayoutError,
    PathArg,
    Trial,
    layout_error,
    list_dir_for_error,
    restricted_unpickle,
    subject_filter,
)

__all__ = [
    "DEAP_EEG_CHANNELS",
    "DEAP_PERIPHERAL_CHANNELS",
    "DEAP_LABEL_NAMES",
    "DEAP_SFREQ",
    "DEAP_BASELINE_S",
    "DEAP_N_TRIALS",
    "DEAP_N_SAMPLES",
    "describe_deap_layout",
    "read_deap_dat",
    "read_deap_participant_ratings",
    "load_deap",
]

log = logging.getLogger(__name__)

#: Channels 1-32 of the preprocessed data: EEG in the Geneva (BioSemi) order, which is the model montage.
DEAP_EEG_CHANNELS: tuple[str, ...] = MONTAGE_32
#: Channels 33-40 [DEAP manual].
DEAP_PERIPHERAL_CHANNELS: tuple[str, ...] = (
    "hEOG", "vEOG", "zEMG", "tEMG", "GSR", "Respiration belt", "Plethysmograph", "Temperature",
)
DEAP_LABEL_NAMES: tuple[str, ...] = ("valence", "arousal", "dominance", "liking")
DEAP_SFREQ = 128.0
DEAP_BASELINE_S = 3.0
DEAP_N_TRIALS = 40
DEAP_N_SAMPLES = 8064
_DAT_RE = re.compile(r"^s(\d{2})\.dat$")
_warned_pickle = False


def describe_deap_layout() -> str:
    return (
        "<root>/data_preprocessed_python/s01.dat ... s32.dat (or those files directly in <root>): Python pickles of "
        "{'data': (40, 40, 8064), 'labels': (40, 4)}; optional <root>/metadata_csv/participant_ratings.csv and "
        "<root>/face_video/sNN/sNN_trialYY.avi"
    )


def _warn_pickle_once() -> None:
    global _warned_pickle
    if not _warned_pickle:
        _warned_pickle = True
        logging.warning(
            "DEAP: the preprocessed sNN.dat files are Python pickles, and unpickling can run arbitrary code. "
            "Pass only the official DEAP files. They are read through a whitelist that rebuilds numpy arrays only "
            "(the one documented exception to the project's no-pickle rule)."
        )


def _find_dat_dir(root: Path) -> Path:
    for cand in (root / "data_preprocessed_python", root):
        if cand.is_dir() and any(_DAT_RE.match(p.name) for p in cand.iterdir()):
            return cand
    raise layout_error(describe_deap_layout(), list_dir_for_error(root))


def read_deap_dat(path: PathArg, *, trusted_pickle: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Read one ``sNN.dat``: ``(data (n_trials, 40, n_samples), labels (n_trials, 4))`` as stored (float64).

    Parameters
    ----------
    trusted_pickle : bool
        Use a plain ``pickle.load(f, encoding="latin1")`` instead of the numpy-only whitelist.
    """
    path = Path(path)
    _warn_pickle_once()
    with open(path, "rb") as f:
        if trusted_pickle:
            obj = pickle.load(f, encoding="latin1")  # noqa: S301 - documented DEAP exception, caller opted in
        else:
            obj = restricted_unpickle(f, encoding="latin1")
    if not isinstance(obj, dict) or "data" not in obj or "labels" not in obj:
        found = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise layout_error(describe_deap_layout(), f"{path} unpickles to {found}")
    data, labels = np.asarray(obj["data"]), np.asarray(obj["labels"])
    if data.ndim != 3 or data.shape[1] != len(DEAP_EEG_CHANNELS) + len(DEAP_PERIPHERAL_CHANNELS):
        raise layout_error(describe_deap_layout(), f"{path}: 'data' has shape {data.shape}")
    if labels.shape != (data.shape[0], len(DEAP_LABEL_NAMES)):
        raise layout_error(describe_deap_layout(), f"{path}: 'labels' has shape {labels.shape} for {data.shape}")
    if data.shape != (DEAP_N_TRIALS, 40, DEAP_N_SAMPLES):
        log.warning("%s: data shape %s differs from the distributed (40, 40, 8064)", path, data.shape)
    return data, labels


def read_deap_participant_ratings(path: PathArg) -> dict[tuple[int, int], int]:
    """``participant_ratings.csv`` -> ``{(participant, experiment_id): presentation trial}``."""
    out: dict[tuple[int, int], int] = {}
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        need = {"Participant_id", "Trial", "Experiment_id"}
        if reader.fieldnames is None or not need <= {c.strip() for c in reader.fieldnames}:
            raise layout_error(describe_deap_layout(), f"{path} has columns {reader.fieldnames}")
        for row in reader:
            row = {k.strip(): v for k, v in row.items()}
            out[(int(row["Participant_id"]), int(row["Experiment_id"]))] = int(row["Trial"])
    return out


def _find_ratings(root: Path, dat_dir: Path) -> Path | None:
    for base in (root, dat_dir.parent):
        for cand in (base / "metadata_csv" / "participant_ratings.csv", base / "participant_ratings.csv"):
            if cand.is_file():
                return cand
    return None


def load_deap(
    root: PathArg,
    subjects: Iterable[int | str] | int | str | None = None,
    *,
    drop_baseline: bool = False,
    include_peripheral: bool = False,
    face_video_root: PathArg | None = None,
    trusted_pickle: bool = False,
) -> Iterator[Trial]:
    """Iterate over DEAP trials (preprocessed Python release), one :class:`Trial` per (subject, video).

    Parameters
    ----------
    root : path-like
        The folder holding ``data_preprocessed_python/`` (or that folder itself).
    subjects : int, str or iterable, optional
        Subject numbers 1-32 (``"s01"`` also accepted).
    drop_baseline : bool
        Cut the first 3 s (pre-trial baseline) off :attr:`Trial.eeg` and return it in :attr:`Trial.baseline`.
    include_peripheral : bool
        Put channels 33-40 in ``meta["peripheral"]`` (float32 (8, n_samples)) with ``meta["peripheral_names"]``.
    face_video_root : path-like, optional
        Folder holding ``sNN/sNN_trialYY.avi``; default ``<root>/face_video`` when present.
    trusted_pickle : bool
        See :func:`read_deap_dat`.

    Returns
    -------
    Iterator[Trial]
        Lazy (a file is read when iteration reaches it); layout errors are raised by the call itself.
        ``eeg`` (32, 8064) float32 µV (or (32, 7680) with ``drop_baseline``), ``sfreq`` 128, ``trial`` =
        1-based Experiment_id (the file's trial order), ``labels`` valence/arousal/dominance/liking (floats 1-9),
        ``meta["baseline_s"]`` (3.0, or 0.0 once dropped), ``meta["presentation_trial"]`` when the ratings CSV is
        present.
    """
    root = Path(root)
    dat_dir = _find_dat_dir(root)
    keep = subject_filter(subjects)
    files = sorted((int(m.group(1)), p) for p in dat_dir.iterdir() if (m := _DAT_RE.match(p.name)))
    files = [(s, p) for s, p in files if keep is None or s in keep]
    ratings_path = _find_ratings(root, dat_dir)
    ratings = read_deap_participant_ratings(ratings_path) if ratings_path else {}
    video_root = Path(face_video_root) if face_video_root is not None else None
    if video_root is None:
        for cand in (root / "face_video", dat_dir.parent / "face_video"):
            if cand.is_dir():
                video_root = cand
                break
    return _iter_deap(files, ratings, video_root, drop_baseline, include_peripheral, trusted_pickle)


def _iter_deap(
    files: list[tuple[int, Path]],
    ratings: dict[tuple[int, int], int],
    video_root: Path | None,
    drop_baseline: bool,
    include_peripheral: bool,
    trusted_pickle: bool,
) -> Iterator[Trial]:
    n_base = int(round(DEAP_BASELINE_S * DEAP_SFREQ))
    for subject, path in files:
        data, labels = read_deap_dat(path, trusted_pickle=trusted_pickle)
        if data.shape[2] <= n_base:
            raise DatasetLayoutError(f"{path}: {data.shape[2]} samples leave nothing after the 3 s baseline")
        for i in range(data.shape[0]):
            exp_id = i + 1
            x = data[i]
            eeg = np.ascontiguousarray(x[: len(DEAP_EEG_CHANNELS)], dtype=np.float32)
            baseline = None
            if drop_baseline:
                baseline, eeg = eeg[:, :n_base].copy(), eeg[:, n_base:].copy()
            pres = ratings.get((subject, exp_id))
            video = None
            if video_root is not None and pres is not None:
                cand = video_root / f"s{subject:02d}" / f"s{subject:02d}_trial{pres:02d}.avi"
                video = cand if cand.is_file() else None
            meta = {
                "source": path,
                "experiment_id": exp_id,
                "presentation_trial": pres,
                "baseline_s": 0.0 if drop_baseline else DEAP_BASELINE_S,
                "baseline_samples": 0 if drop_baseline else n_base,
                "labels_raw": labels[i].astype(np.float64),
            }
            if include_peripheral:
                meta["peripheral"] = np.ascontiguousarray(
                    x[len(DEAP_EEG_CHANNELS):, n_base if drop_baseline else 0:], dtype=np.float32)
                meta["peripheral_names"] = DEAP_PERIPHERAL_CHANNELS
            yield Trial(
                dataset="deap",
                subject=subject,
                trial=exp_id,
                eeg=eeg,
                sfreq=DEAP_SFREQ,
                ch_names=DEAP_EEG_CHANNELS,
                labels={k: float(v) for k, v in zip(DEAP_LABEL_NAMES, labels[i])},
                video_path=video,
                baseline=baseline,
                meta=meta,
            )
