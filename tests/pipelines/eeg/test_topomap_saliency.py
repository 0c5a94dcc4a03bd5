"""Topomap interpolation weights and saliency normalisation."""

from types import SimpleNamespace

import numpy as np
import pytest

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


class _LinearSession:
    """Stands in for an onnxruntime session: valence = sum of ``w * x`` over features and frames, ``w`` (F, T).

    The gradient w.r.t. frame t is ``w[:, t]``, so the map is ``w`` averaged over the frames."""

    def __init__(self, w):
        self.w = np.asarray(w, dtype=np.float64)
        self.calls = []

    def get_inputs(self):
        return [SimpleNamespace(name="frames")]

    def run(self, outputs, feed):
        x = feed["frames"]
        self.calls.append(x.shape)
        valence = np.einsum("ft,bft->b", self.w, x.astype(np.float64))
        return [np.stack([valence, np.zeros_like(valence)], axis=1)]


def test_gradient_and_tracker_cadence():
    w = np.zeros((192, 13))
    w[2 * 32 + 7] = 3.0  # band 2 (alpha), channel 7, every frame
    session = _LinearSession(w)
    frames = np.random.default_rng(0).standard_normal((192, 13))
    g = valence_gradient(session, frames)
    assert g.shape == (6, 32) and g[2, 7] == pytest.approx(3.0, rel=1e-6) and np.count_nonzero(g) == 1
    assert session.calls == [(2 * 192 + 1, 192, 13)]  # every moved input and the input in one batched call
    tracker = SaliencyTracker(session, every=4, average=2)
    produced = [tracker.update(frames) is not None for _ in range(9)]
    assert produced == [True, False, False, False, True, False, False, False, True]
    assert tracker.latest.shape == (6, 32) and tracker.latest[2, 7] == 1.0


def test_gradient_is_the_mean_over_the_frames():
    """A weight on one frame only counts 1/T: the map is the frame-averaged gradient, as the dashboard says."""
    w = np.zeros((192, 13))
    w[5, -1], w[40, 0] = 2.6, -1.3
    g = valence_gradient(_LinearSession(w), np.zeros((192, 13)))
    assert g.ravel()[5] == pytest.approx(2.6 / 13, rel=1e-6) and g.ravel()[40] == pytest.approx(-1.3 / 13, rel=1e-6)
    assert np.count_nonzero(g) == 2


class _KinkSession(_LinearSession):
    """valence = sum over frames of 2 max(x0, 0) + max(-x1, 0): the gradient depends on the state, as a PReLU
    network's does (feature 0 counts only when positive, feature 1 only when negative)."""

    def __init__(self):
        super().__init__(np.zeros((192, 13)))

    def run(self, outputs, feed):
        x = feed["frames"].astype(np.float64)
        valence = (2 * np.maximum(x[:, 0], 0) + np.maximum(-x[:, 1], 0)).sum(axis=1)
        return [np.stack([valence, np.zeros_like(valence)], axis=1)]


def test_the_three_kinds_by_hand():
    up, down = np.zeros((192, 13)), np.zeros((192, 13))
    up[0], up[1] = 1.0, 1.0  # valence 2 * 13 = 26; d/dx0 = 2 per frame, d/dx1 = 0
    down[0], down[1] = -1.0, -1.0  # valence 13; d/dx0 = 0, d/dx1 = -1 per frame
    maps = {}
    for kind in ("prm", "mean_gradient", "gradient_x_input"):
        tracker = SaliencyTracker(_KinkSession(), every=1, average=2, kind=kind, mode="signed")
        tracker.update(up)
        maps[kind] = tracker.update(down).ravel()
    # the peak response (26, in the first state) was driven by feature 0 alone
    assert maps["prm"][0] == 1.0 and maps["prm"][1] == 0.0
    # the mean of the two gradients: (2 + 0) / 2 = 1 for feature 0, (0 - 1) / 2 = -0.5 for feature 1
    assert maps["mean_gradient"][0] == pytest.approx(1.0) and maps["mean_gradient"][1] == pytest.approx(-0.5)
    # gradient x input: 2 * 1 = 2 and 0 in the first state, 0 and (-1) * (-1) = 1 in the second; mean 1 and 0.5
    assert maps["gradient_x_input"][0] == pytest.approx(1.0) and maps["gradient_x_input"][1] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="saliency kind"):
        SaliencyTracker(_KinkSession(), kind="cam")


def test_the_pipeline_computes_the_configured_kind():
    from affectstream.core.montage import MONTAGE_32
    from affectstream.pipelines.config import PipelineConfig
    from affectstream.pipelines.engine import AffectPipeline, EEGStreamSpec

    spec = EEGStreamSpec(sfreq=256.0, n_channels=32, labels=MONTAGE_32, synthetic=True)
    assert AffectPipeline(spec, PipelineConfig(saliency_every_hops=4)).saliency.kind == "gradient_x_input"
    pipe = AffectPipeline(spec, PipelineConfig(saliency_every_hops=4, saliency_kind="prm"))
    assert pipe.saliency.kind == "prm"


def test_an_all_zero_map_is_not_drawn():
    tracker = SaliencyTracker(_KinkSession(), every=1, kind="gradient_x_input")
    assert tracker.update(np.zeros((192, 13))) is None and tracker.latest is None  # zero input: nothing moves valence
