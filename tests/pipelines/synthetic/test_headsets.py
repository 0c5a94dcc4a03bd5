"""Simulated sessions rendered to headset layouts (pipelines/synthetic/headsets.py; SYNTHETIC data)."""

from __future__ import annotations

import numpy as np
import pytest

from affectstream.core.electrodes import head_origin, position
from affectstream.core.interpolation import InterpolationError
from affectstream.core.montage import MONTAGE_32
from affectstream.core.montage_presets import PRESETS
from affectstream.pipelines.synthetic.headsets import AUX_NOISE_UV, layout_weights, render_layout, render_preset

MUSE_SITES = ("TP9", "AF7", "AF8", "TP10")


def _smooth_field(label: str) -> float:
    """A smooth potential on the head: low-order in the direction of ``label`` from the splines' origin."""
    p = position(label) - np.asarray(head_origin())
    p = p / np.linalg.norm(p)
    return float(p[0] + 0.5 * p[1] + 0.3 * p[2] + 0.4 * p[0] * p[1])


@pytest.mark.parametrize("name", ["emotiv-epoc", "emotiv-insight", "openbci-cyton", "openbci-cyton-daisy",
                                  "10-10-32"])
def test_montage_labels_are_copied_exactly(name):
    eeg = np.random.default_rng(1).normal(0, 20, size=(500, 32)).astype(np.float32)
    labels, data = render_preset(eeg, name)
    assert labels == PRESETS[name].labels and data.shape == (500, len(labels)) and data.dtype == np.float32
    for j, label in enumerate(labels):
        np.testing.assert_array_equal(data[:, j], eeg[:, MONTAGE_32.index(label)])


def test_muse_sites_are_interpolated_from_the_montage_better_than_the_nearest_channel():
    eeg = np.array([[_smooth_field(m) for m in MONTAGE_32]])
    labels, data = render_preset(eeg, "muse")
    assert labels == MUSE_SITES + ("Right AUX",)
    for j, site in enumerate(MUSE_SITES):
        nearest = min(MONTAGE_32, key=lambda m: np.linalg.norm(position(m) - position(site)))
        error = abs(data[0, j] - _smooth_field(site))
        assert error < abs(_smooth_field(nearest) - _smooth_field(site)), site
    assert abs(data[0, 1] - _smooth_field("AF7")) < 0.05 and abs(data[0, 2] - _smooth_field("AF8")) < 0.05
    weights = layout_weights(labels)
    assert (weights[:4] != 0).sum(axis=1).min() > 1  # blends, not copies: the simulator has no sources there
    assert not weights[4].any()


def test_the_aux_channel_is_present_small_seeded_noise():
    eeg = np.random.default_rng(2).normal(0, 30, size=(20000, 32))
    _, data = render_preset(eeg, "muse", seed=5)
    aux = data[:, 4]
    assert abs(aux.std() - AUX_NOISE_UV) < 0.1 * AUX_NOISE_UV and abs(aux.mean()) < 0.1
    assert abs(np.corrcoef(aux, eeg[:, 0])[0, 1]) < 0.05  # independent of the EEG
    np.testing.assert_array_equal(render_preset(eeg, "muse", seed=5)[1], data)
    assert not np.array_equal(render_preset(eeg, "muse", seed=6)[1][:, 4], aux)
    np.testing.assert_array_equal(render_preset(eeg, "muse", seed=6)[1][:, :4], data[:, :4])


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="n_samples, 32"):
        render_layout(np.zeros((10, 8)), ("Fp1",))
    with pytest.raises(InterpolationError, match="not a standard 10-05"):
        render_layout(np.zeros((10, 32)), ("Fp1", "XYZ9"))
