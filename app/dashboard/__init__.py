"""The live dashboard (Qt): valence/arousal traces, EEG, scalp maps, face video and stream status.

Part of :mod:`affectstream.app`, the only layer that imports Qt; the processing it shows is the pipelines layer's,
run on a worker thread, so the GUI thread only paints (docs/architecture.md, threads).

Entry points for the CLI: :func:`run_dashboard` opens the window on given LSL streams, :func:`run_demo` starts the
simulator in a child process and opens the window on its streams. Qt is imported when they run, not when this
package is imported, so ``affectstream --help`` stays instant.

Modules: ``main_window`` (window, toolbar, docks, 30 fps timer), ``worker`` (the processing thread that polls the
live or replay session), ``model`` (mailbox and history, no Qt), ``trace_panel``, ``eeg_panel`` (with
``eeg_drawing``), ``topomap_panel``,
``video_panel``, ``status_bar`` (its texts wrap: ``flow_layout``), ``overlay`` (the session's state over the
traces), ``marker_lane`` (the markers' labels), ``controls`` (stream picker, marker outlet), ``toolbars``,
``recording_control`` (the Record button and the recordings folder), ``notice`` (the notice line),
``subject_dialog``, ``theme``, ``frame_times`` (what each frame costs), ``bench_gui`` (paint cost with the demo
running). The calibration wizard's first page and its SAM scale are here too (``calibration_subject``,
``sam_scale``): they share the stream picker and the theme.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import uuid
from pathlib import Path

__all__ = ["run_dashboard", "run_demo"]

#: Python's GIL switch interval while the dashboard runs. Three threads share the GIL (GUI, processing, face path);
#: at the default 5 ms a paint pass that needs the GIL back can wait up to 5 ms per hand-over, which showed as
#: 20-30 ms frames and doubled hop-latency tails on the 2-core machines. 1 ms bounds those waits.
GUI_SWITCH_INTERVAL_S = 0.001


def _application(offscreen_without_display: bool = True):
    """The QApplication (created if there is none), themed.

    Without a display (Linux, no ``DISPLAY``/``WAYLAND_DISPLAY``) Qt is pointed at the offscreen platform when
    ``offscreen_without_display`` (screenshots, benchmarks, tests); an interactive window instead lets Qt report
    that there is no display, rather than running invisibly.
    """
    from affectstream.pipelines.sources.lsl import use_local_lsl_config

    use_local_lsl_config()
    headless = not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY")
    if offscreen_without_display and headless and sys.platform.startswith("linux"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6 import QtWidgets

    from affectstream.app.dashboard import theme

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([sys.argv[0] if sys.argv else "affectstream"])
    app.setApplicationName("affectstream")
    theme.apply(app)
    return app


def run_dashboard(eeg: str | None = "EEG", eeg_source_id: str | None = None, video: str | None = None,
                  video_source_id: str | None = None, markers_source_id: str | None = None,
                  truth_source_id: str | None = None, screenshot: str | Path | None = None,
                  duration: float | None = None, *, camera: int | None = None, video_file: str | Path | None = None,
                  resolve_timeout: float = 10.0, config=None, recording: str | Path | None = None,
                  replay_speed: float = 1.0, first_match: bool = False, subject: str | None = None,
                  recordings: str | Path | None = None, profiles: str | Path | None = None,
                  record: str | Path | None = None, _on_window=None) -> int:
    """Open the dashboard on live LSL streams (or replay a recording) and run until the window is closed.

    Parameters
    ----------
    eeg, eeg_source_id : str | None
        Name or type, and optionally ``source_id``, of the EEG stream.
    video, video_source_id : str | None
        The LSL ``Video`` stream for the face path (None: no video).
    markers_source_id, truth_source_id : str | None
        ``source_id`` of a ``Markers`` / ``GroundTruth`` stream to draw.
    camera, video_file : int | path | None
        A local camera or a video file (real time, looped) for the face path instead of an LSL video stream.
    screenshot : path | None
        Save the window (``grab()``, PNG) after ``duration`` seconds and exit.
    duration : float | None
        Seconds to run, counted from the first estimate (None: until the window is closed).
    resolve_timeout : float
        Seconds to wait for each stream.
    config : PipelineConfig | None
        Pipeline settings (default: saliency every 4 hops).
    recording : path | None
        Replay this XDF file instead (the stream arguments are ignored), starting at ``replay_speed``.
    first_match : bool
        Take the first of several equally matching streams instead of stopping with the list of them.
    subject : str | None
        The subject id: part of the Affect outlet's ``source_id`` (two sessions on one headset stay apart).
    recordings : path | None
        Folder for the Record button's files (:func:`affectstream.core.paths.recordings_dir`).
    profiles : path | None
        Where the Subject… button looks for calibration profiles.
    record : path | None
        Start recording to this XDF file as soon as the session runs (``demo --record``).

    Returns
    -------
    int
        0; 1 when processing or a recording failed on the way (the window said what); 2 when the streams could not
        be opened, or sent nothing in an automatic (``duration``) run.
    """
    app = _application(offscreen_without_display=screenshot is not None or duration is not None)
    from affectstream.app.dashboard.main_window import DashboardWindow
    from affectstream.app.dashboard.worker import SourceSpec

    spec = SourceSpec(eeg=eeg, eeg_source_id=eeg_source_id, video=video, video_source_id=video_source_id,
                      markers_source_id=markers_source_id, truth_source_id=truth_source_id,
                      resolve_timeout=resolve_timeout, camera=camera,
                      video_file=None if video_file is None else str(video_file),
                      recording=None if recording is None else str(recording), replay_speed=replay_speed,
                      first_match=first_match, subject=subject)
    window = DashboardWindow(spec, config=config, record_dir=recordings, profiles_dir=profiles, record=record)
    if duration is not None or screenshot is not None:
        window.auto_close(duration if duration is not None else 5.0, screenshot)
    window.show()
    if _on_window is not None:
        _on_window(window)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(GUI_SWITCH_INTERVAL_S)
    interrupt = _close_on_sigint(window)  # Ctrl-C in the terminal closes the window (the 33 ms timer lets it run)
    try:
        app.exec()
    finally:
        sys.setswitchinterval(switch)
        if interrupt is not None:
            signal.signal(signal.SIGINT, interrupt)
        if window.isVisible():  # the event loop ended for another reason (app.quit)
            window.close()
    if window.exit_code == 0 and window.history.snapshot.state == "error":
        return 2  # the streams could not be opened (the window said why)
    return window.exit_code


def _close_on_sigint(window):
    """Route Ctrl-C to ``window.close()``; returns the previous handler (None off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, lambda *_: window.close())


def run_demo(seed: int = 0, subject: str = "sim01", screenshot: str | Path | None = None,
             duration: float | None = None, *, video: bool = True, recordings: str | Path | None = None,
             record: str | Path | None = None, _on_window=None) -> int:
    """Start the simulator (SYNTHETIC streams, with face video) and open the dashboard on it.

    Closing the window (or the end of ``duration``) stops the worker, closes the session and stops the simulator.
    ``recordings`` and ``record`` are :func:`run_dashboard`'s.
    """
    from affectstream.pipelines.synthetic.publisher import start_simulator_process, stop_process

    _application(offscreen_without_display=screenshot is not None or duration is not None)  # before the child
    # starts: both processes read the same LSL configuration
    prefix = f"affectstream-demo-{uuid.uuid4().hex[:8]}"
    sim_duration = None if duration is None else duration + 60.0
    sim = start_simulator_process(seed, subject, sim_duration, video=video, prefix=prefix)
    try:
        return run_dashboard("EEG", eeg_source_id=f"{prefix}-eeg", video="Video" if video else None,
                             video_source_id=f"{prefix}-video" if video else None,
                             markers_source_id=f"{prefix}-markers", truth_source_id=f"{prefix}-truth",
                             screenshot=screenshot, duration=duration, resolve_timeout=20.0, recordings=recordings,
                             record=record, _on_window=_on_window)
    finally:
        stop_process(sim)
