"""The pipeline on in-memory chunks: shapes, non-finite data, missing channels, counters, determinism."""

import math

import numpy as np
import pytest

from affectstream.pipelines.engine import COUNTER_LABEL, AffectPipeline, EEGStreamSpec, StreamFormatError
from affectstream.core.montage import MONTAGE_32

SFREQ = 256.0


def _spec(labels=tuple(MONTAGE_32) + (COUNTER_LABEL,), sfreq=SFREQ, n=None):
    return EEGStreamSpec(sfreq=sfreq, n_channels=n if n is not None else len(labels), labels=labels, name="test")


def _data(seconds=12.0, n_channels=33, seed=0):
    rng = np.random.default_rng(seed)
    n = int(seconds * SFREQ)
    x = rng.standard_normal((n, n_channels)).astype(np.float32) * 10
    x[:, -1] = np.arange(n)
    return x, np.arange(n) / SFREQ


def _run(pipe, x, ts, chunk):
    out = []
    for i in range(0, len(x), chunk):
        out += pipe.push_eeg(x[i:i + chunk], ts[i:i + chunk])
    return out


def test_one_result_per_hop_stamped_with_window_end():
    x, ts = _data(10.0)
    res = _run(AffectPipeline(_spec()), x, ts, 32)
    assert len(res) == 1 + (len(x) - 512) // 64
    assert res[0].t == ts[511] and math.isclose(res[1].t - res[0].t, 0.25)
    assert all(r.features.shape == (6, 32) for r in res)
    assert all(math.isfinite(r.valence) for r in res[1:])


def test_outputs_do_not_depend_on_chunking():
    x, ts = _data(10.0)
    a = [r.to_json() for r in _run(AffectPipeline(_spec()), x, ts, 1)]
    b = [r.to_json() for r in _run(AffectPipeline(_spec()), x, ts, 777)]
    for ra, rb in zip(a, b, strict=True):
        ra.pop("latency_ms"), rb.pop("latency_ms")
        assert ra == rb


def test_nonfinite_samples_are_flagged_and_excluded():
    x, ts = _data(6.0)
    x[1000:1003, MONTAGE_32.index("F3")] = np.nan
    x[1100, MONTAGE_32.index("O1")] = np.inf
    pipe = AffectPipeline(_spec())
    res = _run(pipe, x, ts, 64)
    hit = [r for r in res if ts[1000] <= r.t < ts[1000] + 2.0]
    assert hit and all(r.bad_channels.get("F3") == "nonfinite" for r in hit)
    f3 = MONTAGE_32.index("F3")  # not measured in those windows: interpolated from the good electrodes instead
    assert all(not r.measured[f3] and r.good[f3] and np.isfinite(r.features[:, f3]).all() for r in hit)
    for r in res:  # the estimate itself never becomes NaN/inf because of one channel
        assert all(math.isfinite(v) for v in (r.valence, r.arousal)) or r is res[0]
        assert np.isfinite(r.features[:, r.good]).all()
    assert pipe.stats.nonfinite_samples == 4


def test_missing_channels_are_interpolated_and_reported():
    labels = tuple(lab for lab in MONTAGE_32 if lab not in ("F3", "F4")) + (COUNTER_LABEL,)
    x, ts = _data(4.0, n_channels=len(labels))
    res = _run(AffectPipeline(_spec(labels)), x, ts, 64)
    assert res[-1].bad_channels == {"F3": "interpolated", "F4": "interpolated"}
    assert math.isclose(res[-1].quality_eeg, 30 / 32)  # what is measured, not what is estimated
    assert res[-1].good.all() and res[-1].measured.sum() == 30 and np.isfinite(res[-1].features).all()


def test_flat_and_railed_channels():
    x, ts = _data(4.0)
    x[:, MONTAGE_32.index("Cz")] = 5.0
    x[:, MONTAGE_32.index("Pz")] = 5000.0 * np.sign(np.sin(np.arange(len(x))))
    res = _run(AffectPipeline(_spec()), x, ts, 64)
    assert res[-1].bad_channels == {"Cz": "flat", "Pz": "railed"}


def test_all_channels_bad_gives_nan_with_status():
    x, ts = _data(4.0)
    x[:, :32] = np.nan
    res = _run(AffectPipeline(_spec()), x, ts, 64)
    assert all(math.isnan(r.valence) and r.status == "no estimate" for r in res)
    assert res[-1].to_json()["valence"] is None


def test_counter_detects_gaps_and_reordering():
    x, ts = _data(4.0)
    keep = np.ones(len(x), bool)
    keep[100:105] = False
    x2 = x[keep]
    x2[[200, 201]] = x2[[201, 200]]
    pipe = AffectPipeline(_spec())
    _run(pipe, x2, ts[keep], 50)
    assert pipe.stats.counter_gaps == 5 + 2  # the dropped block, plus the two forward jumps around the swap
    assert pipe.stats.counter_reorders == 1


def test_wrong_channel_count_in_a_chunk():
    pipe = AffectPipeline(_spec())
    with pytest.raises(StreamFormatError, match="declared 33 channels"):
        pipe.push_eeg(np.zeros((10, 8)), np.arange(10.0))


@pytest.mark.parametrize("spec, message", [
    (EEGStreamSpec(sfreq=0.0, n_channels=32), "sampling rate"),
    (EEGStreamSpec(sfreq=float("nan"), n_channels=32), "sampling rate"),
    (EEGStreamSpec(sfreq=256.0, n_channels=8), "no channel labels"),
    (EEGStreamSpec(sfreq=256.0, n_channels=0), "at least one"),
    (EEGStreamSpec(sfreq=60.0, n_channels=32), "gamma band"),
])
def test_unusable_streams_raise_clear_errors(spec, message):
    with pytest.raises(StreamFormatError, match=message):
        AffectPipeline(spec)
