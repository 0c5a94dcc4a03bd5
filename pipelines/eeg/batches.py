"""Views and runs for computing many hops at once: the windows of a span without copies, and the stretches of hops
that share one mask (good channels or electrodes), over which a per-hop step can be done as one array operation
whose numbers are, to the bit, the ones of a hop at a time."""

from __future__ import annotations

import numpy as np


def window_view(x: np.ndarray, n: int, step: int, k: int) -> np.ndarray:
    """Read-only view (k, ..., n) of the ``k`` windows of ``n`` samples, ``step`` apart, along the last axis of ``x``
    (``np.lib.stride_tricks.sliding_window_view`` took three times as long, once per live hop)."""
    return np.lib.stride_tricks.as_strided(x, shape=(k, *x.shape[:-1], n), strides=(step * x.strides[-1], *x.strides),
                                           writeable=False)


def runs(masks: np.ndarray) -> list[tuple[int, int]]:
    """``(i, j)`` for each run of equal consecutive rows ``masks[i:j]`` of a (k, E) array, in order."""
    bounds = [0, *(np.flatnonzero((masks[1:] != masks[:-1]).any(axis=1)) + 1).tolist(), len(masks)]
    return list(zip(bounds[:-1], bounds[1:]))
