"""The training losses of models/training/loop.py against numbers worked out by hand (in the comments), the padding
mask that make_windows hands them, and the recipe-deviation lister."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from affectstream.models.training.loop import (VALID, OptimConfig, batches, ccc_loss, make_windows, recipe_deviations,
                                               regression_loss)


def test_ccc_loss_of_a_short_window_by_hand():
    # x = [1, 2, 3], y = [1, 2, 4]
    # means: 2 and 7/3; deviations: x (-1, 0, 1), y (-4/3, -1/3, 5/3)
    # biased covariance: ((-1)(-4/3) + 0 + (1)(5/3)) / 3 = (4/3 + 5/3) / 3 = 1
    # unbiased variances: x (1 + 0 + 1) / 2 = 1; y (16/9 + 1/9 + 25/9) / 2 = 21/9 = 7/3
    # squared mean difference: (2 - 7/3)^2 = 1/9
    # CCC = 2 * 1 / (1 + 7/3 + 1/9) = 2 / (31/9) = 18/31; loss = 1 - 18/31 = 13/31
    x, y = torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[1.0, 2.0, 4.0]])
    assert ccc_loss(x, y).item() == pytest.approx(13 / 31, rel=1e-6)


def test_ccc_loss_mixes_a_biased_covariance_with_unbiased_variances():
    # a window against itself: CCC = 2 var_biased / (2 var_unbiased) = (T - 1) / T, not 1 (the reference's estimators)
    # [1, 2, 3]: var_biased 2/3, var_unbiased 1 -> CCC 2/3, loss 1/3; [0, 1]: 1/4 and 1/2 -> CCC 1/2, loss 1/2
    x = torch.tensor([[1.0, 2.0, 3.0]])
    assert ccc_loss(x, x).item() == pytest.approx(1 / 3, rel=1e-6)
    pair = torch.tensor([[0.0, 1.0]])
    assert ccc_loss(pair, pair).item() == pytest.approx(1 / 2, rel=1e-6)


def test_ccc_loss_leaves_padded_steps_out():
    # the window of the first test padded with two steps (zeros in the target, anything in the prediction)
    pred = torch.tensor([[1.0, 2.0, 3.0, 9.0, -9.0]], requires_grad=True)
    target = torch.tensor([[1.0, 2.0, 4.0, 0.0, 0.0]])
    valid = torch.tensor([[True, True, True, False, False]])
    loss = ccc_loss(pred, target, valid)
    assert loss.item() == pytest.approx(13 / 31, rel=1e-6)
    assert ccc_loss(pred, target).item() != pytest.approx(13 / 31, rel=1e-3)  # the padding, scored as data
    loss.backward()
    assert pred.grad[0, 3:].tolist() == [0.0, 0.0] and bool((pred.grad[0, :3] != 0).any())


def test_ccc_loss_averages_windows_and_skips_one_without_variance():
    # window 1: [1, 2, 3] vs [1, 2, 4] -> 13/31; window 2: [0, 1] vs itself, padded to 3 -> 1/2; mean 57/124
    pred = torch.tensor([[1.0, 2.0, 3.0], [0.0, 1.0, 5.0], [7.0, 0.0, 0.0]])
    target = torch.tensor([[1.0, 2.0, 4.0], [0.0, 1.0, 0.0], [3.0, 0.0, 0.0]])
    valid = torch.tensor([[True, True, True], [True, True, False], [True, False, False]])
    # the third window has one valid step: no variance, left out of the mean
    assert ccc_loss(pred, target, valid).item() == pytest.approx((13 / 31 + 1 / 2) / 2, rel=1e-6)
    alone = ccc_loss(pred[2:].requires_grad_(True), target[2:], valid[2:])
    assert alone.item() == 0.0 and alone.requires_grad  # nothing to score: a zero that still back-propagates


def test_an_all_valid_mask_changes_nothing():
    torch.manual_seed(0)
    pred, target = torch.randn(4, 96), torch.randn(4, 96)
    assert torch.equal(ccc_loss(pred, target, torch.ones(4, 96, dtype=torch.bool)), ccc_loss(pred, target))


def test_regression_loss_mse_by_hand_with_padding_and_unrated_steps():
    pred = torch.tensor([[1.0, 2.0, 5.0, 3.0]])
    target = torch.tensor([[0.0, 0.0, 0.0, float("nan")]])
    valid = torch.tensor([[True, True, False, True]])
    # valid and rated: steps 0 and 1 -> ((1 - 0)^2 + (2 - 0)^2) / 2 = 2.5 (step 2 is padding, step 3 unrated)
    assert regression_loss(pred, target, "mse", valid).item() == pytest.approx(2.5)
    # without the mask the padded step counts: (1 + 4 + 25) / 3 = 10
    assert regression_loss(pred, target, "mse").item() == pytest.approx(10.0)
    x, y = torch.tensor([[1.0, 2.0, 3.0, 0.0]]), torch.tensor([[1.0, 2.0, 4.0, 0.0]])
    assert regression_loss(x, y, "ccc", torch.tensor([[True, True, True, False]])).item() == pytest.approx(13 / 31)


def test_make_windows_marks_the_padding_and_batches_carry_it():
    # a 3-step sequence in windows of 5 is zero-padded by 2; a 7-step one (hop 2) gives windows at 0 and 2, unpadded
    short = (np.ones((3, 2)), np.arange(3.0), {"k": np.arange(3.0)})
    long = (np.ones((7, 2)), np.arange(7.0), {"k": np.arange(7.0)})
    w = make_windows([short, long], window=5, hop=2)
    assert w.extra[VALID].dtype == bool and w.extra[VALID].tolist() == [[True] * 3 + [False] * 2, [True] * 5,
                                                                         [True] * 5]
    assert w.y[0].tolist() == [0.0, 1.0, 2.0, 0.0, 0.0] and w.extra["k"][2].tolist() == [2.0, 3.0, 4.0, 5.0, 6.0]
    (_, _, extra), = list(batches(w, 3, seed=0, epoch=0))
    assert extra[VALID].dtype == torch.bool and int(extra[VALID].sum()) == 13
    with pytest.raises(ValueError, match="padding mask"):
        make_windows([(np.ones((3, 2)), np.arange(3.0), {VALID: np.ones(3)})], window=5, hop=2)


def test_recipe_deviations_list_the_options_that_differ_nested_too():
    from dataclasses import dataclass, field

    @dataclass(frozen=True)
    class Options:
        w: float = 1.0
        target: str = "valence"
        student: OptimConfig = field(default_factory=OptimConfig)

    paper = Options()
    assert recipe_deviations(paper, paper) == []
    ours = Options(w=0.5, target="arousal", student=OptimConfig(lr=0.01, batch_size=8))
    assert recipe_deviations(ours, paper, ignore=("target",)) == ["w = 0.5 (paper: 1.0)",
                                                                  "student.lr = 0.01 (paper: 0.001)"]
