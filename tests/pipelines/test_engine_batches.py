"""The path ``affectstream bench`` times for replay: hops computed many at a time (one span per run of hops with the
same good electrodes) give bit for bit what a live run computes one hop at a time, on streams whose good electrodes
change inside a batch, on a headset that needs interpolation, with the optional band-pass and with the EEG student."""

import numpy as np
import pytest

from affectstream.core.montage import MONTAGE_32
from affectstream.pipelines.config import PipelineConfig
from affectstream.pipelines.engine import AffectPipeline, EEGStreamSpec
from affectstream.pipelines.synthetic.sim_config import SimulatorConfig
from affectstream.pipelines.synthetic.simulator import simulate

SUBSET = tuple(lab for lab in MONTAGE_32 if lab not in ("F3", "F4", "Oz", "Cz"))  # four channels interpolated


@pytest.fixture(scope="module")
def faulty_eeg():
    """20 s of SYNTHETIC EEG with a non-finite burst, a flat stretch and a railed one (masks change mid-batch)."""
    sim = simulate(SimulatorConfig(seed=5), 20.0)
    x = sim.eeg.astype(np.float32)
    x[1500:1510, MONTAGE_32.index("FC5")] = np.nan
    x[2000:2600, MONTAGE_32.index("P3")] = 0.0
    x[3300:3500, MONTAGE_32.index("O1")] = 5000.0
    return x, sim.times


def _hops(labels, x, times, config, chunk):
    spec = EEGStreamSpec(sfreq=256.0, n_channels=len(labels), labels=labels, name="test", synthetic=True)
    pipe = AffectPipeline(spec, config)
    cols = [MONTAGE_32.index(lab) for lab in labels]
    out = []
    for i in range(0, len(x), chunk):
        out += pipe.push_eeg(x[i:i + chunk, cols], times[i:i + chunk])
    return out


@pytest.mark.parametrize("labels, config", [
    (tuple(MONTAGE_32), PipelineConfig(eeg_estimator="baseline")),
    (SUBSET, PipelineConfig(eeg_estimator="baseline")),
    (SUBSET, PipelineConfig(eeg_estimator="baseline", bandpass=(1.0, 40.0))),
    (tuple(MONTAGE_32), PipelineConfig(eeg_estimator="baseline", reference="none")),
    (SUBSET, PipelineConfig(eeg_estimator="auto")),  # the bundled student where there is one
])
def test_batched_hops_equal_hop_by_hop(faulty_eeg, labels, config):
    x, times = faulty_eeg
    one = _hops(labels, x, times, config, 64)  # one hop per push, as live
    many = _hops(labels, x, times, config, len(x))  # the replay's batches
    assert len(one) == len(many) == 73
    assert len({tuple(h.good) + tuple(h.measured) for h in many}) > 2  # the good channels did change
    for a, b in zip(one, many):
        np.testing.assert_array_equal(a.features, b.features)
        np.testing.assert_array_equal(a.good, b.good)
        np.testing.assert_array_equal(a.measured, b.measured)
        assert (a.t, a.bad_channels, a.quality_eeg, a.status) == (b.t, b.bad_channels, b.quality_eeg, b.status)
        assert np.array_equal([a.valence, a.arousal, a.confidence], [b.valence, b.arousal, b.confidence],
                              equal_nan=True)
