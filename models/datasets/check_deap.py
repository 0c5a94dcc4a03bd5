"""The DEAP check of :func:`affectstream.models.datasets.check.check_dataset` (preprocessed Python release).

Each ``sNN.dat`` is unpickled on its own (about 100 MB in the release) through the numpy-only whitelist that
:func:`~affectstream.models.datasets.deap.load_deap` uses, so a pickle naming any other global is reported, never
run.  The files and the ratings CSV are found by the loader's own helpers, so the check looks where it looks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affectstream.models.datasets.check_common import (first_missing, missing_problem, out_of_range, partial_copy,
                                                       progress_bar, read_or_report, span, unreadable)
from affectstream.models.datasets.common import DatasetLayoutError, UnsafePickleError, restricted_unpickle
from affectstream.models.datasets.deap import (
    _DAT_RE,
    DEAP_BASELINE_S,
    DEAP_EEG_CHANNELS,
    DEAP_LABEL_NAMES,
    DEAP_N_SAMPLES,
    DEAP_N_TRIALS,
    DEAP_PERIPHERAL_CHANNELS,
    DEAP_SFREQ,
    _find_dat_dir,
    _find_ratings,
    describe_deap_layout,
    read_deap_participant_ratings,
)

__all__ = ["DEAP_N_SUBJECTS", "check_deap"]

DEAP_N_SUBJECTS = 32
_N_CHANNELS = len(DEAP_EEG_CHANNELS) + len(DEAP_PERIPHERAL_CHANNELS)
_N_BASELINE = int(round(DEAP_BASELINE_S * DEAP_SFREQ))


def check_deap(root: Path, found: list[str], problems: list[str], progress: bool) -> None:
    """Check ``root`` as DEAP's ``data_preprocessed_python`` release (or that folder itself)."""
    try:
        dat_dir = _find_dat_dir(root)
    except DatasetLayoutError:
        problems.append(missing_problem(root / "data_preprocessed_python" / "s01.dat", describe_deap_layout(), root))
        return
    files = sorted((int(m.group(1)), p) for p in dat_dir.iterdir() if (m := _DAT_RE.match(p.name)))
    shapes = {}
    for subject, path in progress_bar(files, "deap", progress):
        shape = _check_dat(path, problems)
        if shape is not None:
            shapes[subject] = shape
    trials = [n for n, _ in shapes.values()]
    samples = [n for _, n in shapes.values()]
    found.append(
        f"{len(files)} subjects, {sum(trials)} trials in {len(shapes)} readable files, {len(DEAP_EEG_CHANNELS)} EEG "
        f"+ {len(DEAP_PERIPHERAL_CHANNELS)} peripheral channels at {DEAP_SFREQ:g} Hz (the documented rate: the files "
        f"do not store it), {span(samples)} samples per trial ({span(s / DEAP_SFREQ for s in samples)} s, the "
        f"{DEAP_BASELINE_S:g} s baseline included)")
    subjects = [s for s, _ in files]
    partial = partial_copy([
        ([len(files)], DEAP_N_SUBJECTS, "subjects" + first_missing(subjects, DEAP_N_SUBJECTS, "s{:02d}.dat")),
        (trials, DEAP_N_TRIALS, "trials"), (samples, DEAP_N_SAMPLES, "samples per trial")])
    if partial:
        found.append(partial)
    _check_ratings_csv(root, dat_dir, subjects, found, problems)
    videos = sorted(p for d in {root / "face_video", dat_dir.parent / "face_video"} if d.is_dir()
                    for p in d.glob("s*/*.avi"))
    found.append(f"{len(videos)} face videos (not read; the release has them for s01-s22)" if videos
                 else "no face_video/ (optional)")


def _check_dat(path: Path, problems: list[str]) -> tuple[int, int] | None:
    """Unpickle one ``sNN.dat`` and check it; ``(n_trials, n_samples)`` when its arrays are usable."""
    try:
        with open(path, "rb") as f:
            obj = restricted_unpickle(f, encoding="latin1")
    except UnsafePickleError as exc:
        problems.append(f"{path}: {exc} (a DEAP file holds numpy arrays only)")
        return None
    except Exception as exc:  # see check_common.unreadable
        problems.append(unreadable(path, exc))
        return None
    if not isinstance(obj, dict) or "data" not in obj or "labels" not in obj:
        what = f"a dict of {sorted(map(str, obj))}" if isinstance(obj, dict) else type(obj).__name__
        problems.append(f"{path}: unpickles to {what}; expected a dict with 'data' and 'labels'")
        return None
    return _check_arrays(path, np.asarray(obj["data"]), np.asarray(obj["labels"]), problems)


def _check_arrays(path: Path, data: np.ndarray, labels: np.ndarray, problems: list[str]) -> tuple[int, int] | None:
    """Shapes and values of one subject's ``data`` (trials, 40, samples) and ``labels`` (trials, 4).

    A replica may hold fewer trials or samples than the release's (40, 40, 8064); it must keep the 40 channels,
    the 4 rating columns and more than the 3 s baseline, which ``load_deap(drop_baseline=True)`` cuts off.
    """
    full = f"({DEAP_N_TRIALS}, {_N_CHANNELS}, {DEAP_N_SAMPLES}) in the release"
    if data.dtype.kind not in "fiu":
        problems.append(f"{path}: 'data' is {data.dtype}, not numbers")
        return None
    if data.ndim != 3 or data.shape[1] != _N_CHANNELS or data.shape[0] < 1:
        problems.append(f"{path}: 'data' has shape {data.shape}; expected (trials, {_N_CHANNELS} channels, "
                        f"samples), {full}")
        return None
    n_trials, _, n_samples = data.shape
    if n_samples <= _N_BASELINE:
        problems.append(f"{path}: 'data' has {n_samples} samples per trial, no more than the {DEAP_BASELINE_S:g} s "
                        f"baseline ({_N_BASELINE} samples); expected {DEAP_N_SAMPLES}")
        return None
    n_bad = int(data.size - np.count_nonzero(np.isfinite(data)))
    if n_bad:
        problems.append(f"{path}: 'data' holds {n_bad} NaN or infinite values")
    if labels.shape != (n_trials, len(DEAP_LABEL_NAMES)):
        problems.append(f"{path}: 'labels' has shape {labels.shape}; expected ({n_trials}, "
                        f"{len(DEAP_LABEL_NAMES)}): {', '.join(DEAP_LABEL_NAMES)} of each trial")
    elif labels.dtype.kind not in "fiu":
        problems.append(f"{path}: 'labels' is {labels.dtype}, not numbers")
    elif (bad := out_of_range(labels, 1, 9)) is not None:
        problems.append(f"{path}: 'labels' has {bad}; the ratings are on a 1-9 scale")
    return n_trials, n_samples


def _check_ratings_csv(root: Path, dat_dir: Path, subjects: list[int], found: list[str],
                       problems: list[str]) -> None:
    """The optional ``participant_ratings.csv`` (presentation order, face-video names): readable, and which of the
    subjects here it covers."""
    path = _find_ratings(root, dat_dir)
    if path is None:
        found.append("no metadata_csv/participant_ratings.csv (optional: presentation order for the face videos)")
        return
    table = read_or_report(path, lambda: read_deap_participant_ratings(path), problems)
    if table is None:
        return
    covered = {s for s, _ in table} & set(subjects)
    found.append(f"{path.name}: {len(table)} rows, the presentation order of {len(covered)} of the "
                 f"{len(subjects)} subjects here")
