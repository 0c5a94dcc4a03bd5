"""The Welch band-power extractor against scipy, on known sinusoids, and its error handling."""

import numpy as np
import pytest
import scipy.integrate
import scipy.signal

from affectstream.core.bandpower import BAND_EDGES, BAND_NAMES, WelchBandPower, WelchConfig, reference_band_power


def _plain_scipy(x, cfg):
    """Independent of the module: welch, then Simpson over inclusive band bins."""
    f, p = scipy.signal.welch(x.astype(np.float64), fs=cfg.sfreq, nperseg=int(cfg.sfreq))
    return np.stack([scipy.integrate.simpson(p[..., (f >= lo) & (f <= hi)], x=f[(f >= lo) & (f <= hi)], axis=-1)
                     for lo, hi in BAND_EDGES], axis=-2)


@pytest.mark.parametrize("sfreq", [128.0, 256.0, 500.0])
@pytest.mark.parametrize("kind", ["absolute", "relative", "log"])
def test_matches_scipy_welch_to_1e5(sfreq, kind):
    rng = np.random.default_rng(1)
    cfg = WelchConfig(sfreq=sfreq, kind=kind)
    x = (np.cumsum(rng.standard_normal((4, 32, cfg.n_window)), axis=-1) + rng.uniform(-5e3, 5e3, (4, 32, 1)))
    x = x.astype(np.float32)
    absolute = _plain_scipy(x, cfg)
    expected = {"absolute": absolute, "log": np.log10(absolute),
                "relative": absolute / scipy.integrate.simpson(
                    scipy.signal.welch(x.astype(np.float64), fs=sfreq, nperseg=int(sfreq))[1],
                    x=scipy.signal.welch(x.astype(np.float64), fs=sfreq, nperseg=int(sfreq))[0], axis=-1)[:, None]}
    got = WelchBandPower(cfg)(x)
    if kind == "log":  # compare powers, not logs (log values near 0 make relative errors meaningless)
        np.testing.assert_allclose(10**got, 10 ** expected[kind], rtol=1e-5)
    else:
        np.testing.assert_allclose(got, expected[kind], rtol=1e-5)
    np.testing.assert_allclose(WelchBandPower(cfg)(x[0]), got[0], rtol=1e-6)  # one window == batch row


@pytest.mark.parametrize("freq, band", [(2.0, "delta"), (6.0, "theta"), (10.0, "alpha"), (15.0, "beta1"),
                                        (24.0, "beta2"), (38.0, "gamma")])
def test_sinusoid_power_lands_in_its_band(freq, band):
    cfg = WelchConfig(sfreq=256.0, kind="absolute")
    t = np.arange(cfg.n_window) / cfg.sfreq
    amplitude = 10.0
    x = np.tile(amplitude * np.sin(2 * np.pi * freq * t), (32, 1))
    power = WelchBandPower(cfg)(x)  # (6, 32)
    b = BAND_NAMES.index(band)
    assert np.all(np.argmax(power, axis=0) == b)
    # A sinusoid of amplitude A carries A^2 / 2 of power. Simpson's rule weights the bins under the Hann main lobe
    # unevenly (1/3, 4/3, 2/3, ...), so a pure tone comes out within ~12 % of it, depending on its bin.
    np.testing.assert_allclose(power[b], amplitude**2 / 2, rtol=0.15)
    others = np.delete(power, b, axis=0)
    assert others.max() < 0.01 * power[b].min()


def test_nonfinite_channel_stays_local():
    cfg = WelchConfig()
    x = np.random.default_rng(0).standard_normal((32, cfg.n_window))
    x[3, 100] = np.nan
    out = WelchBandPower(cfg)(x)
    assert np.isnan(out[:, 3]).all()
    assert np.isfinite(np.delete(out, 3, axis=1)).all()


def test_flat_channel_gives_finite_log_floor():
    cfg = WelchConfig(kind="log")
    x = np.zeros((32, cfg.n_window))
    out = WelchBandPower(cfg)(x)
    assert np.isfinite(out).all() and out.max() < -10


def test_reference_implementation_agrees():
    cfg = WelchConfig(kind="absolute")
    x = np.random.default_rng(3).standard_normal((32, cfg.n_window))
    np.testing.assert_allclose(reference_band_power(x, cfg), _plain_scipy(x, cfg), rtol=1e-12)


@pytest.mark.parametrize("kwargs, message", [
    (dict(sfreq=0.0), "positive"),
    (dict(sfreq=64.0), "gamma band"),
    (dict(window_s=0.5), "too short"),
])
def test_bad_configs_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WelchBandPower(WelchConfig(**kwargs))


def test_wrong_window_length_is_refused():
    with pytest.raises(ValueError, match="512 samples"):
        WelchBandPower()(np.zeros((32, 100)))
