"""Batches and windows of a longer signal give bit for bit the numbers of one call per window.

The extractor computes a batch in cache-sized passes and copies overlapping windows out of a signal a pass at a time;
replay and the feature cache rely on both giving exactly what a live run computes window by window.
"""

import numpy as np
import pytest

from affectstream.core.bandpower import CHUNK_SAMPLES, WelchBandPower, WelchConfig

CFG = WelchConfig()
#: More windows than one pass holds, so every test crosses pass boundaries.
N_WINDOWS = 3 * CHUNK_SAMPLES // (32 * CFG.n_window) + 1


def _signal(dtype, n_samples, seed=0):
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.standard_normal((32, n_samples)), axis=-1) * 3 + rng.uniform(-1e4, 1e4, (32, 1))
    return x.astype(dtype)


@pytest.mark.parametrize("kind", ["log", "relative", "absolute"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_batch_equals_one_call_per_window(kind, dtype):
    bp = WelchBandPower(WelchConfig(kind=kind))
    x = _signal(dtype, N_WINDOWS * CFG.n_window).reshape(32, N_WINDOWS, CFG.n_window).swapaxes(0, 1)
    got = bp(x)
    assert got.shape == (N_WINDOWS, 6, 32)
    np.testing.assert_array_equal(got, np.stack([bp(w) for w in x]))
    assert bp(x[:0]).shape == (0, 6, 32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_windows_of_a_signal_equal_the_stacked_windows(dtype):
    bp = WelchBandPower(CFG)
    x = _signal(dtype, 40 * 64 + CFG.n_window, seed=1)
    x[5, 700] = np.nan  # a non-finite sample stays in its channel and its windows
    starts = np.r_[np.arange(N_WINDOWS) * 64, [0, 3, 40 * 64]]  # overlapping, repeated, irregular, the last fit
    got = bp.windows(x, starts)
    np.testing.assert_array_equal(got, np.stack([bp(x[:, s:s + CFG.n_window]) for s in starts]))
    hit = (starts <= 700) & (700 < starts + CFG.n_window)
    assert np.isnan(got[hit][:, :, 5]).all() and np.isfinite(np.delete(got, 5, axis=2)).all()
    assert np.isfinite(got[~hit]).all()
    assert bp.windows(x, np.empty(0, dtype=int)).shape == (0, 6, 32)


def test_windows_refuses_what_does_not_fit():
    bp = WelchBandPower(CFG)
    x = np.zeros((4, 1000))
    with pytest.raises(ValueError, match="do not fit"):
        bp.windows(x, [1000 - CFG.n_window + 1])
    with pytest.raises(ValueError, match="do not fit"):
        bp.windows(x, [-1])
    with pytest.raises(ValueError, match="channels, samples"):
        bp.windows(x[None], [0])
    with pytest.raises(ValueError, match="unknown band-power kind"):
        bp.windows(x, [0], kind="power")
