"""The SEED, SEED-IV and SEED-V checks of :func:`affectstream.models.datasets.check.check_dataset`.

SEED and SEED-IV files are MATLAB v5 files of ``<initials>_eeg<k>`` trial variables: their shapes come from the file
headers, then each trial is read on its own (the loader's ``_load_var``), so memory holds one trial at a time and a
truncated file fails at the trial it cuts.  SEED-V's feature files are read with the loader's
:func:`~affectstream.models.datasets.seed.read_seed_v_npz` (numpy-only unpickling).  File names are matched and
sessions numbered by the loader's own patterns and helpers.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from affectstream.models.datasets.check_common import (data_folder, expected_file, first_missing, missing_problem,
                                                       out_of_range, partial_copy, progress_bar, read_or_report,
                                                       span, unreadable)
from affectstream.models.datasets.common import loadmat_v5
from affectstream.models.datasets.seed import (
    _MAT_RE,
    _NPZ_RE,
    SEED_CHANNELS,
    SEED_EMOTIONS,
    SEED_IV_EMOTIONS,
    SEED_IV_EYE_WINDOW_S,
    SEED_IV_SESSION_LABELS,
    SEED_SFREQ,
    SEED_V_BANDS,
    SEED_V_EMOTIONS,
    SEED_V_SESSION_LABELS,
    SEED_V_WINDOW_S,
    _load_var,
    _seed_iv_eye,
    _session_files,
    describe_seed_iv_layout,
    describe_seed_layout,
    describe_seed_v_layout,
    list_seed_trial_variables,
    read_seed_v_npz,
)

__all__ = ["check_seed", "check_seed_iv", "check_seed_v"]

#: The releases' counts [docs/methods.md §7.4-§7.6]; SEED-V's 16 subjects are the CMCRD code's count, SEED-IV's 31
#: eye-movement features are the loader's (ASSUMED from the dataset's description).
SEED_N_SUBJECTS, SEED_N_SESSIONS, SEED_N_TRIALS, SEED_IV_N_TRIALS = 15, 3, 15, 24
SEED_IV_N_EYE, SEED_V_N_SUBJECTS, SEED_V_N_TRIALS, SEED_V_N_EYE = 31, 16, 45, 33
_NPZ_KEYS = "keys 'data' and 'label', each a pickled dict keyed by trial index"
_RATE = f"{len(SEED_CHANNELS)} EEG channels at {SEED_SFREQ:g} Hz (the documented rate: the files do not store it)"


def check_seed(root: Path, found: list[str], problems: list[str], progress: bool) -> None:
    """Check ``root`` as SEED's ``Preprocessed_EEG`` (or that folder itself) with its ``label.mat``."""
    folder = data_folder(root, "Preprocessed_EEG")
    files = _session_files(folder)
    if not files:
        expected = expected_file(root, folder, "Preprocessed_EEG", "<subject>_<yyyymmdd>.mat")
        problems.append(missing_problem(expected, describe_seed_layout(), folder))
        return
    labels = _check_seed_labels(folder / "label.mat", problems)
    sessions = Counter(subject for subject, *_ in files)
    for subject, n in sessions.items():
        if n > SEED_N_SESSIONS:
            problems.append(f"{folder}: subject {subject} has {n} session files; SEED has {SEED_N_SESSIONS}")
    trials, samples = _check_trial_files([p for *_, p in files], SEED_N_TRIALS, "seed", progress, problems)
    found.append(f"{len(sessions)} subjects, {len(files)} session files, {sum(trials)} trials: {_RATE}, "
                 f"{span((n / SEED_SFREQ for n in samples), '{:.0f}')} s per trial")
    if labels is not None:
        counts = Counter(int(v) for v in labels)
        found.append("label.mat: " + ", ".join(f"{counts[k]} {name}" for k, name in SEED_EMOTIONS.items())
                     + " clips")
    partial = partial_copy([
        ([len(sessions)], SEED_N_SUBJECTS, "subjects" + first_missing(sessions, SEED_N_SUBJECTS, "{}_<date>.mat")),
        (list(sessions.values()), SEED_N_SESSIONS, "sessions per subject"),
        (trials, SEED_N_TRIALS, "trials per session")])
    if partial:
        found.append(partial)


def _check_seed_labels(path: Path, problems: list[str]) -> np.ndarray | None:
    """SEED's ``label.mat``: 15 clip labels in {-1, 0, 1}; None after a problem line."""
    if not path.is_file():
        problems.append(missing_problem(path, describe_seed_layout(), path.parent))
        return None
    mat = read_or_report(path, lambda: loadmat_v5(path), problems)
    if mat is None:
        return None
    if "label" not in mat:
        problems.append(f"{path} has no variable 'label' (it holds {sorted(k for k in mat if not k.startswith('_'))})")
        return None
    labels = np.asarray(mat["label"]).reshape(-1)
    if labels.size != SEED_N_TRIALS or labels.dtype.kind not in "fiu":
        problems.append(f"{path}: 'label' holds {labels.size} {labels.dtype} values; expected {SEED_N_TRIALS}, one "
                        "per clip")
        return None
    if (bad := out_of_range(labels, -1, 1, integer=True)) is not None:
        problems.append(f"{path}: 'label' has {bad}; expected -1, 0, 1 (negative, neutral, positive)")
        return None
    return labels


def _check_trial_files(paths: list[Path], n_trials: int, kind: str, progress: bool, problems: list[str]
                       ) -> tuple[list[int], list[int]]:
    """Check SEED-family session files one at a time: the trial-variable count of each readable file, and the
    sample counts of every usable trial."""
    trials: list[int] = []
    samples: list[int] = []
    for path in progress_bar(paths, kind, progress):
        result = _check_trial_file(path, n_trials, problems)
        if result is not None:
            trials.append(result[0])
            samples += result[1]
    return trials, samples


def _check_trial_file(path: Path, n_trials: int, problems: list[str]) -> tuple[int, list[int]] | None:
    """One ``<subject>_<date>.mat``: variables ``<initials>_eeg1..n_trials``, each (62, T) of finite numbers.

    Returns the number of trial variables and the sample counts of the usable ones, or None after a problem line.
    """
    variables = read_or_report(path, lambda: list_seed_trial_variables(path), problems)
    if variables is None:
        return None
    ks = [k for k, _, _ in variables]
    if not ks or len(set(ks)) != len(ks) or min(ks) < 1 or max(ks) > n_trials:
        problems.append(f"{path} holds the trial variables {[name for _, name, _ in variables]}; expected "
                        f"<initials>_eeg1 ... <initials>_eeg{n_trials}, each once")
        return None
    samples = []
    for _, name, shape in variables:
        if len(shape) != 2 or shape[0] != len(SEED_CHANNELS) or shape[1] < 1:
            problems.append(f"{path}: {name} has shape {shape}; expected ({len(SEED_CHANNELS)} channels, samples)")
            continue
        try:
            x = _load_var(path, name)
        except Exception as exc:  # see check_common.unreadable; a truncated file fails here, and so would the rest
            problems.append(unreadable(f"{path}: {name}", exc))
            break
        if x.dtype.kind not in "fiu" or not np.isfinite(x).all():
            problems.append(f"{path}: {name} is {x.dtype} with NaN, infinite or non-numeric values")
            continue
        samples.append(int(shape[1]))
    return len(variables), samples


def check_seed_iv(root: Path, found: list[str], problems: list[str], progress: bool) -> None:
    """Check ``root`` as SEED-IV's ``eeg_raw_data/{1,2,3}`` (or that folder itself)."""
    raw = data_folder(root, "eeg_raw_data")
    files = [(session, int(m.group(1)), p) for session in SEED_IV_SESSION_LABELS if (raw / str(session)).is_dir()
             for p in sorted((raw / str(session)).iterdir()) if (m := _MAT_RE.match(p.name))]
    if not files:
        expected = expected_file(root, raw, "eeg_raw_data", "1/<subject>_<yyyymmdd>.mat")
        problems.append(missing_problem(expected, describe_seed_iv_layout(), raw))
        return
    per_session = Counter((session, subject) for session, subject, _ in files)
    for (session, subject), n in sorted(per_session.items()):
        if n > 1:
            problems.append(f"{raw / str(session)}: subject {subject} has {n} files; one per session expected")
    trials, samples = _check_trial_files([p for *_, p in files], SEED_IV_N_TRIALS, "seed_iv", progress, problems)
    subjects = Counter(subject for _, subject, _ in files)
    sessions = sorted({session for session, _, _ in files})
    found.append(f"{len(subjects)} subjects, {len(files)} session files (session folders "
                 f"{', '.join(map(str, sessions))}), {sum(trials)} trials: {_RATE}, "
                 f"{span((n / SEED_SFREQ for n in samples), '{:.0f}')} s per trial")
    found.append("labels: the documented per-session lists (" + ", ".join(
        f"{k} {name}" for k, name in SEED_IV_EMOTIONS.items()) + "); the files hold none, so none are checked")
    eye_dir = raw.parent / "eye_feature_smooth"
    if eye_dir.is_dir():
        eye_files = [(eye_dir / str(session) / p.name) for session, _, p in files]
        eye_trials = [_check_seed_iv_eye(p, problems) for p in eye_files if p.is_file()]
        found.append(f"{eye_dir.name}/: {len(eye_trials)} of {len(files)} session files, {sum(eye_trials)} trials of "
                     f"{SEED_IV_N_EYE} eye-movement features per {SEED_IV_EYE_WINDOW_S:g} s window")
    else:
        found.append(f"no {eye_dir.name}/ (optional)")
    partial = partial_copy([
        ([len(subjects)], SEED_N_SUBJECTS, "subjects"), (list(subjects.values()), SEED_N_SESSIONS,
                                                          "sessions per subject"),
        (trials, SEED_IV_N_TRIALS, "trials per session")])
    if partial:
        found.append(partial)


def _check_seed_iv_eye(path: Path, problems: list[str]) -> int:
    """One ``eye_feature_smooth/<session>/<file>.mat`` read by the loader's reader: ``eye_1..24``, each 31 features
    per window of finite numbers.  Returns the number of usable trials."""
    eye = read_or_report(path, lambda: _seed_iv_eye(path), problems)
    if eye is None:
        return 0
    if not eye:
        problems.append(f"{path} holds no eye_<k> variables; expected eye_1 ... eye_{SEED_IV_N_TRIALS}, each "
                        f"({SEED_IV_N_EYE}, windows)")
    usable = 0
    for k, x in sorted(eye.items()):
        if not 1 <= k <= SEED_IV_N_TRIALS or x.shape[1] != SEED_IV_N_EYE or x.shape[0] < 1:
            problems.append(f"{path}: eye_{k} has shape {x.shape[::-1]}; expected ({SEED_IV_N_EYE}, windows) for "
                            f"trials 1-{SEED_IV_N_TRIALS}")
        elif not np.isfinite(x).all():
            problems.append(f"{path}: eye_{k} holds NaN or infinite values")
        else:
            usable += 1
    return usable


def check_seed_v(root: Path, found: list[str], problems: list[str], progress: bool) -> None:
    """Check ``root`` as SEED-V's ``EEG_DE_features`` (or that folder) with the optional ``Eye_movement_features``."""
    de_dir = data_folder(root, "EEG_DE_features")
    files = sorted((int(m.group(1)), p) for p in de_dir.iterdir() if (m := _NPZ_RE.match(p.name)))
    if not files:
        expected = expected_file(root, de_dir, "EEG_DE_features", "<subject>_123.npz")
        problems.append(missing_problem(expected, describe_seed_v_layout(), de_dir))
        return
    eye_dir = de_dir.parent / "Eye_movement_features"
    trials: dict[int, dict[int, tuple[int, int | None]]] = {}
    n_eye = 0
    for subject, path in progress_bar(files, "seed_v", progress):
        windows = _check_seed_v_file(path, problems)
        if windows is None:
            continue
        trials[subject] = windows
        if (eye_dir / path.name).is_file():
            n_eye += _check_eye_file(eye_dir / path.name, windows, problems)
    _summarise_seed_v(files, trials, eye_dir, n_eye, found)


def _check_seed_v_file(path: Path, problems: list[str]) -> dict[int, tuple[int, int | None]] | None:
    """One DE-feature file: ``{trial index: (windows, label or None when not constant)}`` of its usable trials."""
    got = read_or_report(path, lambda: read_seed_v_npz(path), problems, _NPZ_KEYS)
    if got is None:
        return None
    data, labels = got
    if set(data) != set(labels):
        problems.append(f"{path}: trial indices only in 'data' {sorted(set(data) - set(labels))}, only in 'label' "
                        f"{sorted(set(labels) - set(data))}")
    n_features = len(SEED_CHANNELS) * len(SEED_V_BANDS)
    out = {}
    for idx in sorted(set(data) & set(labels)):
        x, y = data[idx], labels[idx].reshape(-1)
        if not 0 <= idx < SEED_V_N_TRIALS:
            problems.append(f"{path}: trial index {idx} is outside 0-{SEED_V_N_TRIALS - 1} (3 sessions x 15 trials)")
        elif x.ndim != 2 or x.shape[1] != n_features or x.dtype.kind not in "fiu":
            problems.append(f"{path}: trial {idx} 'data' is {x.dtype} {x.shape}; expected (windows, {n_features})")
        elif y.size != x.shape[0]:
            problems.append(f"{path}: trial {idx} has {x.shape[0]} feature windows but {y.size} labels")
        elif (bad := out_of_range(y, 0, 4, integer=True)) is not None:
            problems.append(f"{path}: trial {idx} 'label' has {bad}; expected 0-4 ("
                            + ", ".join(f"{k} {name}" for k, name in SEED_V_EMOTIONS.items()) + ")")
        elif not np.isfinite(x).all():
            problems.append(f"{path}: trial {idx} 'data' holds NaN or infinite values")
        else:
            out[idx] = (int(x.shape[0]), int(y[0]) if y.size and np.all(y == y[0]) else None)
    return out


def _check_eye_file(path: Path, windows: dict[int, tuple[int, int | None]], problems: list[str]) -> int:
    """The subject's eye-movement file: (windows, 33) per trial, as many windows as its EEG features.

    Returns how many of the subject's usable trials it covers."""
    got = read_or_report(path, lambda: read_seed_v_npz(path), problems, _NPZ_KEYS)
    if got is None:
        return 0
    eye, _ = got
    covered = 0
    for idx, (n, _) in windows.items():
        e = eye.get(idx)
        if e is None:
            continue
        if e.ndim != 2 or e.shape != (n, SEED_V_N_EYE) or e.dtype.kind not in "fiu":
            problems.append(f"{path}: trial {idx} is {e.dtype} {e.shape}; expected ({n}, {SEED_V_N_EYE}), as many "
                            "windows as its EEG features")
        else:
            covered += 1
    return covered


def _summarise_seed_v(files: list[tuple[int, Path]], trials: dict[int, dict[int, tuple[int, int | None]]],
                      eye_dir: Path, n_eye: int, found: list[str]) -> None:
    every = [t for per_subject in trials.values() for t in per_subject.items()]
    labels = Counter(label for _, (_, label) in every if label is not None)
    found.append(f"{len(files)} subjects, {len(every)} trials, {sum(n for _, (n, _) in every)} windows of "
                 f"{SEED_V_WINDOW_S:g} s: differential entropy of {len(SEED_CHANNELS)} channels x {len(SEED_V_BANDS)} "
                 "bands; labels " + ", ".join(f"{labels[k]} {name}" for k, name in SEED_V_EMOTIONS.items()))
    mixed = sum(label is None for _, (_, label) in every)
    differ = sum(label is not None and label != SEED_V_SESSION_LABELS[idx // 15 + 1][idx % 15]
                 for idx, (_, label) in every)
    notes = [f"{mixed} trials with mixed window labels"] if mixed else []
    notes += [f"{differ} trials whose label differs from the documented session order"] if differ else []
    if notes:
        found.append(", ".join(notes) + " (load_seed_v uses the file's labels)")
    subjects = sum(1 for _, p in files if (eye_dir / p.name).is_file())
    found.append(f"{eye_dir.name}/: {subjects} of {len(files)} subjects, {n_eye} of the {len(every)} trials with "
                 f"{SEED_V_N_EYE} features per window" if eye_dir.is_dir() else f"no {eye_dir.name}/ (optional)")
    partial = partial_copy([([len(files)], SEED_V_N_SUBJECTS, "subjects"),
                            ([len(t) for t in trials.values()], SEED_V_N_TRIALS, "trials per subject")])
    if partial:
        found.append(partial)
