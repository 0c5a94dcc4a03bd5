"""The replay transport: play/pause, a seek slider with the position, and the speed.

The bar only *asks*: every action goes to the worker thread (``SessionWorker.transport``), which owns the
:class:`~affectstream.pipelines.sessions.replay_session.ReplaySession`; what the bar shows comes back in the snapshot's
:class:`~affectstream.pipelines.sessions.replay_session.TransportState`. So the slider follows the replay, except while
the user drags it, and a seek lands when the handle is released (one fresh pipeline per seek, not one per pixel).
"""

from __future__ import annotations

import math

from PySide6 import QtCore, QtWidgets

from affectstream.pipelines.sessions.replay_session import SPEEDS, TransportState


def clock_text(seconds: float) -> str:
    """``m:ss`` (``h:mm:ss`` from an hour on)."""
    if not math.isfinite(seconds):
        return "–:––"
    s = int(max(seconds, 0.0))
    h, m, s = s // 3600, s // 60 % 60, s % 60
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ReplayBar(QtWidgets.QWidget):
    """Transport controls for a recording being replayed (hidden during live sessions).

    Signals carry the request: ``play_requested(bool)`` (True = play), ``seek_requested(float)`` (seconds from the
    start) and ``speed_requested(float)``.
    """

    play_requested = QtCore.Signal(bool)
    seek_requested = QtCore.Signal(float)
    speed_requested = QtCore.Signal(float)

    #: slider steps per second of recording (the slider is an int)
    STEPS_PER_S = 4

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.state: TransportState | None = None
        self.play_button = QtWidgets.QPushButton("▶ Play")
        self.play_button.setToolTip("Play or pause the recording (Space)")
        self.play_button.setMinimumWidth(84)
        self.play_button.clicked.connect(self._play_clicked)
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setToolTip("Seek: the estimates restart one analysis window before the chosen time")
        self.slider.setMinimumWidth(320)
        self.slider.sliderReleased.connect(self._seek_released)
        self.slider.sliderMoved.connect(self._show_drag)
        self.position = QtWidgets.QLabel("–:–– / –:––")
        self.position.setMinimumWidth(110)
        self.speed = QtWidgets.QComboBox()
        self.speed.setToolTip("Replay speed (the estimates are the same at every speed)")
        for s in SPEEDS:
            self.speed.addItem(f"{s:g}×", s)
        self.speed.setCurrentIndex(SPEEDS.index(1.0))
        self.speed.activated.connect(lambda i: self.speed_requested.emit(float(self.speed.itemData(i))))
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 6, 0)
        layout.setSpacing(8)
        layout.addWidget(self.play_button)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.position)
        layout.addWidget(QtWidgets.QLabel("speed"))
        layout.addWidget(self.speed)

    def _play_clicked(self) -> None:
        playing = self.state is not None and self.state.playing
        self.play_requested.emit(not playing)

    def _seek_released(self) -> None:
        self.seek_requested.emit(self.slider.value() / self.STEPS_PER_S)

    def _show_drag(self, value: int) -> None:
        total = self.state.duration_s if self.state is not None else math.nan
        self.position.setText(f"{clock_text(value / self.STEPS_PER_S)} / {clock_text(total)}")

    def toggle(self) -> None:
        """Play when paused, pause when playing (the Space key)."""
        self._play_clicked()

    def refresh(self, state: TransportState | None) -> bool:
        """Show ``state``; returns whether anything changed."""
        if state == self.state:
            return False
        self.state = state
        if state is None:
            return True
        self.play_button.setText("❚❚ Pause" if state.playing else "▶ Play")
        steps = int(math.ceil(state.duration_s * self.STEPS_PER_S))
        if self.slider.maximum() != steps:
            self.slider.setRange(0, steps)
        if not self.slider.isSliderDown():
            self.slider.blockSignals(True)
            self.slider.setValue(int(round(state.position_s * self.STEPS_PER_S)))
            self.slider.blockSignals(False)
            self.position.setText(f"{clock_text(state.position_s)} / {clock_text(state.duration_s)}")
        i = self.speed.findData(state.speed)
        if i < 0:  # a speed asked for on the command line
            self.speed.addItem(f"{state.speed:g}×", state.speed)
            i = self.speed.count() - 1
        if i != self.speed.currentIndex():
            self.speed.setCurrentIndex(i)
        return True
