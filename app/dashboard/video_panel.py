"""The newest video frame with the tracked face box, and the visual student's FER+ class probabilities."""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from affectstream.app.dashboard import theme
from affectstream.app.dashboard.canvas import Canvas

FERPLUS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")


class VideoPanel(QtWidgets.QWidget):
    """Frame (only repainted when a new one arrived), face box and label, probability bars."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.frames_shown = 0
        self._frame_id = None
        self._face_key = None
        self._found = None
        self._next_bars = 0.0
        self.classes: tuple[str, ...] = FERPLUS
        self.caption = QtWidgets.QLabel("no video source")
        self.caption.setObjectName("overlay")
        header = theme.panel_header("Face")
        header.addStretch(1)
        header.addWidget(self.caption)

        self.glw = Canvas()
        self.glw.ci.setContentsMargins(4, 2, 6, 4)
        self.glw.ci.setSpacing(4)
        self.view = self.glw.addViewBox(row=0, col=0, lockAspect=True, invertY=True, enableMouse=False)
        self.view.setMenuEnabled(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        self.box = QtWidgets.QGraphicsRectItem()
        self.box.setPen(theme.pen(theme.FACE, 2))
        self.box.setVisible(False)
        self.view.addItem(self.box)
        self.box_label = pg.TextItem("", color="#111111", fill=pg.mkBrush(theme.FACE), anchor=(0, 1))
        self.box_label.setFont(theme.axis_font(9))
        self.box_label.setVisible(False)
        self.view.addItem(self.box_label)
        self.placeholder = pg.TextItem("no video", color=theme.MUTED, anchor=(0.5, 0.5))
        self.view.addItem(self.placeholder)
        self.placeholder.setPos(160, 120)
        self.view.setRange(xRange=(0, 320), yRange=(0, 240), padding=0)

        # the bars get their own canvas: a left axis reaches 15 px above itself, and sharing a viewport with the
        # image would repaint the axis with every video frame
        self.bars_glw = Canvas()
        self.bars_glw.ci.setContentsMargins(4, 0, 6, 4)
        self.bars_glw.setFixedHeight(150)
        self.bars_plot = self.bars_glw.addPlot(row=0, col=0)
        theme.style_plot(self.bars_plot)
        self.bars_plot.showGrid(x=True, y=False, alpha=theme.GRID_ALPHA)
        self.bars_plot.setMouseEnabled(x=False, y=False)
        self.bars_plot.getViewBox().invertY(True)
        self.bars_plot.setXRange(0, 1, padding=0)
        self.bars_plot.setYRange(-0.6, len(self.classes) - 0.4, padding=0)
        self.bars_plot.getAxis("left").setWidth(74)
        self.bars_plot.getAxis("left").setTicks([[(i, c) for i, c in enumerate(self.classes)]])
        self.bars_plot.getAxis("bottom").setTicks([[(v, f"{v:.0%}") for v in (0, 0.25, 0.5, 0.75, 1.0)]])
        self.bars = pg.BarGraphItem(x0=np.zeros(len(self.classes)), y=np.arange(len(self.classes)),
                                    width=np.zeros(len(self.classes)), height=0.66,
                                    brush=pg.mkBrush(theme.FACE), pen=pg.mkPen(None))
        self.bars_plot.addItem(self.bars)

        layout = theme.panel_layout(self, header)
        self.body = QtWidgets.QBoxLayout(QtWidgets.QBoxLayout.Direction.TopToBottom)
        self.body.setSpacing(0)
        self.body.addWidget(self.glw, 1)
        self.body.addWidget(self.bars_glw)
        layout.addLayout(self.body, 1)
        self.canvases = (self.glw, self.bars_glw)

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:  # noqa: N802 - Qt naming
        """The bars go beside the frame when the panel is wide and low (a short window), else under it: either
        way the frame keeps room enough to show the face and its tag (issue 22, item 5)."""
        super().resizeEvent(event)
        size = event.size()
        side = size.width() >= 1.6 * size.height()
        direction = QtWidgets.QBoxLayout.Direction.LeftToRight if side else \
            QtWidgets.QBoxLayout.Direction.TopToBottom
        if self.body.direction() != direction:
            self.body.setDirection(direction)
            if side:
                self.bars_glw.setMinimumHeight(0)
                self.bars_glw.setMaximumHeight(16777215)
                self.bars_glw.setFixedWidth(max(200, size.width() // 2 - 20))
            else:
                self.bars_glw.setMinimumWidth(0)
                self.bars_glw.setMaximumWidth(16777215)
                self.bars_glw.setFixedHeight(150)
        elif side:
            self.bars_glw.setFixedWidth(max(200, size.width() // 2 - 20))

    def reset(self) -> None:
        self._frame_id = None
        self._face_key = None
        self.image.clear()
        self.placeholder.setVisible(True)
        self._show_box(None)
        self._show_face(None)

    def refresh(self, snapshot, enabled: bool) -> bool:
        """Show the snapshot's newest frame and face result; returns True when anything changed."""
        changed = False
        frame = snapshot.frame
        if frame is not None and snapshot.frame_id != self._frame_id:
            self._frame_id = snapshot.frame_id
            h, w = frame.shape[:2]
            rgb = frame[..., ::-1] if frame.ndim == 3 else frame
            self.image.setImage(np.ascontiguousarray(rgb), autoLevels=False, levels=(0, 255))
            if self.frames_shown == 0 or self.image.width() != w:
                self.view.setRange(xRange=(0, w), yRange=(0, h), padding=0)
            self.placeholder.setVisible(False)
            self.frames_shown += 1
            changed = True
        elif frame is None and self._frame_id is not None and not enabled:
            self.image.clear()
            self._frame_id = None
        if not enabled and self.placeholder.isVisible() is False and frame is None:
            self.placeholder.setVisible(True)
        face = snapshot.face
        if id(face) != self._face_key:
            self._face_key = id(face)
            found = face is not None and face.found
            self._show_box(face)
            now = time.monotonic()
            # the bars and the label follow at 5 Hz: a 15 Hz flicker of probabilities is unreadable and costly
            if found != self._found or now >= self._next_bars:
                self._found = found
                self._next_bars = now + 0.2
                self._show_face(face)
            changed = True
        video = snapshot.streams.get("Video")
        caption = "no video source" if video is None else \
            f"{video.name} · {video.measured_rate:.1f} fps" if video.measured_rate == video.measured_rate else \
            f"{video.name} · {video.state}"
        if self.caption.text() != caption:
            self.caption.setText(caption)
        return changed

    def _show_box(self, face) -> None:
        if face is None or not face.found or face.box is None:
            self.box.setVisible(False)
            self.box_label.setVisible(False)
            return
        x, y, w, h = face.box
        self.box.setRect(QtCore.QRectF(x, y, w, h))
        self.box.setVisible(True)
        self._place_tag(x, y, w)

    def _place_tag(self, x: float, y: float, w: float) -> None:
        """The tag sits on the box's top edge, inside the frame: below that edge when the box touches the frame's
        top, and ending at the box's right edge when it would run past the frame's right (issue 22, item 5)."""
        px_w, px_h = self.view.viewPixelSize()
        rect = self.box_label.boundingRect()
        frame_w = self.image.width() or 320
        above = y - rect.height() * px_h >= 0
        right = x + rect.width() * px_w > frame_w
        self.box_label.setAnchor((1 if right else 0, 1 if above else 0))
        self.box_label.setPos(x + w if right else x, y)

    def _show_face(self, face) -> None:
        if face is None or not face.found or face.box is None:
            probs = np.zeros(len(self.classes))
        else:
            affect = face.affect
            if affect is not None:
                text = f" {affect.label} {float(np.max(affect.probabilities)):.0%} "
                if tuple(affect.classes) != self.classes:
                    self.classes = tuple(affect.classes)
                    self.bars_plot.getAxis("left").setTicks([[(i, c) for i, c in enumerate(self.classes)]])
                probs = np.asarray(affect.probabilities, dtype=float)
            else:
                text = f" face {face.score:.2f} "
                probs = np.zeros(len(self.classes))
            if self.box_label.textItem.toPlainText() != text:
                self.box_label.setText(text)
                self._place_tag(*face.box[:3])
            self.box_label.setVisible(True)
        top = int(np.argmax(probs)) if probs.any() else -1
        brushes = [pg.mkBrush(theme.FACE if i == top else "#9a5b2e") for i in range(len(probs))]
        self.bars.setOpts(x0=np.zeros(len(probs)), y=np.arange(len(probs)), width=probs, brushes=brushes)
