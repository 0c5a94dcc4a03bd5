"""Topomap interpolation weights and saliency normalisation."""

import numpy as np
import pytest
import torch

from affectstream.pipelines.eeg.saliency import SaliencyTracker, normalise_jointly, valence_gradient
from affectstream.pipelines.eeg.topomap import TopomapInterpolator


@pytest.fixture(scope="module")
def topo():
    return TopomapInterpolator(size=64)


def test_constant_and_linear_fields_are_reproduced(topo):
    maps = topo(np.vstack([np.full(32, 3.0), topo.positions[:, 0]]))
    inside = np.isfinite(maps[0])
    np.testing.assert_allclose(maps[0][inside], 3.0, atol=1e-8)
    x_axis = np.linspace(-1.1, 1.1, 64)
    np.testing.assert_allclose(maps[1][inside], np.broadcast_to(x_axis, (64, 64))[inside], atol=1e-8)


def test_map_peaks_at_the_electrode_that_carries_the_value(topo):
    values = np.zeros(32)
    values[3] = 1.0
    m = topo(values)[0]
    row, col = np.unravel_index(np.nanargmax(m), m.shape)
    axis = np.linspace(-1.1, 1.1, 64)
    assert np.hypot(axis[col] - topo.positions[3, 0], axis[row] - topo.positions[3, 1]) < 0.1
    assert np.isnan(m[0, 0])  # outside the head


def test_joint_normalisation_modes():
    s = np.zeros((6, 32))
    s[2, 0], s[4, 5] = -2.0, 1.0
    mag = normalise_jointly(s)
    assert mag[2, 0] == 1.0 and mag[4, 5] == 0.5 and mag.min() == 0.0
    signed = normalise_jointly(s, "signed")
    assert signed[2, 0] == -1.0 and signed[4, 5] == 0.5
    mm = normalise_jointly(s, "minmax")
    assert mm[2, 0] == 0.0 and mm[4, 5] == 1.0
    assert not normalise_jointly(np.zeros((6, 32))).any()
    with pytest.raises(ValueError):
        normalise_jointly(s, "per-band")


class _Linear(torch.nn.Module):
    """valence_t = w . x_t: the gradient w.r.t. each frame is w, so the time-averaged gradient is w / T."""

    def __init__(self, w):
        super().__init__()
        self.w = torch.nn.Parameter(torch.as_tensor(w, dtype=torch.float32))

    def forward(self, x):
        from types import SimpleNamespace
        return SimpleNamespace(valence=torch.einsum("f,bft->bt", self.w, x))


def test_gradient_and_tracker_cadence():
    w = np.zeros(192)
    w[2 * 32 + 7] = 3.0  # band 2 (alpha), channel 7
    model = _Linear(w)
    frames = np.random.default_rng(0).standard_normal((192, 13))
    g = valence_gradient(model, frames)
    assert g.shape == (6, 32) and g[2, 7] == pytest.approx(3.0 / 13) and np.count_nonzero(g) == 1
    tracker = SaliencyTracker(model, every=4, average=2)
    produced = [tracker.update(frames) is not None for _ in range(9)]
    assert produced == [True, False, False, False, True, False, False, False, True]
    assert tracker.latest.shape == (6, 32) and tracker.latest[2, 7] == 1.0
