"""The hidden processes of a simulated session on the control grid: the valence/arousal trajectory and the
band-power state noise (SYNTHETIC data; model items 2-3 in :mod:`affectstream.pipelines.synthetic.simulator`).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.signal

from affectstream.core.montage import MONTAGE_32
from affectstream.pipelines.synthetic.schedule import TrialSchedule
from affectstream.pipelines.synthetic.sim_config import TAG_STATE, TAG_TRAJ, SimulatorConfig, component_rng
from affectstream.pipelines.synthetic.subject import RHYTHM_BANDS, SubjectParams

_WANDER_TAU_S = 8.0      # OU correlation time of the mood wander
_STATE_TAU_S = 3.0       # OU correlation time of the band-power state noise


class _GrowingArray:
    """An append-only array along axis 0 with amortised O(1) growth."""

    def __init__(self, tail_shape: tuple[int, ...]) -> None:
        self._data = np.empty((1024, *tail_shape))
        self.n = 0

    def append(self, x: np.ndarray) -> None:
        while self.n + len(x) > len(self._data):
            self._data = np.concatenate([self._data, np.empty_like(self._data)])
        self._data[self.n:self.n + len(x)] = x
        self.n += len(x)

    @property
    def values(self) -> np.ndarray:
        return self._data[: self.n]


class Trajectory:
    """Hidden (valence, arousal) on the control grid, extended on demand and kept for the whole session."""

    def __init__(self, config: SimulatorConfig, params: SubjectParams, schedule: TrialSchedule) -> None:
        self.rate = config.truth_rate
        dt = 1.0 / self.rate
        self._schedule = schedule
        self._alpha = math.exp(-dt / params.lag_tau_s)
        self._rho = math.exp(-dt / _WANDER_TAU_S)
        self._sd = params.wander_sd
        self._rng = component_rng(config, TAG_TRAJ)
        self._lag_zi = np.zeros((1, 2))
        self._ou_zi = self._rho * self._sd * self._rng.standard_normal((1, 2))  # stationary start
        self._va = _GrowingArray((2,))

    def ensure(self, n: int) -> None:
        """Make grid points ``0 .. n-1`` available."""
        m = n - self._va.n
        if m <= 0:
            return
        m = max(m, 256)
        t = (self._va.n + np.arange(m)) / self.rate
        target = self._schedule.targets(t)
        lag, self._lag_zi = scipy.signal.lfilter([1 - self._alpha], [1, -self._alpha], target, axis=0,
                                                 zi=self._lag_zi)
        eps = self._rng.standard_normal((m, 2))
        ou, self._ou_zi = scipy.signal.lfilter([self._sd * math.sqrt(1 - self._rho ** 2)], [1, -self._rho], eps,
                                               axis=0, zi=self._ou_zi)
        self._va.append(np.clip(lag + ou, -1.0, 1.0))

    def grid(self, k_lo: int, k_hi: int) -> np.ndarray:
        """Grid points ``k_lo .. k_hi`` inclusive, shape (k_hi - k_lo + 1, 2)."""
        self.ensure(k_hi + 1)
        return self._va.values[k_lo: k_hi + 1]

    def at(self, t: np.ndarray) -> np.ndarray:
        """Linear interpolation of the grid at times ``t`` (clamped at 0), shape (len(t), 2)."""
        u = np.maximum(np.asarray(t, dtype=np.float64), 0.0) * self.rate
        k = np.floor(u).astype(np.int64)
        if not k.size:
            return np.empty((0, 2))
        va = self.grid(0, int(k.max()) + 1)
        frac = (u - k)[:, None]
        return va[k] * (1 - frac) + va[k + 1] * frac


class StateNoise:
    """Band-power state noise s[b, c] on the control grid; only a sliding window is kept (EEG reads forward)."""

    def __init__(self, config: SimulatorConfig, params: SubjectParams) -> None:
        self._rho = math.exp(-1.0 / (config.truth_rate * _STATE_TAU_S))
        self._sd = params.state_noise_sd
        self._rng = component_rng(config, TAG_STATE)
        n_b, n_c = len(RHYTHM_BANDS), len(MONTAGE_32)
        self._shape = (n_b, n_c + 1)       # column n_c is the band-wide process u_b
        self._zi = self._rng.standard_normal((1, *self._shape)) * self._rho
        self._k0 = 0
        self._buf = np.empty((0, n_b, n_c))

    def window(self, k_lo: int, k_hi: int) -> np.ndarray:
        """Grid points ``k_lo .. k_hi`` inclusive, shape (k_hi - k_lo + 1, 5, 32); ``k_lo`` never decreases."""
        need = k_hi + 1 - (self._k0 + len(self._buf))
        if need > 0:
            m = max(need, 64)
            eps = self._rng.standard_normal((m, *self._shape)) * math.sqrt(1 - self._rho ** 2)
            z, self._zi = scipy.signal.lfilter([1.0], [1, -self._rho], eps, axis=0, zi=self._zi)
            s = self._sd * math.sqrt(0.5) * (z[:, :, :-1] + z[:, :, -1:])
            self._buf = np.concatenate([self._buf, s])
        drop = k_lo - self._k0
        if drop > 0:
            self._buf = self._buf[drop:]
            self._k0 = k_lo
        return self._buf[k_lo - self._k0: k_hi + 1 - self._k0]
