"""The plotting surface every panel draws on: a ``GraphicsLayoutWidget`` that times its own paint passes.

The per-panel paint times feed :mod:`.bench_gui`, so a slow panel is named rather than guessed at.
"""

from __future__ import annotations

import time

import pyqtgraph as pg


class Canvas(pg.GraphicsLayoutWidget):
    """A ``GraphicsLayoutWidget`` that adds the duration of each paint pass to :attr:`paint_ms`."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.paint_ms = 0.0  #: accumulated; readers take differences
        self.paints = 0

    def settle(self) -> None:
        """Apply pending view-range changes now (pyqtgraph defers them to the start of the paint).

        Deferred, the new view transform is only set while painting, which marks every item dirty again and costs
        a second full paint pass; settled at the end of the frame's updates, one pass paints everything.
        """
        self.scene().prepareForPaint()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt naming
        t = time.perf_counter()
        super().paintEvent(event)
        self.paint_ms += (time.perf_counter() - t) * 1e3
        self.paints += 1
