"""The dashboard window: toolbar, four docked panels, status bar, and the 30 fps paint timer.

Threads: a :class:`~.worker.SessionWorker` polls the session and posts into a :class:`~.model.Mailbox`; a 33 ms
``QTimer`` on the GUI thread takes whatever is there, folds it into the :class:`~.model.History` and lets each panel
redraw only what changed. All item updates of one frame happen inside that one timer callback, so Qt paints them
in a single pass afterwards (the window's ``UpdateRequest``), which is also where the paint time is measured.

Frame budget on the 2-core machines: frames alternate between the EEG sweep + scalp maps and the traces + video
(each still 15 Hz); each canvas applies pending view changes before the paint (:meth:`.canvas.Canvas.settle`), so
one pass paints everything; and no frame dirties two distant parts of one canvas (Qt repaints every item inside
the bounding box of a frame's dirty region).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from affectstream.app.dashboard.controls import MarkerPublisher, StreamPicker
from affectstream.app.dashboard.eeg_panel import EEGPanel
from affectstream.app.dashboard.frame_times import FrameTimes
from affectstream.app.dashboard.model import History, Mailbox
from affectstream.app.dashboard.overlay import overlay_text
from affectstream.app.dashboard.replay_bar import ReplayBar
from affectstream.app.dashboard.status_bar import StatusPanel
from affectstream.app.dashboard.topomap_panel import TopomapPanel
from affectstream.app.dashboard.trace_panel import TracePanel
from affectstream.app.dashboard.video_panel import VideoPanel
from affectstream.app.dashboard.worker import SessionWorker, SourceSpec

log = logging.getLogger(__name__)

FRAME_MS = 33
#: The window's smallest size (px): what its toolbar and docked panels need side by side.
MIN_SIZE = (1120, 640)


class DashboardWindow(QtWidgets.QMainWindow):
    """The live dashboard.

    Parameters
    ----------
    spec : SourceSpec | None
        Streams to open at once (None: pick one in the toolbar and press Start).
    config : PipelineConfig | None
        Pipeline settings (default: saliency at 1 Hz).
    publish : bool
        Publish the ``Affect`` outlet while running.
    record_dir : path | None
        Folder for the XDF recordings (default ``recordings/`` in the working directory, as ``run --record``).
    list_streams : bool
        List the LSL streams for the picker when the window opens.
    session_factory : callable | None
        Passed to the worker (tests).
    profiles_dir : path | None
        Where the Subject… button looks for calibration profiles (default: the per-user folder).
    """

    closed = QtCore.Signal()

    RECORD_TIP = "Record every stream of the session and its estimates to one XDF file under recordings/"

    def __init__(self, spec: SourceSpec | None = None, *, config=None, publish: bool = True,
                 record_dir: str | Path | None = None, list_streams: bool = True, session_factory=None,
                 profiles_dir: str | Path | None = None) -> None:
        super().__init__()
        self.setWindowTitle("affectstream — live")
        self.resize(1680, 1000)
        self.config = config
        self.publish = publish
        self.record_dir = Path(record_dir if record_dir is not None else "recordings").resolve()
        self.session_factory = session_factory
        self.profiles_dir = Path(profiles_dir) if profiles_dir is not None else None
        #: names the recordings and the Affect outlet (its calibration profile is used when it has one)
        self.subject: str | None = spec.subject if spec is not None else None
        self.spec = spec
        self.worker: SessionWorker | None = None
        self._old_workers: list[SessionWorker] = []
        self.mailbox = Mailbox()
        self.history = History()
        self.markers = MarkerPublisher()
        self.exit_code = 0
        self._seq = -1
        self._listed_running = False
        self._auto: tuple[float, Path | None] | None = None
        self._auto_deadline = math.inf
        self._auto_started: float | None = None
        self.screenshot_path: Path | None = None
        self.frame_times = FrameTimes()  #: what each frame cost (affectstream bench, gui)
        self.ticks = 0
        self._epoch: int | None = None  #: the replay's seek count drawn (a new one clears the view)
        self._shown_recording_error = ""

        self._build_panels()
        self._build_toolbar()
        self.status = StatusPanel(self.statusBar())
        # An explicit minimum: otherwise the window's minimum follows every change of the layout's (a status text,
        # the replay bar), and each change is pushed to the window system, which the offscreen platform answers
        # with a "does not support propagateSizeHints()" line on stderr. Panel texts are elided or left out when
        # they do not fit, so what the panels need now is what they need with any text.
        self.setMinimumSize(self.minimumSizeHint().expandedTo(QtCore.QSize(*MIN_SIZE)))
        self.timer = QtCore.QTimer(self)
        self.timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)
        self.timer.start(FRAME_MS)
        shortcut = QtGui.QShortcut(QtGui.QKeySequence(QtCore.Qt.Key.Key_M), self)
        shortcut.setContext(QtCore.Qt.ShortcutContext.ApplicationShortcut)
        shortcut.activated.connect(self.add_marker)
        space = QtGui.QShortcut(QtGui.QKeySequence(QtCore.Qt.Key.Key_Space), self)
        space.activated.connect(self.replay_bar.toggle)
        if spec is not None:
            if spec.recording is None:
                self.picker.show_spec(spec)
            self.start(spec)
        if list_streams:
            QtCore.QTimer.singleShot(0, self.picker.refresh)

    # ------------------------------------------------------------------------------------------- layout
    def _build_panels(self) -> None:
        self.traces = TracePanel()
        self.eeg_panel = EEGPanel()
        self.topomaps = TopomapPanel()
        self.video = VideoPanel()
        self.setCentralWidget(self.traces)
        self.setDockOptions(QtWidgets.QMainWindow.DockOption.AnimatedDocks
                            | QtWidgets.QMainWindow.DockOption.AllowNestedDocks)
        self.docks: dict[str, QtWidgets.QDockWidget] = {}
        for key, title, widget, area in (
                ("video", "Face", self.video, QtCore.Qt.DockWidgetArea.RightDockWidgetArea),
                ("eeg", "EEG", self.eeg_panel, QtCore.Qt.DockWidgetArea.BottomDockWidgetArea),
                ("topomaps", "Scalp maps", self.topomaps, QtCore.Qt.DockWidgetArea.BottomDockWidgetArea)):
            dock = QtWidgets.QDockWidget(title, self)
            dock.setObjectName(f"dock-{key}")
            dock.setWidget(widget)
            dock.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable
                             | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetFloatable)
            dock.setTitleBarWidget(QtWidgets.QWidget())  # panels carry their own titles; docks stay movable
            self.addDockWidget(area, dock)
            self.docks[key] = dock
        self.splitDockWidget(self.docks["eeg"], self.docks["topomaps"], QtCore.Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["video"]], [440], QtCore.Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["eeg"], self.docks["topomaps"]], [960, 720], QtCore.Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["eeg"]], [520], QtCore.Qt.Orientation.Vertical)

    def _build_toolbar(self) -> None:
        bar = self.addToolBar("Session")
        bar.setObjectName("toolbar-session")
        bar.setMovable(False)
        bar.setIconSize(QtCore.QSize(16, 16))
        self.picker = StreamPicker()
        bar.addWidget(self.picker)
        bar.addSeparator()
        self.start_button = QtWidgets.QPushButton("Start")
        self.start_button.setToolTip("Open the picked streams and start estimating (Stop closes them)")
        self.start_button.clicked.connect(self._start_stop_clicked)
        bar.addWidget(self.start_button)
        self.record_button = QtWidgets.QPushButton("● Record")
        self.record_button.setCheckable(True)
        self.record_button.setToolTip(self.RECORD_TIP)
        self.record_button.toggled.connect(self._record_toggled)
        bar.addWidget(self.record_button)
        self.marker_button = QtWidgets.QPushButton("Marker  (M)")
        self.marker_button.setToolTip("Publish a marker on the 'affectstream-markers' LSL stream and draw it (key M)")
        self.marker_button.clicked.connect(self.add_marker)
        bar.addWidget(self.marker_button)
        bar.addSeparator()
        self.open_button = QtWidgets.QPushButton("Open recording…")
        self.open_button.setToolTip("Replay an XDF recording (affectstream's or another tool's) through the same "
                                    "pipeline, with play/pause, seek and speed")
        self.open_button.clicked.connect(self._open_clicked)
        bar.addWidget(self.open_button)
        self.subject_button = QtWidgets.QPushButton(f"Subject: {self.subject}" if self.subject else "Subject…")
        self.subject_button.setToolTip("Use a subject's calibration profile (made by `affectstream calibrate`); the "
                                       "session restarts with it")
        self.subject_button.clicked.connect(self._subject_clicked)
        bar.addWidget(self.subject_button)
        self.addToolBarBreak()
        self.replay_toolbar = self.addToolBar("Replay")
        self.replay_toolbar.setObjectName("toolbar-replay")
        self.replay_toolbar.setMovable(False)
        self.replay_bar = ReplayBar()
        self.replay_bar.play_requested.connect(lambda play: self._transport("play" if play else "pause"))
        self.replay_bar.seek_requested.connect(lambda t: self._transport("seek", t))
        self.replay_bar.speed_requested.connect(lambda k: self._transport("set_speed", k))
        self.replay_toolbar.addWidget(self.replay_bar)
        self.replay_toolbar.setVisible(False)

    # ------------------------------------------------------------------------------------------- session
    @property
    def running(self) -> bool:
        return self.worker is not None and not self.worker.stopping

    @property
    def replaying(self) -> bool:
        return self.spec is not None and self.spec.recording is not None

    def _open_clicked(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open an XDF recording", str(self.record_dir),
                                                        "XDF recordings (*.xdf);;All files (*)")
        if path:
            self.open_recording(path)

    def open_recording(self, path: str | Path, speed: float = 1.0) -> None:
        """Replay the XDF file ``path`` in this window (the live session, if any, is stopped first)."""
        self.start(SourceSpec(eeg=None, recording=str(path), replay_speed=speed))

    def _subject_clicked(self) -> None:
        from affectstream.calibration.profiles import default_profiles_dir

        root = self.profiles_dir or default_profiles_dir()
        subjects = sorted(p.parent.name for p in root.glob("*/profile.json")) if root.is_dir() else []
        items = ["(no profile: the bundled student)"] + subjects
        current = self.subject if self.subject in subjects else items[0]
        choice, ok = QtWidgets.QInputDialog.getItem(self, "Subject", f"calibration profiles in {root}", items,
                                                    items.index(current), False)
        if ok:
            self.use_subject(None if choice == items[0] else choice)

    def use_subject(self, subject: str | None) -> bool:
        """Estimate with ``subject``'s calibration profile (None: the bundled student); restarts a running session.

        A profile made for another montage or model is refused with its reason in the status bar.
        """
        from affectstream.calibration.profiles import ProfileError, default_profiles_dir, load_profile
        from affectstream.pipelines.config import PipelineConfig

        base = self.config or PipelineConfig(saliency_every_hops=4)
        if subject is None:
            self.config, self.subject = dataclasses.replace(base, profile=None), None
        else:
            try:
                profile = load_profile(self.profiles_dir or default_profiles_dir(), subject)
            except ProfileError as exc:
                self.statusBar().showMessage(str(exc), 15000)
                return False
            self.config, self.subject = dataclasses.replace(base, profile=str(profile.folder)), subject
        self.subject_button.setText(f"Subject: {subject}" if subject else "Subject…")
        if self.running:
            self.start(self.spec)
        return True

    def _transport(self, action: str, *args) -> None:
        if self.worker is not None and self.replaying:
            self.worker.transport(action, *args)

    def _start_stop_clicked(self) -> None:
        if self.running and self.history.snapshot.state == "lost":
            self.start(self.spec)  # reconnect: a lost inlet cannot recover, a new session can
        elif self.running:
            self.stop()
        else:
            self.start()

    def _sync_buttons(self, state: str) -> None:
        """Start/Stop/Reconnect follows the worker: a session that failed or ended offers Start again."""
        if self.worker is not None and not self.worker.is_alive():
            self._old_workers.append(self.worker)
            self.worker = None
            if self.record_button.isChecked():
                self.record_button.setChecked(False)
        text = "Start" if self.worker is None else "Reconnect" if state == "lost" else "Stop"
        if self.start_button.text() != text:
            self.start_button.setText(text)

    def _picked_spec(self) -> SourceSpec | None:
        picked = self.picker.spec()
        if picked is None:
            return self.spec
        same = self.spec is not None and picked.eeg_source_id == self.spec.eeg_source_id and \
            picked.video_source_id == self.spec.video_source_id
        return self.spec if same else picked

    def start(self, spec: SourceSpec | None = None) -> None:
        """Open ``spec`` (default: the picked streams) in a new worker; the previous session is stopped."""
        spec = spec or self._picked_spec()
        if spec is None:
            self.statusBar().showMessage("pick an EEG stream first (⟳ lists the streams on this machine)", 5000)
            return
        if spec.subject != self.subject:  # the picker's specs do not know the subject
            spec = dataclasses.replace(spec, subject=self.subject)
        self.stop()
        self.spec = spec
        self.mailbox = Mailbox()
        self._seq = -1
        self._listed_running = False
        self._reset_view()
        replaying = spec.recording is not None
        self.replay_toolbar.setVisible(replaying)
        self.replay_bar.refresh(None)
        self.record_button.setEnabled(not replaying)
        self.record_button.setToolTip("A replay is not recorded again: the file is the recording" if replaying
                                      else self.RECORD_TIP)
        self.setWindowTitle(f"affectstream — replay {Path(spec.recording).name}" if replaying
                            else "affectstream — live")
        if self.config is not None:
            self.topomaps.set_saliency_kind(self.config.saliency_kind)
        self.worker = SessionWorker(spec, self.mailbox, config=self.config, publish=self.publish,
                                    session_factory=self.session_factory)
        self.worker.start()
        self.start_button.setText("Stop")
        self.traces.set_overlay(f"connecting to {spec.describe()} …")

    def _reset_view(self) -> None:
        """Forget what was drawn (a new session, or a seek in a replay)."""
        self.history = History()
        self._epoch = None
        for panel in (self.traces, self.eeg_panel, self.topomaps, self.video):
            panel.reset()

    def stop(self) -> None:
        """Stop the worker (it closes the session on its own thread); the last data stays on screen."""
        if self.record_button.isChecked():
            self.record_button.setChecked(False)
        if self.worker is not None:
            self.worker.stop()
            self._old_workers.append(self.worker)
            self.worker = None
        self.start_button.setText("Start")

    def _record_toggled(self, on: bool) -> None:
        from affectstream.core.xdf_writer import recording_path

        if on and not self.running:
            self.record_button.blockSignals(True)
            self.record_button.setChecked(False)
            self.record_button.blockSignals(False)
            self.statusBar().showMessage("start a session before recording", 4000)
            return
        if on:
            path = recording_path(self.record_dir, subject=self.subject or "01", task="dashboard")
            self.worker.record(path)
            self.record_button.setText("■ Recording")
            self.statusBar().showMessage(f"recording to {path}", 4000)
        else:
            if self.worker is not None:
                self.worker.record(None)
            self.record_button.setText("● Record")

    def record_to(self, path: str | Path | None) -> None:
        """Start (or with None stop) recording to an explicit path (scripts and tests)."""
        if path is None:
            self.record_button.setChecked(False)
            return
        if self.worker is not None:
            self.record_button.blockSignals(True)
            self.record_button.setChecked(True)
            self.record_button.setText("■ Recording")
            self.record_button.blockSignals(False)
            self.worker.record(path)

    def add_marker(self, text: str | None = None) -> None:
        """Publish a marker on the ``affectstream-markers`` outlet and draw it at once."""
        text = text if isinstance(text, str) and text else f"manual {self.markers.count + 1}"
        transport = self.history.snapshot.transport
        if self.replaying and transport is not None:  # drawn at the replay's time; the file stays as it was
            self.history.add_marker((self.history.t0 or 0.0) + transport.position_s, text, "manual")
            self.statusBar().showMessage(f"marker '{text}' drawn at {transport.position_s:.1f} s of the replay "
                                         "(not written to the recording)", 3000)
            return
        try:
            t = self.markers.push(text)
        except Exception as exc:  # noqa: BLE001 - drawing the marker matters more than publishing it
            log.warning("could not publish the marker: %s", exc)
            from mne_lsl.lsl import local_clock
            t = local_clock()
        self.history.add_marker(t, text, "manual")
        self.statusBar().showMessage(f"marker '{text}' published on affectstream-markers", 3000)

    # ------------------------------------------------------------------------------------------- frames
    def _tick(self) -> None:
        started = time.perf_counter()
        self.ticks += 1
        self.frame_times.next_frame()
        d = self.mailbox.take()
        if d.seq != self._seq:
            self._seq = d.seq
            transport = d.snapshot.transport
            if transport is not None and self._epoch is not None and transport.epoch != self._epoch:
                self._reset_view()  # a seek: the worker dropped what was pending; start drawing afresh
            self._epoch = transport.epoch if transport is not None else None
            history = self.history
            if history.eeg is None:
                eeg = d.snapshot.streams.get("EEG")
                if eeg is not None and math.isfinite(eeg.nominal_rate) and eeg.nominal_rate > 0:
                    history.sfreq = eeg.nominal_rate
            history.ingest(d)
        history = self.history
        self._sync_buttons(history.snapshot.state)
        error = history.snapshot.recording_error
        if error and error != self._shown_recording_error:  # e.g. the disk is full: say so, release the button
            self._shown_recording_error = error
            self.statusBar().showMessage(error, 15000)
            if self.record_button.isChecked():
                self.record_button.blockSignals(True)
                self.record_button.setChecked(False)
                self.record_button.setText("● Record")
                self.record_button.blockSignals(False)
        if self.replaying and self.worker is not None:  # the picker shows what plays, never unrelated live streams
            self.picker.show_recording(history.snapshot.inputs)
        else:
            self.picker.show_live()
        if not self._listed_running and history.snapshot.state == "running":
            self._listed_running = True  # list once the session runs, so the picker shows the streams' hosts
            self.picker.refresh()
        # Frames alternate between two halves of the window, so no single frame paints everything: the EEG sweep
        # with the scalp maps (1 Hz, two maps a frame), then the video (15 fps) with the traces (4 Hz). Each panel
        # is still refreshed 15 times a second, and the costliest frame holds about half the work.
        if self.ticks % 2 == 0:
            refreshed = [(self.eeg_panel, self.eeg_panel.refresh(history)),
                         (self.topomaps, self.topomaps.refresh(history))]
        else:
            refreshed = [(self.traces, self.traces.refresh(history)),
                         (self.video, self.video.refresh(history.snapshot, enabled="Video" in history.snapshot.streams
                                                         or (self.spec is not None and self.spec.has_video)))]
        changed = False
        for panel, panel_changed in refreshed:
            if panel_changed:
                changed = True
                for canvas in panel.canvases:
                    canvas.settle()
        changed |= self.status.refresh(history)
        if self.replaying:
            changed |= self.replay_bar.refresh(history.snapshot.transport)
        self._update_overlay()
        if changed:
            self.frame_times.ticked((time.perf_counter() - started) * 1e3)
        self._check_auto_close()

    def event(self, e: QtCore.QEvent) -> bool:  # noqa: D102 - measures the one paint pass per frame
        if e.type() == QtCore.QEvent.Type.UpdateRequest:
            t = time.perf_counter()
            result = super().event(e)
            self.frame_times.painted((time.perf_counter() - t) * 1e3)
            return result
        return super().event(e)

    def _update_overlay(self) -> None:
        snap = self.history.snapshot
        if snap.state == "error":
            self.traces.overlay.setToolTip(snap.error)
        self.traces.set_overlay(overlay_text(self.history, self.spec.describe() if self.spec else ""))
        self.traces.set_warning(snap.model_warning)

    # ------------------------------------------------------------------------------------------- auto close
    def auto_close(self, duration: float | None, screenshot: str | Path | None = None,
                   max_wait: float | None = None) -> None:
        """Close after ``duration`` seconds of data (from the first hop), saving a screenshot first if asked.

        When no hop arrives, the window closes ``max_wait`` seconds after this call anyway (exit code 2 when the
        session failed to open).
        """
        self._auto = (float(duration or 0.0), Path(screenshot) if screenshot else None)
        wait = max_wait if max_wait is not None else (self.spec.resolve_timeout if self.spec else 10.0) + 20.0
        self._auto_deadline = time.monotonic() + wait + float(duration or 0.0)

    def _check_auto_close(self) -> None:
        if self._auto is None:
            return
        now = time.monotonic()
        duration, path = self._auto
        if self._auto_started is None and (self.history.hops.n > 0 or self.history.snapshot.state == "error"):
            self._auto_started = now
        due = self._auto_started is not None and now - self._auto_started >= duration
        if due or now >= self._auto_deadline:
            self._auto = None
            if self.history.snapshot.state == "error" or self.history.hops.n == 0:
                self.exit_code = 2
            if path is not None:
                self.save_screenshot(path)
            self.close()

    def save_screenshot(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not self.grab().save(str(path)):
            raise OSError(f"could not write {path}")
        self.screenshot_path = path
        return path

    # ------------------------------------------------------------------------------------------- close
    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802 - Qt naming
        self.timer.stop()
        self.stop()
        deadline = time.monotonic() + 6.0
        for worker in self._old_workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        self.markers.close()
        self.closed.emit()
        super().closeEvent(event)
