"""The transparent baseline EEG estimator: frontal alpha asymmetry and the beta/alpha ratio.

It exists so the whole path runs end to end without trained students, and stays as the fallback when a student
cannot run. It is named "baseline" in every output.

* Valence: frontal alpha asymmetry, ``FAA = ln(alpha_right) - ln(alpha_left)`` averaged over the homologous frontal
  pairs Fp2/Fp1, AF4/AF3, F4/F3, F8/F7, FC6/FC5, FC2/FC1 that are both good. Alpha power is inversely related to
  cortical activity, so a larger FAA means relatively more left-frontal activity, which the approach/withdrawal
  model (Davidson) links to positive valence.
* Arousal: ``ln(beta1 + beta2) - ln(alpha)`` averaged over good channels (more fast activity and less alpha with
  higher arousal).

Both raw indices differ between people by offsets and scales far larger than their within-person changes, so each
is z-scored against a running per-subject mean and variance (expanding at first, then exponentially forgetting),
smoothed causally and squashed into (-1, 1) with ``tanh``. Confidence ramps up over the warm-up and scales with
the fraction of usable frontal pairs.
"""

from __future__ import annotations

import math

import numpy as np

from affectstream.core.bandpower import BAND_NAMES
from affectstream.pipelines.config import BaselineConfig
from affectstream.pipelines.fusion import ModalityEstimate
from affectstream.core.montage import MONTAGE_32

FRONTAL_PAIRS: tuple[tuple[str, str], ...] = (
    ("Fp2", "Fp1"), ("AF4", "AF3"), ("F4", "F3"), ("F8", "F7"), ("FC6", "FC5"), ("FC2", "FC1"),
)

_LN10 = math.log(10.0)


class RunningZ:
    """Running mean/variance with an expanding start and exponential forgetting after ``memory`` updates."""

    def __init__(self, memory: float) -> None:
        self.memory = max(memory, 1.0)
        self.n = 0
        self.mean = 0.0
        self.var = 0.0

    def z_then_update(self, x: float) -> float:
        """z-score of ``x`` against the statistics so far (0 until there are two values), then absorb ``x``."""
        z = (x - self.mean) / math.sqrt(self.var) if self.n >= 2 and self.var > 0 else 0.0
        self.n += 1
        rate = max(1.0 / self.n, 1.0 / self.memory)
        delta = x - self.mean
        self.mean += rate * delta
        self.var = (1 - rate) * (self.var + rate * delta * delta)
        return z


class BaselineEstimator:
    """Stateful per-hop baseline estimate from log10 band powers (6, 32) in montage order.

    Parameters
    ----------
    hop_s : float
        Hop in seconds (sets the running statistics' and smoothing's rates).
    config : BaselineConfig
        Warm-up, memory, smoothing and squashing.
    """

    name = "baseline"

    def __init__(self, hop_s: float, config: BaselineConfig = BaselineConfig()) -> None:
        self.config = config
        self.hop_s = hop_s
        index = {lab: i for i, lab in enumerate(MONTAGE_32)}
        self._pairs = np.array([(index[r], index[l]) for r, l in FRONTAL_PAIRS])
        self._alpha = BAND_NAMES.index("alpha")
        self._beta = [BAND_NAMES.index("beta1"), BAND_NAMES.index("beta2")]
        memory = config.memory_s / hop_s
        self._z_valence = RunningZ(memory)
        self._z_arousal = RunningZ(memory)
        self._smooth = 1.0 - math.exp(-hop_s / config.smoothing_s) if config.smoothing_s > 0 else 1.0
        self._state = [0.0, 0.0]
        self._n_hops = 0

    def raw_indices(self, log_power: np.ndarray, good: np.ndarray) -> tuple[float, float, float]:
        """(FAA, beta/alpha index, fraction of usable frontal pairs) for one window; NaN when not computable."""
        pair_ok = good[self._pairs].all(axis=1)
        alpha = log_power[self._alpha]
        faa = float(np.mean(alpha[self._pairs[pair_ok, 0]] - alpha[self._pairs[pair_ok, 1]]) * _LN10) \
            if pair_ok.any() else math.nan
        if good.any():
            beta = np.log10(np.sum(10.0 ** log_power[self._beta][:, good], axis=0))
            ratio = float(np.mean(beta - alpha[good]) * _LN10)
        else:
            ratio = math.nan
        return faa, ratio, float(pair_ok.mean())

    def step(self, log_power: np.ndarray, good: np.ndarray) -> ModalityEstimate:
        """Estimate for one hop. Hops without usable channels return NaN and leave the running state untouched."""
        faa, ratio, pair_fraction = self.raw_indices(log_power, good)
        if not (math.isfinite(faa) and math.isfinite(ratio)):
            return ModalityEstimate(source=self.name)
        zv = self._z_valence.z_then_update(faa)
        za = self._z_arousal.z_then_update(ratio)
        a = self._smooth
        self._state = [(1 - a) * self._state[0] + a * zv, (1 - a) * self._state[1] + a * za]
        self._n_hops += 1
        warm = min(1.0, self._n_hops * self.hop_s / self.config.warmup_s) if self.config.warmup_s > 0 else 1.0
        squash = self.config.squash
        return ModalityEstimate(
            valence=math.tanh(self._state[0] / squash),
            arousal=math.tanh(self._state[1] / squash),
            confidence=warm * pair_fraction * float(good.mean()),
            source=self.name,
        )
