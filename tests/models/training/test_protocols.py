"""TRS / LOSO partitions: the reference code's layout, determinism and no leakage (docs/methods.md §2.5)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from affectstream.models.datasets.common import Trial
from affectstream.models.training.protocols import (Fold, FoldLeakageError, check_fold, code_block_sizes, loso_folds,
                                                    subject_kfold_folds, trial_refs, trs_folds, within_subject_folds)

# Per-subject trial counts of the continuous MAHNOB subset, in session order (docs/methods.md §2.1).
MAHNOB_COUNTS = [(1, 19), (2, 5), (3, 13), (4, 9), (5, 13), (6, 9), (7, 13), (8, 13), (10, 5), (13, 6), (14, 13),
                 (16, 2), (18, 1), (19, 11), (20, 17), (21, 10), (22, 14), (23, 15), (24, 12), (25, 16), (27, 6),
                 (28, 4), (29, 10), (30, 3)]


def mahnob_refs() -> list[tuple[str, int]]:
    refs = []
    for subject, n in MAHNOB_COUNTS:
        refs += [(f"mahnob/s{subject:02d}/t{2 * (k + 1):02d}", subject) for k in range(n)]
    return refs


def test_mahnob_sizes_match_the_reference_code():
    refs = mahnob_refs()
    assert len(refs) == 239
    assert code_block_sizes(239, 10) == [24] * 8 + [23, 24]
    folds = trs_folds(refs)  # code variant by default
    assert [f.sizes for f in folds[:2]] == [(172, 43, 24), (172, 44, 23)]
    keys = [k for k, _ in refs]
    assert folds[0].test == tuple(keys[215:])  # fold 0 tests the last block (9 - 0)
    assert folds[1].test == tuple(keys[192:215])  # fold 1 tests block 8
    assert folds[9].test == tuple(keys[:24])
    paper = trs_folds(refs, variant="paper")
    assert paper[0].sizes == (129, 86, 24) and paper[9].sizes == (129, 87, 23)
    loso = loso_folds(refs)
    assert len(loso) == 24
    assert loso[0].test_subjects == (30,) and loso[0].sizes == (188, 48, 3)
    assert loso[23].test_subjects == (1,) and len(loso[23].test) == 19


def test_code_variant_reproduces_roll_then_shuffle_by_hand():
    keys = [f"k{i}" for i in range(10)]
    folds = trs_folds(keys, n_folds=5, seed=3)
    # Fold 0: blocks [0,1] [2,3] [4,5] [6,7] [8,9]; test = last block, the rest in order, shuffled, 80/20.
    rest = list(range(8))
    random.Random(3).shuffle(rest)
    assert folds[0].test == ("k8", "k9")
    assert folds[0].train == tuple(f"k{i}" for i in rest[:6]) and folds[0].val == tuple(f"k{i}" for i in rest[6:])
    # Fold 1: np.roll(blocks, 1) = [b4, b0, b1, b2, b3]; test = b3; pool = b4 + b0 + b1 + b2 in that order.
    rest = [8, 9, 0, 1, 2, 3, 4, 5]
    random.Random(3).shuffle(rest)
    assert folds[1].test == ("k6", "k7")
    assert folds[1].train == tuple(f"k{i}" for i in rest[:6]) and folds[1].val == tuple(f"k{i}" for i in rest[6:])


@pytest.mark.parametrize("make", [
    lambda r: trs_folds(r, variant="code"),
    lambda r: trs_folds(r, variant="paper"),
    lambda r: loso_folds(r),
])
def test_deterministic_disjoint_and_complete(make):
    refs = mahnob_refs()
    a, b = make(refs), make(refs)
    assert a == b
    tested = []
    for fold in a:
        check_fold(fold, refs, subject_independent=fold.protocol == "loso")
        assert not set(fold.train) & set(fold.val) and not set(fold.test) & (set(fold.train) | set(fold.val))
        assert len(fold.train) + len(fold.val) + len(fold.test) == 239
        tested += fold.test
    assert sorted(tested) == sorted(k for k, _ in refs)  # every trial is tested exactly once


def test_seed_changes_train_val_not_test():
    refs = mahnob_refs()
    a, b = trs_folds(refs, seed=0), trs_folds(refs, seed=1)
    assert a[0].test == b[0].test and a[0].train != b[0].train
    assert trs_folds(refs, variant="paper", seed=0)[0].test != trs_folds(refs, variant="paper", seed=1)[0].test


def test_loso_keeps_subjects_apart_and_accepts_trials():
    trials = [Trial("mahnob", s, t, np.zeros((1, 4), np.float32), 256.0, ("Fz",))
              for s in (3, 1, 2) for t in range(2, 8, 2)]
    folds = loso_folds(trials)
    assert [f.test_subjects for f in folds] == [(2,), (1,), (3,)]  # last subject (in order of appearance) first
    for f in folds:
        assert all(k.split("/")[1] != f"s{f.test_subjects[0]:02d}" for k in f.train + f.val)


def test_subject_kfold_tests_each_subject_once_in_contiguous_groups_never_seen_in_training():
    subjects = [7, 3, 9, 1, 5, 2, 8, 4, 6, 10, 12]  # 11 subjects in order of appearance, 3 trials each
    refs = [(f"s{s}/t{t}", s) for s in subjects for t in range(3)]
    folds = subject_kfold_folds(refs, n_folds=4, seed=1, val_fraction=0.25)
    # array_split sizes 3, 3, 3, 2; fold f tests group 3 - f (the last group first, as LOSO's last subject)
    groups = [[7, 3, 9], [1, 5, 2], [8, 4, 6], [10, 12]]
    assert [set(f.test_subjects) for f in folds] == [set(g) for g in reversed(groups)]
    for f in folds:
        assert len(f.test) == 3 * len(f.test_subjects)
        assert not {s for k, s in refs if k in f.train + f.val} & set(f.test_subjects)
        assert len(f.val) == len(f.train + f.val) - int(len(f.train + f.val) * 0.75)
    assert sorted(k for f in folds for k in f.test) == sorted(k for k, _ in refs)  # every trial tested once
    assert subject_kfold_folds(refs, n_folds=4, seed=1, val_fraction=0.25) == folds  # the seed fixes the split
    with pytest.raises(ValueError, match="n_folds"):
        subject_kfold_folds(refs, n_folds=12)


def test_leakage_and_bad_input_are_caught():
    refs = [("a", 1), ("b", 1), ("c", 2)]
    with pytest.raises(FoldLeakageError):
        check_fold(Fold(0, ("a",), ("b",), ("a", "c")), refs)
    with pytest.raises(FoldLeakageError):
        check_fold(Fold(0, ("a",), (), ("c",)), refs)  # "b" in no partition
    with pytest.raises(FoldLeakageError):
        check_fold(Fold(0, ("a",), ("c",), ("b",)), refs, subject_independent=True)
    with pytest.raises(ValueError, match="unique"):
        trial_refs(["a", "a"])
    with pytest.raises(ValueError, match="subject"):
        loso_folds(["a", "b"])
    with pytest.raises(ValueError, match="variant"):
        trs_folds(["a", "b"], n_folds=2, variant="random")


def _reference_partition(blocks: list[np.ndarray], fold: int, seed: int = 0) -> tuple[list, list, list]:
    """The published partitioning as docs/methods.md §2.5 describes it, written independently of the module under test:
    rotate the blocks with np.roll on an object array, pool the first n-1 blocks, shuffle the pool with
    ``random.Random(seed)``, split it at ``int(count * 0.8)``; the last block is the test set."""
    obj = np.empty(len(blocks), dtype=object)
    for i, b in enumerate(blocks):
        obj[i] = b
    rolled = list(np.roll(obj, fold))
    pool = [int(i) for _ in range(len(blocks) - 1) for i in rolled.pop(0)]
    random.Random(seed).shuffle(pool)
    n = int(len(pool) * 0.8)
    return pool[:n], pool[n:], [int(i) for i in rolled.pop(0)]


def test_identical_to_the_reference_code_for_every_mahnob_fold():
    refs = mahnob_refs()
    keys = [k for k, _ in refs]
    trs = [np.arange(a, a + 24) for a in range(0, 239, 24)]  # blocks of 24, the last two sized 23 and 24 (§2.5)
    trs[-1] = np.insert(trs[-1], obj=[0], values=trs[-2][-1])
    trs[-2], trs[-1] = np.delete(trs[-2], [-1]), np.delete(trs[-1], [-1])
    edges = np.cumsum([0] + [n for _, n in MAHNOB_COUNTS])
    loso = [np.arange(a, b) for a, b in zip(edges[:-1], edges[1:])]
    for folds, blocks in ((trs_folds(refs), trs), (loso_folds(refs), loso)):
        for f, fold in enumerate(folds):
            tr, va, te = _reference_partition(blocks, f)
            assert fold.train == tuple(keys[i] for i in tr)
            assert fold.val == tuple(keys[i] for i in va)
            assert fold.test == tuple(keys[i] for i in te)


def test_within_subject_folds_test_every_subject_on_unseen_blocks():
    trials = [(f"s{s}/t{t}", s) for s in (1, 2, 3) for t in range(6)]
    folds = within_subject_folds(trials, n_folds=3, seed=0)
    assert len(folds) == 3
    tested = [k for f in folds for k in f.test]
    assert sorted(tested) == sorted(k for k, _ in trials)  # each trial tested exactly once
    for f in folds:
        assert {k.split("/")[0] for k in f.test} == {"s1", "s2", "s3"} and f.test_subjects == (1, 2, 3)
        assert len(f.test) == 6 and not set(f.test) & (set(f.train) | set(f.val))
    assert set(folds[0].test) == {f"s{s}/t{t}" for s in (1, 2, 3) for t in (0, 1)}  # contiguous blocks
    with pytest.raises(ValueError, match="n_folds"):
        within_subject_folds(trials, n_folds=7)
