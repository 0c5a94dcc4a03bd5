"""SEED, SEED-IV and SEED-V (SJTU BCMI) as distributed (docs/methods.md §7.4-§7.6).

SEED (:func:`load_seed`)::

    <root>/Preprocessed_EEG/              (or <root> = that folder)
        <subject>_<yyyymmdd>.mat          45 files (15 subjects x 3 sessions); variables <initials>_eeg1 ... _eeg15,
                                          each (62, T) at 200 Hz (downsampled, 0-75 Hz filtered)
        label.mat                         'label' (1, 15) in {-1, 0, 1} (negative, neutral, positive)

SEED-IV (:func:`load_seed_iv`)::

    <root>/eeg_raw_data/{1,2,3}/<subject>_<yyyymmdd>.mat   variables <initials>_eeg1 ... _eeg24, (62, T) at 200 Hz
    labels are not in the files: per-session lists :data:`SEED_IV_SESSION_LABELS` (0 neutral, 1 sad, 2 fear, 3 happy)

SEED-V (:func:`load_seed_v`), the DE-feature release CMCRD uses::

    <root>/EEG_DE_features/<subject>_123.npz         keys 'data', 'label': each a *pickled dict* keyed by trial
    <root>/Eye_movement_features/<subject>_123.npz   index 0-44 (3 sessions x 15 trials); data value (n_windows, 310)
                                                     (eye: (n_windows, 33)), label value (n_windows,) int
    310 = 62 channels x 5 bands (delta, theta, alpha, beta, gamma) of differential entropy on 4-s windows,
    channel-major (column = 5 * channel + band, as torcheeg reshapes it to (62, 5))

The pickled dicts inside SEED-V's npz files are read with
:func:`~affectstream.models.datasets.common.restricted_unpickle` (numpy arrays and dicts only).  SEED-V's raw
``EEG_raw/<subj>_<session>_<date>.cnt`` (Neuroscan, 1000 Hz) is not read here.

Subject and session: the subject is the number before the first ``_`` of the file name.  SEED sessions are numbered
1-3 by date order per subject; SEED-IV sessions by folder; SEED-V by trial index (index // 15 + 1).

Units: SEED/SEED-IV preprocessed EEG is passed through as stored (assumed microvolts), cast to float32.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
import numpy as np

from affectstream.models.datasets.common import (
    PathArg,
    Trial,
    layout_error,
    list_dir_for_error,
    loadmat_v5,
    require_matlab_v5,
    restricted_unpickle,
    subject_filter,
)

__all__ = [
    "SEED_CHANNELS",
    "SEED_SFREQ",
    "SEED_LABELS",
    "SEED_EMOTIONS",
    "SEED_IV_SESSION_LABELS",
    "SEED_IV_EMOTIONS",
    "SEED_V_SESSION_LABELS",
    "SEED_V_EMOTIONS",
    "SEED_V_WINDOW_S",
    "SEED_IV_EYE_WINDOW_S",
    "SEED_V_BANDS",
    "describe_seed_layout",
    "describe_seed_iv_layout",
    "describe_seed_v_layout",
    "list_seed_trial_variables",
    "read_seed_v_npz",
    "load_seed",
    "load_seed_iv",
    "load_seed_v",
]

log = logging.getLogger(__name__)

#: ESI NeuroScan 62-channel order of SEED / SEED-IV / SEED-V [docs/methods.md §7.4, from the CMCRD code].
SEED_CHANNELS: tuple[str, ...] = (
    "FP1", "FPZ", "FP2", "AF3", "AF4", "F7", "F5", "F3", "F1", "FZ", "F2", "F4", "F6", "F8",
    "FT7", "FC5", "FC3", "FC1", "FCZ", "FC2", "FC4", "FC6", "FT8",
    "T7", "C5", "C3", "C1", "CZ", "C2", "C4", "C6", "T8",
    "TP7", "CP5", "CP3", "CP1", "CPZ", "CP2", "CP4", "CP6", "TP8",
    "P7", "P5", "P3", "P1", "PZ", "P2", "P4", "P6", "P8",
    "PO7", "PO5", "PO3", "POZ", "PO4", "PO6", "PO8", "CB1", "O1", "OZ", "O2", "CB2",
)
SEED_SFREQ = 200.0
#: label.mat of SEED, for reference (the loader reads the file).
SEED_LABELS: tuple[int, ...] = (1, 0, -1, -1, 0, 1, -1, 0, 1, 1, 0, -1, 0, 1, -1)
SEED_EMOTIONS: dict[int, str] = {-1: "negative", 0: "neutral", 1: "positive"}
#: SEED-IV trial labels per session (sessions 1, 2, 3) [torcheeg].
SEED_IV_SESSION_LABELS: dict[int, tuple[int, ...]] = {
    1: (1, 2, 3, 0, 2, 0, 0, 1, 0, 1, 2, 1, 1, 1, 2, 3, 2, 2, 3, 3, 0, 3, 0, 3),
    2: (2, 1, 3, 0, 0, 2, 0, 2, 3, 3, 2, 3, 2, 0, 1, 1, 2, 1, 0, 3, 0, 1, 3, 1),
    3: (1, 2, 2, 1, 3, 3, 3, 1, 1, 2, 1, 0, 2, 3, 3, 0, 2, 3, 0, 0, 2, 0, 1, 0),
}
SEED_IV_EMOTIONS: dict[int, str] = {0: "neutral", 1: "sad", 2: "fear", 3: "happy"}
#: SEED-V trial labels per session [torcheeg].
SEED_V_SESSION_LABELS: dict[int, tuple[int, ...]] = {
    1: (4, 1, 3, 2, 0, 4, 1, 3, 2, 0, 4, 1, 3, 2, 0),
    2: (2, 1, 3, 0, 4, 4, 0, 3, 2, 1, 3, 4, 1, 2, 0),
    3: (2, 1, 3, 0, 4, 4, 0, 3, 2, 1, 3, 4, 1, 2, 0),
}
SEED_V_EMOTIONS: dict[int, str] = {0: "disgust", 1: "fear", 2: "sad", 3: "neutral", 4: "happy"}
SEED_V_WINDOW_S = 4.0
#: Window of SEED-IV's eye-movement features (s).
SEED_IV_EYE_WINDOW_S = 4.0
SEED_V_BANDS: tuple[str, ...] = ("delta", "theta", "alpha", "beta", "gamma")

_MAT_RE = re.compile(r"^(\d+)_(\d{8})\.mat$")
_VAR_RE = re.compile(r"^(.+)_eeg(\d+)$")
_NPZ_RE = re.compile(r"^(\d+)_123\.npz$")


def describe_seed_layout() -> str:
    return (
        "<root>/Preprocessed_EEG/<subject>_<yyyymmdd>.mat (variables <initials>_eeg1..15, each 62 x T at 200 Hz) "
        "and <root>/Preprocessed_EEG/label.mat ('label', 1 x 15 in {-1, 0, 1})"
    )


def describe_seed_iv_layout() -> str:
    return (
        "<root>/eeg_raw_data/{1,2,3}/<subject>_<yyyymmdd>.mat (session folders 1-3; variables "
        "<initials>_eeg1..24, each 62 x T at 200 Hz); optional <root>/eye_feature_smooth/{1,2,3}/ (same file "
        "names; variables eye_1..24, each 31 x n_windows)"
    )


def describe_seed_v_layout() -> str:
    return (
        "<root>/EEG_DE_features/<subject>_123.npz with keys 'data' and 'label' (pickled dicts keyed by trial "
        "0-44: data (n_windows, 310), label (n_windows,)); optional <root>/Eye_movement_features/<subject>_123.npz "
        "(data (n_windows, 33))"
    )


def list_seed_trial_variables(path: PathArg) -> list[tuple[int, str, tuple[int, ...]]]:
    """``[(k, variable name, shape)]`` of the ``<prefix>_eeg<k>`` variables of a SEED-family file, sorted by k,
    read from the MAT header without loading the arrays."""
    import scipy.io

    require_matlab_v5(path)
    out = []
    for name, shape, _cls in scipy.io.whosmat(path):
        m = _VAR_RE.match(name)
        if m:
            out.append((int(m.group(2)), name, tuple(shape)))
    return sorted(out)


def _load_var(path: Path, name: str) -> np.ndarray:
    return np.asarray(loadmat_v5(path, variable_names=[name])[name])


def _mat_trials(
    dataset: str,
    path: Path,
    subject: int,
    session: int,
    date: str,
    n_trials: int,
    labels: tuple[int, ...] | list[int],
    sfreq: float,
    describe: str,
    emotions: dict[int, str],
) -> Iterator[Trial]:
    variables = list_seed_trial_variables(path)
    if not variables:
        raise layout_error(describe, f"{path} holds no <prefix>_eeg<k> variables")
    ks = [k for k, _, _ in variables]
    if len(set(ks)) != len(ks) or max(ks) > n_trials:
        raise layout_error(describe, f"{path} holds trial variables {[n for _, n, _ in variables]}")
    if len(ks) != n_trials:
        log.warning("%s: %d trial variables, expected %d", path, len(ks), n_trials)
    for k, name, shape in variables:
        if len(shape) != 2 or shape[0] != len(SEED_CHANNELS):
            raise layout_error(describe, f"{path}:{name} has shape {shape}, expected (62, T)")
        eeg = np.ascontiguousarray(_load_var(path, name), dtype=np.float32)
        label = int(labels[k - 1])
        yield Trial(
            dataset=dataset,
            subject=subject,
            trial=k,
            eeg=eeg,
            sfreq=sfreq,
            ch_names=SEED_CHANNELS,
            labels={"emotion": label},
            session=session,
            meta={"source": path, "variable": name, "date": date, "emotion_name": emotions.get(label)},
        )


def _find_dir(root: Path, name: str, ok) -> Path | None:
    for cand in (root / name, root):
        if cand.is_dir() and ok(cand):
            return cand
    return None


def load_seed(
    root: PathArg,
    subjects: Iterable[int | str] | int | str | None = None,
    *,
    sessions: Iterable[int] | int | None = None,
) -> Iterator[Trial]:
    """Iterate over SEED trials (``Preprocessed_EEG``), one :class:`Trial` per (subject, session, clip).

    Parameters
    ----------
    root : path-like
        Folder holding ``Preprocessed_EEG/`` (or that folder).
    subjects : optional
        Subject numbers 1-15.
    sessions : optional
        Sessions 1-3 (by recording date per subject).

    Returns
    -------
    Iterator[Trial]
        Lazy (a file is read when iteration reaches it); layout errors are raised by the call itself.
        ``eeg`` (62, T) float32, ``sfreq`` 200, ``ch_names`` :data:`SEED_CHANNELS`, ``labels["emotion"]`` in
        {-1, 0, 1} from ``label.mat``, ``trial`` = k of ``<prefix>_eeg<k>``, ``session`` 1-3.
    """
    root = Path(root)
    pre = _find_dir(root, "Preprocessed_EEG", lambda d: (d / "label.mat").is_file())
    if pre is None:
        raise layout_error(describe_seed_layout(), list_dir_for_error(root))
    lab = loadmat_v5(pre / "label.mat")
    if "label" not in lab:
        raise layout_error(describe_seed_layout(), f"{pre / 'label.mat'} has no variable 'label'")
    labels = [int(v) for v in np.asarray(lab["label"]).reshape(-1)]
    if len(labels) != 15:
        raise layout_error(describe_seed_layout(), f"label.mat holds {len(labels)} labels")
    files = _session_files(pre)
    if not files:
        raise layout_error(describe_seed_layout(), list_dir_for_error(pre))
    keep, keep_sess = subject_filter(subjects), _session_filter(sessions)
    files = [f for f in files if (keep is None or f[0] in keep) and (keep_sess is None or f[1] in keep_sess)]
    return _iter_mat_files("seed", [(s, sess, date, p, labels) for s, sess, date, p in files], 15, SEED_SFREQ,
                           describe_seed_layout(), SEED_EMOTIONS)


def _iter_mat_files(
    dataset: str,
    files: list[tuple[int, int, str, Path, tuple[int, ...] | list[int]]],
    n_trials: int,
    sfreq: float,
    describe: str,
    emotions: dict[int, str],
    eye_dir: Path | None = None,
) -> Iterator[Trial]:
    for subject, session, date, path, labels in files:
        eye_path = None if eye_dir is None else eye_dir / str(session) / path.name
        eye = _seed_iv_eye(eye_path) if eye_path is not None and eye_path.is_file() else {}
        for trial in _mat_trials(dataset, path, subject, session, date, n_trials, labels, sfreq, describe, emotions):
            if trial.trial in eye:
                trial.features["eye"] = eye[trial.trial]
                trial.meta["feature_window_s"] = SEED_IV_EYE_WINDOW_S
            yield trial


def _seed_iv_eye(path: Path) -> dict[int, np.ndarray]:
    """SEED-IV's ``eye_feature_smooth/<session>/<file>.mat``: variables ``eye_<k>`` (31, n_windows) -> ``{k: (n, 31)
    float32}``. ASSUMED from the dataset's description (31 features on 4 s windows); not seen in a real file."""
    import scipy.io

    require_matlab_v5(path)
    found = {}
    for name, shape, _cls in scipy.io.whosmat(path):
        m = re.fullmatch(r"eye_(\d+)", name)
        if m and len(shape) == 2:
            found[int(m.group(1))] = np.ascontiguousarray(_load_var(path, name).T, dtype=np.float32)
    return found


def _session_files(folder: Path) -> list[tuple[int, int, str, Path]]:
    """``[(subject, session, date, path)]``: sessions numbered by date order per subject."""
    by_subject: dict[int, list[tuple[str, Path]]] = {}
    for p in folder.iterdir():
        m = _MAT_RE.match(p.name)
        if m:
            by_subject.setdefault(int(m.group(1)), []).append((m.group(2), p))
    out = []
    for subject in sorted(by_subject):
        for i, (date, p) in enumerate(sorted(by_subject[subject])):
            out.append((subject, i + 1, date, p))
    return out


def _session_filter(sessions: Iterable[int] | int | None) -> frozenset[int] | None:
    if sessions is None:
        return None
    if isinstance(sessions, (int, np.integer)):
        return frozenset({int(sessions)})
    return frozenset(int(s) for s in sessions)


def load_seed_iv(
    root: PathArg,
    subjects: Iterable[int | str] | int | str | None = None,
    *,
    sessions: Iterable[int] | int | None = None,
    sfreq: float = SEED_SFREQ,
    eye: bool = True,
) -> Iterator[Trial]:
    """Iterate over SEED-IV trials (``eeg_raw_data``), one :class:`Trial` per (subject, session, clip).

    Parameters
    ----------
    root : path-like
        Folder holding ``eeg_raw_data/`` (or that folder, with the session folders ``1``, ``2``, ``3``).
    subjects, sessions : optional
        Subject numbers 1-15; sessions 1-3 (the folder names).
    sfreq : float
        Sampling rate of the files (200 Hz per docs/methods.md §7.5; the files do not store it).
    eye : bool
        Attach the eye-movement features of ``<root>/eye_feature_smooth/<session>/<same file name>`` when present
        (``features["eye"]`` (n_windows, 31) on 4 s windows, ``meta["feature_window_s"]``).

    Returns
    -------
    Iterator[Trial]
        Lazy (a file is read when iteration reaches it); layout errors are raised by the call itself.
        ``eeg`` (62, T) float32, ``labels["emotion"]`` in 0-3 from :data:`SEED_IV_SESSION_LABELS`.
    """
    root = Path(root)

    def has_sessions(d: Path) -> bool:
        return any((d / str(s)).is_dir() for s in SEED_IV_SESSION_LABELS)

    raw = _find_dir(root, "eeg_raw_data", has_sessions)
    if raw is None:
        raise layout_error(describe_seed_iv_layout(), list_dir_for_error(root))
    keep, keep_sess = subject_filter(subjects), _session_filter(sessions)
    n_found = 0
    todo = []
    for session, labels in SEED_IV_SESSION_LABELS.items():
        folder = raw / str(session)
        if not folder.is_dir():
            continue
        files = sorted((int(m.group(1)), m.group(2), p) for p in folder.iterdir() if (m := _MAT_RE.match(p.name)))
        n_found += len(files)
        if keep_sess is not None and session not in keep_sess:
            continue
        todo += [(subject, session, date, path, labels) for subject, date, path in files
                 if keep is None or subject in keep]
    if n_found == 0:
        raise layout_error(describe_seed_iv_layout(), list_dir_for_error(raw))
    eye_dir = raw.parent / "eye_feature_smooth"
    return _iter_mat_files("seed_iv", todo, 24, sfreq, describe_seed_iv_layout(), SEED_IV_EMOTIONS,
                           eye_dir if eye else None)


def read_seed_v_npz(path: PathArg) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Read one SEED-V feature file: ``({trial index: (n_windows, n_features)}, {trial index: (n_windows,)})``.

    The ``data``/``label`` entries are pickled dicts stored as byte strings; they are unpickled with the
    numpy-only whitelist.
    """
    path = Path(path)
    with np.load(path, allow_pickle=False) as z:
        if "data" not in z.files or "label" not in z.files:
            raise layout_error(describe_seed_v_layout(), f"{path} holds keys {z.files}")
        blobs = {k: z[k] for k in ("data", "label")}
    out = []
    for k, blob in blobs.items():
        if blob.dtype.kind != "S":
            raise layout_error(describe_seed_v_layout(), f"{path}['{k}'] is {blob.dtype}, not a pickled dict")
        if blob.size != 1:
            raise layout_error(describe_seed_v_layout(), f"{path}['{k}'] holds {blob.size} byte strings, not one")
        obj = restricted_unpickle(bytes(blob.reshape(-1)[0]))
        if not isinstance(obj, dict):
            raise layout_error(describe_seed_v_layout(), f"{path}['{k}'] unpickles to {type(obj).__name__}")
        out.append({int(key): np.asarray(v) for key, v in obj.items()})
    return out[0], out[1]


def _mode(x: np.ndarray) -> int:
    vals, counts = np.unique(x.astype(np.int64), return_counts=True)
    return int(vals[np.argmax(counts)])


def load_seed_v(
    root: PathArg,
    subjects: Iterable[int | str] | int | str | None = None,
    *,
    sessions: Iterable[int] | int | None = None,
    eye: bool = True,
) -> Iterator[Trial]:
    """Iterate over SEED-V trials of the DE-feature release, one :class:`Trial` per (subject, session, clip).

    Parameters
    ----------
    root : path-like
        Folder holding ``EEG_DE_features/`` (and optionally ``Eye_movement_features/``), or ``EEG_DE_features``.
    subjects, sessions : optional
        Subject numbers (1-16); sessions 1-3.
    eye : bool
        Attach the eye-movement features when ``Eye_movement_features/<subject>_123.npz`` exists.

    Returns
    -------
    Iterator[Trial]
        Lazy (a file is read when iteration reaches it); layout errors are raised by the call itself.
        ``eeg=None``; ``features["eeg_de"]`` (n_windows, 310) float32 and, with ``eye``, ``features["eye"]``
        (n_windows, 33); ``sfreq`` = window rate (0.25 Hz); ``ch_names`` :data:`SEED_CHANNELS` (the 62 of the
        channel-major 62 x 5 layout); ``labels["emotion"]`` 0-4 (the per-window label, constant within a trial;
        ``meta["window_labels"]`` keeps them all); ``trial`` 1-15, ``session`` 1-3.
    """
    root = Path(root)
    de_dir = _find_dir(root, "EEG_DE_features", lambda d: any(_NPZ_RE.match(p.name) for p in d.iterdir()))
    if de_dir is None:
        raise layout_error(describe_seed_v_layout(), list_dir_for_error(root))
    eye_dir = de_dir.parent / "Eye_movement_features"
    keep, keep_sess = subject_filter(subjects), _session_filter(sessions)
    files = sorted((int(m.group(1)), p) for p in de_dir.iterdir() if (m := _NPZ_RE.match(p.name)))
    files = [(subject, p) for subject, p in files if keep is None or subject in keep]
    return _iter_seed_v(files, eye_dir, keep_sess, eye)


def _iter_seed_v(files: list[tuple[int, Path]], eye_dir: Path, keep_sess: frozenset[int] | None, eye: bool
                 ) -> Iterator[Trial]:
    for subject, path in files:
        data, labels = read_seed_v_npz(path)
        eye_data: dict[int, np.ndarray] = {}
        eye_path = eye_dir / path.name
        if eye and eye_path.is_file():
            eye_data, _ = read_seed_v_npz(eye_path)
        if set(data) != set(labels):
            raise layout_error(describe_seed_v_layout(), f"{path}: data keys {sorted(data)} != label keys "
                                                         f"{sorted(labels)}")
        for idx in sorted(data):
            session, trial = idx // 15 + 1, idx % 15 + 1
            if keep_sess is not None and session not in keep_sess:
                continue
            x = np.asarray(data[idx], dtype=np.float32)
            y = np.asarray(labels[idx]).reshape(-1)
            if x.ndim != 2 or x.shape[1] != len(SEED_CHANNELS) * len(SEED_V_BANDS) or y.size != x.shape[0]:
                raise layout_error(describe_seed_v_layout(),
                                   f"{path}: trial {idx} data {x.shape}, label {y.shape}")
            feats = {"eeg_de": np.ascontiguousarray(x)}
            if idx in eye_data:
                e = np.asarray(eye_data[idx], dtype=np.float32)
                if e.ndim != 2 or e.shape[0] != x.shape[0]:
                    raise layout_error(describe_seed_v_layout(),
                                       f"{eye_path}: trial {idx} has {e.shape}, EEG has {x.shape[0]} windows")
                feats["eye"] = np.ascontiguousarray(e)
            label = _mode(y) if y.size else int(SEED_V_SESSION_LABELS[session][trial - 1])
            expected = SEED_V_SESSION_LABELS.get(session, ())
            expected_label = int(expected[trial - 1]) if trial - 1 < len(expected) else None
            if y.size and not np.all(y == label):
                log.warning("%s trial %d: window labels are not constant %s", path, idx, np.unique(y))
            if expected_label is not None and y.size and label != expected_label:
                log.warning("%s trial %d: label %d but the documented session list says %d",
                            path, idx, label, expected_label)
            yield Trial(
                dataset="seed_v",
                subject=subject,
                trial=trial,
                eeg=None,
                sfreq=1.0 / SEED_V_WINDOW_S,
                ch_names=SEED_CHANNELS,
                labels={"emotion": label},
                session=session,
                features=feats,
                meta={
                    "source": path,
                    "eye_source": eye_path if "eye" in feats else None,
                    "trial_index": idx,
                    "window_labels": y.astype(np.int64),
                    "window_s": SEED_V_WINDOW_S,
                    "feature_layout": "eeg_de column = 5 * channel + band; bands " + ", ".join(SEED_V_BANDS),
                    "emotion_name": SEED_V_EMOTIONS.get(label),
                },
            )

