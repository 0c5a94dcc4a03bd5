"""The published emotion-EEG datasets the trainer reads, one :class:`DatasetKind` each (docs/datasets.md).

A kind says how to read the user's copy (the loader of its format), what its labels are and on which scale, and how
the papers that use it crop a trial. :mod:`affectstream.models.datasets.trainer_trials` turns its trials into the
trainer's form with these facts, so that every method sees every dataset the same way:

* ratings (DEAP and MAHNOB-HCI 1-9, DREAMER 1-5) become ``(r - middle) / half_range`` on [-1, 1], the scale of the
  simulator's labels and of the live valence trace; a threshold of 0 on that scale is the papers' high/low split at
  5 (DEAP, MAHNOB) or 3 (DREAMER);
* emotion classes (SEED -1/0/1, SEED-IV 0-3, SEED-V 0-4) become class indices 0..K-1 in the order of
  :attr:`DatasetKind.classes`; SEED's three classes are also a valence scale (negative, neutral, positive), the
  others are not, so those trials carry no valence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from affectstream.models.datasets.common import Trial
from affectstream.models.datasets.deap import load_deap
from affectstream.models.datasets.dreamer import load_dreamer
from affectstream.models.datasets.mahnob import load_mahnob
from affectstream.models.datasets.seed import (SEED_EMOTIONS, SEED_IV_EMOTIONS, SEED_V_EMOTIONS, load_seed,
                                               load_seed_iv, load_seed_v)

__all__ = ["DATASET_KIND_SPECS", "DatasetKind", "dataset_kind"]

Loader = Callable[[Path, tuple[int, ...] | None], Iterator[Trial]]


@dataclass(frozen=True)
class DatasetKind:
    """One ``[data] kind`` of a published dataset.

    Attributes
    ----------
    name : str
        The ``[data] kind`` value.
    title : str
        The dataset's name in reports.
    load : callable
        ``load(root, subjects) -> Iterator[Trial]``: the dataset's own loader.
    ratings : dict of str to (float, float)
        Rated dimensions and their scale ``(low, high)``; mapped onto [-1, 1].
    classes : tuple of str
        Emotion class names, in class-index order (empty for rating datasets).
    class_codes : tuple of int
        The dataset's code of each class, same order as :attr:`classes`.
    valence_from_classes : bool
        The classes are a valence scale (SEED: negative, neutral, positive -> -1, 0, 1).
    baseline : str
        ``"prefix"``: the trial's signal starts with a pre-stimulus baseline (DEAP 3 s, MAHNOB 30 s) that
        ``[data] baseline = "drop"`` cuts off; ``"separate"``: stored apart (DREAMER, never fed to the models);
        ``"none"``.
    continuous : bool
        Labels are a continuous annotation (MAHNOB's valence at 4 Hz); frames are centred on them.
    video : bool
        The copy may hold a frontal face video per trial (DEAP s01-s22, MAHNOB).
    request : str
        Where a lab asks for the data (the licences forbid redistribution).
    """

    name: str
    title: str
    load: Loader
    ratings: dict[str, tuple[float, float]] = field(default_factory=dict)
    classes: tuple[str, ...] = ()
    class_codes: tuple[int, ...] = ()
    valence_from_classes: bool = False
    baseline: str = "none"
    continuous: bool = False
    video: bool = False
    request: str = ""


def _deap(root: Path, subjects: tuple[int, ...] | None) -> Iterator[Trial]:
    return load_deap(root, subjects)


def _mahnob(root: Path, subjects: tuple[int, ...] | None) -> Iterator[Trial]:
    return load_mahnob(root, subjects, continuous_labels=False)


def _mahnob_continuous(root: Path, subjects: tuple[int, ...] | None) -> Iterator[Trial]:
    return load_mahnob(root, subjects, continuous_labels=True, continuous_only=True)


def _dreamer(root: Path, subjects: tuple[int, ...] | None) -> Iterator[Trial]:
    return load_dreamer(root, subjects, include_baseline=False)


def _codes(emotions: dict[int, str]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    codes = tuple(sorted(emotions))
    return tuple(emotions[c] for c in codes), codes


_SEED_CLASSES, _SEED_CODES = _codes(SEED_EMOTIONS)
_SEED_IV_CLASSES, _SEED_IV_CODES = _codes(SEED_IV_EMOTIONS)
_SEED_V_CLASSES, _SEED_V_CODES = _codes(SEED_V_EMOTIONS)
_SJTU = "BCMI laboratory, Shanghai Jiao Tong University (https://bcmi.sjtu.edu.cn/home/seed/): a signed licence"
_NINE = (1.0, 9.0)

#: Every dataset kind, by ``[data] kind``.
DATASET_KIND_SPECS: dict[str, DatasetKind] = {k.name: k for k in (
    DatasetKind("deap", "DEAP", _deap, {"valence": _NINE, "arousal": _NINE}, baseline="prefix", video=True,
                request="Queen Mary University of London (https://www.eecs.qmul.ac.uk/mmv/datasets/deap/): a signed "
                        "EULA; the preprocessed Python release"),
    DatasetKind("mahnob", "MAHNOB-HCI", _mahnob, {"valence": _NINE, "arousal": _NINE}, baseline="prefix",
                video=True, request="Imperial College iBUG (https://mahnob-db.eu/hci-tagging/): an account and a "
                                    "signed EULA; the emotion-elicitation sessions"),
    DatasetKind("mahnob_continuous", "MAHNOB-HCI (continuous valence)", _mahnob_continuous,
                {"arousal": _NINE}, continuous=True, video=True,
                request="MAHNOB-HCI as above, plus the continuous valence annotations of Soleymani et al. "
                        "(lable_continous_Mahnob.mat, from the same site)"),
    DatasetKind("dreamer", "DREAMER", _dreamer, {"valence": (1.0, 5.0), "arousal": (1.0, 5.0)},
                baseline="separate", request="Zenodo record 546113 (https://zenodo.org/record/546113): access on "
                                             "request to the authors"),
    DatasetKind("seed", "SEED", lambda root, subjects: load_seed(root, subjects), classes=_SEED_CLASSES,
                class_codes=_SEED_CODES, valence_from_classes=True, request=_SJTU),
    DatasetKind("seed_iv", "SEED-IV", lambda root, subjects: load_seed_iv(root, subjects), classes=_SEED_IV_CLASSES,
                class_codes=_SEED_IV_CODES, request=_SJTU),
    DatasetKind("seed_v", "SEED-V", lambda root, subjects: load_seed_v(root, subjects), classes=_SEED_V_CLASSES,
                class_codes=_SEED_V_CODES, request=_SJTU + "; the DE-feature and eye-movement release"),
)}


def dataset_kind(name: str) -> DatasetKind:
    """The :class:`DatasetKind` called ``name``; a ``ValueError`` naming the valid kinds otherwise."""
    try:
        return DATASET_KIND_SPECS[name]
    except KeyError:
        raise ValueError(f"unknown dataset kind {name!r}; valid: {', '.join(DATASET_KIND_SPECS)}") from None
