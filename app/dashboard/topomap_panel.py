"""Six scalp maps, one per band, on one shared colour scale.

Two views of the same head: the EEG student's saliency (by default gradient x input, |d valence / d band power x band
power|, normalised jointly over the six bands, computed by the pipeline every 4 hops = 1 Hz; the kinds and why this
one: :mod:`affectstream.pipelines.eeg.saliency`) and, when no student is active or on request, the spatial
pattern of each band's power (z-scored across channels). Interpolation is the precomputed thin-plate operator of
:class:`affectstream.pipelines.eeg.topomap.TopomapInterpolator`; each map is an ``ImageItem``
with fixed levels and a fixed lookup table, so an update is six ``setImage`` calls and no autoscaling.

The maps always show the 32 model channels, which is what the model sees; the dots say where each value came from. A
filled dot is an electrode the headset measures (good in this window), a hollow dot a model channel interpolated
from the headset's good electrodes (ringed in a quality colour when the headset measures it but it is bad in this
window), a red dot a channel with no value. The headset's electrodes that are not model channels (a Muse's TP9,
AF7, AF8, TP10) are drawn filled at their own positions, so a 4-channel headset shows where its four values are.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from affectstream.core.bandpower import BAND_NAMES
from affectstream.core.montage import MONTAGE_32, electrode_positions_2d
from affectstream.pipelines.eeg.montage_input import INTERPOLATED
from affectstream.pipelines.eeg.topomap import HEAD_RADIUS, TopomapInterpolator

from affectstream.app.dashboard import theme
from affectstream.app.dashboard.canvas import Canvas

MODES = {"saliency": "Saliency  (|∂ valence / ∂ band power × band power|)",
         "bandpower": "Band power  (z across channels)"}
#: The saliency entry's text per :attr:`PipelineConfig.saliency_kind`, so the box names the map it shows.
SALIENCY_LABELS = {"gradient_x_input": MODES["saliency"],
                   "prm": "Saliency  (peak-response map: ∂ peak valence / ∂ band power)",
                   "mean_gradient": "Saliency  (|mean ∂ valence / ∂ band power|)"}
LEVELS = {"saliency": (0.0, 1.0), "bandpower": (-2.5, 2.5)}
#: Dot colours: an electrode's fill (measured) and ring (interpolated).
DOT = "#e5e7eb"
#: Legend under the maps (its tooltip says more).
LEGEND = (f"<span style='color:{DOT}'>●</span> measured &nbsp; <span style='color:{DOT}'>○</span> interpolated "
          f"&nbsp; <span style='color:{theme.BAD}'>●</span> no value")
LEGEND_TIP = ("Electrodes. Filled: measured by the headset (good in this window). Hollow: interpolated for the model "
              "from the headset's good electrodes (ringed in a quality colour: measured, but bad in this window). "
              "Red: no value (too few good electrodes to interpolate from). The maps always show the 32 model "
              "channels; the headset's other electrodes are the filled dots between them.")
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


@functools.cache
def extra_position(label: str, labels: tuple[str, ...] = MONTAGE_32) -> tuple[float, float] | None:
    """Where an electrode that is not one of ``labels`` sits on their maps (None: no 10-20/10-10 position).

    :func:`~affectstream.core.montage.electrode_positions_2d` centres its projection on the set it is given; with
    one electrode added to the 32 the maps' own dots move by at most 0.04 head units (about a pixel), so the
    electrode is placed with the 32 rather than alone.
    """
    try:
        return tuple(float(v) for v in electrode_positions_2d(labels + (label,))[-1])
    except KeyError:
        return None


class TopomapPanel(QtWidgets.QWidget):
    """2 x 3 band maps with head outline, nose, ears and hoverable electrodes, and one colour bar.

    Attributes
    ----------
    dot_labels : tuple of str
        The dots drawn: the 32 model channels, then the headset's electrodes that are not model channels.
    dot_state : tuple of str
        Per dot: ``measured`` (filled), ``interpolated`` (hollow) or ``none`` (no value, red).
    """

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
        self.dot_labels: tuple[str, ...] = labels
        self.dot_state: tuple[str, ...] = ("measured",) * len(labels)
        self._dot_reasons: tuple[str, ...] = ("",) * len(labels)
        self._dots_key: tuple | None = None
        self._pending: list[tuple[int, np.ndarray]] = []
        self.stagger = True
        self.per_frame = 2

        self.mode_box = theme.ElidedComboBox(min_chars=14)  # the full name of the map in its list and tooltip
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
        self.dots: list[pg.ScatterPlotItem] = []  #: hover targets (tooltips), one per dot, drawn under the marks
        self.filled_dots: list[pg.ScatterPlotItem] = []
        self.hollow_dots: list[pg.ScatterPlotItem] = []
        self.bad_dots: list[pg.ScatterPlotItem] = []
        self.titles: list[pg.LabelItem] = []
        for b, band in enumerate(BAND_NAMES):
            self._build_map(b, band)
        self.colorbar = pg.ColorBarItem(values=LEVELS["saliency"], colorMap=pg.colormap.get(theme.SALIENCY_CMAP),
                                        interactive=False, width=12, label="")
        self.colorbar.getAxis("right").setStyle(tickFont=theme.axis_font(8))
        self.colorbar.getAxis("right").setTextPen(theme.pen(theme.MUTED))
        self.colorbar.setImageItem(self.images)
        self.glw.addItem(self.colorbar, row=0, col=3, rowspan=4)
        self.legend = pg.LabelItem(LEGEND, size="8pt", color=theme.MUTED)
        self.legend.setToolTip(LEGEND_TIP)
        self.glw.addItem(self.legend, row=4, col=0, colspan=3)
        self._apply_mode()
        self._draw_dots(np.ones(len(labels), bool), np.ones(len(labels), bool), {}, ())

        layout = theme.panel_layout(self, header)
        layout.addWidget(self.glw, 1)
        self.canvases = (self.glw,)

    def _build_map(self, b: int, band: str) -> None:
        """One band's view: image, head outline, title, and the electrode layers (hover targets under the filled,
        hollow and red marks, which are re-placed only when a channel changes class)."""
        r = HEAD_RADIUS
        # the title in the row above its map, never over the head however small the maps get (issue 22, item 5)
        title = self.glw.addLabel(BAND_TITLES.get(band, band), row=2 * (b // 3), col=b % 3, color=theme.FG,
                                  size="10pt", justify="left")
        title.setMaximumHeight(18)  # a line of text: the maps take the rest of the height
        self.titles.append(title)
        vb = self.glw.addViewBox(row=2 * (b // 3) + 1, col=b % 3, lockAspect=True, enableMouse=False)
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
        dots = pg.ScatterPlotItem(size=8, pen=pg.mkPen(None), brush=pg.mkBrush(0, 0, 0, 0), hoverable=True,
                                  hoverSize=9, hoverBrush=pg.mkBrush(theme.MANUAL), tip=self._tip_for(b))
        filled = pg.ScatterPlotItem(size=7, pen=pg.mkPen(theme.BG, width=0.8), brush=pg.mkBrush(DOT))
        hollow = pg.ScatterPlotItem(size=6, brush=pg.mkBrush(None))
        bad = pg.ScatterPlotItem(size=6, pen=pg.mkPen(theme.BG, width=0.6), brush=pg.mkBrush(theme.BAD))
        for item in (dots, filled, hollow, bad):
            item.setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
            vb.addItem(item)
        vb.setRange(xRange=(-r * 1.12, r * 1.12), yRange=(-r * 1.04, r * 1.14), padding=0)
        self.images.append(img)
        self.dots.append(dots)
        self.filled_dots.append(filled)
        self.hollow_dots.append(hollow)
        self.bad_dots.append(bad)

    def _tip_for(self, band: int):
        def tip(x, y, data):
            i = int(data)
            label, state, reason = self.dot_labels[i], self.dot_state[i], self._dot_reasons[i]
            if i >= len(self.labels):  # a headset electrode that is not a model channel: no value on the maps
                bad = f" ({reason}: not used)" if state == "none" else ""
                return f"{label}{bad}\nheadset electrode; the maps' channels are interpolated from it"
            v = self.values[band, i]
            value = "–" if not np.isfinite(v) else (f"{v:.2f}" if self.mode == "saliency" else f"z = {v:+.2f}")
            how = {"measured": "", "interpolated": " (interpolated" + (f", measured {reason}" if reason else "")
                   + ")", "none": f" (no value{': ' + reason if reason else ''})"}[state]
            return f"{label}{how}\n{BAND_NAMES[band]}: {value}"
        return tip

    def _mode_picked(self, index: int) -> None:
        self.auto_mode = False
        self.set_mode(self.mode_box.itemData(index))

    def set_saliency_kind(self, kind: str) -> None:
        """Name the saliency map the pipeline computes (``PipelineConfig.saliency_kind``) in the mode box."""
        self.mode_box.setItemText(list(MODES).index("saliency"), SALIENCY_LABELS[kind])

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
        changed = self._refresh_dots(history)
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

    def _refresh_dots(self, history) -> bool:
        """Re-class the dots when the hop says a channel changed: measured, interpolated, or without a value."""
        headset = history.snapshot.headset
        model = set(self.labels)
        extras = tuple(label for label, flag in zip(headset.labels, headset.flags) if flag not in model)
        if history.good is not None:
            good = np.asarray(history.good, dtype=bool)
            measured = good & np.asarray(history.measured if history.measured is not None else good, dtype=bool)
        else:  # before the first hop: what the headset measures at all
            good = np.ones(len(self.labels), dtype=bool)
            measured = np.array([lab in headset.flags for lab in self.labels]) if headset.labels else good
        key = (extras, good.tobytes(), measured.tobytes(), tuple(history.bad_channels.items()))
        if key == self._dots_key:
            return False
        self._dots_key = key
        self._draw_dots(good, measured, history.bad_channels, extras)
        return True

    def _draw_dots(self, good: np.ndarray, measured: np.ndarray, flags: dict[str, str],
                   extras: tuple[str, ...]) -> None:
        """Place every band's dots: model channels by ``good`` / ``measured`` (32,), then the headset's ``extras``
        (electrodes that are not model channels, red when ``flags`` names them bad)."""
        placed = [(label, xy) for label in extras if (xy := extra_position(label, self.labels)) is not None]
        labels = self.labels + tuple(label for label, _ in placed)
        pos = np.vstack([self.interp.positions] + [np.array([xy]) for _, xy in placed])
        state = ["measured" if m else "interpolated" if g else "none" for g, m in zip(good, measured)]
        state += ["none" if label in flags else "measured" for label, _ in placed]
        # the reason a channel is bad; "interpolated" / "missing" are what the dots themselves say
        reasons = [flags.get(label, "") for label in labels]
        reasons = [r if r not in (INTERPOLATED, "missing") else "" for r in reasons]
        self.dot_labels, self.dot_state, self._dot_reasons = labels, tuple(state), tuple(reasons)
        kind = np.array(state)
        hollow = np.flatnonzero(kind == "interpolated")
        rings = [_ring(theme.QUALITY.get(reasons[i], theme.QUALITY["noisy"]) if reasons[i] else DOT)
                 for i in hollow]
        for b in range(len(self.dots)):
            if len(self.dots[b].data) != len(labels):
                self.dots[b].setData(pos=pos, data=np.arange(len(labels)))
            self.filled_dots[b].setData(pos=pos[kind == "measured"])
            self.hollow_dots[b].setData(pos=pos[hollow], pen=rings)
            self.bad_dots[b].setData(pos=pos[kind == "none"])

    def hollow_labels(self) -> tuple[str, ...]:
        """The channels drawn hollow (interpolated), in montage order."""
        return tuple(label for label, s in zip(self.dot_labels, self.dot_state) if s == "interpolated")


@functools.cache
def _ring(colour: str) -> QtGui.QPen:
    """The pen of a hollow dot: thick enough to read as a ring over any map colour."""
    return pg.mkPen(colour, width=1.4)
