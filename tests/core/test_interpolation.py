"""Spherical-spline interpolation: exact where measured, and better than the nearest electrode elsewhere."""

import numpy as np
import pytest

from affectstream.core.electrodes import head_origin, position
from affectstream.core.interpolation import InterpolationError, spline_weights
from affectstream.core.montage import MONTAGE_32, MIN_SOURCES, map_channels


def _smooth_fields(labels, n_fields: int = 20, seed: int = 0) -> np.ndarray:
    """(n_fields, n_labels) values of random smooth scalp fields: polynomials of degree <= 3 in the unit direction
    from the head centre (what a few distant dipoles give on the scalp)."""
    rng = np.random.default_rng(seed)
    xyz = np.array([position(lab) for lab in labels]) - np.array(head_origin())
    u = xyz / np.linalg.norm(xyz, axis=1, keepdims=True)
    terms = [np.ones(len(u))] + [u[:, i] for i in range(3)]
    terms += [u[:, i] * u[:, j] for i in range(3) for j in range(i, 3)]
    terms += [u[:, i] * u[:, j] * u[:, k] for i in range(3) for j in range(i, 3) for k in range(j, 3)]
    basis = np.stack(terms)  # (20, n_labels)
    return rng.standard_normal((n_fields, len(basis))) @ basis


def _nearest(sources, target) -> int:
    d = [np.linalg.norm(position(s) - position(target)) for s in sources]
    return int(np.argmin(d))


def test_a_held_out_channel_is_reproduced_better_than_by_its_nearest_neighbour():
    fields = _smooth_fields(MONTAGE_32)
    spline_err, nearest_err = [], []
    for i, target in enumerate(MONTAGE_32):
        sources = [lab for lab in MONTAGE_32 if lab != target]
        cols = [MONTAGE_32.index(s) for s in sources]
        estimate = fields[:, cols] @ spline_weights(sources, [target])[0]
        spline_err.append(np.abs(estimate - fields[:, i]))
        nearest_err.append(np.abs(fields[:, cols[_nearest(sources, target)]] - fields[:, i]))
    spline_err, nearest_err = np.concatenate(spline_err), np.concatenate(nearest_err)
    assert np.median(spline_err) < 0.5 * np.median(nearest_err)
    assert np.mean(spline_err < nearest_err) > 0.75


def test_montage_channels_estimated_from_a_consumer_headset_beat_the_nearest_electrode():
    cyton = ["Fp1", "Fp2", "C3", "C4", "P7", "P8", "O1", "O2"]
    targets = [lab for lab in MONTAGE_32 if lab not in cyton]
    fields = _smooth_fields(cyton + targets, seed=1)
    w = spline_weights(cyton, targets)
    estimate = fields[:, :len(cyton)] @ w.T
    nearest = fields[:, [_nearest(cyton, t) for t in targets]]
    truth = fields[:, len(cyton):]
    assert np.median(np.abs(estimate - truth)) < np.median(np.abs(nearest - truth))


def test_weights_pass_measured_channels_through_and_sum_to_about_one():
    w = spline_weights(["TP9", "AF7", "AF8", "TP10"], ["AF7", "F3", "F4"])
    np.testing.assert_allclose(w[0], [0, 1, 0, 0])
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=0.05)  # a constant field stays constant
    assert w[1].argmax() == 1 and w[2].argmax() == 2  # F3 leans on AF7, F4 on AF8
    assert not w.flags.writeable


def test_unplaceable_labels_and_empty_sources_are_refused():
    with pytest.raises(InterpolationError, match="not a standard 10-05"):
        spline_weights(["Fp1", "Chan7"], ["Cz"])
    with pytest.raises(InterpolationError, match="no measured electrode"):
        spline_weights([], ["Cz"])


def test_too_few_good_electrodes_estimate_nothing():
    mapping = map_channels(["TP9", "AF7", "AF8", "TP10"], 4)
    good = np.array([True, True, False, False])
    assert good.sum() < MIN_SOURCES
    assert np.isnan(mapping.interpolation(good)).all()  # none of them is a model channel
    full = map_channels(list(MONTAGE_32), 32).interpolation(np.arange(32) < 2)
    assert np.isfinite(full[:2]).all() and np.isnan(full[2:]).all()
