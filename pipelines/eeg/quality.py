"""Per-channel signal quality of one EEG window.

Quality gates everything downstream: a channel that is missing, non-finite, flat, railed or noisy is excluded from
re-referencing and from the estimators, and the fraction of usable channels becomes the EEG modality's quality in
the fusion step. The tests that matter are cheap (variance and extreme values of a window already in memory).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from affectstream.pipelines.config import QualityConfig
from affectstream.pipelines.eeg.batches import window_view

#: Reasons a channel can be excluded, in the order they are checked.
FLAGS: tuple[str, ...] = ("missing", "nonfinite", "flat", "railed", "noisy")
_REASONS: tuple[str, ...] = ("",) + FLAGS
_CODES = {flag: code for code, flag in enumerate(_REASONS)}  #: 0 (good), then 1 + the index in FLAGS


@dataclass(frozen=True)
class ChannelQuality:
    """Quality of each montage channel in one window.

    Attributes
    ----------
    good : ndarray of bool, shape (n_channels,)
        Channels usable by the estimators.
    reason : tuple of str
        ``""`` for a good channel, else the first failing check in :data:`FLAGS`.
    """

    good: np.ndarray
    reason: tuple[str, ...]

    @property
    def fraction_good(self) -> float:
        return float(self.good.mean()) if self.good.size else 0.0

    def bad_channels(self, labels: tuple[str, ...]) -> dict[str, str]:
        return {lab: r for lab, r in zip(labels, self.reason) if r}


def assess_many(windows: np.ndarray, present: np.ndarray, config: QualityConfig = QualityConfig()
                ) -> list[ChannelQuality]:
    """Check a batch of windows (k, n_channels, n_times) in µV, in one pass of array operations; ``present`` marks
    the channels the input provides."""
    k, n_channels, n = windows.shape
    codes = assess_span(np.swapaxes(windows, 0, 1).reshape(n_channels, k * n), n, n, k, present, config)
    known: dict[bytes, tuple[str, ...]] = {}  # a stream repeats a few rows of reasons: one tuple per distinct row
    out = []
    for row in codes:
        key = row.tobytes()
        if key not in known:
            known[key] = reasons(row)
        out.append(ChannelQuality(row == 0, known[key]))
    return out


def assess_span(signal: np.ndarray, n: int, step: int, k: int, present: np.ndarray,
                config: QualityConfig = QualityConfig()) -> np.ndarray:
    """Reason codes (k, n_channels) of the ``k`` windows of ``n`` samples, ``step`` apart, along the last axis of
    ``signal`` (n_channels, n_times) in µV: 0 for a good channel, else 1 + the index in :data:`FLAGS` of its first
    failing check (:func:`reasons` names them).

    Overlapping windows share their samples, so every sample is visited a few times, not ``n / step`` times: what
    can be counted (non-finite and railed samples) is counted once along the signal and differenced per window, and
    the flat and noisy checks read each window's variance off sums over blocks of samples (:func:`_spread`).
    """
    codes = np.zeros((k, signal.shape[0]), dtype=np.int64)
    if k == 0:
        return codes
    lo, hi = (signal.min(), signal.max()) if signal.size else (0.0, 0.0)
    every_finite = math.isfinite(lo) and math.isfinite(hi)  # a NaN or an infinity anywhere shows in the extremes
    finite = None if every_finite else np.isfinite(signal)
    safe = signal if every_finite else np.where(finite, signal, 0.0)
    flat, noisy = _spread(safe, n, step, k, config)
    if every_finite and max(-lo, hi) < config.rail_uv:  # no sample railed: every count is 0, as codes are yet
        railed = codes / n >= config.rail_fraction
    else:
        railed = _window_counts(np.abs(safe) >= config.rail_uv, n, step, k) / n >= config.rail_fraction
    # The first failing check in the order of FLAGS names the channel: written from the last check to the first.
    codes[noisy] = _CODES["noisy"]
    codes[railed] = _CODES["railed"]
    codes[flat] = _CODES["flat"]
    if not every_finite:
        codes[(_window_counts(~finite, n, step, k) > 0) & present] = _CODES["nonfinite"]
    codes[:, ~present] = _CODES["missing"]
    return codes


def _spread(x: np.ndarray, n: int, step: int, k: int, config: QualityConfig) -> tuple[np.ndarray, np.ndarray]:
    """Flat (``std < flat_std_uv``) and noisy (``std > noisy_std_uv``), each (k, rows), of the windows of the
    finite ``x`` (rows, samples), exactly as each window's ``np.std`` decides them.

    A window's variance is taken from the sums of ``x - offset`` and of its square over blocks of ``gcd(n, step)``
    samples, which the windows share: each sample enters two sums instead of ``n / step`` two-pass standard
    deviations (which were most of the checks' time in a replay). These sums round differently from numpy's, by
    less than 1e-12 of the window's mean square about the offset even if every term were rounded along a whole
    block sum and the window's sum of blocks; a window within 1e-9 of that (and 1e-12 relative) of a threshold is
    one where the difference could decide, and there ``np.std`` of the window itself decides. The offset (each
    row's first sample) keeps a large DC level out of that bound.
    """
    block = math.gcd(n, step) if k > 1 else n  # one window shares nothing: one block
    per, stride = n // block, max(1, step // block)  # blocks per window, blocks between windows
    blocks, last = ((k - 1) * step + n) // block, (k - 1) * stride + 1
    centred = x[:, :blocks * block] - x[:, :1]
    sums = []
    parts = centred.reshape(len(x), blocks, block)
    for each in (np.einsum("rbs->rb", parts), np.einsum("rbs,rbs->rb", parts, parts)):  # no temporary square
        total = each[:, :last:stride].copy()
        for j in range(1, per):
            total += each[:, j:j + last:stride]
        sums.append(total.T / n)
    mean, square = sums
    var = square - mean * mean
    margin = 1e-9 * square
    decided = []
    for limit, below in ((config.flat_std_uv, True), (config.noisy_std_uv, False)):
        level = limit * limit
        under, over = var + margin < level * (1 - 1e-12), var - margin > level * (1 + 1e-12)
        decided.append(under if below else over)
        unsure = np.nonzero(~(under | over))
        if len(unsure[0]):
            std = window_view(x, n, step, k)[unsure].std(axis=-1)
            decided[-1][unsure] = std < limit if below else std > limit
    return decided[0], decided[1]


def reasons(codes: np.ndarray) -> tuple[str, ...]:
    """The reason of each channel (``""`` for a good one) from one row of :func:`assess_span`'s codes."""
    return tuple(_REASONS[i] for i in codes.tolist())


def _window_counts(mask: np.ndarray, n: int, step: int, k: int) -> np.ndarray:
    """True entries (k, rows) of ``mask`` (rows, samples) in each window, from one running count along the rows."""
    total = np.zeros((mask.shape[0], mask.shape[1] + 1), dtype=np.int64)
    np.cumsum(mask, axis=1, out=total[:, 1:])
    starts = np.arange(k) * step
    return (total[:, starts + n] - total[:, starts]).T
