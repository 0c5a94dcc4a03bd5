"""CRPN's loss terms (docs/methods.md §4) against values worked out by hand, with each paper/code switch, and the
gradients where they must and must not go."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from affectstream.models.methods.crpn.losses import (
    class_thresholds,
    concept_regression_loss,
    concept_targets,
    high_confidence,
    logit_kd,
    mmd_rbf,
    orthogonality_loss,
    rank_regularization,
    weighted_ce,
    weighted_supcon,
)

# ---------------------------------------------------------------------------------------------------- L_orth


def test_orthogonality_by_hand_mean_and_frobenius():
    f_emo = torch.tensor([[3.0, 4.0], [1.0, 0.0]])  # rows normalise to (0.6, 0.8) and (1, 0)
    f_non = torch.tensor([[0.0, 2.0], [1.0, 1.0]])  # rows normalise to (0, 1) and (r, r), r = 1/sqrt 2
    r = 1 / math.sqrt(2)
    # M[a, b] = sum_i E[i, a] N[i, b]
    m00 = 0.6 * 0 + 1 * r
    m01 = 0.6 * 1 + 1 * r
    m10 = 0.8 * 0 + 0 * r
    m11 = 0.8 * 1 + 0 * r
    frob = m00**2 + m01**2 + m10**2 + m11**2
    assert orthogonality_loss(f_emo, f_non, mode="frobenius").item() == pytest.approx(frob, rel=1e-5)
    assert orthogonality_loss(f_emo, f_non).item() == pytest.approx(frob / 4, rel=1e-5)  # mean over P^2 = 4


def test_orthogonality_acts_on_batch_correlations_not_per_sample_dot_products():
    f_emo = torch.tensor([[1.0, 0.0], [2.0, 0.0]])
    # each sample's two codes are orthogonal, yet dimension 0 of E and dimension 1 of N move together over the
    # batch: M[0, 1] = 1 * 1 + 1 * 1 = 2, the rest 0 -> mean 4 / 4 (up to the 1e-6 in the norms)
    same_sign = torch.tensor([[0.0, 5.0], [0.0, 1.0]])
    assert orthogonality_loss(f_emo, same_sign).item() == pytest.approx(1.0, rel=1e-5)
    # with the signs of N's dimension 1 cancelling over the batch, M = 0
    cancelling = torch.tensor([[0.0, 5.0], [0.0, -1.0]])
    assert orthogonality_loss(f_emo, cancelling).item() == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="mode"):
        orthogonality_loss(f_emo, cancelling, mode="sum")


def test_orthogonality_gradient_reaches_both_inputs_through_detached_norms():
    g = torch.Generator().manual_seed(0)
    f_emo = torch.randn(4, 3, generator=g, requires_grad=True)
    f_non = torch.randn(4, 3, generator=g, requires_grad=True)
    loss = orthogonality_loss(f_emo, f_non)
    loss.backward()
    assert f_emo.grad.abs().sum() > 0 and f_non.grad.abs().sum() > 0
    # With the norms held constant the loss is quadratic in f_emo, so (Euler) sum f . grad = 2 L. Had the norms
    # been differentiated (F.normalize), the loss would be scale-invariant and this sum would be 0.
    assert (f_emo.grad * f_emo.detach()).sum().item() == pytest.approx(2 * loss.item(), rel=1e-4)
    assert (f_non.grad * f_non.detach()).sum().item() == pytest.approx(2 * loss.item(), rel=1e-4)


# ---------------------------------------------------------------------------------------------------- L_WCE


def test_weighted_ce_wce_and_focal_by_hand():
    logits = torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0]])  # softmax rows (3/4, 1/4) and (1/2, 1/2)
    y = torch.tensor([0, 1])  # p_y = 3/4 and 1/2
    wce = (-math.log(3 / 4) - math.log(1 / 2)) / 2
    assert weighted_ce(logits, y).item() == pytest.approx(wce, rel=1e-6)
    focal = (-0.7 * (1 / 4) ** 2 * math.log(3 / 4 + 1e-8) - 0.8 * (1 / 2) ** 2 * math.log(1 / 2 + 1e-8)) / 2
    assert weighted_ce(logits, y, mode="focal", class_alpha=[0.7, 0.8]).item() == pytest.approx(focal, rel=1e-5)
    unweighted = (-(1 / 4) ** 2 * math.log(3 / 4) - (1 / 2) ** 2 * math.log(1 / 2)) / 2
    assert weighted_ce(logits, y, mode="focal").item() == pytest.approx(unweighted, rel=1e-5)
    # gamma = 0 and no class weights: the focal loss is plain cross-entropy (up to the 1e-8 in the log)
    assert weighted_ce(logits, y, mode="focal", gamma=0.0).item() == pytest.approx(wce, rel=1e-5)


def test_weighted_ce_checks_its_arguments():
    logits, y = torch.zeros(2, 3), torch.tensor([0, 1])
    with pytest.raises(ValueError, match="class_alpha"):
        weighted_ce(logits, y, mode="focal", class_alpha=[1.0, 1.0])
    with pytest.raises(ValueError, match="mode"):
        weighted_ce(logits, y, mode="ce")


# ---------------------------------------------------------------------------------------------------- L_RR


def test_rank_regularization_by_hand_with_gradient_inside_the_margin():
    alpha = torch.tensor([0.5, 0.4, 0.45, 0.42], requires_grad=True)
    # ratio 0.5: high = {0.5, 0.45} (mean 0.475), low = {0.42, 0.4} (mean 0.41); gap 0.065 < 0.15
    loss = rank_regularization(alpha, ratio=0.5, margin=0.15)
    assert loss.item() == pytest.approx(0.15 - (0.475 - 0.41), rel=1e-5)
    loss.backward()
    # d/d alpha: -1/|high| for the high group, +1/|low| for the low group
    assert alpha.grad.tolist() == pytest.approx([-0.5, 0.5, -0.5, 0.5])


def test_rank_regularization_is_zero_without_gradient_beyond_the_margin():
    alpha = torch.tensor([[0.9], [0.1], [0.8], [0.2]], requires_grad=True)  # (B, 1); default ratio 0.7 -> M = 2
    loss = rank_regularization(alpha)  # gap 0.85 - 0.15 = 0.7 > 0.15
    assert loss.item() == 0.0
    loss.backward()
    assert alpha.grad.abs().sum().item() == 0.0


def test_rank_regularization_default_ratio_splits_seven_three():
    alpha = torch.arange(10, dtype=torch.float32) / 10  # 0.0 .. 0.9
    # floor(0.7 * 10) = 7: high = 0.9 .. 0.3 (mean 0.6), low = 0.2, 0.1, 0.0 (mean 0.1); gap 0.5
    assert rank_regularization(alpha, margin=0.6).item() == pytest.approx(0.1, rel=1e-5)
    assert rank_regularization(alpha, margin=0.5 - 1e-3).item() == 0.0


def test_rank_regularization_rejects_empty_groups():
    with pytest.raises(ValueError, match="at least 2"):
        rank_regularization(torch.tensor([0.5]))
    with pytest.raises(ValueError, match="non-empty"):
        rank_regularization(torch.tensor([0.1, 0.2, 0.3, 0.4]), ratio=0.2)  # floor(0.8) = 0 high
    with pytest.raises(ValueError, match="non-empty"):
        rank_regularization(torch.tensor([0.1, 0.2, 0.3, 0.4]), ratio=1.0)  # no low group


# ---------------------------------------------------------------------------------------------------- L_CC


def test_weighted_supcon_vector_by_hand():
    f = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1])
    tau = 0.5
    s01, s02, s12 = 0.6 / tau, 0.0 / tau, 0.8 / tau  # f0.f1 = 0.6, f0.f2 = 0, f1.f2 = 0.8
    l0 = -math.log(math.exp(s01) / (math.exp(s01) + math.exp(s02)))  # anchor 0, positive 1
    l1 = -math.log(math.exp(s01) / (math.exp(s01) + math.exp(s12)))  # anchor 1, positive 0
    l2 = 0.0  # anchor 2 is alone in its class
    w0 = w1 = 1 - 2 / 3
    by_hand = (w0 * l0 + w1 * l1 + (1 - 1 / 3) * l2) / 3
    assert weighted_supcon(f, labels, tau=tau).item() == pytest.approx(by_hand, rel=1e-5)
    # one positive per anchor: summing or averaging over the positives is the same
    assert weighted_supcon(f, labels, tau=tau, reduce="mean").item() == pytest.approx(by_hand, rel=1e-5)


def _supcon_five_by_hand() -> tuple[float, float]:
    """1-D features (1, 2, 0, -1, 0.5), labels (0, 0, 0, 1, 1), tau = 1: s_ij = f_i * f_j."""
    e = math.exp
    d0 = e(2) + e(0) + e(-1) + e(0.5)  # anchor 0: sims to 1..4 are 2, 0, -1, 0.5
    d1 = e(2) + e(0) + e(-2) + e(1)  # anchor 1: 2, 0, -2, 1
    d2 = 4.0  # anchor 2 (f = 0): all sims 0
    d3 = e(-1) + e(-2) + e(0) + e(-0.5)  # anchor 3: -1, -2, 0, -0.5
    d4 = e(0.5) + e(1) + e(0) + e(-0.5)  # anchor 4: 0.5, 1, 0, -0.5
    l0 = -((2 - math.log(d0)) + (0 - math.log(d0)))  # positives 1, 2
    l1 = -((2 - math.log(d1)) + (0 - math.log(d1)))  # positives 0, 2
    l2 = -2 * (0 - math.log(d2))  # positives 0, 1
    l3 = -(-0.5 - math.log(d3))  # positive 4
    l4 = -(-0.5 - math.log(d4))  # positive 3
    w_a, w_b = 1 - 3 / 5, 1 - 2 / 5
    by_sum = (w_a * (l0 + l1 + l2) + w_b * (l3 + l4)) / 5
    by_mean = (w_a * (l0 + l1 + l2) / 2 + w_b * (l3 + l4) / 1) / 5
    return by_sum, by_mean


def test_weighted_supcon_sum_versus_mean_over_positives_by_hand():
    f = torch.tensor([[1.0], [2.0], [0.0], [-1.0], [0.5]])
    labels = torch.tensor([0, 0, 0, 1, 1])
    by_sum, by_mean = _supcon_five_by_hand()
    assert weighted_supcon(f, labels, tau=1.0, reduce="sum").item() == pytest.approx(by_sum, rel=1e-5)
    assert weighted_supcon(f, labels, tau=1.0, reduce="mean").item() == pytest.approx(by_mean, rel=1e-5)
    # with one dimension, a dimension "view" is the sample itself: the code's convention must agree
    for reduce, value in (("sum", by_sum), ("mean", by_mean)):
        got = weighted_supcon(f, labels, tau=1.0, reduce=reduce, views="code_dims").item()
        assert got == pytest.approx(value, rel=1e-5)


def test_weighted_supcon_code_dims_by_hand():
    f = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    labels = torch.tensor([0, 1])
    # vector views: the two samples differ in label, nobody has a positive
    assert weighted_supcon(f, labels, tau=1.0).item() == pytest.approx(0.0, abs=1e-7)
    # dimension views: scalars 1, 0 (sample 0) and 0, 2 (sample 1); each scalar's positive is its sample's other
    # scalar. Anchor 1: sims 0, 0, 2 -> -log(e^0 / (2 + e^2)); anchors 0 (either sample): all sims 0 -> log 3;
    # anchor 2: sims 2, 0, 0, positive 0 -> log(e^2 + 2). Every weight is 1 - 1/2.
    by_hand = 0.5 * (2 * math.log(2 + math.e**2) + 2 * math.log(3)) / 4
    got = weighted_supcon(f, labels, tau=1.0, views="code_dims").item()
    assert got == pytest.approx(by_hand, rel=1e-5)


def test_weighted_supcon_code_dims_weights_follow_each_anchor_sample_by_hand():
    f = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1])  # w = 1 - 2/3 for class 0, 1 - 1/3 for class 1
    # six scalar anchors, tau = 1. The two 1s (sample 0 dim 0, sample 2 dim 1) see sims 1, 0, 0, 0, 0:
    # denominator 4 + e, and every positive of theirs is a 0 (sim 0). Each 0 sees sims all 0: denominator 5.
    ln_a, ln_b = math.log(4 + math.e), math.log(5)
    # class 0: the 1 has 3 positives, each of its three 0s has 3 positives; class 1: one positive each
    class0 = [3 * ln_a, 3 * ln_b, 3 * ln_b, 3 * ln_b]
    class1 = [ln_b, ln_a]
    by_sum = ((1 / 3) * sum(class0) + (2 / 3) * sum(class1)) / 6
    by_mean = ((1 / 3) * sum(x / 3 for x in class0) + (2 / 3) * sum(class1)) / 6
    assert weighted_supcon(f, labels, tau=1.0, views="code_dims").item() == pytest.approx(by_sum, rel=1e-5)
    got = weighted_supcon(f, labels, tau=1.0, reduce="mean", views="code_dims").item()
    assert got == pytest.approx(by_mean, rel=1e-5)


def test_weighted_supcon_weights_vanish_for_a_single_class_batch():
    f = F.normalize(torch.randn(4, 3, generator=torch.Generator().manual_seed(1)), dim=1)
    assert weighted_supcon(f, torch.zeros(4, dtype=torch.long)).item() == pytest.approx(0.0, abs=1e-7)


def test_weighted_supcon_prefers_clustered_features():
    g = torch.Generator().manual_seed(0)
    centres = torch.eye(8)[:2]
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    f = F.normalize(centres[labels] + 0.1 * torch.randn(8, 8, generator=g), dim=1)
    shuffled = torch.tensor([0, 1, 0, 1, 0, 1, 0, 1])  # same class sizes, so the same weights
    clustered, mixed = weighted_supcon(f, labels).item(), weighted_supcon(f, shuffled).item()
    assert clustered < mixed - 1.0


def test_weighted_supcon_is_finite_where_a_naive_exp_overflows():
    g = torch.Generator().manual_seed(0)
    f = F.normalize(torch.randn(6, 4, generator=g), dim=1).requires_grad_(True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    loss = weighted_supcon(f, labels, tau=1e-3)  # exp(1 / 1e-3) is inf in float32
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(f.grad).all() and f.grad.abs().sum() > 0
    big = (50 * torch.randn(3, 4, generator=g)).requires_grad_(True)
    loss = weighted_supcon(big, torch.tensor([0, 0, 1]), views="code_dims")
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(big.grad).all()


def test_weighted_supcon_checks_its_switches():
    f, labels = torch.randn(3, 2), torch.tensor([0, 0, 1])
    with pytest.raises(ValueError, match="reduce"):
        weighted_supcon(f, labels, reduce="max")
    with pytest.raises(ValueError, match="views"):
        weighted_supcon(f, labels, views="dims")


# ---------------------------------------------------------------------------------------------------- MMD and L_S


def _k(d2: float, base: float) -> float:
    """The summed 5-kernel Gaussian with bandwidths base * 2**i (i = 0..4) at squared distance d2."""
    return sum(math.exp(-d2 / (base * 2**i)) for i in range(5))


def test_mmd_two_points_by_hand():
    x, y = torch.tensor([[0.0]]), torch.tensor([[1.0]])
    # L2 = [[0, 1], [1, 0]]: sum 2 over n^2 - n = 2 pairs -> 1, divided by 2 ** (5 // 2) = 4 -> base 0.25
    by_hand = _k(0, 0.25) + _k(0, 0.25) - 2 * _k(1, 0.25)  # = 10 - 2 * sum_i exp(-1 / (0.25 * 2**i))
    assert mmd_rbf(x, y).item() == pytest.approx(by_hand, rel=1e-5)
    assert mmd_rbf(x, x.clone()).item() == pytest.approx(0.0, abs=1e-6)  # identical points: base floored, not nan


def test_mmd_equal_sizes_matches_the_released_block_mean_by_hand():
    x, y = torch.tensor([[0.0], [1.0]]), torch.tensor([[2.0], [3.0]])
    # z = 0, 1, 2, 3: sum of |i - j|^2 over ordered pairs = 2 * (1 + 4 + 9 + 1 + 4 + 1) = 40; / 12; / 4
    base = 40 / 12 / 4
    k0, k1, k4, k9 = (_k(d2, base) for d2 in (0, 1, 4, 9))
    per_block = (k0 + k1) / 2 + (k0 + k1) / 2 - (k4 + k9 + k1 + k4) / 4 - (k4 + k1 + k9 + k4) / 4
    # released: one mean of the 2x2 block XX + YY - XY - YX (entry [a, b] pairs x_a, x_b / y_a, y_b / x_a, y_b ...)
    released = ((k0 + k0 - k4 - k4) + (k1 + k1 - k9 - k1) + (k1 + k1 - k1 - k9) + (k0 + k0 - k4 - k4)) / 4
    assert per_block == pytest.approx(released)
    assert mmd_rbf(x, y).item() == pytest.approx(released, rel=1e-5)


def test_mmd_unequal_sizes_by_hand():
    x, y = torch.tensor([[0.0]]), torch.tensor([[1.0], [3.0]])
    # z = 0, 1, 3: squared distances 1, 9, 4 -> sum over ordered pairs 28, / 6, / 4
    base = 28 / 6 / 4
    k0, k1, k4, k9 = (_k(d2, base) for d2 in (0, 1, 4, 9))
    by_hand = k0 + (2 * k0 + 2 * k4) / 4 - (k1 + k9) / 2 - (k1 + k9) / 2
    assert mmd_rbf(x, y).item() == pytest.approx(by_hand, rel=1e-5)


def test_mmd_bandwidth_is_detached():
    x = torch.tensor([[0.0]])
    y = torch.tensor([[1.0]], requires_grad=True)
    mmd_rbf(x, y).backward()
    # loss(y) = 10 - 2 sum_i exp(-y^2 / b_i) with the b_i = 0.25 * 2**i held fixed: d/dy = 2 sum_i (2y / b_i) e^..
    by_hand = sum(2 * (2 / (0.25 * 2**i)) * math.exp(-1 / (0.25 * 2**i)) for i in range(5))
    assert y.grad.item() == pytest.approx(by_hand, rel=1e-5)


def test_concept_regression_mse_and_mmd_by_hand():
    f_ec = torch.tensor([[1.0, 2.0], [0.0, 0.0]])  # a, b
    f_per = torch.tensor([[0.0, 0.0], [0.0, 3.0]])  # c, d
    assert concept_regression_loss(f_ec, f_per, mode="mse").item() == pytest.approx((1 + 4 + 0 + 9) / 4)
    # squared distances ab 5, ac 5, ad 2, bc 0, bd 9, cd 9: sum over ordered pairs 60, / 12, / 4 -> base 1.25.
    # XX = (2 K(0) + 2 K(5)) / 4, YY = (2 K(0) + 2 K(9)) / 4, XY = YX = (K(5) + K(2) + K(0) + K(9)) / 4,
    # so MMD = XX + YY - 2 XY = (K(0) - K(2)) / 2 with K(0) = 5 (five kernels)
    assert concept_regression_loss(f_ec, f_per).item() == pytest.approx((5 - _k(2, 1.25)) / 2, rel=1e-5)
    with pytest.raises(ValueError, match="mode"):
        concept_regression_loss(f_ec, f_per, mode="l1")


@pytest.mark.parametrize("mode", ["mse", "mmd"])
def test_concept_regression_trains_the_student_only(mode):
    g = torch.Generator().manual_seed(0)
    f_ec = torch.randn(4, 3, generator=g, requires_grad=True)  # stands for the frozen teacher's output
    f_per = torch.randn(4, 3, generator=g, requires_grad=True)
    concept_regression_loss(f_ec, f_per, mode=mode).backward()
    assert f_ec.grad is None
    assert f_per.grad is not None and f_per.grad.abs().sum() > 0


# ---------------------------------------------------------------------------------------------------- selection


def test_class_thresholds_by_hand():
    alpha = torch.tensor([0.9, 0.1, 0.5, 0.3, 0.7, 0.4, 0.2])
    labels = torch.tensor([0, 0, 0, 0, 0, 1, 1])
    # class 0 sorted: 0.1 0.3 0.5 0.7 0.9, index floor(0.2 * 5) = 1 -> 0.3; class 1: 0.2 0.4, floor(0.4) = 0 -> 0.2
    t = class_thresholds(alpha, labels, n_classes=3)
    assert t[:2].tolist() == pytest.approx([0.3, 0.2])
    assert math.isinf(t[2].item()) and t[2] > 0  # no sample of class 2
    # median: floor(0.5 * 5) = 2 -> 0.5; floor(0.5 * 2) = 1 -> 0.4
    assert class_thresholds(alpha, labels, 3, percentile=0.5)[:2].tolist() == pytest.approx([0.5, 0.4])
    with pytest.raises(ValueError, match="percentile"):
        class_thresholds(alpha, labels, 3, percentile=1.0)


def test_high_confidence_gt_versus_ge():
    alpha = torch.tensor([0.9, 0.1, 0.5, 0.3, 0.7, 0.4, 0.2, 1.0])
    labels = torch.tensor([0, 0, 0, 0, 0, 1, 1, 2])
    thresholds = torch.tensor([0.3, 0.2, float("inf")])
    gt = high_confidence(alpha, labels, thresholds)
    ge = high_confidence(alpha, labels, thresholds, rule="ge")
    assert gt.dtype == torch.bool
    assert gt.tolist() == [True, False, True, False, True, True, False, False]
    # ">=" also keeps each class's threshold sample (0.3 of class 0, 0.2 of class 1); class 2 stays out
    assert ge.tolist() == [True, False, True, True, True, True, True, False]


def test_concept_targets_keep_confident_rows_and_average_k_distinct_pool_rows():
    p = 10
    pool_features = torch.cat([torch.eye(p), 2 * torch.eye(p)[:3]])  # class 0: 10 one-hots; class 1: 3 rows
    pool_labels = torch.tensor([0] * 10 + [1] * 3)
    f_emo = torch.arange(4 * p, dtype=torch.float32).reshape(4, p).requires_grad_(True)
    high = torch.tensor([True, False, False, False])
    labels = torch.tensor([0, 0, 1, 2])  # class 2 has no pool
    out = concept_targets(f_emo, high, labels, pool_features, pool_labels, k=8,
                          generator=torch.Generator().manual_seed(3))
    assert not out.requires_grad
    assert torch.equal(out[0], f_emo[0].detach())  # confident: its own feature
    # 8 distinct one-hots averaged: eight entries of 1/8, two zeros (a draw with replacement could repeat one)
    assert sorted(out[1].tolist()) == pytest.approx([0.0] * 2 + [1 / 8] * 8)
    # the draw follows the generator: the same seed draws the same 8 rows
    again = concept_targets(f_emo, high, labels, pool_features, pool_labels, k=8,
                            generator=torch.Generator().manual_seed(3))
    assert torch.equal(again, out)
    assert out[2].tolist() == pytest.approx([2 / 3] * 3 + [0.0] * 7)  # fewer than k: all 3 rows
    assert torch.equal(out[3], f_emo[3].detach())  # empty pool: fall back to its own feature


# ---------------------------------------------------------------------------------------------------- L_D


def test_logit_kd_by_hand_with_and_without_mask():
    teacher = torch.tensor([[0.0, math.log(3.0)], [0.0, 0.0]])  # p = (1/4, 3/4), (1/2, 1/2)
    student = torch.tensor([[0.0, 0.0], [0.0, math.log(3.0)]])  # q = (1/2, 1/2), (1/4, 3/4)
    kl0 = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    kl1 = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert logit_kd(teacher, student).item() == pytest.approx((kl0 + kl1) / 2, rel=1e-5)
    # batchmean over the selected rows: one row, divided by 1, not by 2
    assert logit_kd(teacher, student, mask=torch.tensor([True, False])).item() == pytest.approx(kl0, rel=1e-5)
    # T = 2 on doubled logits gives the T = 1 distributions, and no T^2 factor
    assert logit_kd(2 * teacher, 2 * student, temperature=2.0).item() == pytest.approx((kl0 + kl1) / 2, rel=1e-5)


def test_logit_kd_trains_the_student_only():
    g = torch.Generator().manual_seed(0)
    teacher = torch.randn(4, 3, generator=g, requires_grad=True)
    student = torch.randn(4, 3, generator=g, requires_grad=True)
    logit_kd(teacher, student, mask=torch.tensor([True, False, True, False])).backward()
    assert teacher.grad is None
    assert student.grad[[0, 2]].abs().sum() > 0 and student.grad[[1, 3]].abs().sum() == 0  # masked rows: nothing


def test_logit_kd_with_no_selected_row_is_a_connected_zero():
    student = torch.randn(3, 4, requires_grad=True)
    loss = logit_kd(torch.randn(3, 4), student, mask=torch.zeros(3, dtype=torch.bool))
    assert loss.item() == 0.0 and loss.grad_fn is not None
    loss.backward()
    assert student.grad is not None and student.grad.abs().sum() == 0
