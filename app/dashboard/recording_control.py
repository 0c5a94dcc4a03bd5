"""The Record button, the folder recordings go to, and what the window says about a recording.

The folder is the user's (:func:`affectstream.core.paths.recordings_dir`: ``--recordings DIR``,
``$AFFECTSTREAM_RECORDINGS`` or ``recordings/`` of the working directory), shown in the button's tooltip and menu,
where another one can be chosen. The recording itself runs on the worker thread
(:meth:`~.worker.SessionWorker.record`); this class only asks, and follows the snapshot: the notice line says where
the file is while it records and once it is saved, and a recording that failed is shown there (with the button
released) while the session goes on (issue 22, items 1 and 2).
"""

from __future__ import annotations

import math
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from affectstream.core.paths import recordings_dir

RECORD_TEXT, RECORDING_TEXT = "● Record", "■ Stop recording"


class RecordingControl(QtCore.QObject):
    """Owns :attr:`button` (a checkable tool button with a folder menu) for ``window`` (a ``DashboardWindow``).

    Parameters
    ----------
    window : DashboardWindow
        Its ``worker``, ``running``, ``subject`` and ``notice`` are used.
    folder : path | None
        The recordings folder (None: :func:`recordings_dir`'s default).
    """

    def __init__(self, window, folder: str | Path | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.folder = recordings_dir(folder)
        self.requested: Path | None = None  #: the file asked for (None: not recording)
        self.pending: Path | None = None  #: record to this file as soon as the session runs (``demo --record``)
        self._confirmed: str | None = None  #: the recording the snapshot last confirmed
        self._shown_error = ""
        self.button = QtWidgets.QToolButton()
        self.button.setObjectName("record")
        self.button.setText(RECORD_TEXT)
        self.button.setCheckable(True)
        self.button.setPopupMode(QtWidgets.QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        menu = QtWidgets.QMenu(self.button)
        self.folder_action = menu.addAction("")
        self.folder_action.setEnabled(False)
        menu.addAction("Choose the recordings folder…", self.choose_folder)
        menu.addAction("Show the folder", self._show_folder)
        self.button.setMenu(menu)
        self.button.toggled.connect(self._toggled)
        self._describe_folder()

    # ------------------------------------------------------------------------------------------- folder
    def set_folder(self, folder: str | Path) -> None:
        """Record into ``folder`` from the next recording on."""
        self.folder = recordings_dir(folder)
        self._describe_folder()
        self.window.notice.show_notice(f"Recordings go to {self.folder}")

    def _describe_folder(self) -> None:
        self.folder_action.setText(f"Recordings folder: {self.folder}")
        self.button.setToolTip("Record every stream of the session (EEG, video, markers, ground truth) and its "
                               f"estimates to one XDF file in\n{self.folder}\n(the arrow: choose another folder)")

    def choose_folder(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self.window, "Folder for the recordings", str(self.folder))
        if folder:
            self.set_folder(folder)

    def _show_folder(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(self.folder)))

    # ------------------------------------------------------------------------------------------- recording
    def new_path(self) -> Path:
        """A new file name in the folder (``sub-<subject>_ses-1_task-dashboard_<time>.xdf``)."""
        from affectstream.core.xdf_writer import recording_path

        return recording_path(self.folder, subject=self.window.subject or "01", task="dashboard")

    def _toggled(self, on: bool) -> None:
        if on:
            self.start()
        else:
            self.stop()

    def start(self, path: str | Path | None = None) -> bool:
        """Ask the worker to record to ``path`` (default: :meth:`new_path`); False when no session runs."""
        if not self.window.running or self.window.replaying:
            self._set_checked(False)
            why = "a replay is not recorded again: the file is the recording" if self.window.replaying else \
                "start a session before recording"
            self.window.notice.show_notice(why, "warn", timeout_s=8.0)
            return False
        self.requested = Path(path) if path is not None else self.new_path()
        self._set_checked(True)
        self.window.worker.record(self.requested)
        self.window.notice.show_notice(f"starting the recording to {self.requested} …")
        return True

    def stop(self) -> None:
        """Stop recording (the file is closed on the worker thread)."""
        self._set_checked(False)
        if self.requested is not None and self.window.worker is not None:
            self.window.worker.record(None)

    def _set_checked(self, on: bool) -> None:
        self.button.blockSignals(True)
        self.button.setChecked(on)
        self.button.setText(RECORDING_TEXT if on else RECORD_TEXT)
        self.button.blockSignals(False)

    def refresh(self, snapshot) -> None:
        """Follow the worker: the file recorded, saved, or why the recording failed (every frame)."""
        if self.pending is not None and snapshot.state == "running" and self.window.running:
            path, self.pending = self.pending, None
            self.start(path)
        error = snapshot.recording_error
        if error and error != self._shown_error:
            self._shown_error = error
            self.requested, self._confirmed = None, None
            self._set_checked(False)
            self.window.notice.show_notice(f"Recording stopped: {error}. The session goes on; what was written "
                                           "before is readable.", "error")
            return
        recording = snapshot.recording
        if recording == self._confirmed:
            return
        if recording is not None:
            self.window.notice.show_notice(f"● Recording every stream to {recording}", timeout_s=math.inf)
        elif self._confirmed is not None:
            self.window.notice.show_notice(f"Saved {self._confirmed}")
            self.requested = None
            self._set_checked(False)
        self._confirmed = recording

    def session_ended(self) -> None:
        """The session stopped: a recording it had is closed with it."""
        self._set_checked(False)
        if self._confirmed is not None:
            self.window.notice.show_notice(f"Saved {self._confirmed}")
        self.requested, self._confirmed = None, None
