"""Window-wise preprocessing: average re-reference over good channels and an optional zero-phase band-pass.

Both act on one analysis window at a time, so they are deterministic functions of the window and a replay gives
exactly the live numbers. Bad channels are left out of the average (one railed electrode would otherwise
contaminate every other channel) and come back as NaN so nothing downstream mistakes them for data.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.signal


def average_reference(window: np.ndarray, good: np.ndarray) -> np.ndarray:
    """Subtract the mean of the good channels from every good channel; bad channels become NaN.

    Works on one window (n_channels, n_times) with ``good`` (n_channels,) or a batch (k, n_channels, n_times) with
    ``good`` (k, n_channels).
    """
    mask = good[..., None]
    count = good.sum(axis=-1)[..., None, None] if good.ndim > 1 else good.sum()
    ref = np.where(mask, window, 0.0).sum(axis=-2, keepdims=True) / np.maximum(count, 1)
    return np.where(mask, window - ref, np.nan)


@lru_cache(maxsize=16)
def _bandpass_sos(low: float, high: float, sfreq: float) -> np.ndarray:
    return scipy.signal.butter(4, [low, high], btype="bandpass", fs=sfreq, output="sos")


def bandpass(window: np.ndarray, good: np.ndarray, band: tuple[float, float], sfreq: float) -> np.ndarray:
    """Zero-phase 4th-order Butterworth band-pass of the good channels (bad channels stay NaN); one window or a
    batch, as :func:`average_reference`."""
    low, high = band
    if not 0 < low < high < sfreq / 2:
        raise ValueError(f"band-pass {low}-{high} Hz is not inside (0, {sfreq / 2}) Hz")
    mask = good[..., None]
    filtered = scipy.signal.sosfiltfilt(_bandpass_sos(low, high, sfreq), np.where(mask, window, 0.0), axis=-1)
    return np.where(mask, filtered, np.nan)
