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
from affectstream.pipelines.eeg.batches import runs
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

    def raw_indices(self, log_power: np.ndarray, good: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """FAA, beta/alpha index and fraction of usable frontal pairs, each (k,), of k windows: ``log_power``
        (k, 6, 32), ``good`` (k, 32). NaN where not computable (no usable pair, no usable channel)."""
        pair_ok = good[:, self._pairs].all(axis=2)
        alpha = log_power[:, self._alpha]
        faa = _masked_means(alpha[:, self._pairs[:, 0]] - alpha[:, self._pairs[:, 1]], pair_ok) * _LN10
        # NaN (excluded) channels raise no warning here, and their columns are not in the mean
        ratio = _masked_means(np.log10(np.sum(10.0 ** log_power[:, self._beta], axis=1)) - alpha, good) * _LN10
        return faa, ratio, pair_ok.mean(axis=1)

    def step_many(self, log_power: np.ndarray, good: np.ndarray) -> list[ModalityEstimate]:
        """Estimates for k consecutive hops, (k, 6, 32) and (k, 32). A hop without usable channels returns NaN and
        leaves the running state untouched. The raw indices come for all hops at once; only the running statistics
        and the smoothing, a few scalar operations, advance hop by hop."""
        faa, ratio, pair_fraction = self.raw_indices(log_power, good)
        estimates = []
        for v, a, p, g in zip(faa.tolist(), ratio.tolist(), pair_fraction.tolist(), good.mean(axis=1).tolist()):
            estimates.append(self._step(v, a, p, g) if math.isfinite(v) and math.isfinite(a)
                             else ModalityEstimate(source=self.name))
        return estimates

    def _step(self, faa: float, ratio: float, pair_fraction: float, good_fraction: float) -> ModalityEstimate:
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
            confidence=warm * pair_fraction * good_fraction,
            source=self.name,
        )


def _masked_means(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of each row of ``values`` (k, n) over its ``mask``ed entries; NaN for a row with none.

    Rows are taken in runs with one mask and the entries gathered, so every mean adds the same numbers in the same
    order as ``np.mean`` of one window's usable entries: zeros in place of the others would regroup numpy's sums.
    """
    out = np.full(len(values), np.nan)
    for i, j in runs(mask):
        if mask[i].any():
            out[i:j] = np.ascontiguousarray(values[i:j, mask[i]]).mean(axis=1)
    return out
