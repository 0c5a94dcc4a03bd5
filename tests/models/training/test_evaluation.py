"""Evaluation against hand-computed values: windows, overlap-average stitching, partition metrics (CCC with the
mean term), fold summaries, the one-tailed paired t-test, and the 8-way / present-only classification scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from affectstream.models.training.evaluation import (accuracy, balanced_accuracy, confusion_matrix, eight_way,
                               evaluate_regression, macro_f1, paired_ttest_one_tailed, present_only,
                               sequence_windows, stitch, summarise_folds)


def test_windows_right_align_the_last_and_pad_short_trials():
    w = sequence_windows(200)  # 96 / 32
    assert w.starts.tolist() == [0, 32, 64, 96, 104] and w.lengths.tolist() == [96] * 5
    assert sequence_windows(192).starts.tolist() == [0, 32, 64, 96]  # 96 + 96 = 192: no extra window
    short = sequence_windows(50)
    assert short.starts.tolist() == [0] and short.lengths.tolist() == [50]
    assert short.mask.sum() == 50 and short.mask.shape == (1, 96)
    x = np.arange(1, 51, dtype=float)
    taken = short.take(x)
    assert taken.shape == (1, 96) and taken[0, :50].tolist() == x.tolist() and not taken[0, 50:].any()


def test_stitch_averages_overlaps_by_hand():
    w = sequence_windows(10, window=4, hop=4)
    assert w.starts.tolist() == [0, 4, 6]
    preds = np.array([[1, 2, 3, 4], [10, 20, 30, 40], [100, 200, 300, 400]], dtype=float)
    # indices 6 and 7 are covered by windows 1 and 2: (30 + 100) / 2 and (40 + 200) / 2
    expected = [1, 2, 3, 4, 10, 20, 65, 120, 300, 400]
    assert stitch(preds, w.starts, w.lengths, 10).tolist() == expected


def test_stitch_ignores_padding_and_marks_uncovered():
    w = sequence_windows(3, window=4, hop=2)
    out = stitch(np.array([[5.0, 6.0, 7.0, 999.0]]), w.starts, w.lengths, 3)
    assert out.tolist() == [5.0, 6.0, 7.0]  # the padded 999 never enters the mean
    gap = stitch([np.array([1.0, 2.0])], [0], [2], 4)
    assert gap[:2].tolist() == [1.0, 2.0] and np.isnan(gap[2:]).all()
    with pytest.raises(ValueError):
        stitch([np.ones(4)], [8], [4], 10)  # runs past the trial
    multi = stitch(np.ones((2, 3, 2)) * [[[1.0, 2.0]], [[3.0, 4.0]]], [0, 1], [3, 3], 4)
    assert multi.tolist() == [[1, 2], [2, 3], [2, 3], [3, 4]]


def test_partition_metrics_concatenate_trials_with_the_ccc_mean_term():
    pred = {"a": np.array([1.0, 2.0]), "b": np.array([3.0])}
    label = {"b": np.array([5.0]), "a": np.array([2.0, 3.0])}  # looked up by key, concatenated in pred's order
    m = evaluate_regression(pred, label)
    # x = [1, 2, 3], y = [2, 3, 5]: biased cov 1, unbiased var 1 and 7/3, mean term (2 - 10/3)^2 = 16/9
    assert math.isclose(m["ccc"], 2 / (1 + 7 / 3 + 16 / 9), rel_tol=1e-12)  # = 9/23
    assert math.isclose(m["pcc"], math.sqrt(27 / 28), rel_tol=1e-12)
    assert math.isclose(m["rmse"], math.sqrt(2), rel_tol=1e-12)
    assert m["n"] == 3 and m["n_trials"] == 2
    assert math.isclose(evaluate_regression([[1, 2], [3]], [[2, 3], [5]])["ccc"], 9 / 23, rel_tol=1e-12)
    with pytest.raises(KeyError):
        evaluate_regression({"a": [1.0, 2.0]}, {"a": [1.0, 2.0], "c": [0.0]})
    with pytest.raises(ValueError):
        evaluate_regression([[1.0, 2.0]], [[1.0]])


def test_fold_summary_and_one_tailed_paired_ttest():
    mean, std = summarise_folds([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and math.isclose(std, math.sqrt(1.25))  # population std (ddof 0)
    # d = a - b = [2, 3, 4]: mean 3, sd 1 => t = 3 sqrt(3), df 2; for df 2, P(T > t) = (1 - t / sqrt(t^2 + 2)) / 2
    r = paired_ttest_one_tailed([3.0, 5.0, 7.0], [1.0, 2.0, 3.0])
    t = 3 * math.sqrt(3)
    assert math.isclose(r.statistic, t, rel_tol=1e-12) and r.df == 2 and r.mean_difference == 3.0
    assert math.isclose(r.pvalue, (1 - t / math.sqrt(t * t + 2)) / 2, rel_tol=1e-9)
    assert paired_ttest_one_tailed([1.0, 2.0, 3.0], [3.0, 5.0, 7.0]).pvalue > 0.9  # wrong direction: not significant


def test_classification_metrics_by_hand():
    y_true = [0, 0, 1, 1, 2]
    y_pred = [0, 1, 1, 1, 0]
    assert accuracy(y_true, y_pred) == 3 / 5
    cm = confusion_matrix(y_true, y_pred, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    # F1: class 0 = 2*1/(2+2) = 0.5, class 1 = 2*2/(2+3) = 0.8, class 2 = 0, classes 3..7 = 0 (zero_division=0)
    assert math.isclose(macro_f1(y_true, y_pred), 1.3 / 8)
    assert math.isclose(macro_f1(y_true, y_pred, n_classes=3), 1.3 / 3)
    assert math.isclose(macro_f1(y_true, y_pred, labels=[0, 1]), 0.65)
    assert math.isclose(balanced_accuracy(y_true, y_pred), (0.5 + 1.0 + 0.0) / 3)  # classes with support only


def test_present_only_masks_absent_logits_by_hand():
    # Present classes {1, 3}; samples 0 and 3 have their top logit on an absent class (5, 7).
    logits = np.full((4, 8), -5.0)
    logits[0, [5, 1]] = [3.0, 2.0]  # true 1: 8-way predicts 5, present-only predicts 1 (right)
    logits[1, [3, 1]] = [3.0, 1.0]  # true 3: both predict 3
    logits[2, [1, 3]] = [3.0, 1.0]  # true 3: both predict 1 (wrong)
    logits[3, [7, 3]] = [3.0, 2.0]  # true 1: 8-way predicts 7, present-only 3 (both wrong)
    y = [1, 3, 3, 1]
    e = eight_way(y, logits)
    assert e["accuracy"] == 0.25
    assert math.isclose(e["macro_f1"], (2 / 3) / 8)  # only class 3 scores: 2*1/(2+1)
    assert math.isclose(e["balanced_accuracy"], (0 + 0.5) / 2)
    p = present_only(y, logits, class_names=[f"c{i}" for i in range(8)])
    assert p["y_pred"] == [1, 3, 1, 3] and p["present_idx"] == [1, 3] and p["present_names"] == ["c1", "c3"]
    assert p["accuracy"] == 0.5 and math.isclose(p["macro_f1"], 0.5) and math.isclose(p["balanced_accuracy"], 0.5)
    assert p["confusion_matrix"] == [[1, 1], [1, 1]]
    # With every class present, present-only equals 8-way (FERPlus in the paper).
    y_all = np.arange(8).repeat(2)
    lg = np.random.default_rng(0).standard_normal((16, 8))
    full, po = eight_way(y_all, lg), present_only(y_all, lg)
    assert full["accuracy"] == po["accuracy"] and math.isclose(full["macro_f1"], po["macro_f1"])


def test_mcnemar_counts_only_the_discordant_samples_by_hand():
    from affectstream.models.training.evaluation import mcnemar_one_tailed

    method = [True, True, True, False, True]
    baseline = [False, False, True, True, True]  # b = 2 (method alone right), c = 1 (baseline alone right)
    assert mcnemar_one_tailed(method, baseline) == pytest.approx((3 + 1) / 8)  # P(X >= 2), X ~ Bin(3, 1/2)
    assert mcnemar_one_tailed([True] * 3, [False] * 3) == pytest.approx(1 / 8)
    assert mcnemar_one_tailed(baseline, method) == pytest.approx(7 / 8)  # P(X >= 1): the other way round
    assert mcnemar_one_tailed([True, False], [True, False]) == 1.0  # no discordant sample: no evidence
    with pytest.raises(ValueError, match="length"):
        mcnemar_one_tailed([True], [True, False])


def test_split_and_fold_comparisons():
    from affectstream.models.training.compare import fold_comparison, split_comparison

    labels = np.zeros(20, dtype=int)
    base = np.r_[np.zeros(10), np.ones(10)].astype(int)  # right on half
    better = np.r_[np.zeros(16), np.ones(4)].astype(int)  # right on 16: 6 more, none fewer
    c = split_comparison(labels, base, better, baseline_name="b", method_name="m", dataset="toy", parts=4)
    assert c["baseline_whole"] == 0.5 and c["method_whole"] == 0.8
    assert c["baseline_mean"] == pytest.approx(0.5) and c["method_mean"] == pytest.approx(0.8)  # equal parts of 5
    assert c["p_value"] == pytest.approx(1 / 64)  # b = 6, c = 0
    f = fold_comparison([0.1, 0.2, 0.3], [0.2, 0.4, 0.5], baseline_name="b", method_name="m", metric="ccc",
                        dataset="toy", folds="3 folds")
    assert f["baseline_mean"] == pytest.approx(0.2) and f["method_std"] == pytest.approx(np.std([0.2, 0.4, 0.5]))
    assert 0 < f["p_value"] < 0.05 and "3 folds" in f["over"]
