"""What each dashboard frame costs: the timer callback, then every paint pass Qt runs before the next one.

All item updates of one frame happen inside the window's timer callback, and Qt paints them afterwards in the
window's ``UpdateRequest`` (sometimes in several passes). A frame's account is therefore opened by one callback
and closed by the next: the callback's own time plus every paint pass in between. ``affectstream bench``
(``gui``) reports these.
"""

from __future__ import annotations

from collections import deque

import numpy as np


class FrameTimes:
    """(tick ms, paint ms) of the last ``maxlen`` frames that drew something.

    The window calls :meth:`next_frame` at the start of each timer callback, :meth:`ticked` at its end when it
    changed anything, and :meth:`painted` after each paint pass.
    """

    def __init__(self, maxlen: int = 20000) -> None:
        self.frames: deque[tuple[float, float]] = deque(maxlen=maxlen)
        self._pending_tick: float | None = None
        self._paint_acc = 0.0  #: ms spent painting since the last tick (one frame may take several passes)

    def __len__(self) -> int:
        return len(self.frames)

    def next_frame(self) -> None:
        """A timer callback starts: close the previous frame's account, if it drew anything."""
        if self._pending_tick is not None or self._paint_acc > 0.0:
            self.frames.append((self._pending_tick or 0.0, self._paint_acc))
        self._pending_tick, self._paint_acc = None, 0.0

    def ticked(self, ms: float) -> None:
        """The callback changed something on screen, taking ``ms``."""
        self._pending_tick = ms

    def painted(self, ms: float) -> None:
        """A paint pass took ``ms``."""
        self._paint_acc += ms

    def stats(self, since: int = 0) -> dict[str, float]:
        """Per-frame cost of the frames after the ``since``-th: ms of the tick, the paint, and both."""
        frames = list(self.frames)[since:]
        if not frames:
            return {"frames": 0}
        tick = np.array([f[0] for f in frames])
        paint = np.array([f[1] for f in frames])
        total = tick + paint
        return {"frames": len(frames), "paint_ms_p50": float(np.percentile(total, 50)),
                "paint_ms_p95": float(np.percentile(total, 95)), "tick_ms_p50": float(np.percentile(tick, 50)),
                "render_ms_p50": float(np.percentile(paint, 50)), "render_ms_p95": float(np.percentile(paint, 95))}
