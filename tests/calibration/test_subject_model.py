"""The per-subject models' closed-form ridge, the nested cross-validation over blocks, the choice of the kept model
on the training blocks only, and the block-permutation chance test -- on small SYNTHETIC arrays (random numbers
with a planted linear relation, not EEG)."""

from __future__ import annotations

import numpy as np
import pytest

from affectstream.calibration.features import BlockTargets, frame_means
from affectstream.calibration.selection import Candidates, SelectionConfig, permutation_test, select
from affectstream.calibration.subject_model import LAMBDAS, BlockRidge, ccc_columns, contiguous_folds
from affectstream.models.training.metrics import ccc

N_BLOCKS, HOPS, P = 24, 40, 12


def _arrays(informative: bool, seed: int = 0):
    """Per hop: inputs (T, P) that carry the block's rating (or not), the blocks, the second halves; the ratings."""
    rng = np.random.default_rng(seed)
    ratings = rng.uniform(-1, 1, (N_BLOCKS, 2))
    block = np.repeat(np.arange(N_BLOCKS), HOPS)
    late = np.tile(np.arange(HOPS) >= HOPS // 2, N_BLOCKS)
    mixing = rng.normal(0, 1, (2, P))
    x = rng.normal(0, 1.5, (len(block), P)) + (ratings[block] @ mixing if informative else 0.0)
    return x, block, late, ratings


def _candidates(informative: bool, seed: int = 0) -> Candidates:
    x, block, late, ratings = _arrays(informative, seed)
    heldout = np.arange(N_BLOCKS) >= N_BLOCKS - 6
    noise = np.random.default_rng(seed + 1).normal(0, 0.3, (len(block), 2))
    return Candidates({"uncalibrated": noise, "baseline": -noise},
                      {"band_power_ridge": BlockRidge("band_power_ridge", x, np.zeros((len(x), 2)), block, late)},
                      BlockTargets(block, late, ratings, heldout))


def test_ccc_columns_is_the_projects_ccc():
    rng = np.random.default_rng(3)
    pred, ref = rng.normal(size=(50, 3)), rng.normal(size=50)
    ref[4] = np.nan
    np.testing.assert_allclose(ccc_columns(pred, ref), [ccc(pred[:, i], ref) for i in range(3)], rtol=1e-12)


def test_the_closed_form_is_the_ridge_solution_with_an_intercept_and_an_offset():
    x, block, late, ratings = _arrays(True)
    offset = np.random.default_rng(5).normal(0, 0.2, (len(x), 2))
    ridge = BlockRidge("student_head", x, offset, block, late)
    train, evaluate = tuple(range(10)), (10, 11)
    rows, pred = ridge.predict_all(train, evaluate, ratings)
    fit = np.isin(block, train) & late
    xc = x[fit] - x[fit].mean(0)
    y = ratings[block[fit]] - offset[fit]
    scale = np.linalg.eigvalsh(xc.T @ xc).clip(0).mean()
    for k in (0, 6, len(LAMBDAS) - 1):
        w = np.linalg.solve(xc.T @ xc + LAMBDAS[k] * scale * np.eye(P), xc.T @ (y - y.mean(0)))
        c = y.mean(0) - x[fit].mean(0) @ w
        expected = np.clip(x[rows] @ w + c + offset[rows], -1, 1)
        np.testing.assert_allclose(pred[:, k], expected, atol=1e-10)
    assert set(block[rows]) == {10, 11}


def test_folds_are_contiguous_runs_of_blocks():
    assert contiguous_folds((0, 1, 2, 3, 4, 5, 6), 3) == [(0, 1, 2), (3, 4), (5, 6)]
    assert contiguous_folds((0, 1), 5) == [(0,), (1,)]


def test_nested_predictions_never_see_their_own_blocks_ratings():
    """Each outer fold's predictions (penalty choice included) are the same whatever that fold's ratings are."""
    x, block, late, ratings = _arrays(True)
    ridge = BlockRidge("band_power_ridge", x, np.zeros((len(x), 2)), block, late)
    blocks = tuple(range(18))
    rows, pred = ridge.nested_predictions(blocks, ratings, 6, 5)
    for part in contiguous_folds(blocks, 6):
        changed = ratings.copy()
        changed[list(part)] = np.random.default_rng(100 + part[0]).uniform(-1, 1, (len(part), 2))
        rows2, pred2 = ridge.nested_predictions(blocks, changed, 6, 5)
        inside = np.isin(block[rows], part)
        np.testing.assert_array_equal(rows2, rows)
        np.testing.assert_allclose(pred2[inside], pred[inside], atol=1e-12)
        assert not np.allclose(pred2[~inside], pred[~inside])  # the other folds did use them


def test_the_choice_uses_the_training_blocks_only():
    c = _candidates(True)
    chosen = select(c, c.targets.ratings, SelectionConfig())
    assert chosen.kept == "calibrated" and chosen.calibrated_model == "band_power_ridge"
    assert chosen.training_ccc["band_power_ridge"] > 0.5 > chosen.training_ccc["uncalibrated"]
    other = c.targets.ratings.copy()
    other[c.targets.heldout] = 0.0  # held-out reports say nothing: the choice and the fit stay
    again = select(c, other, SelectionConfig())
    assert again.kept == chosen.kept and again.training_ccc == chosen.training_ccc
    np.testing.assert_array_equal(again.fit.weights, chosen.fit.weights)


@pytest.mark.parametrize("informative", [True, False])
def test_the_chance_test_separates_information_from_none(informative):
    c = _candidates(informative)
    config = SelectionConfig(permutations=99)
    chosen = select(c, c.targets.ratings, config)
    chance = permutation_test(c, chosen, config)
    assert 0 < chance["p"] <= 1 and chance["permutations"] == 99
    if informative:
        assert chance["p"] == 0.01 and chance["better_than_chance"] and chance["observed_ccc"] > 0.5
    else:
        assert chance["p"] > 0.05 and not chance["better_than_chance"]
        assert chance["null_95th_ccc"] > chance["null_median_ccc"]


def test_frame_means_average_the_window_with_zeros_before_the_start():
    z = np.arange(1.0, 7.0)[:, None] * np.ones((1, 2))
    np.testing.assert_allclose(frame_means(z, 3)[:, 0], [1 / 3, 1.0, 2.0, 3.0, 4.0, 5.0])
