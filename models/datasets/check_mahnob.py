"""The MAHNOB-HCI checks of :func:`affectstream.models.datasets.check.check_dataset`: ``mahnob`` (the emotion
sessions) and ``mahnob_continuous`` (those sessions plus the separately distributed continuous valence file).

Sessions, their BDF and the label file are found by the loader's own helpers, so the check looks where
:func:`~affectstream.models.datasets.mahnob.load_mahnob` looks.  A BDF is checked from its header: the size its header
announces (a truncated download is shorter; mne would silently read fewer records), the rate and the channel labels;
the signal itself is plain 24-bit integers that any complete file decodes.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from affectstream.models.datasets.check_common import (missing_problem, out_of_range, partial_copy, progress_bar,
                                                       read_or_report, span, unreadable)
from affectstream.models.datasets.common import DatasetLayoutError
from affectstream.models.datasets.mahnob import (
    MAHNOB_CONTINUOUS_LABEL_FILE,
    MAHNOB_CONTINUOUS_RATE,
    MAHNOB_EEG_CHANNELS,
    MAHNOB_RATING_ATTRIBUTES,
    MAHNOB_SFREQ,
    _find_continuous_file,
    _find_sessions_dir,
    _pick_bdf,
    describe_mahnob_layout,
    mahnob_session_subject_trial,
    read_mahnob_continuous_labels,
    read_mahnob_session_xml,
)

__all__ = ["MAHNOB_N_CONTINUOUS", "MAHNOB_N_CONTINUOUS_SUBJECTS", "check_mahnob"]

#: The continuous subset's counts [docs/methods.md §7.1]: 239 trials of 24 subjects.  The whole release's session
#: count is not given: 30 subjects were recorded, the paper describes 27 (Soleymani et al. 2012), and some sessions
#: lack a BDF, so a ``mahnob`` copy is never called partial.
MAHNOB_N_CONTINUOUS = 239
MAHNOB_N_CONTINUOUS_SUBJECTS = 24
_BDF_MAGIC = b"\xffBIOSEMI"


class _Session(NamedTuple):
    """What one session folder contributed: its subject, whether it is rated, its BDF's rate and length."""

    subject: int
    rated: bool
    sfreq: float | None  #: None when the folder has no BDF, or it is unusable
    seconds: float | None


def check_mahnob(root: Path, found: list[str], problems: list[str], progress: bool, *, continuous: bool) -> None:
    """Check ``root`` as MAHNOB-HCI's ``Sessions/`` download; ``continuous`` requires the continuous label file and
    checks only the sessions it covers (what ``load_mahnob(continuous_only=True)`` reads)."""
    layout = describe_mahnob_layout()
    try:
        sessions_dir: Path | None = _find_sessions_dir(root)
    except DatasetLayoutError:
        problems.append(missing_problem(root / "Sessions" / "<sessionId>" / "session.xml", layout, root))
        sessions_dir = None
    label_path = _find_continuous_file(root, sessions_dir or root / "Sessions")
    table = None
    if label_path is not None:
        table = _check_continuous_file(label_path, problems)
    elif continuous:
        problems.append(missing_problem(root / MAHNOB_CONTINUOUS_LABEL_FILE,
                                        f"{layout} (the continuous valence labels are a separate download)", root))
    if sessions_dir is None:
        return
    folders = sorted((p for p in sessions_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
    no_xml = [p for p in folders if not (p / "session.xml").is_file()]
    folders = [p for p in folders if (p / "session.xml").is_file()]
    subset = bool(continuous and table)
    if subset:
        folders = [p for p in folders if mahnob_session_subject_trial(int(p.name)) in table]
    sessions = [s for s in (_check_session(p, problems) for p in progress_bar(folders, "mahnob", progress))
                if s is not None]
    n_subjects = _summarise(sessions, len(no_xml), found)
    if table is None:
        return
    matched = _summarise_continuous(label_path, table, sessions_dir, continuous, found, problems)
    partial = partial_copy([([n_subjects], MAHNOB_N_CONTINUOUS_SUBJECTS, "subjects"),
                            ([matched], MAHNOB_N_CONTINUOUS, "continuous-label trials")]) if subset else None
    if partial:
        found.append(partial)


def _summarise(sessions: list[_Session], n_no_xml: int, found: list[str]) -> int:
    """Summary lines of the sessions checked; returns the number of subjects with a usable BDF."""
    with_bdf = [s for s in sessions if s.sfreq is not None]
    subjects = {s.subject for s in with_bdf}
    found.append(f"{len(with_bdf)} sessions with a usable BDF from {len(subjects)} subjects: "
                 f"{len(MAHNOB_EEG_CHANNELS)} EEG channels at {span(s.sfreq for s in with_bdf)} Hz, "
                 f"{span((s.seconds for s in with_bdf), '{:.0f}')} s each; {sum(s.rated for s in sessions)} sessions "
                 f"rated ({'/'.join(MAHNOB_RATING_ATTRIBUTES.values())} 1-9)")
    skipped = len(sessions) - len(with_bdf)
    if skipped or n_no_xml:
        found.append(f"{skipped} session folders without a usable BDF and {n_no_xml} without session.xml "
                     "(load_mahnob skips them)")
    return len(subjects)


def _check_session(folder: Path, problems: list[str]) -> _Session | None:
    """One ``Sessions/<id>`` folder: ``session.xml`` parses, its felt ratings are 1-9 integers, its BDF is whole."""
    xml = folder / "session.xml"
    info = read_or_report(xml, lambda: read_mahnob_session_xml(xml), problems)
    if info is None:
        return None
    rated = False
    for attr in MAHNOB_RATING_ATTRIBUTES:
        value = info["attrs"].get(attr, "").strip()
        if not value:
            continue
        rated = True
        try:
            bad = out_of_range([float(value)], 1, 9, integer=True)
        except ValueError:
            bad = "not a number"
        if bad is not None:
            problems.append(f"{xml}: {attr}={value!r} is not a rating on the 1-9 scale")
    subject = info["subject"] or mahnob_session_subject_trial(int(folder.name))[0]
    bdf = _pick_bdf(folder, info["tracks"])
    header = None if bdf is None else _check_bdf(bdf, problems)
    return _Session(subject, rated, *(header or (None, None)))


def _check_bdf(path: Path, problems: list[str]) -> tuple[float, float] | None:
    """``(sampling rate, seconds)`` of a whole BDF with the MAHNOB EEG labels at 256 Hz; else a problem line."""
    import mne

    short = _bdf_truncation(path)
    if short:
        problems.append(short)
        return None
    try:
        raw = mne.io.read_raw_bdf(path, preload=False, verbose="error")
    except Exception as exc:  # see check_common.unreadable
        problems.append(unreadable(path, exc))
        return None
    names, sfreq = list(raw.ch_names), float(raw.info["sfreq"])
    missing = [c for c in MAHNOB_EEG_CHANNELS if c not in names]
    if missing:
        problems.append(f"{path}: {len(missing)} of the {len(MAHNOB_EEG_CHANNELS)} EEG labels are missing "
                        f"({', '.join(missing[:4])}{', ...' if len(missing) > 4 else ''}); channels: "
                        f"{', '.join(names[:6])}, ... ({len(names)})")
        return None
    if tuple(names[:len(MAHNOB_EEG_CHANNELS)]) != MAHNOB_EEG_CHANNELS:
        problems.append(f"{path}: channels 1-32, which load_mahnob takes as the EEG, are not the EEG labels in the "
                        f"documented order (they start {', '.join(names[:4])})")
    if sfreq != MAHNOB_SFREQ:
        problems.append(f"{path}: sampled at {sfreq:g} Hz; expected {MAHNOB_SFREQ:g}")
    return sfreq, raw.n_times / sfreq


def _bdf_truncation(path: Path) -> str | None:
    """A problem line when ``path`` is not a BioSemi BDF or is shorter than its header announces.

    EDF/BDF header: 256 bytes (record count at 236, channel count at 252), then 256 bytes per channel, whose
    samples-per-record fields start at 256 + 216 * channels; each record then holds 3 bytes per sample.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(256)
            if len(head) < 256 or not head.startswith(_BDF_MAGIC):
                return f"{path}: not a BioSemi BDF file (it starts {head[:8]!r})"
            n_records, n_channels = int(head[236:244]), int(head[252:256])
            f.seek(256 + 216 * n_channels)
            per_record = sum(int(f.read(8)) for _ in range(n_channels))
    except ValueError as exc:
        return f"{path}: unreadable BDF header ({exc})"
    size, header = path.stat().st_size, 256 * (n_channels + 1)
    if n_records >= 0 and size < header + 3 * per_record * n_records:
        return (f"{path}: {size} bytes, but its header announces {n_records} records "
                f"({header + 3 * per_record * n_records} bytes): a truncated copy")
    return None


def _check_continuous_file(path: Path, problems: list[str]) -> dict[tuple[int, int], np.ndarray] | None:
    """``lable_continous_Mahnob.mat`` read by the loader's reader; every trace non-empty and finite."""
    table = read_or_report(path, lambda: read_mahnob_continuous_labels(path), problems)
    if table is None:
        return None
    for (subject, trial), trace in table.items():
        n_bad = int(trace.size - np.count_nonzero(np.isfinite(trace)))
        if trace.size == 0 or n_bad:
            what = "is empty" if trace.size == 0 else f"holds {n_bad} NaN or infinite values"
            problems.append(f"{path}: the valence trace of subject {subject}, trial {trial} {what}")
    return table


def _summarise_continuous(path: Path, table: dict, sessions_dir: Path, required: bool, found: list[str],
                          problems: list[str]) -> int:
    """How many traces have their session folder here (returned); none at all is a problem when the file is
    required."""
    here = {mahnob_session_subject_trial(int(p.name)) for p in sessions_dir.iterdir()
            if p.is_dir() and p.name.isdigit()}
    matched = len(set(table) & here)
    lengths = [t.size / MAHNOB_CONTINUOUS_RATE for t in table.values()]
    found.append(f"{path.name}: {len(table)} valence traces at {MAHNOB_CONTINUOUS_RATE:g} Hz "
                 f"({span(lengths, '{:.0f}')} s), {matched} of them with their session here")
    if required and table and not matched:
        problems.append(f"{path}: none of its {len(table)} traces has its session folder in {sessions_dir}")
    return matched
