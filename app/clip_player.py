"""A film clip on screen, with the time its first frame was drawn: the calibration wizard's clip stimuli.

Frames are decoded by OpenCV and painted by this widget on the wall clock (frame ``k`` is due ``k / fps`` seconds
after the first), skipping frames that are already late rather than slowing the clip down: a clip keeps its length
on a loaded machine, and the frames skipped are counted. Painting the frames ourselves is what lets the wizard
measure the delay between a clip's onset marker and its first frame: :attr:`ClipPlayer.first_frame` carries the LSL
clock at the end of the first ``paintEvent`` that drew the clip (what the compositor then adds, typically one
display refresh, is not seen by the application).

Sound goes through Qt Multimedia where the platform has it (``pip install 'affectstream[media]'``, and on Linux the
PulseAudio client library it links); it starts with the first frame. Without it the clip plays silent and
:func:`sound_support` says why, so the wizard can tell the user before the session starts.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from affectstream.calibration.clips import Clip

__all__ = ["ClipPlayer", "sound_support"]


def sound_support() -> str:
    """``""`` when clips play with sound here, else one line saying why they play silent."""
    try:
        importlib.import_module("PySide6.QtMultimedia")  # whether it loads is the question
    except ImportError as exc:
        if "No module named" in str(exc):
            return "clips play without sound: Qt Multimedia is not installed (pip install 'affectstream[media]')"
        return f"clips play without sound: Qt Multimedia cannot load here ({exc})"
    return ""


class ClipPlayer(QtWidgets.QWidget):
    """Plays one :class:`~affectstream.calibration.clips.Clip` at a time, scaled to the widget, aspect kept.

    Signals
    -------
    first_frame(float)
        The LSL clock (``local_clock``) when the clip's first frame had been painted.
    finished()
        The clip played to its end (not emitted by :meth:`stop`).
    """

    first_frame = QtCore.Signal(float)
    finished = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(320, 180)
        self._cap = None
        self._clip: Clip | None = None
        self._image: QtGui.QImage | None = None
        self._t0: float | None = None  # perf_counter when the first frame was drawn
        self._shown = 0  # index of the frame drawn last
        self._first_pending = False
        self.dropped = 0  #: frames skipped because they were late (the current or last clip)
        self._timer = QtCore.QTimer(self)
        self._timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        self._audio = None

    def play(self, clip: Clip) -> None:
        """Start ``clip`` now (stopping any other); its first frame is drawn at the next paint."""
        import cv2

        self.stop()
        cap = cv2.VideoCapture(str(clip.path))
        ok, frame = cap.read()
        if not ok:
            cap.release()
            raise ValueError(f"{clip.path}: cannot be decoded any more")
        self._cap, self._clip, self._shown, self.dropped = cap, clip, 0, 0
        self._set_frame(frame)
        self._t0, self._first_pending = None, True
        self._timer.start(max(1, int(500 / clip.fps)))  # twice a frame: a late frame is at most half a frame late
        self.update()

    def stop(self) -> None:
        """Stop the clip and its sound, blank the widget (no ``finished``)."""
        self._timer.stop()
        if self._cap is not None:
            self._cap.release()
        if self._audio is not None:
            self._audio[0].stop()
        self._cap, self._clip, self._image, self._audio = None, None, None, None
        self.update()

    @property
    def playing(self) -> bool:
        return self._cap is not None

    def _set_frame(self, frame) -> None:
        h, w = frame.shape[:2]
        self._image = QtGui.QImage(frame.data, w, h, 3 * w, QtGui.QImage.Format.Format_BGR888).copy()

    def _tick(self) -> None:
        if self._t0 is None or self._cap is None:
            return  # the first frame is not drawn yet
        due = int((time.perf_counter() - self._t0) * self._clip.fps)
        if due <= self._shown:
            return
        for _ in range(due - self._shown - 1):  # late frames: decoded past, not converted or drawn
            if not self._cap.grab():
                return self._end()
            self.dropped += 1
        ok, frame = self._cap.read()
        if not ok:
            return self._end()
        self._shown = due
        self._set_frame(frame)
        self.update()

    def _end(self) -> None:
        self.stop()
        self.finished.emit()

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802 - Qt's name
        painter = QtGui.QPainter(self)
        painter.fillRect(self.rect(), QtGui.QColor("black"))
        if self._image is not None:
            scaled = self._image.size().scaled(self.size(), QtCore.Qt.AspectRatioMode.KeepAspectRatio)
            x, y = (self.width() - scaled.width()) // 2, (self.height() - scaled.height()) // 2
            painter.drawImage(QtCore.QRect(x, y, scaled.width(), scaled.height()), self._image)
        painter.end()
        if self._first_pending and self._image is not None:
            from mne_lsl.lsl import local_clock

            self._first_pending = False
            self._t0 = time.perf_counter()
            self._start_sound()
            self.first_frame.emit(float(local_clock()))

    def _start_sound(self) -> None:
        if sound_support():
            return
        from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer

        player, output = QMediaPlayer(self), QAudioOutput(self)
        player.setAudioOutput(output)
        player.setSource(QtCore.QUrl.fromLocalFile(str(Path(self._clip.path).resolve())))
        player.play()
        self._audio = (player, output)
