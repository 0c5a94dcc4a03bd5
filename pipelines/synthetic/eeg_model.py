"""EEG synthesis of a simulated session: background, rhythms, blinks, line and sensor noise, block by block
(SYNTHETIC data; model item 4 in :mod:`affectstream.pipelines.synthetic.simulator`).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.signal

from affectstream.core.bandpower import BAND_NAMES
from affectstream.core.montage import MONTAGE_32
from affectstream.pipelines.synthetic.hidden_state import StateNoise, Trajectory
from affectstream.pipelines.synthetic.sim_config import (TAG_BG, TAG_BLINK, TAG_RHYTHM, TAG_WHITE, SimulatorConfig,
                                                         component_rng)
from affectstream.pipelines.synthetic.subject import RHYTHM_BANDS, SubjectParams, montage_geometry

#: Filter edges in Hz of the rhythms other than alpha (whose edges follow the subject's alpha peak).
_RHYTHM_EDGES: dict[str, tuple[float, float]] = {
    "theta": (4.5, 7.5), "beta1": (13.5, 17.5), "beta2": (18.5, 29.0), "gamma": (31.0, 44.0),
}
_ALPHA_HALF_WIDTH = 1.0
_ALPHA_LIMITS = (8.25, 11.5)   # the alpha rhythm stays inside the 8-12 Hz analysis band
_RHYTHM_FILTER_ORDER = 3        # Butterworth prototype order (band-pass order 6)
_PINK_F_LO = 0.3         # below this the background spectrum is flat
_PINK_PAIRS_PER_DECADE = 4


class BlinkTrain:
    """Poisson blink events (onset, amplitude, duration), generated in time order as far as needed."""

    def __init__(self, config: SimulatorConfig, params: SubjectParams) -> None:
        self._rng = component_rng(config, TAG_BLINK)
        self._mean_gap = 60.0 / params.blink_rate_per_min
        self._amp = params.blink_amplitude_uv
        self._next = self._rng.exponential(self._mean_gap)
        self._active: list[tuple[float, float, float]] = []

    def render(self, t: np.ndarray) -> np.ndarray:
        """Blink waveform at the Fp sites (µV) for the increasing sample times ``t``."""
        while self._next <= t[-1]:
            amp = self._amp * math.exp(self._rng.normal(0.0, 0.2))
            dur = self._rng.uniform(0.25, 0.4)
            self._active.append((self._next, amp, dur))
            self._next += self._rng.exponential(self._mean_gap)
        self._active = [e for e in self._active if e[0] + e[2] > t[0]]
        out = np.zeros(len(t))
        for onset, amp, dur in self._active:
            i0, i1 = np.searchsorted(t, [onset, onset + dur])
            out[i0:i1] += amp * 0.5 * (1 - np.cos(2 * np.pi * (t[i0:i1] - onset) / dur))
        return out


def pink_sos(srate: float, exponent: float) -> np.ndarray:
    """Second-order sections of a 1/f^exponent power filter, unit PSD at 10 Hz for unit-variance white input.

    Real pole-zero pairs, four per decade from 0.3 Hz: a zero placed ``exponent / 2`` of the way (in log
    frequency) from each pole to the next gives an average power slope of ``-exponent``.
    """
    f_hi = 0.45 * srate
    n = int(math.ceil(math.log10(f_hi / _PINK_F_LO) * _PINK_PAIRS_PER_DECADE))
    ratio = 10 ** (1 / _PINK_PAIRS_PER_DECADE)
    poles_hz = _PINK_F_LO * ratio ** np.arange(n)
    zeros_hz = poles_hz * ratio ** (exponent / 2)
    z = np.exp(-2 * np.pi * zeros_hz / srate)
    p = np.exp(-2 * np.pi * poles_hz / srate)
    sos = scipy.signal.zpk2sos(z, p, 1.0)
    _, h = scipy.signal.sosfreqz(sos, worN=[10.0], fs=srate)
    # One-sided PSD of unit-variance white noise at rate fs is 2 / fs.
    sos[0, :3] /= abs(h[0]) * math.sqrt(2.0 / srate)
    return sos


def _unit_variance_bandpass(lo: float, hi: float, srate: float) -> np.ndarray:
    """Butterworth band-pass SOS scaled so unit-variance white noise comes out with unit variance."""
    sos = scipy.signal.butter(_RHYTHM_FILTER_ORDER, [lo, hi], btype="bandpass", fs=srate, output="sos")
    impulse = np.zeros(int(20 * srate))
    impulse[0] = 1.0
    gain = math.sqrt(np.sum(scipy.signal.sosfilt(sos, impulse) ** 2))
    sos[0, :3] /= gain
    return sos


class EEGGenerator:
    """Stateful EEG synthesis in blocks; see the module docstring for the model."""

    def __init__(self, config: SimulatorConfig, params: SubjectParams, trajectory: Trajectory) -> None:
        self.srate = config.srate
        self._cfg = config
        self._p = params
        self._traj = trajectory
        self._state = StateNoise(config, params)
        self._blinks = BlinkTrain(config, params) if config.blinks else None
        _, self._mix, self._blink_w = montage_geometry()
        n_c = len(MONTAGE_32)
        self._bg_sos = pink_sos(self.srate, params.aperiodic_exponent)
        self._bg_zi = np.zeros((len(self._bg_sos), 2, n_c))
        self._bg_scale = np.sqrt(params.background_psd_10hz)
        edges = dict(_RHYTHM_EDGES, alpha=(max(params.alpha_peak_hz - _ALPHA_HALF_WIDTH, _ALPHA_LIMITS[0]),
                                           min(params.alpha_peak_hz + _ALPHA_HALF_WIDTH, _ALPHA_LIMITS[1])))
        self._rh_sos = [_unit_variance_bandpass(*edges[b], self.srate) for b in RHYTHM_BANDS]
        self._rh_zi = [np.zeros((len(s), 2, n_c)) for s in self._rh_sos]
        band_rows = [BAND_NAMES.index(b) for b in RHYTHM_BANDS]
        self._gv = params.valence_weights[band_rows]
        self._ga = params.arousal_weights[band_rows]
        self._line = config.line_noise and config.line_freq < self.srate / 2
        self._white_sd = math.sqrt(params.white_noise_density * self.srate / 2)
        self._rng_bg = component_rng(config, TAG_BG)
        self._rng_rh = component_rng(config, TAG_RHYTHM)
        self._rng_white = component_rng(config, TAG_WHITE)

    def block(self, i0: int, n: int) -> np.ndarray:
        """Samples ``i0 .. i0+n-1`` (must follow the previous block), float64 (n, 32) µV."""
        t = (i0 + np.arange(n)) / self.srate
        eps = self._rng_bg.standard_normal((n, len(MONTAGE_32)))
        bg, self._bg_zi = scipy.signal.sosfilt(self._bg_sos, eps, axis=0, zi=self._bg_zi)
        x = (bg @ self._mix.T) * self._bg_scale
        x += self._rhythms(t)
        if self._blinks is not None:
            x += np.outer(self._blinks.render(t), self._blink_w)
        if self._line:
            x += self._p.line_amplitude_uv * np.sin(2 * np.pi * self._cfg.line_freq * t[:, None]
                                                    + self._p.line_phase)
        x += self._white_sd * self._rng_white.standard_normal(x.shape)
        return x

    def _rhythms(self, t: np.ndarray) -> np.ndarray:
        """Sum over bands of envelope x spatially mixed unit-variance carrier."""
        rate = self._traj.rate
        u = t * rate
        k = np.floor(u).astype(np.int64)
        frac = (u - k)[:, None]
        k_lo, k_hi = int(k[0]), int(k[-1]) + 1
        grid_va = self._traj.grid(k_lo, k_hi)
        state = self._state.window(k_lo, k_hi)
        # ln power on the control grid, then linear interpolation to the samples.
        log_p = (self._p.rhythm_log_power + grid_va[:, 0, None, None] * self._gv
                 + grid_va[:, 1, None, None] * self._ga + state)
        amp_grid = np.exp(0.5 * log_p)
        j = k - k_lo
        eps = self._rng_rh.standard_normal((len(t), len(RHYTHM_BANDS), len(MONTAGE_32)))
        out = np.zeros((len(t), len(MONTAGE_32)))
        for b, sos in enumerate(self._rh_sos):
            carrier, self._rh_zi[b] = scipy.signal.sosfilt(sos, eps[:, b, :], axis=0, zi=self._rh_zi[b])
            amp = amp_grid[j, b] * (1 - frac) + amp_grid[j + 1, b] * frac
            out += (carrier @ self._mix.T) * amp
        return out
