"""EEG (the headset's electrodes stacked: 4 for a Muse, 32 for a cap) coloured by channel quality, and the current
band powers.

The traces are the electrodes as measured, named as the stream names them, not the 32 model channels the pipeline
derives from them: a channel the headset lacks has no trace to show (the scalp maps show it, hollow, as interpolated).

Live, the traces are drawn as a *sweep*, as on clinical EEG monitors: a write head runs left to right over a fixed
10 s page and overwrites the previous page behind a short gap (the axis shows seconds into the page, the header
the head's session time). The page is cut into ten 1-s strips, each its own
set of curve items, and only the strip under the head (and the one being erased) changes in a frame, so Qt
repaints a tenth of the panel instead of scrolling all of it 30 times a second. "Review" switches to an ordinary
scrolling view of the last five minutes (drag or zoom the time axis).

Within a strip the samples are reduced to one min/max pair per two pixels (peak decimation, so blinks and spikes
stay visible), and the channels of one quality class share one curve with a ``connect`` mask that breaks the line
between channels: a few ``setData`` calls per strip instead of 32. The display signal is high-passed at 0.5 Hz
(:class:`~.model.DisplayHighpass`), so offsets and drifts never push a channel off its row.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from affectstream.core.bandpower import BAND_NAMES
from affectstream.core.montage import MONTAGE_32

from affectstream.app.dashboard import theme
from affectstream.app.dashboard.canvas import Canvas
from affectstream.app.dashboard.eeg_drawing import EEGTimeAxis, peak_decimate, stack_segments
from affectstream.app.dashboard.model import History

#: Band names as drawn under the bars.
BAND_SYMBOLS = {"delta": "δ", "theta": "θ", "alpha": "α", "beta1": "β1", "beta2": "β2", "gamma": "γ"}

#: Display sensitivities, µV per channel spacing.
GAINS_UV = (10, 20, 50, 100, 200, 500, 1000)
#: A trace's largest swing from its baseline, in rows: short of half a row, so neighbouring traces never touch.
ROW_HALF = 0.45


class EEGPanel(QtWidgets.QWidget):
    """Sweep/review EEG traces with coloured channel labels, a gain selector and a band-power bar chart."""

    page_s = 10.0
    n_strips = 10
    gap_s = 0.3
    max_names = 32  #: most channel names drawn beside the traces

    def __init__(self, labels: tuple[str, ...] = MONTAGE_32, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.labels = labels
        self.flags = labels  #: each row's key in the hop's ``bad_channels``
        self.n = len(labels)
        self.mode = "sweep"
        self._setting_range = False
        self._review_key = None
        self._strip_keys: list = [None] * self.n_strips
        self._reasons: tuple[str, ...] | None = None
        self._features_version = -1
        self.strip_updates = 0  #: strips redrawn (tests and bench read it)
        self.offsets = np.arange(self.n - 1, -1, -1, dtype=np.float32)  # first channel on top
        header = self.header = self._build_header()
        self._build_traces()
        self._build_bars()
        layout = theme.panel_layout(self, header)
        row = QtWidgets.QHBoxLayout()
        row.setSpacing(0)
        row.addWidget(self.glw, 1)
        row.addWidget(self.bars_glw)
        layout.addLayout(row, 1)
        self.canvases = (self.glw, self.bars_glw)
        self.set_mode("sweep")

    def _build_header(self) -> QtWidgets.QHBoxLayout:
        """Title, quality legend, bad-channel and write-head labels, gain, Review / Back to live."""
        self.gain = QtWidgets.QComboBox()
        for g in GAINS_UV:
            self.gain.addItem(f"{g} µV", g)
        self.gain.setCurrentIndex(GAINS_UV.index(50))
        self.gain.setToolTip("Display sensitivity: µV between neighbouring channel baselines (0.5 Hz high-pass); "
                             "a trace is clipped at half that either side, so rows never overlap")
        self.gain.currentIndexChanged.connect(self._invalidate)
        self.review_button = QtWidgets.QPushButton("Review")
        self.review_button.setToolTip("Stop the sweep and scroll back through the last 5 minutes")
        self.review_button.clicked.connect(lambda: self.set_mode("review"))
        self.live_button = QtWidgets.QPushButton("Follow")
        self.live_button.setToolTip("Back to the sweep over the newest data")
        self.live_button.setEnabled(False)
        self.live_button.clicked.connect(lambda: self.set_mode("sweep"))
        # Elided, not clipped: at any width the counts and the head time stay apart, each shortened with "…" when
        # the header runs out of room (the header's spacing keeps them from reading as one text).
        self.bad_label = theme.ElidedLabel()
        self.bad_label.setObjectName("warning")
        self.head_label = theme.ElidedLabel(min_text="head at 00:00")  # shortened only past an hour on a tight row
        self.head_label.setObjectName("overlay")
        self.head_label.setToolTip("Sweep: the write head runs over a 10 s page and overwrites the previous page")
        header = theme.panel_header("EEG")
        self.legend = self._legend()
        header.addWidget(self.legend)
        header.addStretch(1)
        header.addWidget(self.bad_label)
        header.addWidget(self.head_label)
        header.addWidget(self.gain)
        header.addWidget(self.review_button)
        header.addWidget(self.live_button)
        return header

    def _build_traces(self) -> None:
        """The traces' canvas: channel names in their own y-linked view, the plot, the one-line-a-second grid."""
        self.glw = Canvas()
        self.glw.ci.setContentsMargins(2, 2, 6, 2)
        self.glw.ci.setSpacing(0)
        # channel names in their own view (y-linked), so each can take its quality colour
        self.label_vb = self.glw.addViewBox(row=0, col=0, enableMouse=False)
        self.label_vb.setFixedWidth(44)
        self.label_vb.setXRange(0, 1, padding=0)
        self.label_items: list[pg.TextItem] = []
        self.axis = EEGTimeAxis("bottom")
        self.plot = self.glw.addPlot(row=0, col=1, axisItems={"bottom": self.axis})
        theme.style_plot(self.plot, grid=False)
        self.plot.hideAxis("left")
        self.grid = pg.PlotCurveItem(pen=theme.pen(theme.GRID, 1), connect="pairs")  # one line a second
        self.grid.setZValue(-10)
        self.plot.addItem(self.grid, ignoreBounds=True)
        vb = self.plot.getViewBox()
        vb.enableAutoRange(enable=False)
        vb.sigRangeChangedManually.connect(self._manual_range)
        self.label_vb.setYLink(vb)
        self.strips: list[dict[str, pg.PlotCurveItem]] = [{} for _ in range(self.n_strips)]
        self.review_curves: dict[str, pg.PlotCurveItem] = {}
        self._place_rows()

    def _place_rows(self) -> None:
        """One row per channel (first on top): the names, and a view that holds every row.

        Where the rows are narrower than a line of text (past :attr:`max_names` channels, or a low panel) only every
        other name is shown, or every third...: the names would otherwise print over each other
        (:meth:`_show_names`).
        """
        for item in self.label_items:
            self.label_vb.removeItem(item)
        self.label_items = []
        for i, lab in enumerate(self.labels):
            item = pg.TextItem(lab, color=theme.QUALITY[""], anchor=(1, 0.5))
            item.setFont(theme.axis_font(8))
            item.setPos(0.95, float(self.offsets[i]))
            self.label_vb.addItem(item)
            self.label_items.append(item)
        self._show_names()
        vb = self.plot.getViewBox()
        # every trace (clipped at +/-ROW_HALF rows) stays inside the view: a curve whose bounds reach over the time axis
        # would be repainted with it each second
        self._setting_range = True
        try:
            vb.setLimits(yMin=-3, yMax=self.n + 2)
            vb.setYRange(-0.6, self.n - 0.4, padding=0)
        finally:
            self._setting_range = False

    def name_step(self) -> int:
        """Every how many rows a channel name is drawn: never two names closer than a line of text."""
        step = -(-self.n // self.max_names)
        height = self.plot.getViewBox().height()
        if height > 0 and self.n:
            row_px = height / (self.n + 0.2)  # the view holds n rows and a fifth of a row of margin
            # a name as drawn (its text item's box, margins included; it ignores the view's scaling)
            line_px = self.label_items[0].boundingRect().height() if self.label_items else \
                QtGui.QFontMetricsF(theme.axis_font(8)).height() + 4
            step = max(step, math.ceil(line_px / row_px))
        return step

    def _show_names(self) -> None:
        step = self.name_step()
        for i, item in enumerate(self.label_items):
            visible = i % step == 0
            if item.isVisible() != visible:
                item.setVisible(visible)

    def set_channels(self, labels: tuple[str, ...], flags: tuple[str, ...] | None = None) -> None:
        """Show these channels (a new headset): ``labels`` as drawn, ``flags`` their keys in ``bad_channels``.

        What was drawn for the previous channels is cleared; the quality colours follow with the next hop.
        """
        self.labels, self.flags = tuple(labels), tuple(flags if flags is not None else labels)
        self.n = len(self.labels)
        self.offsets = np.arange(self.n - 1, -1, -1, dtype=np.float32)
        self._reasons = None
        self._place_rows()
        self.reset()

    def _build_bars(self) -> None:
        """The band-power bar chart of the good channels, on its own canvas."""
        self.bars_glw = Canvas()  # own viewport: bar updates never repaint the traces, nor the reverse
        self.bars_glw.ci.setContentsMargins(2, 2, 6, 2)
        self.bars_glw.setFixedWidth(190)
        self.bars_plot = self.bars_glw.addPlot(row=0, col=0)
        theme.style_plot(self.bars_plot, left="% of power")
        self.bars_plot.setMouseEnabled(x=False, y=False)
        self.bars_plot.showGrid(x=False, y=True, alpha=theme.GRID_ALPHA)
        self.bars_plot.getAxis("bottom").setTicks([[(i, BAND_SYMBOLS.get(b, b)) for i, b in enumerate(BAND_NAMES)]])
        self.bars_plot.getAxis("bottom").setStyle(tickFont=theme.axis_font(10))
        self.bars_plot.setXRange(-0.6, len(BAND_NAMES) - 0.4, padding=0)
        self.bars_plot.setYRange(0, 60, padding=0)
        self.bars_plot.setTitle("band power", color=theme.MUTED, size="9pt")  # short: the canvas is narrow
        self.bars_glw.setToolTip("Relative band power (% of the six bands' total), mean over the good channels")
        self.bars = pg.BarGraphItem(x=np.arange(len(BAND_NAMES)), height=np.zeros(len(BAND_NAMES)), width=0.62,
                                    brush=pg.mkBrush(theme.EEG), pen=pg.mkPen(None))
        self.bars_plot.addItem(self.bars)
        self.bar_text = []
        for _ in BAND_NAMES:
            txt = pg.TextItem("", color=theme.FG, anchor=(0.5, 1.0))
            txt.setFont(theme.axis_font(8))
            self.bars_plot.addItem(txt)
            self.bar_text.append(txt)

    @staticmethod
    def _legend() -> theme.FitLabel:
        parts = [f"<span style='color:{theme.QUALITY[k]}'>━</span>&nbsp;{name}" for k, name in
                 (("", "good"), ("noisy", "noisy"), ("flat", "flat / non-finite"), ("railed", "railed"))]
        label = theme.FitLabel("&nbsp;&nbsp;".join(parts))  # left out on a narrow panel, never overlapped
        label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        label.setContentsMargins(16, 0, 0, 0)
        label.setToolTip("Trace colours: electrode quality (good, noisy, flat / non-finite, railed). The traces are "
                         "the headset's electrodes; model channels it lacks are interpolated (the scalp maps' hollow "
                         "dots)")
        return label

    # ------------------------------------------------------------------------------------------- modes
    @property
    def follow(self) -> bool:
        return self.mode == "sweep"

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        sweep = mode == "sweep"
        self.live_button.setEnabled(not sweep)
        self.review_button.setEnabled(sweep)
        vb = self.plot.getViewBox()
        vb.setMouseEnabled(x=not sweep, y=True)
        for strip in self.strips:
            for curve in strip.values():
                curve.setVisible(sweep)
        for curve in self.review_curves.values():
            curve.setVisible(not sweep)
        self._strip_keys = [None] * self.n_strips
        self._review_key = None
        self._setting_range = True
        try:
            self.axis.set_sweeping(sweep)
            self.head_label.setVisible(sweep)
            self._fit_legend()
            if sweep:
                vb.setXRange(0, self.page_s, padding=0)
                self._grid_lines(0, self.page_s)
            else:
                newest = self._newest if self._newest == self._newest else self.page_s
                vb.setXRange(newest - self.page_s, newest, padding=0)
        finally:
            self._setting_range = False

    _newest = float("nan")

    def _grid_lines(self, x0: float, x1: float) -> None:
        step = 1.0 if x1 - x0 <= 30 else 10.0 if x1 - x0 <= 300 else 60.0
        gx = np.arange(np.ceil(x0 / step) * step, x1 + 1e-9, step)
        self.grid.setData(np.repeat(gx, 2), np.tile([-3.0, self.n + 2.0], len(gx)))

    def _manual_range(self, mask=None) -> None:
        if self._setting_range:
            return
        if self.mode == "sweep" and (mask is None or (isinstance(mask, (list, tuple)) and mask[0])):
            self.set_mode("review")
        self._review_key = None

    def set_follow(self, follow: bool) -> None:
        self.set_mode("sweep" if follow else "review")

    def _invalidate(self, *_) -> None:
        self._strip_keys = [None] * self.n_strips
        self._review_key = None

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self._fit_legend()
        QtCore.QTimer.singleShot(0, self._show_names)  # once the canvas has its new size

    def _fit_legend(self) -> None:
        """Show the legend only when the whole header fits at its full width: the channel counts and the head time
        matter more, and a hidden legend leaves them its room (its tooltip keeps the colours' meaning)."""
        widgets = [self.header.itemAt(i).widget() for i in range(self.header.count())]
        shown = [w for w in widgets if w is not None and (w.isVisibleTo(self) or w is self.legend)]
        margins = self.header.contentsMargins()
        full = sum(w.sizeHint().width() for w in shown) + self.header.spacing() * (len(shown) - 1) + \
            margins.left() + margins.right()
        fits = self.width() >= full
        if fits != self.legend.isVisibleTo(self):
            self.legend.setVisible(fits)

    def reset(self) -> None:
        self._features_version = -1
        self._newest = float("nan")
        for strip in self.strips:
            for curve in strip.values():
                curve.setData([], [])
        for curve in self.review_curves.values():
            curve.setData([], [])
        self.set_mode("sweep")

    # ------------------------------------------------------------------------------------------- refresh
    def refresh(self, history: History) -> bool:
        headset = history.snapshot.headset
        if headset.labels and headset.labels != self.labels:
            self.set_channels(headset.labels, headset.flags)
        changed = self._refresh_quality(history)
        changed |= self._refresh_bars(history)
        ring = history.eeg
        if ring is None or not np.isfinite(ring.newest) or ring.n_channels != self.n:
            return changed
        self._newest = ring.newest
        vb = self.plot.getViewBox()
        width = max(100, int(vb.width()))
        if self.mode == "sweep":
            return self._refresh_sweep(ring, width) or changed
        (x0, x1), _ = vb.viewRange()
        key = (round(x0, 4), round(x1, 4), width, self.gain.currentData(), self._reasons, ring.newest
               if x1 >= ring.newest - 0.1 else None)
        if key != self._review_key:
            self._review_key = key
            self._grid_lines(x0, x1)
            t, x = ring.window(x0 - 0.02 * (x1 - x0), x1)
            self._draw(self.review_curves, [peak_decimate(t, x, width // 2)] if len(t) > 1 else [], True)
            changed = True
        return changed

    def _refresh_sweep(self, ring, width: int) -> bool:
        page, strip_s = self.page_s, self.page_s / self.n_strips
        now = ring.newest
        k = int(np.floor(now / page))
        head = now - k * page
        head_text = f"head at {theme.clock(now)}"
        if self.head_label.text() != head_text:
            self.head_label.setText(head_text)
        bins = max(4, int(width / self.n_strips / 2))  # one min/max pair per two pixels
        fs = ring.sfreq
        gain = self.gain.currentData()
        changed = False
        for j in range(self.n_strips):
            x0, x1 = j * strip_s, (j + 1) * strip_s
            cur = (x0, min(x1, head)) if head > x0 else None
            b0 = max(x0, head + self.gap_s)
            prev = (b0, x1) if b0 < x1 else None
            key = (k, None if cur is None else round(cur[1] * fs), None if prev is None else round(prev[0] * fs),
                   bins, gain, self._reasons)
            if key == self._strip_keys[j]:
                continue
            self._strip_keys[j] = key
            segments = []
            for span, base in ((cur, k * page), (prev, (k - 1) * page)):
                if span is None:
                    continue
                t, x = ring.window(base + span[0], base + span[1])
                if len(t) > 1:
                    factor = max(1, int(round(len(t) / bins * (strip_s / max(span[1] - span[0], 1e-9)))))
                    td, y = peak_decimate(t, x, max(1, len(t) // factor))
                    segments.append((td - base, y))
            self._draw(self.strips[j], segments, True)
            self.strip_updates += 1
            changed = True
        return changed

    def _draw(self, curves: dict[str, pg.PlotCurveItem], segments: list, visible: bool) -> None:
        """Draw ``segments`` [(x (L,), data (C, L))] into ``curves`` (one per quality class, created on demand)."""
        if not segments:
            for curve in curves.values():
                curve.setData([], [])
            return
        xs, data, connect_row = stack_segments(segments)
        gain = float(self.gain.currentData())
        y = data / gain
        # each channel stays inside its own row: a larger swing is clipped (raise the µV per row to see it whole)
        # rather than drawn over its neighbours, whatever the panel's height (issue 22, item 5)
        np.clip(y, -ROW_HALF, ROW_HALF, out=y)
        y += self.offsets[:, None]
        reasons = self._reasons or ("",) * self.n
        groups: dict[str, list[int]] = {}
        present = np.isfinite(data).any(axis=1)
        for ch, reason in enumerate(reasons):
            if reason == "missing" or not present[ch]:
                continue
            groups.setdefault(reason if reason in theme.QUALITY else "noisy", []).append(ch)
        for reason in list(curves):
            if reason not in groups:
                curves[reason].setData([], [])
        for reason, chans in groups.items():
            curve = curves.get(reason)
            if curve is None:
                curve = pg.PlotCurveItem(pen=theme.pen(theme.QUALITY[reason], 1), skipFiniteCheck=True)
                curve.setZValue(0 if reason == "" else 1)
                curve.setVisible(visible)
                self.plot.addItem(curve)
                curves[reason] = curve
            ys = y[chans]
            connect = np.tile(connect_row, (len(chans), 1))
            bad = ~np.isfinite(ys)
            if bad.any():  # a few non-finite samples: break the line there
                connect[bad] = False
                connect[:, :-1][bad[:, 1:]] = False
                ys = np.where(bad, self.offsets[chans, None], ys)
            curve.setData(np.tile(xs, len(chans)), ys.ravel(), connect=connect.ravel())

    def curves_by_quality(self) -> dict[str, int]:
        """Points drawn per quality class (``""`` = good) in the current mode."""
        curves = self.strips if self.mode == "sweep" else [self.review_curves]
        out: dict[str, int] = {}
        for group in curves:
            for reason, curve in group.items():
                n = curve.getData()[0]
                if n is not None and len(n):
                    out[reason] = out.get(reason, 0) + len(n)
        return out

    def _refresh_quality(self, history: History) -> bool:
        reasons = tuple(history.bad_channels.get(key, "") for key in self.flags)
        if reasons == self._reasons:
            return False
        self._reasons = reasons
        self._invalidate()
        for item, reason, lab in zip(self.label_items, reasons, self.labels):
            item.setColor(theme.QUALITY.get(reason, theme.QUALITY["noisy"]))
            item.setToolTip(f"{lab}: {reason}" if reason else f"{lab}: good")
        # Counts per reason fit the header at any montage (a partial one misses many channels); names in the tooltip.
        by_reason: dict[str, list[str]] = {}
        for lab, r in zip(self.labels, reasons):
            if r:
                by_reason.setdefault(r, []).append(lab)
        text = " · ".join(f"{len(labs)} {r}" for r, labs in by_reason.items())
        self.bad_label.setText(text)
        self._fit_legend()
        self.bad_label.setToolTip("\n".join(f"{r}: {', '.join(labs)}" for r, labs in by_reason.items()))
        return True

    def _refresh_bars(self, history: History) -> bool:
        if history.features_version == self._features_version or history.features is None:
            return False
        self._features_version = history.features_version
        feats = np.asarray(history.features, dtype=float)
        good = history.good if history.good is not None and np.any(history.good) else np.ones(feats.shape[1], bool)
        power = 10.0 ** feats[:, good]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            rel = 100.0 * np.nanmean(power / np.nansum(power, axis=0, keepdims=True), axis=1)
        rel = np.where(np.isfinite(rel), rel, 0.0)
        self.bars.setOpts(height=rel)
        top = max(40.0, 10.0 * math.ceil(float(rel.max()) / 10.0 + 0.5))
        self.bars_plot.setYRange(0, top, padding=0)
        for i, (txt, v) in enumerate(zip(self.bar_text, rel)):
            txt.setText(f"{v:.0f}")
            txt.setPos(i, v + top * 0.01)
        return True
