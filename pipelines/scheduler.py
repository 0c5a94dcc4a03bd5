"""Hops driven by stream time, not by the wall clock.

A hop is due when the sample that ends its window has arrived: hop ``k`` ends at sample
``window + k * hop - 1``. The output therefore depends only on the samples and their timestamps, which is what
makes a replay at any speed give the numbers of the 1x run (docs/architecture.md: one pipeline for live and replay).

After a discontinuity (a clock jump, a stream that was lost and re-attached) :meth:`HopScheduler.restart` starts a
fresh window at the next sample, so no hop's window spans the gap.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class HopScheduler:
    """Yields the end indices (exclusive) of the windows that became complete.

    Parameters
    ----------
    window : int
        Window length in samples.
    hop : int
        Hop in samples.
    max_backlog : int | None
        When more hops than this are due at once, skip the older ones (counted in :attr:`skipped`) so live latency
        cannot grow without bound. ``None`` processes every hop (replay, offline evaluation).
    """

    window: int
    hop: int
    max_backlog: int | None = None
    next_stop: int = 0
    skipped: int = 0

    def __post_init__(self) -> None:
        if self.window <= 0 or self.hop <= 0:
            raise ValueError(f"window and hop must be positive sample counts, got {self.window} and {self.hop}")
        self.next_stop = self.next_stop or self.window

    def due(self, total: int) -> list[int]:
        """Window ends that are complete once ``total`` samples have arrived, oldest first."""
        if total < self.next_stop:
            return []
        n_due = (total - self.next_stop) // self.hop + 1
        if self.max_backlog is not None and n_due > self.max_backlog:
            drop = n_due - self.max_backlog
            self.skipped += drop
            self.next_stop += drop * self.hop
            n_due = self.max_backlog
        stops = [self.next_stop + i * self.hop for i in range(n_due)]
        self.next_stop += n_due * self.hop
        return stops

    def restart(self, total: int) -> None:
        """Begin a new window at absolute sample ``total`` (the next to arrive): the next hop ends one full window
        later, so the samples before ``total`` are never in a window with the samples after it."""
        self.next_stop = total + self.window
