"""Metrics against hand-computed values."""

import math

import numpy as np

from affectstream.models.training.metrics import ccc, pcc, rmse


def test_ccc_by_hand_with_mean_term():
    x = np.array([1.0, 2.0, 3.0])
    y = np.array([2.0, 3.0, 5.0])
    # biased cov = mean((x-2)*(y-10/3)) = ((-1)(-4/3) + 0 + 1*(5/3))/3 = 1
    # unbiased var x = 1, var y = ((4/3)^2 + (1/3)^2 + (5/3)^2)/2 = 7/3; mean term (2 - 10/3)^2 = 16/9
    expected = 2 * 1.0 / (1.0 + 7 / 3 + 16 / 9)
    assert math.isclose(ccc(x, y), expected, rel_tol=1e-12)


def test_ccc_properties():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(1000)
    assert ccc(x, x) > 0.998  # biased cov / unbiased var: n/(n-1) short of 1
    assert ccc(x, x + 2) < 0.4 < 0.99 < pcc(x, x + 2)  # an offset costs concordance, not correlation
    assert ccc(x, -x) < -0.99


def test_nan_pairs_are_ignored_and_lengths_checked():
    x = np.array([1.0, np.nan, 3.0, 4.0])
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert math.isclose(rmse(x, y), 0.0)
    assert math.isclose(pcc(x, y), 1.0)
    try:
        ccc(x, y[:3])
    except ValueError as exc:
        assert "differ in length" in str(exc)
    else:
        raise AssertionError("length mismatch accepted")


def test_mse_trains_constant_targets_that_ccc_cannot():
    import torch

    from affectstream.models.training.loop import regression_loss

    pred = torch.tensor([[0.1, 0.2, 0.3]], requires_grad=True)
    target = torch.full((1, 3), 0.5)
    ccc = regression_loss(pred, target, "ccc")
    ccc.backward()
    assert abs(ccc.item() - 1.0) < 1e-6 and torch.allclose(pred.grad, torch.zeros(3))  # nothing to learn from
    pred.grad = None
    regression_loss(pred, target, "mse").backward()
    assert torch.all(pred.grad < 0)  # every prediction is pushed up towards the rating
    masked = regression_loss(pred, torch.tensor([[0.5, float("nan"), float("nan")]]), "mse")
    assert abs(masked.item() - 0.16) < 1e-6  # unrated targets (SEED's arousal) add nothing
    assert regression_loss(pred, torch.full((1, 3), float("nan")), "mse").item() == 0.0
