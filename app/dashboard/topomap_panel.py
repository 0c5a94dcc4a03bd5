"""Six scalp maps, one per band, on one shared colour scale.

Two views of the same head: the EEG student's saliency (|d valence / d band power|, normalised jointly over the six
bands, computed by the pipeline every 4 hops = 1 Hz) and, when no student is active or on request, the spatial
pattern of each band's power (z-scored across channels). Interpolation is the precomputed thin-plate operator of
:class:`affectstream.pipelines.eeg.topomap.TopomapInterpolator`; each map is an ``ImageItem``
with fixed levels and a fixed lookup table, so an update is six ``setImage`` calls and no autoscaling.
"""

from __future__ import annotations

import warnings

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from affectstream.core.bandpower import BAND_NAMES
from affectstream.core.montage import MONTAGE_32
from affectstream.pipelines.eeg.topomap import HEAD_RADIUS, TopomapInterpolator

from affectstream.app.dashboard import theme
from affectstream.app.dashboard.canvas import Canvas

MODES = {"saliency": "Saliency  (|∂ valence / ∂ band power|)", "bandpower": "Band power  (z across channels)"}
LEVELS = {"saliency": (0.0, 1.0), "bandpower": (-2.5, 2.5)}
BAND_TITLES = {"delta": "δ delta", "theta": "θ theta", "alpha": "α alpha", "beta1": "β1 beta 1", "beta2": "β2 beta 2",
               "gamma": "γ gamma"}


def head_outline(radius: float = HEAD_RADIUS) -> list[tuple[np.ndarray, np.ndarray]]:
    """Circle, nose and ears as polylines (x, y) in head units, nose up."""
    a = np.linspace(0, 2 * np.pi, 121)
    circle = (radius * np.cos(a), radius * np.sin(a))
    w = 0.09 * radius
    nose = (np.array([-w, 0.0, w]), np.array([radius * 0.995, radius * 1.12, radius * 0.995]))
    b = np.linspace(-0.5 * np.pi, 0.5 * np.pi, 25)
    ear_x = 0.07 * radius * np.cos(b)
    ear_y = 0.17 * radius * np.sin(b)
    right = (radius + ear_x, ear_y)
    left = (-radius - ear_x, ear_y)
    return [circle, nose, right, left]


class TopomapPanel(QtWidgets.QWidget):
    """2 x 3 band maps with head outline, nose, ears and hoverable electrodes, and one colour bar."""

    def __init__(self, labels: tuple[str, ...] = MONTAGE_32, size: int = 96,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.labels = labels
        self.interp = TopomapInterpolator(labels, size=size)
        self.mode = "saliency"
        self.auto_mode = True  # switch to band power when no student is active, until the user picks a mode
        self.values = np.full((len(BAND_NAMES), len(labels)), np.nan)
        self.updates = 0  #: maps drawn (tests read it)
        self._source_version = -1
        self._bad: tuple[bool, ...] = ()
        self._pending: list[tuple[int, np.ndarray]] = []
        self.stagger = True
        self.per_frame = 2

        self.mode_box = QtWidgets.QComboBox()
        for key, text in MODES.items():
            self.mode_box.addItem(text, key)
        self.mode_box.activated.connect(self._mode_picked)
        self.info = theme.ElidedLabel()  # shortened, never under the mode box, when the panel is narrow
        self.info.setObjectName("overlay")
        header = theme.panel_header("Scalp maps")
        header.addStretch(1)
        header.addWidget(self.info)
        header.addWidget(self.mode_box)

        self.glw = Canvas()
        self.glw.ci.setContentsMargins(4, 2, 4, 4)
        self.glw.ci.setSpacing(2)
        self.images: list[pg.ImageItem] = []
        self.dots: list[pg.ScatterPlotItem] = []
        self.bad_dots: list[pg.ScatterPlotItem] = []
        self.titles: list[pg.TextItem] = []
        pos = self.interp.positions
        r = HEAD_RADIUS
        for b, band in enumerate(BAND_NAMES):
            vb = self.glw.addViewBox(row=b // 3, col=b % 3, lockAspect=True, enableMouse=False)
            vb.setMenuEnabled(False)
            img = pg.ImageItem(axisOrder="row-major")  # placed by setRect once it holds an image
            vb.addItem(img)
            parts = head_outline(r)
            xs = np.concatenate([x for x, _ in parts])
            ys = np.concatenate([y for _, y in parts])
            connect = np.ones(len(xs), dtype=bool)
            connect[np.cumsum([len(x) for x, _ in parts]) - 1] = False
            outline = pg.PlotCurveItem(xs, ys, pen=theme.pen("#c3cad4", 2.0), antialias=True, connect=connect)
            outline.setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)  # drawn once, blitted
            vb.addItem(outline)
            title = pg.TextItem(BAND_TITLES.get(band, band), color=theme.FG, anchor=(0, 0))
            title.setFont(theme.axis_font(10))
            title.setPos(-r * 1.12, r * 1.17)
            vb.addItem(title)
            self.titles.append(title)
            dots = pg.ScatterPlotItem(pos=pos, size=4.5, pen=pg.mkPen("#0d1117", width=0.6),
                                      brush=pg.mkBrush("#e5e7eb"), hoverable=True, hoverSize=9,
                                      hoverBrush=pg.mkBrush(theme.MANUAL), data=np.arange(len(labels)),
                                      tip=self._tip_for(b))
            vb.addItem(dots)
            bad = pg.ScatterPlotItem(size=6, pen=pg.mkPen("#0d1117", width=0.6), brush=pg.mkBrush(theme.BAD))
            vb.addItem(bad)  # bad electrodes drawn over the white dots (cheaper than re-brushing every dot)
            self.bad_dots.append(bad)
            dots.setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
            vb.setRange(xRange=(-r * 1.12, r * 1.12), yRange=(-r * 1.04, r * 1.17), padding=0)
            self.images.append(img)
            self.dots.append(dots)
        self.colorbar = pg.ColorBarItem(values=LEVELS["saliency"], colorMap=pg.colormap.get(theme.SALIENCY_CMAP),
                                        interactive=False, width=12, label="")
        self.colorbar.getAxis("right").setStyle(tickFont=theme.axis_font(8))
        self.colorbar.getAxis("right").setTextPen(theme.pen(theme.MUTED))
        self.colorbar.setImageItem(self.images)
        self.glw.addItem(self.colorbar, row=0, col=3, rowspan=2)
        self._apply_mode()

        layout = theme.panel_layout(self, header)
        layout.addWidget(self.glw, 1)
        self.canvases = (self.glw,)

    def _tip_for(self, band: int):
        def tip(x, y, data):
            i = int(data)
            v = self.values[band, i]
            value = "–" if not np.isfinite(v) else (f"{v:.2f}" if self.mode == "saliency" else f"z = {v:+.2f}")
            bad = " (bad)" if self._bad and self._bad[i] else ""
            return f"{self.labels[i]}{bad}\n{BAND_NAMES[band]}: {value}"
        return tip

    def _mode_picked(self, index: int) -> None:
        self.auto_mode = False
        self.set_mode(self.mode_box.itemData(index))

    def set_mode(self, mode: str) -> None:
        if mode == self.mode:
            return
        self.mode = mode
        self.mode_box.setCurrentIndex(list(MODES).index(mode))
        self._apply_mode()
        self._source_version = -1

    def _apply_mode(self) -> None:
        cmap = pg.colormap.get(theme.SALIENCY_CMAP if self.mode == "saliency" else theme.BANDPOWER_CMAP)
        self.colorbar.setColorMap(cmap)
        self.colorbar.setLevels(LEVELS[self.mode])
        self.colorbar.getAxis("right").setLabel("saliency, joint over bands" if self.mode == "saliency"
                                                else "z across channels", color=theme.MUTED, size="8pt")
        for img in self.images:
            img.clear()
        self.values[:] = np.nan

    def reset(self) -> None:
        self._source_version = -1
        for img in self.images:
            img.clear()
        self.values[:] = np.nan

    # ------------------------------------------------------------------------------------------- refresh
    def refresh(self, history) -> bool:
        if self.auto_mode:
            estimator = history.snapshot.estimator
            want = "bandpower" if estimator == "baseline" else "saliency"
            if estimator and want != self.mode:
                self.set_mode(want)
        changed = self._refresh_bad(history)
        changed |= self._apply_pending(self.per_frame)
        if self.mode == "saliency":
            version, values = history.saliency_version, history.saliency
            info = f"updated at {history.saliency_t:.0f} s · 1 Hz" if values is not None else "waiting for saliency"
        else:
            version, values = history.features_version, history.features
            info = "z-scored across channels · 4 Hz" if values is not None else "waiting for band power"
        if self.info.text() != info:
            self.info.setText(info)
        if values is None or version == self._source_version:
            return changed
        self._source_version = version
        self.show_values(values if self.mode == "saliency" else self._zscored(values))
        return True

    def show_values(self, values: np.ndarray) -> None:
        """Draw (6, 32) values on the current scale (NaN electrodes are interpolated over by their neighbours)."""
        values = np.asarray(values, dtype=float)
        self.values = values
        filled = values.copy()
        for b in range(filled.shape[0]):  # a missing channel takes the mean so it neither spikes nor holes the map
            row = filled[b]
            bad = ~np.isfinite(row)
            if bad.all():
                row[:] = 0.0
            elif bad.any():
                row[bad] = np.mean(row[~bad])
        maps = self.interp(filled).astype(np.float32)
        lo, hi = LEVELS[self.mode]
        np.clip(maps, lo, hi, out=maps, where=np.isfinite(maps))
        # in pairs of neighbours (top-left+top-middle, bottom-left+bottom-middle, right column): Qt repaints every
        # item inside the bounding box of a frame's dirty region, so two far-apart maps would repaint all six
        self._pending = [(b, maps[b]) for b in (0, 1, 3, 4, 2, 5)]
        if not self.stagger:
            self._apply_pending(len(self._pending))
        self.updates += 1

    def _apply_pending(self, n: int) -> bool:
        """Put up to ``n`` of the pending maps on screen (spreading six maps over three frames keeps every frame
        cheap; the whole set still changes within 0.1 s)."""
        if not self._pending:
            return False
        rect = QtCore.QRectF(-HEAD_RADIUS, -HEAD_RADIUS, 2 * HEAD_RADIUS, 2 * HEAD_RADIUS)
        for b, m in self._pending[:n]:
            self.images[b].setImage(m, autoLevels=False)
            self.images[b].setRect(rect)  # row 0 = back of the head = bottom of the (y-up) view
        del self._pending[:n]
        return True

    @staticmethod
    def _zscored(features) -> np.ndarray | None:
        if features is None:
            return None
        f = np.asarray(features, dtype=float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mu = np.nanmean(f, axis=1, keepdims=True)
            sd = np.nanstd(f, axis=1, keepdims=True)
        return (f - mu) / np.where(sd > 0, sd, 1.0)

    def _refresh_bad(self, history) -> bool:
        bad = tuple(lab in history.bad_channels for lab in self.labels)
        if bad == self._bad:
            return False
        self._bad = bad
        pos = self.interp.positions[np.asarray(bad, dtype=bool)]
        for dots in self.bad_dots:
            dots.setData(pos=pos)
        return True
