"""The DREAMER check of :func:`affectstream.models.datasets.check.check_dataset`: the one ``DREAMER.mat``.

The file is a single MATLAB struct, which ``scipy.io.loadmat`` can only read whole (about 0.5 GB in memory, as
:func:`~affectstream.models.datasets.dreamer.load_dreamer` needs too); it is walked with the loader's own struct
helpers, so the check accepts exactly the shapes the loader accepts.  The ECG half is not read by the loader and is
not checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from affectstream.models.datasets.check_common import (layout_problem, missing_problem, out_of_range, partial_copy,
                                                       progress_bar, span, unreadable)
from affectstream.models.datasets.common import DatasetLayoutError, loadmat_v5, require_matlab_v5
from affectstream.models.datasets.dreamer import (
    DREAMER_EEG_CHANNELS,
    DREAMER_SCORE_FIELDS,
    DREAMER_SFREQ,
    _cell_list,
    _struct_field,
    _text,
    _unwrap,
    describe_dreamer_layout,
)

__all__ = ["DREAMER_N_CLIPS", "DREAMER_N_SUBJECTS", "check_dreamer"]

DREAMER_N_SUBJECTS = 23
DREAMER_N_CLIPS = 18


def check_dreamer(root: Path, found: list[str], problems: list[str], progress: bool) -> None:
    """Check ``root`` (``DREAMER.mat`` or the folder holding it) as the distributed DREAMER."""
    path = root if root.is_file() else root / "DREAMER.mat"
    if not path.is_file():
        problems.append(missing_problem(path, describe_dreamer_layout(), root))
        return
    top = _load(path, problems)
    if top is None:
        return
    try:
        sfreq = float(np.asarray(_struct_field(top, "EEG_SamplingRate", "DREAMER")).reshape(-1)[0])
        electrodes = tuple(_text(e) for e in _cell_list(_struct_field(top, "EEG_Electrodes", "DREAMER"),
                                                        "DREAMER.EEG_Electrodes"))
        subjects = _cell_list(_struct_field(top, "Data", "DREAMER"), "DREAMER.Data")
    except DatasetLayoutError as exc:
        problems.append(layout_problem(path, exc))
        return
    if sfreq != DREAMER_SFREQ:
        problems.append(f"{path}: DREAMER.EEG_SamplingRate is {sfreq:g} Hz; expected {DREAMER_SFREQ:g}")
    if electrodes != DREAMER_EEG_CHANNELS:
        problems.append(f"{path}: DREAMER.EEG_Electrodes holds {len(electrodes)} labels {list(electrodes)}; "
                        f"expected the {len(DREAMER_EEG_CHANNELS)} Emotiv EPOC electrodes "
                        f"{list(DREAMER_EEG_CHANNELS)}")
    clips: list[int] = []
    samples: list[int] = []
    for index, subject in enumerate(progress_bar(subjects, "dreamer", progress, unit="subject"), 1):
        where = f"DREAMER.Data{{{index}}}"
        try:
            n_clips, lengths = _check_subject(path, subject, where, problems)
        except DatasetLayoutError as exc:
            problems.append(layout_problem(path, exc))
            continue
        clips.append(n_clips)
        samples += lengths
    found.append(f"{len(subjects)} subjects, {sum(clips)} clips, {len(electrodes)} EEG channels at {sfreq:g} Hz, "
                 f"clips of {span((n / sfreq for n in samples), '{:.0f}')} s, scores "
                 f"{'/'.join(DREAMER_SCORE_FIELDS.values())} 1-5")
    partial = partial_copy([([len(subjects)], DREAMER_N_SUBJECTS, "subjects"),
                            (clips, DREAMER_N_CLIPS, "clips per subject")])
    if partial:
        found.append(partial)


def _load(path: Path, problems: list[str]) -> Any:
    """The ``DREAMER`` variable of ``path``, or None after a problem line (v7.3, not a MAT file, truncated)."""
    import scipy.io

    try:
        require_matlab_v5(path)
        names = [name for name, _shape, _cls in scipy.io.whosmat(path)]
        if "DREAMER" not in names:
            problems.append(f"{path} holds the variables {names}; expected the struct DREAMER")
            return None
        return loadmat_v5(path, variable_names=["DREAMER"])["DREAMER"]
    except DatasetLayoutError as exc:
        problems.append(layout_problem(path, exc))
    except Exception as exc:  # see check_common.unreadable
        problems.append(unreadable(path, exc))
    return None


def _check_subject(path: Path, subject: Any, where: str, problems: list[str]) -> tuple[int, list[int]]:
    """One ``Data{s}`` struct: baseline and stimulus clips (samples x 14), scores (1-5 integers, one per clip).

    Returns the number of stimulus clips and the sample counts of the usable ones.
    """
    eeg = _struct_field(subject, "EEG", where)
    stimuli = _cell_list(_struct_field(eeg, "stimuli", where + ".EEG"), where + ".EEG.stimuli")
    baselines = _cell_list(_struct_field(eeg, "baseline", where + ".EEG"), where + ".EEG.baseline")
    if len(baselines) != len(stimuli):
        problems.append(f"{path}: {where}.EEG has {len(stimuli)} stimulus clips but {len(baselines)} baselines")
    lengths = []
    for part, cells in (("stimuli", stimuli), ("baseline", baselines)):
        for k, clip in enumerate(cells, 1):
            x = np.asarray(_unwrap(clip))
            if x.ndim != 2 or x.shape[1] != len(DREAMER_EEG_CHANNELS) or x.shape[0] < 1 or x.dtype.kind not in "fiu":
                problems.append(f"{path}: {where}.EEG.{part}{{{k}}} is {x.dtype} {x.shape}; expected "
                                f"(samples, {len(DREAMER_EEG_CHANNELS)}) numbers")
            elif not np.isfinite(x).all():
                problems.append(f"{path}: {where}.EEG.{part}{{{k}}} holds NaN or infinite values")
            elif part == "stimuli":
                lengths.append(int(x.shape[0]))
    for field in DREAMER_SCORE_FIELDS:
        scores = np.asarray(_struct_field(subject, field, where))
        if scores.size != len(stimuli) or scores.dtype.kind not in "fiu":
            problems.append(f"{path}: {where}.{field} holds {scores.size} {scores.dtype} values for "
                            f"{len(stimuli)} clips")
        elif (bad := out_of_range(scores, 1, 5, integer=True)) is not None:
            problems.append(f"{path}: {where}.{field} has {bad}")
    return len(stimuli), lengths
