"""Valence and arousal over the last minute: fused (white), EEG (cyan), face (orange), ground truth (dashed grey).

The shaded band around the fused trace is ``fused +/- (1 - confidence) / 2``: narrow when both modalities are
confident, wide when the estimate rests on little. Markers are vertical lines, labelled in a lane of
their own above the traces (:mod:`.marker_lane`). The view follows the newest
sample; dragging or zooming the time axis scrolls back through the whole session and stops following until
"Live" is pressed. Only the visible stretch (plus a margin) is handed to the curves, so the cost per frame does not
grow with the length of the session.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from affectstream.app.dashboard import theme
from affectstream.app.dashboard.canvas import Canvas
from affectstream.app.dashboard.marker_lane import MarkerLane, lane_plot
from affectstream.app.dashboard.model import COL, History

#: Fused +/- this times (1 - confidence).
BAND_SCALE = 0.5


def band_path(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> QtGui.QPainterPath:
    """A filled path between ``lo`` and ``hi``, one closed polygon per run of finite values."""
    path = QtGui.QPainterPath()
    ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(x)
    if not ok.any():
        return path
    edges = np.flatnonzero(np.diff(np.r_[0, ok.astype(np.int8), 0]))
    for start, stop in zip(edges[::2], edges[1::2]):
        if stop - start < 2:
            continue
        xs = np.r_[x[start:stop], x[start:stop][::-1]]
        ys = np.r_[lo[start:stop], hi[start:stop][::-1]]
        sub = pg.arrayToQPath(xs, ys, connect="all")
        sub.closeSubpath()
        path.addPath(sub)
    return path


def merge_markers(markers: list[tuple[float, str, str]], within_s: float = 0.75) -> list[tuple[float, str, str]]:
    """Markers closer than ``within_s`` share one line and one label ("trial_end/stim_07 · rest_start")."""
    merged: list[tuple[float, str, str]] = []
    for t, text, origin in markers:
        if merged and t - merged[-1][0] < within_s:
            t0, text0, origin0 = merged[-1]
            merged[-1] = (t0, f"{text0} · {text}", "manual" if "manual" in (origin, origin0) else origin0)
        else:
            merged.append((t, text, origin))
    return merged


class _MarkerPool:
    """Re-used vertical lines for the markers in view (their labels are in the lane above the traces)."""

    def __init__(self, plot: pg.PlotItem) -> None:
        self.plot = plot
        self.lines: list[pg.InfiniteLine] = []
        self.shown: list = []  #: the marker each line currently shows (None: hidden)
        self.pens = (theme.pen(theme.MARKER, 1, QtCore.Qt.PenStyle.DotLine, alpha=200),
                     theme.pen(theme.MANUAL, 1, QtCore.Qt.PenStyle.DotLine, alpha=230))

    def show(self, markers: list[tuple[float, str, str]]) -> None:
        while len(self.lines) < len(markers):
            line = pg.InfiniteLine(angle=90, movable=False)
            line.setZValue(-5)
            self.plot.addItem(line, ignoreBounds=True)
            self.lines.append(line)
            self.shown.append(None)
        for i, (line, marker) in enumerate(zip(self.lines, markers)):
            if self.shown[i] == marker:  # unchanged lines are left alone (pens are costly to reset)
                continue
            line.setPen(self.pens[marker[2] == "manual"])
            line.setPos(marker[0])
            line.setVisible(True)
            self.shown[i] = marker
        for i in range(len(markers), len(self.lines)):
            if self.shown[i] is not None:
                self.lines[i].setVisible(False)
                self.shown[i] = None


def _y_ticks(height_px: float) -> list:
    """The value axis' ticks: every half where the plot is tall enough to print five labels, else -1, 0, +1."""
    values = (-1, -0.5, 0, 0.5, 1) if height_px >= 110 else (-1, 0, 1)
    return [[(v, f"{v:+g}" if v else "0") for v in values]]


class TracePanel(QtWidgets.QWidget):
    """Two stacked plots (valence, arousal) sharing one scrollable time axis."""

    window_s = 60.0
    margin_s = 20.0

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.follow = True
        self._version = -1
        self._span = (np.inf, -np.inf)
        self._setting_range = False
        self.glw = Canvas()
        self.glw.ci.setContentsMargins(4, 2, 8, 2)
        self.glw.ci.setSpacing(2)
        self.live_button = QtWidgets.QPushButton("Follow")
        self.live_button.setToolTip("Follow the newest data again (drag or zoom the time axis to scroll back)")
        self.live_button.setEnabled(False)
        self.live_button.clicked.connect(lambda: self.set_follow(True))
        self.overlay = QtWidgets.QLabel("")
        self.overlay.setObjectName("overlay")
        self.overlay.setAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
        self.overlay.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        header = theme.panel_header("Valence & arousal")
        header.addWidget(self._legend_label())
        header.addWidget(self.overlay, 1)
        header.addWidget(self.live_button)
        layout = theme.panel_layout(self, header)
        # Over the traces it qualifies: why these EEG numbers are not a validated measure (empty: hidden).
        self.warning = theme.ElidedLabel()
        self.warning.setObjectName("modelWarning")
        self.warning.setVisible(False)
        layout.addWidget(self.warning)
        layout.addWidget(self.glw, 1)
        self.canvases = (self.glw,)

        self.plots: dict[str, pg.PlotItem] = {}
        self.curves: dict[str, dict[str, pg.PlotCurveItem]] = {}
        self.bands: dict[str, QtWidgets.QGraphicsPathItem] = {}
        self.marker_pools: dict[str, _MarkerPool] = {}
        self.vgrids: dict[str, pg.PlotCurveItem] = {}
        self.lane = MarkerLane(lane_plot(self.glw, 0, 52))
        for row, key in enumerate(("valence", "arousal"), start=1):
            plot = self.glw.addPlot(row=row, col=0, axisItems={"bottom": theme.TimeAxis("bottom")})
            theme.style_plot(plot, left=key.capitalize(), bottom="session time" if key == "arousal" else None,
                             grid=False)
            plot.getAxis("left").setWidth(52)
            plot.getAxis("left").setTicks(_y_ticks(200))
            vb = plot.getViewBox()
            vb.setMouseEnabled(x=True, y=False)
            vb.enableAutoRange(enable=False)
            vb.setYRange(-1.08, 1.08, padding=0)
            vb.setXRange(-self.window_s, 0, padding=0)
            vb.sigRangeChangedManually.connect(self._manual_range)
            # Own grid: pyqtgraph's axis grid is redrawn with the tick labels on every scroll and cost ~10 ms a frame.
            for level in (-1.0, -0.5, 0.5, 1.0):
                plot.addItem(pg.InfiniteLine(level, angle=0, pen=theme.pen(theme.GRID, 1)), ignoreBounds=True)
            plot.addItem(pg.InfiniteLine(0, angle=0, pen=theme.pen(theme.BORDER, 1)), ignoreBounds=True)
            vgrid = pg.PlotCurveItem(pen=theme.pen(theme.GRID, 1), connect="pairs")
            plot.addItem(vgrid, ignoreBounds=True)
            self.vgrids[key] = vgrid
            band = QtWidgets.QGraphicsPathItem()
            band.setBrush(pg.mkBrush(theme.BAND))
            band.setPen(QtGui.QPen(QtCore.Qt.PenStyle.NoPen))
            plot.addItem(band, ignoreBounds=True)
            # No antialiasing: on the raster engine it doubles the cost of a wide line, and at 4 Hz updates the
            # 2-px lines read well without it.
            curves = {
                "truth": pg.PlotCurveItem(pen=theme.dashed(theme.TRUTH, 1.5), connect="finite"),
                "face": pg.PlotCurveItem(pen=theme.pen(theme.FACE, 1.6), connect="finite"),
                "eeg": pg.PlotCurveItem(pen=theme.pen(theme.EEG, 1.6), connect="finite"),
                "fused": pg.PlotCurveItem(pen=theme.pen(theme.FUSED, 2.5), connect="finite"),
            }
            for curve in curves.values():
                plot.addItem(curve)
            self.plots[key], self.curves[key], self.bands[key] = plot, curves, band
            self.marker_pools[key] = _MarkerPool(plot)
        self.plots["arousal"].setXLink(self.plots["valence"])
        self.lane.plot.setXLink(self.plots["valence"])
        self.plots["valence"].getAxis("bottom").setStyle(showValues=False)
        self.plots["valence"].getAxis("bottom").setHeight(6)

    @staticmethod
    def _legend_label() -> theme.FitLabel:
        def chip(colour: str, text: str, dash: bool = False) -> str:
            line = "- - -" if dash else "━━"
            return f"<span style='color:{colour}'>{line}</span>&nbsp;<span style='color:{theme.FG}'>{text}</span>"

        label = theme.FitLabel("&nbsp;&nbsp;&nbsp;".join([  # left out where the header has no room
            chip(theme.FUSED, "fused"), chip(theme.EEG, "EEG"), chip(theme.FACE, "face"),
            chip(theme.TRUTH, "ground truth", dash=True),
            f"<span style='color:{theme.MUTED}'>▒ confidence</span>",
            f"<span style='color:{theme.MARKER}'>┆ marker</span>"]))
        label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        label.setContentsMargins(16, 0, 0, 0)
        return label

    # ------------------------------------------------------------------------------------------- follow
    def _manual_range(self, mask=None) -> None:
        if self._setting_range:
            return
        if mask is None or (isinstance(mask, (list, tuple)) and mask[0]):
            self.set_follow(False)

    def set_follow(self, follow: bool) -> None:
        self.follow = follow
        self.live_button.setEnabled(not follow)
        if follow:
            self._span = (np.inf, -np.inf)

    def reset(self) -> None:
        """Forget the drawn session (a new one starts)."""
        self._version = -1
        self.set_follow(True)
        for key in self.curves:
            for curve in self.curves[key].values():
                curve.setData([], [])
            self.bands[key].setPath(QtGui.QPainterPath())
            self.marker_pools[key].show([])
        self.lane.show([])

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        QtCore.QTimer.singleShot(0, self._fit_ticks)  # once the plots have their new height

    def _fit_ticks(self) -> None:
        for plot in self.plots.values():
            ticks = _y_ticks(plot.getViewBox().height())
            axis = plot.getAxis("left")
            if axis._tickLevels != ticks:
                axis.setTicks(ticks)

    # ------------------------------------------------------------------------------------------- refresh
    def refresh(self, history: History) -> bool:
        """Scroll and redraw from ``history``; returns True when anything changed."""
        vb = self.plots["valence"].getViewBox()
        changed = False
        if self.follow and history.version != self._version:
            # Scrolled once per hop (4 Hz), not per frame: at 60 s across ~1000 px a frame would move half a pixel,
            # and each scroll repaints the whole panel.
            newest = float(history.hops.view[-1, 0]) if history.hops.n else history.now
            x1 = max(newest, self.window_s)  # the first minute fills from the left
            x0 = x1 - self.window_s
            cur = vb.viewRange()[0]
            if abs(cur[0] - x0) > 1e-3 or abs(cur[1] - x1) > 1e-3:
                self._setting_range = True
                try:
                    vb.setXRange(x0, x1, padding=0)
                finally:
                    self._setting_range = False
                changed = True
        view = vb.viewRange()[0]
        if history.version != self._version or view[0] < self._span[0] or view[1] > self._span[1]:
            self._version = history.version
            span = (view[0] - self.margin_s, view[1] + self.margin_s)
            self._span = span
            self._draw(history, span)
            changed = True
        return changed

    def _draw(self, history: History, span: tuple[float, float]) -> None:
        step = 5.0 if span[1] - span[0] < 200 else 30.0 if span[1] - span[0] < 1200 else 300.0
        gx = np.arange(np.ceil(span[0] / step) * step, span[1], step)
        for vgrid in self.vgrids.values():
            vgrid.setData(np.repeat(gx, 2), np.tile([-1.08, 1.08], len(gx)))
        rows = history.hops.between(*span)
        truth = history.truth.between(*span)
        markers = merge_markers(history.markers_between(*span))
        t = rows[:, COL["t"]]
        conf = rows[:, COL["confidence"]]
        for key in ("valence", "arousal"):
            curves = self.curves[key]
            fused = rows[:, COL[key]]
            curves["fused"].setData(t, fused)
            curves["eeg"].setData(t, rows[:, COL[f"{key}_eeg"]])
            curves["face"].setData(t, rows[:, COL[f"{key}_face"]])
            curves["truth"].setData(truth[:, 0], truth[:, 1 if key == "valence" else 2])
            half = BAND_SCALE * (1.0 - np.clip(conf, 0.0, 1.0))
            self.bands[key].setPath(band_path(t, np.clip(fused - half, -1.05, 1.05),
                                              np.clip(fused + half, -1.05, 1.05)))
            self.marker_pools[key].show(markers)
        self.lane.show(markers)

    def set_overlay(self, text: str) -> None:
        if self.overlay.text() != text:
            self.overlay.setText(text)

    def set_warning(self, warning: str) -> None:
        """Show the model warning as a banner over the traces (nothing when ``warning`` is empty)."""
        text = f"⚠  {warning}" if warning else ""
        if self.warning.text() != text:
            self.warning.setText(text)
            self.warning.setToolTip(warning)
            self.warning.setVisible(bool(warning))
