"""Per-channel signal quality of one EEG window.

Quality gates everything downstream: a channel that is missing, non-finite, flat, railed or noisy is excluded from
re-referencing and from the estimators, and the fraction of usable channels becomes the EEG modality's quality in
the fusion step. The tests that matter are cheap (variance and extreme values of a window already in memory).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from affectstream.pipelines.config import QualityConfig

#: Reasons a channel can be excluded, in the order they are checked.
FLAGS: tuple[str, ...] = ("missing", "nonfinite", "flat", "railed", "noisy")
_REASONS: tuple[str, ...] = ("",) + FLAGS


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
    finite = np.isfinite(windows)
    safe = np.where(finite, windows, 0.0)
    std = safe.std(axis=-1)
    railed = (np.abs(safe) >= config.rail_uv).mean(axis=-1) >= config.rail_fraction
    checks = [
        np.broadcast_to(~present, std.shape),
        present & ~finite.all(axis=-1),
        std < config.flat_std_uv,
        railed,
        std > config.noisy_std_uv,
    ]
    # np.select takes the first true check per channel, i.e. the order of FLAGS; 0 means none failed.
    first = np.select(checks, np.arange(1, len(FLAGS) + 1), default=0)
    return [ChannelQuality(row == 0, tuple(_REASONS[i] for i in row)) for row in first]
