"""The one way ``affectstream bench`` times a call: a median over repetitions, after a warm-up.

Medians, because these 2-core machines are shared and noisy: one slow repetition (another process, a garbage
collection) moves a mean but not a median.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np


def median_ms(fn: Callable[[], object], repeats: int, warmup: int = 20, max_s: float = math.inf) -> float:
    """Median milliseconds of ``fn()`` over ``repeats`` calls after ``warmup`` untimed ones.

    ``max_s`` stops the timed calls early once that many seconds went by (at least three are timed), for calls
    slow enough that ``repeats`` of them would hold the whole bench up. An exception from ``fn`` propagates: wrap
    a call that is meant to raise.
    """
    for _ in range(warmup):
        fn()
    times = []
    started = time.perf_counter()
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 3 and time.perf_counter() - started > max_s:
            break
    return float(np.median(times) * 1e3)
