"""The markers' labels, in a lane of their own above the valence and arousal traces.

Labels drawn along the marker lines covered the traces and were cut at the plot's edges (issue 22, item 5). Here
each label is written level, starting at its marker's time, in one of :data:`ROWS` rows: the first row where it
does not touch the label before it. A label that fits in no row is shortened with "…" to the room left before the
next marker (its tooltip and the marker line keep the whole text), and a label that would run past the right edge
ends at its marker instead of starting there, so no label is ever cut by the lane's edge.

Every label's text is set whenever it is placed (issue 22, item 3: a re-used label kept the previous session's
text, because pyqtgraph's line labels only update while visible).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtGui

from affectstream.app.dashboard import theme

#: Rows of labels in the lane.
ROWS = 2
#: Pixels between two labels of one row.
GAP_PX = 8


def place_labels(markers: list[tuple[float, str, str]], x0: float, x1: float, width_px: float,
                 text_px) -> list[tuple[float, float, int, str, bool]]:
    """Where each marker's label goes: ``(t, x, row, text, ends_at_x)`` per marker in view, ``x`` the time the label
    starts (or ends, when ``ends_at_x``) at: the marker's own, or just after the previous label in its row when
    no row is free at the marker (then shortened to the room before the next marker; "" when not even "…" fits).

    Parameters
    ----------
    markers : list of (t, text, origin)
        In time order.
    x0, x1 : float
        The view's time range.
    width_px : float
        The lane's width in pixels.
    text_px : callable
        ``text_px(text) -> float``, a text's width in pixels.
    """
    if not markers or width_px <= 0 or x1 <= x0:
        return []
    scale = width_px / (x1 - x0)  # px per second
    row_end = [-np.inf] * ROWS  # px where each row's last label ends
    placed = []
    shown = [m for m in markers if x0 <= m[0] <= x1]
    for i, (t, text, _) in enumerate(shown):
        left = (t - x0) * scale
        room_end = (shown[i + 1][0] - x0) * scale - GAP_PX if i + 1 < len(shown) else width_px
        width = text_px(text)
        flip = left + width > width_px  # would run past the right edge: end at the marker instead
        start = left - width if flip else left
        row = next((r for r in range(ROWS) if row_end[r] + GAP_PX <= start), None)
        if row is None:  # no row is free at the marker: after the freest row's label, shortened to the room left
            row = int(np.argmin(row_end))
            flip = False
            start = max(left, row_end[row] + GAP_PX)
            width = max(0.0, min(width, min(room_end, width_px) - start))
            text = text if width >= text_px(text) else _shorten(text, width, text_px)
            width = text_px(text) if text else 0.0
        if text:
            row_end[row] = start + width
        x = x0 + ((start + width if flip else start) / scale)
        placed.append((t, x, row, text, flip))
    return placed


def _shorten(text: str, width: float, text_px) -> str:
    """``text`` cut with "…" to at most ``width`` pixels ("" when not even "…" fits)."""
    if text_px("…") > width:
        return ""
    while text and text_px(text + "…") > width:
        text = text[:-1]
    return text + "…"


class MarkerLane:
    """A plot row above the traces (x-linked to them) that holds the markers' labels.

    Parameters
    ----------
    plot : pg.PlotItem
        The lane: no axes' values, y from 0 (bottom) to :data:`ROWS` (top).
    """

    def __init__(self, plot: pg.PlotItem) -> None:
        self.plot = plot
        self.font = theme.axis_font(8)
        self._metrics = QtGui.QFontMetricsF(self.font)
        self.labels: list[pg.TextItem] = []
        self.ticks = pg.PlotCurveItem(pen=theme.pen(theme.MARKER, 1), connect="pairs")
        plot.addItem(self.ticks, ignoreBounds=True)
        self.markers: list[tuple[float, str, str]] = []
        plot.getViewBox().sigXRangeChanged.connect(lambda *_: self.layout())

    def text_px(self, text: str) -> float:
        return self._metrics.horizontalAdvance(text) + 4

    def show(self, markers: list[tuple[float, str, str]]) -> None:
        """Label ``markers`` (merged, in time order)."""
        self.markers = markers
        self.layout()

    def layout(self) -> None:
        vb = self.plot.getViewBox()
        (x0, x1), _ = vb.viewRange()
        placed = place_labels(self.markers, x0, x1, vb.width(), self.text_px)
        origins = {t: origin for t, _, origin in self.markers}
        full = {t: text for t, text, _ in self.markers}
        while len(self.labels) < len(placed):
            label = pg.TextItem("", color=theme.MUTED)
            label.setFont(self.font)
            self.plot.addItem(label, ignoreBounds=True)
            self.labels.append(label)
        xs, ys = [], []
        for label, (t, x, row, text, flip) in zip(self.labels, placed):
            label.setText(text)
            label.setColor(theme.MANUAL if origins.get(t) == "manual" else theme.MARKER)
            label.setToolTip(full.get(t, text))
            label.setAnchor((1, 0) if flip else (0, 0))
            label.setPos(x, ROWS - row)
            label.setVisible(bool(text))
            xs += [t, t]  # a tick beside its own label only: it never crosses a label of the other row
            ys += [ROWS - row, ROWS - row - 1.0]
        for label in self.labels[len(placed):]:
            label.setVisible(False)
        self.ticks.setData(np.array(xs, dtype=float), np.array(ys, dtype=float))

    def shown_texts(self) -> list[str]:
        """The labels drawn now, left to right (tests)."""
        shown = [(lab.pos().x(), lab.textItem.toPlainText()) for lab in self.labels if lab.isVisible()]
        return [text for _, text in sorted(shown)]

    @staticmethod
    def lane_height() -> int:
        """Pixels for :data:`ROWS` rows of labels as drawn (a text item's box, its margins included)."""
        sample = pg.TextItem("Ag")
        sample.setFont(theme.axis_font(8))
        return int(ROWS * sample.boundingRect().height()) + 3


def lane_plot(canvas, row: int, left_width: int) -> pg.PlotItem:
    """The lane's plot in ``canvas`` at ``row``, as wide as the traces below it (a left axis of ``left_width``
    without values)."""
    plot = canvas.addPlot(row=row, col=0)
    theme.style_plot(plot, grid=False)
    plot.hideAxis("bottom")
    left = plot.getAxis("left")
    left.setWidth(left_width)
    left.setStyle(showValues=False, tickLength=0)
    left.setPen(pg.mkPen(None))
    vb = plot.getViewBox()
    vb.setMouseEnabled(x=False, y=False)
    vb.enableAutoRange(enable=False)
    vb.setYRange(0, ROWS, padding=0)
    plot.setFixedHeight(MarkerLane.lane_height())
    plot.setMenuEnabled(False)
    vb.setDefaultPadding(0)
    plot.layout.setContentsMargins(0, 0, 0, 0)
    return plot
