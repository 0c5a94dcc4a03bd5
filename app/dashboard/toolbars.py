"""The window's toolbars: the streams (picker, Start/Stop), the session (Record, Marker, Open recording…, Subject…),
the notice line, and the replay transport with its way back to the live streams.

The streams and the session share one row where the window is wide enough and take two rows where it is not
(:meth:`Toolbars.reflow`): a toolbar that runs out of room hides its last buttons behind an arrow, and the Record
button must never be one of them (issue 22, item 5).
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from affectstream.app.dashboard.controls import StreamPicker
from affectstream.app.dashboard.notice import NoticeBar
from affectstream.app.dashboard.recording_control import RecordingControl
from affectstream.app.dashboard.replay_bar import ReplayBar


def _toolbar(window: QtWidgets.QMainWindow, title: str, name: str) -> QtWidgets.QToolBar:
    bar = window.addToolBar(title)
    bar.setObjectName(name)
    bar.setMovable(False)
    bar.setIconSize(QtCore.QSize(16, 16))
    return bar


def _button(text: str, tip: str, slot) -> QtWidgets.QPushButton:
    button = QtWidgets.QPushButton(text)
    button.setToolTip(tip)
    button.clicked.connect(slot)
    return button


class Toolbars:
    """Builds the toolbars into ``window`` (a ``DashboardWindow``) and keeps their widgets.

    Parameters
    ----------
    window : DashboardWindow
        Its slots are connected here.
    record_dir : path | None
        The recordings folder (see :class:`~.recording_control.RecordingControl`).
    """

    def __init__(self, window, record_dir=None) -> None:
        self.window = window
        self.streams = _toolbar(window, "Streams", "toolbar-streams")
        self.picker = StreamPicker()
        self.streams.addWidget(self.picker)
        self.start_button = _button("Start", "Open the picked streams and start estimating (Stop closes them)",
                                    window._start_stop_clicked)
        self.streams.addWidget(self.start_button)
        self.session = _toolbar(window, "Session", "toolbar-session")
        self.recording = RecordingControl(window, record_dir)
        self.session.addWidget(self.recording.button)
        self.marker_button = _button("Marker (M)", "Publish a marker on the 'affectstream-markers' LSL stream and "
                                     "draw it (key M)", window.add_marker)
        self.session.addWidget(self.marker_button)
        self.session.addSeparator()
        self.open_button = _button("Open recording…", "Replay an XDF recording (affectstream's or another tool's) "
                                   "through the same pipeline, with play/pause, seek and speed",
                                   window._open_clicked)
        self.session.addWidget(self.open_button)
        self.subject_button = _button("Subject…", "Use a subject's calibration profile (made by `affectstream "
                                      "calibrate`); the session restarts with it", window._subject_clicked)
        self.session.addWidget(self.subject_button)
        window.addToolBarBreak()
        notices = _toolbar(window, "Notices", "toolbar-notices")
        notices.setStyleSheet("QToolBar { padding: 0px; border: none; }")
        self.notice = NoticeBar()
        notices.addWidget(self.notice)
        notices.setVisible(False)
        self.notice.visibility_changed.connect(notices.setVisible)
        self.notices = notices
        window.addToolBarBreak()
        self.replay = _toolbar(window, "Replay", "toolbar-replay")
        self.replay_bar = ReplayBar()
        self.replay.addWidget(self.replay_bar)
        self.live_button = _button("◀ Back to live", "Close the recording and open the live streams again",
                                   window.back_to_live)
        self.replay.addWidget(self.live_button)
        self.replay.setVisible(False)
        self._split = False

    def reflow(self, width: int) -> None:
        """One row for the streams and the session when both fit in ``width``, else two."""
        need = self.streams.sizeHint().width() + self.session.sizeHint().width() + 8
        split = width < need
        if split != self._split:
            self._split = split
            if split:
                self.window.insertToolBarBreak(self.session)
            else:
                self.window.removeToolBarBreak(self.session)
