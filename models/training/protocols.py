"""Cross-validation partitions of trials: trial-randomised splits (TRS), leave-one-subject-out (LOSO), subject k-fold
(LOSO with groups of subjects) and within-subject folds.

Zhang et al. (2022) evaluate with two protocols (docs/methods.md §2.5), and the paper and the released code disagree on
TRS [X]:

* **TRS, ``variant="code"`` (the default).** The trials, *in session order*, are cut into ``n_folds`` contiguous
  blocks (for MAHNOB's 239 trials: 24 x 8, 23, 24 -- the reference code forces the last block to full size).
  Fold ``f`` tests block ``n_folds - 1 - f``; the other blocks, concatenated in the order ``np.roll(blocks, f)``
  leaves them, are shuffled with ``random.Random(seed)`` and split 80/20 into train/validation
  (``n_train = int(0.8 * count)``, e.g. 172/43).
* **TRS, ``variant="paper"``.** All trials are shuffled (``random.Random(seed)``), cut into ``n_folds`` folds
  (``np.array_split`` sizes, 24 x 9 + 23 for 239), fold ``f`` is the test set, and the rest is shuffled again and
  split 60/40 (129/86).
* **LOSO.** One block per subject (subjects in order of first appearance); fold ``f`` tests subject block
  ``n_subjects - 1 - f`` (as the reference code's roll does); the other subjects' trials are shuffled and split
  80/20.

The default is the code variant (docs/methods.md §8 #10): the released code is what produced the published numbers, and
reproducing those numbers is the point of the protocol. Contiguous blocks in session order also keep a subject's
neighbouring trials together, which is *not* subject-independent -- TRS is a trial-level protocol either way.

The shuffles use :class:`random.Random` exactly as the reference implementation does (``random.Random(seed)
.shuffle(list)``), which is stable across Python and NumPy versions; ``np.roll`` on a list of ragged index arrays is
replaced by rotating the Python list (docs/methods.md §2.5 note). Given trials in session order, the partitions are the
reference code's, trial for trial.

Trials are given as :class:`~affectstream.models.datasets.common.Trial` objects (``.key``, ``.subject``), ``(key,
subject)`` pairs, or -- for TRS only -- bare keys. Every fold is checked for leakage (train, validation and test
disjoint and covering all trials; for LOSO no test subject elsewhere) and :class:`FoldLeakageError` is raised otherwise.
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = ["Fold", "FoldLeakageError", "TRSVariant", "check_fold", "code_block_sizes", "loso_folds", "protocol_name",
           "subject_kfold_folds", "trial_refs", "trs_folds", "within_subject_folds"]

TRSVariant = Literal["code", "paper"]

#: Validation share of the non-test trials per TRS variant (docs/methods.md §2.5).
TRS_VAL_FRACTION: dict[str, float] = {"code": 0.2, "paper": 0.4}


def protocol_name(kind: str) -> str:
    """How reports name a ``[protocol] kind``: ``"loso"`` -> ``"LOSO"``, ``"subject_kfold"`` -> ``"subject k-fold"``."""
    return {"subject_kfold": "subject k-fold", "within_subject": "within-subject"}.get(kind, kind.upper())


class FoldLeakageError(AssertionError):
    """A fold's partitions overlap, miss trials, or (LOSO) share a subject with the test set."""


@dataclass(frozen=True)
class Fold:
    """One cross-validation fold: trial keys of each partition.

    Attributes
    ----------
    index : int
        Fold number ``f`` (0-based), as the reference code's ``--folds_to_run`` counts them.
    train, val, test : tuple
        Trial keys of each partition. ``train`` and ``val`` are in shuffled order, ``test`` in session order.
    protocol : str
        ``"trs-code"``, ``"trs-paper"``, ``"loso"``, ``"subject-kfold"``, ``"within-subject"`` or ``"holdout"``.
    test_subjects : tuple of int
        Subjects of the test trials (the left-out subject for LOSO).
    """

    index: int
    train: tuple[Hashable, ...]
    val: tuple[Hashable, ...]
    test: tuple[Hashable, ...]
    protocol: str = ""
    test_subjects: tuple[int, ...] = ()

    @property
    def sizes(self) -> tuple[int, int, int]:
        """``(n_train, n_val, n_test)``."""
        return len(self.train), len(self.val), len(self.test)


def trial_refs(trials: Iterable[Any], need_subjects: bool = False) -> list[tuple[Hashable, int | None]]:
    """Normalise ``trials`` to a list of ``(key, subject)``; ``subject`` is None for bare keys.

    Raises
    ------
    ValueError
        On duplicate keys, or a missing subject when ``need_subjects``.
    """
    refs: list[tuple[Hashable, int | None]] = []
    for t in trials:
        if hasattr(t, "key") and hasattr(t, "subject"):
            refs.append((t.key, int(t.subject)))
        elif isinstance(t, (tuple, list)) and len(t) == 2:
            refs.append((t[0], None if t[1] is None else int(t[1])))
        elif isinstance(t, Hashable) and not isinstance(t, tuple):
            refs.append((t, None))
        else:
            raise ValueError(f"a trial must be a Trial, a (key, subject) pair or a key; got {t!r}")
    keys = [k for k, _ in refs]
    if len(set(keys)) != len(keys):
        dup = sorted({str(k) for k in keys if keys.count(k) > 1})[:5]
        raise ValueError(f"trial keys must be unique; duplicated: {', '.join(dup)}")
    if need_subjects and any(s is None for _, s in refs):
        raise ValueError("LOSO needs a subject for every trial: pass Trial objects or (key, subject) pairs")
    return refs


def code_block_sizes(n: int, n_folds: int) -> list[int]:
    """Sizes of the contiguous TRS blocks of the reference code, generalised to any ``n``.

    The reference code (``DataArranger.partition_range_fn``) cuts 239 trials into blocks of 24 and then moves one
    trial from the second-to-last block to the last "to make sure the last fold (for testing) has 24 trials": sizes
    24 x 8, 23, 24. In general: ``np.array_split`` sizes (larger blocks first), except that the last block -- fold 0's
    test set -- always has the larger size.
    """
    if not 2 <= n_folds <= n:
        raise ValueError(f"need 2 <= n_folds <= number of trials, got n_folds={n_folds} for {n} trials")
    q, r = divmod(n, n_folds)
    if r == 0:
        return [q] * n_folds
    return [q + 1] * (r - 1) + [q] * (n_folds - r) + [q + 1]


def _split_rest(blocks: list[list[int]], f: int, val_fraction: float, seed: int) -> tuple[list[int], list[int],
                                                                                          list[int]]:
    """The reference code's partitioning of fold ``f``: rotate, last block = test, shuffle the rest, cut."""
    n = len(blocks)
    shift = f % n
    rolled = blocks[n - shift:] + blocks[:n - shift] if shift else list(blocks)  # == np.roll(blocks, f)
    test = rolled[-1]
    rest = [i for block in rolled[:-1] for i in block]
    random.Random(seed).shuffle(rest)
    n_train = int(len(rest) * round(1.0 - val_fraction, 12))
    return rest[:n_train], rest[n_train:], test


def _make_fold(refs: list[tuple[Hashable, int | None]], index: int, parts: tuple[list[int], list[int], list[int]],
               protocol: str, val_fraction: float) -> Fold:
    train, val, test = parts
    if not train or not test or (val_fraction > 0 and not val):
        raise ValueError(f"{protocol} fold {index}: {len(train)} train / {len(val)} validation / {len(test)} test "
                         "trials; too few trials for this protocol")
    subjects = tuple(sorted({refs[i][1] for i in test if refs[i][1] is not None}))
    fold = Fold(index, tuple(refs[i][0] for i in train), tuple(refs[i][0] for i in val),
                tuple(refs[i][0] for i in sorted(test)), protocol, subjects)
    check_fold(fold, refs, subject_independent=protocol in ("loso", "subject-kfold"))
    return fold


def check_fold(fold: Fold, trials: Sequence[Any], subject_independent: bool = False) -> None:
    """Raise :class:`FoldLeakageError` unless the partitions are disjoint and cover ``trials`` exactly.

    With ``subject_independent``, no subject of the test set may appear in train or validation.
    """
    refs = trial_refs(trials)
    tr, va, te = set(fold.train), set(fold.val), set(fold.test)
    if len(tr) != len(fold.train) or len(va) != len(fold.val) or len(te) != len(fold.test):
        raise FoldLeakageError(f"fold {fold.index}: a partition lists a trial twice")
    for a, b, name in ((tr, va, "train/val"), (tr, te, "train/test"), (va, te, "val/test")):
        if a & b:
            raise FoldLeakageError(f"fold {fold.index}: {name} share trials {sorted(map(str, a & b))[:5]}")
    every = {k for k, _ in refs}
    if tr | va | te != every:
        missing, extra = every - (tr | va | te), (tr | va | te) - every
        raise FoldLeakageError(f"fold {fold.index}: {len(missing)} trials in no partition, {len(extra)} unknown")
    if subject_independent:
        subj = dict(refs)
        test_s = {subj[k] for k in te}
        leaked = {subj[k] for k in tr | va} & test_s
        if leaked:
            raise FoldLeakageError(f"fold {fold.index}: test subject(s) {sorted(leaked)} also in train/val")


def trs_folds(trials: Sequence[Any], n_folds: int = 10, variant: TRSVariant = "code", seed: int = 0,
              val_fraction: float | None = None) -> list[Fold]:
    """Trial-randomised folds (docs/methods.md §2.5).

    Parameters
    ----------
    trials : sequence
        Trials **in session order** (the code variant's blocks are contiguous in this order): ``Trial`` objects,
        ``(key, subject)`` pairs or keys.
    n_folds : int
        Number of folds (10 in the paper).
    variant : {"code", "paper"}
        ``"code"`` (default, docs/methods.md §8 #10): contiguous blocks, test block ``n_folds - 1 - f``, rest 80/20.
        ``"paper"``: random folds, rest 60/40. See the module docstring.
    seed : int
        Seed of every shuffle (``random.Random(seed)``); 0 in the reference code.
    val_fraction : float, optional
        Validation share of the non-test trials; default 0.2 (code) / 0.4 (paper).

    Returns
    -------
    list of Fold
        ``n_folds`` folds; fold ``f`` is the reference code's ``--folds_to_run f``.
    """
    if variant not in TRS_VAL_FRACTION:
        raise ValueError(f"unknown TRS variant {variant!r}; use 'code' or 'paper'")
    refs = trial_refs(trials)
    n = len(refs)
    vf = TRS_VAL_FRACTION[variant] if val_fraction is None else float(val_fraction)
    if not 0 <= vf < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {vf}")
    folds = []
    if variant == "code":
        sizes = code_block_sizes(n, n_folds)
        edges = np.concatenate([[0], np.cumsum(sizes)])
        blocks = [list(range(edges[b], edges[b + 1])) for b in range(n_folds)]
        for f in range(n_folds):
            folds.append(_make_fold(refs, f, _split_rest(blocks, f, vf, seed), "trs-code", vf))
    else:
        if not 2 <= n_folds <= n:
            raise ValueError(f"need 2 <= n_folds <= number of trials, got n_folds={n_folds} for {n} trials")
        order = list(range(n))
        random.Random(seed).shuffle(order)
        parts = [list(p) for p in np.array_split(np.asarray(order), n_folds)]
        for f in range(n_folds):
            rest = [i for g, p in enumerate(parts) if g != f for i in p]
            random.Random(seed).shuffle(rest)
            n_train = int(len(rest) * round(1.0 - vf, 12))
            folds.append(_make_fold(refs, f, (rest[:n_train], rest[n_train:], [int(i) for i in parts[f]]),
                                    "trs-paper", vf))
    return folds


def _subject_blocks(trials: Sequence[Any], val_fraction: float) -> tuple[list[tuple[Hashable, int | None]],
                                                                         dict[int, list[int]]]:
    """The trials' references and each subject's trial indices (subjects in order of first appearance)."""
    refs = trial_refs(trials, need_subjects=True)
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    by_subject: dict[int, list[int]] = {}
    for i, (_, s) in enumerate(refs):
        by_subject.setdefault(s, []).append(i)
    return refs, by_subject


def loso_folds(trials: Sequence[Any], seed: int = 0, val_fraction: float = 0.2) -> list[Fold]:
    """Leave-one-subject-out folds (docs/methods.md §2.5): one fold per subject.

    Parameters
    ----------
    trials : sequence
        ``Trial`` objects or ``(key, subject)`` pairs, in session order. Subjects are ordered by first appearance
        (for MAHNOB: S1, S2, ..., S30 as in the reference code's index ranges).
    seed : int
        Seed of the train/validation shuffle.
    val_fraction : float
        Validation share of the other subjects' trials (0.2 in the code and the paper).

    Returns
    -------
    list of Fold
        Fold ``f`` tests the subject block ``n_subjects - 1 - f`` (fold 0 = the last subject), as the reference
        code's roll does; ``Fold.test_subjects`` names it.
    """
    refs, by_subject = _subject_blocks(trials, val_fraction)
    if len(by_subject) < 2:
        raise ValueError(f"LOSO needs at least two subjects, got {len(by_subject)}")
    blocks = list(by_subject.values())
    return [_make_fold(refs, f, _split_rest(blocks, f, val_fraction, seed), "loso", val_fraction)
            for f in range(len(blocks))]


def subject_kfold_folds(trials: Sequence[Any], n_folds: int = 4, seed: int = 0, val_fraction: float = 0.2
                        ) -> list[Fold]:
    """Subject-independent k-fold: the subjects, in order of first appearance, are cut into ``n_folds`` contiguous
    groups (``np.array_split`` sizes); each fold tests one group, as :func:`loso_folds` tests one subject.

    LOSO with groups of subjects instead of single ones: every test subject is unseen in training, at a fraction of
    LOSO's cost (``n_folds`` trainings instead of one per subject), which is what makes several seeds of a slow
    method affordable. Fold ``f`` tests group ``n_folds - 1 - f``; the other groups' trials are shuffled and split
    ``1 - val_fraction`` / ``val_fraction`` into train and validation, as LOSO's are.
    """
    refs, by_subject = _subject_blocks(trials, val_fraction)
    if not 2 <= n_folds <= len(by_subject):
        raise ValueError(f"subject k-fold needs 2 <= n_folds <= the number of subjects ({len(by_subject)}), "
                         f"got n_folds = {n_folds}")
    subjects = list(by_subject.values())
    groups = [[i for s in part for i in subjects[s]] for part in np.array_split(np.arange(len(subjects)), n_folds)]
    return [_make_fold(refs, f, _split_rest(groups, f, val_fraction, seed), "subject-kfold", val_fraction)
            for f in range(n_folds)]


def within_subject_folds(trials: Sequence[Any], n_folds: int = 3, seed: int = 0, val_fraction: float = 0.2
                         ) -> list[Fold]:
    """Subject-dependent folds: every subject's trials, in session order, are cut into ``n_folds`` contiguous blocks;
    fold ``f`` tests block ``f`` of every subject and trains (and validates) on the rest of them.

    This is the pooled form of the within-subject protocols of the SEED family (SEED-V: 3 folds of 5 clips per
    session; the common SEED and SEED-IV splits train on a session's first clips and test on its last) and of
    subject-dependent DEAP: one model sees every subject, and never a test clip. Contiguous blocks keep a clip's
    neighbours together, so no test clip has a training clip cut from the same recording.
    """
    refs, by_subject = _subject_blocks(trials, val_fraction)
    if n_folds < 2 or n_folds > max(len(v) for v in by_subject.values()):
        raise ValueError(f"within-subject folds need 2 <= n_folds <= a subject's number of trials, got {n_folds}")
    blocks = {s: [list(b) for b in np.array_split(np.asarray(idx), n_folds)] for s, idx in by_subject.items()}
    folds = []
    for f in range(n_folds):
        test = sorted(int(i) for b in blocks.values() for i in b[f])
        rest = [int(i) for b in blocks.values() for g, block in enumerate(b) if g != f for i in block]
        random.Random(seed).shuffle(rest)
        n_train = int(len(rest) * round(1.0 - val_fraction, 12))
        folds.append(_make_fold(refs, f, (rest[:n_train], rest[n_train:], test), "within-subject", val_fraction))
    return folds
