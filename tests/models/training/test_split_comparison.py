"""The comparison block of a run with one fixed test split (models/training/compare.py split_comparison): whole-split
scores, McNemar and the paired bootstrap against values and probabilities worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from affectstream.models.training.compare import split_comparison

LABELS = np.array([0, 0, 0, 0, 1, 1, 2, 2])
BASELINE = np.zeros(8, dtype=int)  # right on the four 0s only
METHOD = np.array([0, 0, 0, 0, 1, 1, 2, 0])  # also right on samples 4, 5, 6; wrong nowhere the baseline is right


def _compare(**kwargs) -> dict:
    return split_comparison(LABELS, BASELINE, METHOD, baseline_name="b", method_name="m", dataset="toy", parts=2,
                            n_boot=2000, **kwargs)


def test_whole_split_scores_by_hand():
    s = _compare()["by_metric"]
    # baseline: accuracy 4/8; F1 class 0 = 2*4 / (2*4 + 4 FP) = 2/3, classes 1, 2 = 0; recall 1, 0, 0
    # method: accuracy 7/8; F1 = 2*4 / (8 + 1 FP) = 8/9, 2*2 / 4 = 1, 2*1 / (2 + 1 FN) = 2/3; recall 1, 1, 1/2
    assert s["accuracy"]["scores"] == pytest.approx({"baseline": 0.5, "method": 0.875})
    assert s["macro_f1"]["scores"] == pytest.approx({"baseline": (2 / 3) / 3, "method": (8 / 9 + 1 + 2 / 3) / 3})
    assert s["balanced_accuracy"]["scores"] == pytest.approx({"baseline": 1 / 3, "method": 2.5 / 3})
    assert s["macro_f1"]["method_vs"]["baseline"]["difference"] == pytest.approx((8 / 9 + 1 + 2 / 3 - 2 / 3) / 3)


def test_mcnemar_and_the_paired_bootstrap_by_hand():
    c = _compare()
    assert c["p_value"] == pytest.approx(1 / 8)  # 3 discordant samples, all for the method: P(X >= 3), X ~ Bin(3, .5)
    # The method is right wherever the baseline is, so in a resample each of the three metrics is higher for the
    # method unless the resample misses samples 4-6 altogether (then they tie): P = (5/8)^8 = 0.0233 per resample.
    # The same resamples count for all three metrics; with 2000 of them the share is 0.0233 +- 0.0034.
    ps = [c["by_metric"][m]["method_vs"]["baseline"]["p_value"] for m in ("accuracy", "macro_f1", "balanced_accuracy")]
    assert ps[0] == ps[1] == ps[2]
    assert abs(ps[0] - (5 / 8) ** 8) < 0.01
    lo, hi = c["by_metric"]["accuracy"]["method_vs"]["baseline"]["ci95"]
    # an accuracy difference in a resample is (discordant samples drawn) / 8, never negative
    assert 0.0 <= lo < hi <= 1.0
    assert _compare() == c  # seeded
    assert _compare(seed=1)["by_metric"] != c["by_metric"]


def test_identical_arms_tie_in_every_resample():
    c = _compare(controls={"plain_kd": METHOD.copy(), "shuffled_teacher": BASELINE.copy()}, teacher=LABELS.copy())
    tie = c["by_metric"]["macro_f1"]["method_vs"]["plain_kd"]
    assert tie["difference"] == 0.0 and tie["ci95"] == [0.0, 0.0] and tie["p_value"] == 1.0
    # the teacher is right everywhere: the method is never better than it
    assert c["by_metric"]["accuracy"]["method_vs"]["teacher"]["p_value"] == 1.0
    assert c["per_fold"] == {"baseline": [0.5], "method": [0.875], "plain_kd": [0.875], "shuffled_teacher": [0.5],
                             "teacher": [1.0]}
    assert c["controls"]["plain_kd"]["whole"] == 0.875 and c["teacher"]["whole"] == 1.0
    assert c["same_optimizer"] is True and c["recipe"] == "project" and c["deviations"] == []
    with pytest.raises(ValueError, match="length"):
        _compare(teacher=LABELS[:5])
