"""Check a local copy of an emotion-EEG dataset in its distributed layout (``affectstream datasets check``).

:func:`check_dataset` reads every data file of the copy once, one file at a time (a DEAP file is about 100 MB; a
SEED trial is read variable by variable), with the loaders' own readers and file-finding helpers, and reports a
:class:`DatasetReport`: summary lines of what it found and one line per problem, each naming the file.

What is checked, per kind (full-release counts in brackets; a copy with fewer subjects, trials or samples is accepted
and called "a partial copy" in the summary):

- ``deap``: ``data_preprocessed_python/sNN.dat`` [32]: each unpickles through the numpy-only whitelist to
  ``data`` (trials >= 1 [40], 40 channels, samples > 3 s x 128 [8064]) of finite numbers and ``labels``
  (trials, 4) in 1-9; the optional ``participant_ratings.csv`` reads.  128 Hz is documented, not stored.
- ``mahnob`` / ``mahnob_continuous``: ``Sessions/<id>/session.xml`` parses and its felt ratings are 1-9 integers;
  the BDF it names is as long as its header says, at 256 Hz, with the 32 EEG labels as channels 1-32.
  ``lable_continous_Mahnob.mat`` (required for ``mahnob_continuous``, which then checks only the sessions it covers
  [239 trials, 24 subjects]) reads, its traces are finite, and they match session folders.
- ``dreamer``: ``DREAMER.mat`` is MATLAB v5 with the ``DREAMER`` struct: 128 Hz, the 14 EPOC electrodes, per subject
  [23] stimulus and baseline clips [18] of (samples, 14) finite numbers, scores 1-5 integers, one per clip.
- ``seed``: ``Preprocessed_EEG/label.mat`` holds 15 labels in {-1, 0, 1}; each ``<subject>_<date>.mat`` [15 x 3]
  holds ``<initials>_eeg1..15`` [15], each (62, samples) of finite numbers.  200 Hz is documented, not stored.
- ``seed_iv``: ``eeg_raw_data/{1,2,3}/<subject>_<date>.mat`` as for SEED with ``_eeg1..24``; the labels are
  documented lists, not files, so none are checked; the optional ``eye_feature_smooth/<session>/`` files hold
  ``eye_1..24``, each (31, windows) of finite numbers.
- ``seed_v``: ``EEG_DE_features/<subject>_123.npz`` [16] hold 'data' and 'label' dicts with the same trial indices
  0-44 [45], (windows, 310) finite features and one 0-4 integer label per window; the optional
  ``Eye_movement_features`` files hold (windows, 33) per trial, as many windows as the EEG features.

Checksums: none of these distributions publishes checksums of its files, as far as we could find, so there is
nothing to compare a copy with; every report says "no published checksums" and the files are read instead.  Not
checked: video and gaze files (counted at most), DREAMER's ECG, SEED's ExtractedFeatures, that the values are the
ones the authors recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DATASET_KINDS", "DatasetReport", "check_dataset"]

#: The kinds :func:`check_dataset` knows, in the order the command line lists them.
DATASET_KINDS: tuple[str, ...] = ("deap", "mahnob", "mahnob_continuous", "dreamer", "seed", "seed_iv", "seed_v")

_TITLES = {"deap": "DEAP", "mahnob": "MAHNOB-HCI", "mahnob_continuous": "MAHNOB-HCI and its continuous labels",
           "dreamer": "DREAMER", "seed": "SEED", "seed_iv": "SEED-IV", "seed_v": "SEED-V"}


@dataclass
class DatasetReport:
    """What :func:`check_dataset` found in one copy.

    Attributes
    ----------
    kind : str
        One of :data:`DATASET_KINDS`.
    root : pathlib.Path
        The folder (or, for DREAMER, the file) that was checked.
    found : list of str
        Summary lines, e.g. ``"32 subjects, 1280 trials ..."`` and ``"2 of 32 subjects ...: a partial copy"``.
    problems : list of str
        One line per problem, each naming the file (and the expected layout when a file is missing).
    """

    kind: str
    root: Path
    found: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def check_dataset(kind: str, root: str | Path, *, progress: bool = False) -> DatasetReport:
    """Check the copy of dataset ``kind`` at ``root`` (see the module docstring for what is checked).

    Parameters
    ----------
    kind : str
        One of :data:`DATASET_KINDS`.
    root : str or path-like
        The dataset's folder as distributed (or the folder the loader of ``kind`` also accepts).
    progress : bool
        Show a progress bar over the files on stderr.

    Returns
    -------
    DatasetReport
        A missing root is a problem line, not an exception.

    Raises
    ------
    ValueError
        If ``kind`` is not one of :data:`DATASET_KINDS`.
    """
    if kind not in DATASET_KINDS:
        raise ValueError(f"unknown dataset kind {kind!r}; the kinds are {', '.join(DATASET_KINDS)}")
    root = Path(root)
    report = DatasetReport(kind, root)
    if not root.exists():
        report.problems.append(f"{root} does not exist")
        return report
    if not root.is_dir() and kind != "dreamer":  # DREAMER is one file, which may be given itself
        report.problems.append(f"{root} is a file; expected the {_TITLES[kind]} folder")
        return report
    if kind == "deap":
        from affectstream.models.datasets.check_deap import check_deap as check
    elif kind == "dreamer":
        from affectstream.models.datasets.check_dreamer import check_dreamer as check
    elif kind in ("mahnob", "mahnob_continuous"):
        from functools import partial

        from affectstream.models.datasets.check_mahnob import check_mahnob

        check = partial(check_mahnob, continuous=kind == "mahnob_continuous")
    else:
        from affectstream.models.datasets import check_seed

        check = getattr(check_seed, f"check_{kind}")
    check(root, report.found, report.problems, progress)
    report.found.append(f"no published checksums for {_TITLES[kind]}: every file was read and checked instead")
    return report
