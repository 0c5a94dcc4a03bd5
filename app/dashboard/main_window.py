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

from affectstream.app.dashboard.controls import MarkerPublisher
from affectstream.app.dashboard.eeg_panel import EEGPanel
from affectstream.app.dashboard.frame_times import FrameTimes
from affectstream.app.dashboard.model import History, Mailbox
from affectstream.app.dashboard.overlay import overlay_text
from affectstream.app.dashboard.status_bar import StatusPanel
from affectstream.app.dashboard.toolbars import Toolbars
from affectstream.app.dashboard.topomap_panel import TopomapPanel
from affectstream.app.dashboard.trace_panel import TracePanel
from affectstream.app.dashboard.video_panel import VideoPanel
from affectstream.app.dashboard.worker import SessionWorker, SourceSpec

log = logging.getLogger(__name__)

FRAME_MS = 33
#: The window's smallest size (px): a 1024 x 768 screen's, less its panel and the window's frame (issue 22, item 5).
MIN_SIZE = (1000, 640)


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
        Folder for the XDF recordings (default :func:`affectstream.core.paths.recordings_dir`: ``recordings/`` of
        the working directory unless ``$AFFECTSTREAM_RECORDINGS`` names one).
    list_streams : bool
        List the LSL streams for the picker when the window opens.
    session_factory : callable | None
        Passed to the worker (tests).
    profiles_dir : path | None
        Where the Subject… button looks for calibration profiles (default: the per-user folder).
    record : path | None
        Record to this XDF file as soon as the session runs (``demo --record``).
    """

    closed = QtCore.Signal()

    def __init__(self, spec: SourceSpec | None = None, *, config=None, publish: bool = True,
                 record_dir: str | Path | None = None, list_streams: bool = True, session_factory=None,
                 profiles_dir: str | Path | None = None, record: str | Path | None = None) -> None:
        super().__init__()
        self.setWindowTitle("affectstream — live")
        self.resize(1680, 1000)
        self.config = config
        self.publish = publish
        self.session_factory = session_factory
        self.profiles_dir = Path(profiles_dir) if profiles_dir is not None else None
        #: names the recordings and the Affect outlet (its calibration profile is used when it has one)
        self.subject: str | None = spec.subject if spec is not None else None
        self.spec = spec
        self.live_spec: SourceSpec | None = None  #: the live streams last opened (what "Back to live" reopens)
        self.worker: SessionWorker | None = None
        self._old_workers: list[SessionWorker] = []
        self.mailbox = Mailbox()
        self.history = History()
        self.markers = MarkerPublisher()
        self.exit_code = 0
        self._errors_shown = 0
        self._seq = -1
        self._listed_running = False
        self._auto: tuple[float, Path | None] | None = None
        self._auto_deadline = math.inf
        self._auto_started: float | None = None
        self.screenshot_path: Path | None = None
        self.frame_times = FrameTimes()  #: what each frame cost (affectstream bench, gui)
        self.ticks = 0
        self._epoch: int | None = None  #: the replay's seek count drawn (a new one clears the view)

        self._build_panels()
        self._build_toolbars(record_dir)
        if record is not None:
            self.recording.pending = Path(record)
        self.status = StatusPanel(self.statusBar())
        # An explicit minimum: otherwise the window's minimum follows every change of the layout's (a status text,
        # the replay bar), and each change is pushed to the window system, which the offscreen platform answers
        # with a "does not support propagateSizeHints()" line on stderr. Panel texts are elided, left out or
        # wrapped when they do not fit, so what the panels need now is what they need with any text.
        self.setMinimumSize(QtCore.QSize(*MIN_SIZE))
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

    def _build_toolbars(self, record_dir: str | Path | None) -> None:
        self.bars = Toolbars(self, record_dir)
        bars = self.bars
        self.picker, self.start_button, self.recording = bars.picker, bars.start_button, bars.recording
        self.record_button, self.marker_button = bars.recording.button, bars.marker_button
        self.open_button, self.subject_button, self.notice = bars.open_button, bars.subject_button, bars.notice
        self.replay_toolbar, self.replay_bar, self.live_button = bars.replay, bars.replay_bar, bars.live_button
        if self.subject:
            self.subject_button.setText(f"Subject: {self.subject}")
        self.replay_bar.play_requested.connect(lambda play: self._transport("play" if play else "pause"))
        self.replay_bar.seek_requested.connect(lambda t: self._transport("seek", t))
        self.replay_bar.speed_requested.connect(lambda k: self._transport("set_speed", k))
        self.picker.eeg_box.activated.connect(self._picker_changed)
        self.picker.video_box.activated.connect(self._picker_changed)

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:  # noqa: N802 - Qt naming
        self.bars.reflow(event.size().width())
        super().resizeEvent(event)

    def showEvent(self, event: QtGui.QShowEvent) -> None:  # noqa: N802 - Qt naming
        """The first time: the bottom panels get their share of the window's height as it is shown (a 700 px
        window keeps room for the traces above them)."""
        super().showEvent(event)
        if not getattr(self, "_sized", False):
            self._sized = True
            self.resizeDocks([self.docks["eeg"]], [min(520, int(0.45 * self.height()))],
                             QtCore.Qt.Orientation.Vertical)

    @property
    def record_dir(self) -> Path:
        """The folder new recordings go to (the Record button's menu changes it)."""
        return self.recording.folder

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

    def back_to_live(self) -> None:
        """Close the replay and open the live streams last used again (none: back to the stream picker)."""
        if self.live_spec is not None:
            self.start(self.live_spec)
            return
        self.stop()
        self.spec = None
        self.replay_toolbar.setVisible(False)
        self.picker.show_live()
        self.setWindowTitle("affectstream — live")
        self.notice.show_notice("Pick an EEG stream and press Start")

    def _subject_clicked(self) -> None:
        from affectstream.app.dashboard.subject_dialog import choose_subject
        from affectstream.calibration.profiles import default_profiles_dir

        chosen = choose_subject(self, self.profiles_dir or default_profiles_dir(), self.subject)
        if chosen is None:
            return
        if chosen.subject == self.subject:
            self.notice.show_notice("Nothing changed: the session goes on with "
                                    + (f"{self.subject}'s profile" if self.subject else "the bundled student"))
            return
        self.use_subject(chosen.subject)

    def use_subject(self, subject: str | None) -> bool:
        """Estimate with ``subject``'s calibration profile (None: the bundled student); restarts a running session
        when the choice changed (the same choice changes nothing).

        A profile made for another montage or model is refused with its reason in the notice line. A profile whose
        calibration kept no model better than chance names the subject (recordings, the Affect outlet) but estimates
        with the bundled student, and the notice says why (:func:`~.subject_dialog.profile_in_use`).
        """
        from affectstream.app.dashboard.subject_dialog import profile_in_use
        from affectstream.calibration.profiles import ProfileError, default_profiles_dir
        from affectstream.pipelines.config import PipelineConfig

        if subject == self.subject:
            return True
        folder = unused = None  # the profile used, or why the subject's is not
        if subject is not None:
            try:
                folder, unused = profile_in_use(self.profiles_dir or default_profiles_dir(), subject)
            except ProfileError as exc:
                self.notice.show_notice(str(exc), "error")
                return False
        base = self.config or PipelineConfig(saliency_every_hops=4)
        self.config, self.subject = dataclasses.replace(base, profile=folder), subject
        self.subject_button.setText(f"Subject: {subject}" if subject else "Subject…")
        who = f"{subject}'s calibration profile" if self.config.profile else "the bundled student"
        verb = "Restarting the session with" if self.running else "The next session uses"
        if unused:
            self.notice.show_notice(f"{verb} {who} for {subject}: {unused}", "warn")
        else:
            self.notice.show_notice(f"{verb} {who}" + ("" if subject else " (no profile)"))
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

    def _picker_changed(self, _index: int = 0) -> None:
        """A stream picked while a live session runs is used at once (the session restarts on it)."""
        if not self.running or self.replaying:
            return
        picked = self._picked_spec()
        if picked is not None and picked is not self.spec:
            self.notice.show_notice(f"Switching to {picked.describe()}")
            self.start(picked)

    def _sync_buttons(self, state: str) -> None:
        """Start/Stop/Reconnect follows the worker: a session that failed or ended offers Start again."""
        if self.worker is not None and not self.worker.is_alive():
            self._old_workers.append(self.worker)
            self.worker = None
            self.recording.session_ended()
        text = "Start" if self.worker is None else "Reconnect" if state == "lost" else "Stop"
        if self.start_button.text() != text:
            self.start_button.setText(text)

    def _check_errors(self) -> None:
        """A worker's errors (its processing stopped, a recording failed) are shown, and the process exits 1."""
        errors = [e for w in self._old_workers + ([self.worker] if self.worker else []) for e in w.errors]
        if len(errors) > self._errors_shown:
            self._errors_shown = len(errors)
            self.exit_code = 1
            if not errors[-1].startswith(("cannot record", "recording to", "closing ")):  # the recording says its own
                self.notice.show_notice(errors[-1], "error")

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
            self.notice.show_notice("Pick an EEG stream first (⟳ lists the streams on this machine)", "warn")
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
        if replaying:
            self.picker.show_recording(())  # the toolbar says at once that the recording plays, not a live stream
        else:
            self.live_spec = spec
            self.picker.show_live()
        self.replay_toolbar.setVisible(replaying)
        self.replay_bar.refresh(None)
        self.record_button.setEnabled(not replaying)
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
        if self.worker is not None:
            self.recording.stop()
            self.worker.stop()
            self._old_workers.append(self.worker)
            self.worker = None
            self.recording.session_ended()
        self.start_button.setText("Start")

    def record_to(self, path: str | Path | None) -> None:
        """Start (or with None stop) recording to an explicit path (scripts and tests)."""
        if path is None:
            self.recording.stop()
        else:
            self.recording.start(path)

    def add_marker(self, text: str | None = None) -> None:
        """Publish a marker on the ``affectstream-markers`` outlet and draw it at once."""
        text = text if isinstance(text, str) and text else f"manual {self.markers.count + 1}"
        transport = self.history.snapshot.transport
        if self.replaying and transport is not None:  # drawn at the replay's time; the file stays as it was
            self.history.add_marker((self.history.t0 or 0.0) + transport.position_s, text, "manual")
            self.notice.show_notice(f"Marker '{text}' drawn at {transport.position_s:.1f} s of the replay (not "
                                    "written to the recording)")
            return
        try:
            t = self.markers.push(text)
        except Exception as exc:  # noqa: BLE001 - drawing the marker matters more than publishing it
            log.warning("could not publish the marker: %s", exc)
            from mne_lsl.lsl import local_clock
            t = local_clock()
        self.history.add_marker(t, text, "manual")
        self.notice.show_notice(f"Marker '{text}' published on affectstream-markers", timeout_s=4.0)

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
        self._check_errors()
        self.recording.refresh(history.snapshot)
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
