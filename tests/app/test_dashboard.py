"""The dashboard with fake data (pytest-qt, offscreen): its model, and the real window on a fake session.

The fake session (``tests/fixtures/dashboard_session.py``) needs no LSL and no models: building, traces, sweep,
maps, video, status, recording, markers, a lost and a stalled stream. The live tests on the simulator are in
``tests/app/test_dashboard_live.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")
QtCore = pytest.importorskip("PySide6.QtCore")

from affectstream.app.dashboard.model import Delivery, EEGRing, History, Mailbox, Snapshot  # noqa: E402
from affectstream.app.dashboard.worker import SourceSpec  # noqa: E402
from fixtures.dashboard_session import N_CH, FakeSession, fake_factory  # noqa: E402


@pytest.fixture
def fake_window(qtbot, tmp_path):
    from affectstream.app.dashboard import _application
    from affectstream.app.dashboard.main_window import DashboardWindow

    _application()
    sessions: list[FakeSession] = []
    window = DashboardWindow(SourceSpec("EEG", eeg_source_id="fake-eeg", video="Video", video_source_id="fake-video"),
                             publish=False, list_streams=False, record_dir=tmp_path,
                             session_factory=fake_factory(sessions))
    qtbot.addWidget(window)
    window.show()
    window.sessions = sessions
    yield window
    window.close()


# --------------------------------------------------------------------------------------------------- pure model
def test_mailbox_appends_data_and_keeps_only_the_latest_snapshot():
    box = Mailbox(n_channels=2, max_eeg_samples=10)
    for i in range(4):
        box.post(Snapshot(hops=i), eeg=(np.arange(4.0) + 4 * i, np.ones((2, 4)) * i), markers=[(i, f"m{i}")])
    d = box.take()
    assert d.snapshot.hops == 3 and [m[1] for m in d.markers] == ["m0", "m1", "m2", "m3"]
    assert d.eeg.shape == (2, 8) and d.eeg_t[0] == 8.0 and box.dropped_samples == 8  # bounded: oldest dropped
    again = box.take()
    assert again.empty and again.seq == d.seq


def test_eeg_ring_windows_are_contiguous_views_across_wraps():
    ring = EEGRing(2, sfreq=100.0, seconds=12.0)  # capacity 1200 samples
    t = np.arange(5000) / 100.0
    for start in range(0, 5000, 37):
        ring.push(t[start:start + 37], np.vstack([t[start:start + 37]] * 2))
    times, data = ring.window(40.0, 45.0)
    assert times[0] == pytest.approx(40.0) and times[-1] == pytest.approx(45.0)
    np.testing.assert_allclose(data[0], times)
    assert ring.oldest == pytest.approx(t[-1] - 11.99)


def test_history_is_relative_to_the_first_sample_and_keeps_early_markers():
    h = History()
    h.ingest(Delivery([], np.empty(0), np.empty((N_CH, 0)), [(99.5, "before")], np.array([99.0]),
                      np.array([[0.1, 0.2]]), Snapshot(), 1))
    assert h.t0 is None
    h.ingest(Delivery([], 100.0 + np.arange(256) / 256, np.zeros((N_CH, 256), np.float32), [], np.empty(0),
                      np.empty((0, 2)), Snapshot(), 2))
    assert h.t0 == 100.0 and h.markers[0][:2] == (pytest.approx(-0.5), "before") and h.truth.view[0, 0] == -1.0
    assert h.now == pytest.approx(255 / 256)


def test_markers_at_the_same_moment_share_one_label():
    from affectstream.app.dashboard.trace_panel import merge_markers

    merged = merge_markers([(10.0, "trial_end/stim_07", "stream"), (10.0, "rest_start", "stream"),
                            (10.5, "manual 1", "manual"), (30.0, "trial_start/stim_08", "stream")])
    assert merged == [(10.0, "trial_end/stim_07 · rest_start · manual 1", "manual"),
                      (30.0, "trial_start/stim_08", "stream")]


def test_peak_decimation_keeps_the_extremes():
    from affectstream.app.dashboard.eeg_panel import peak_decimate

    t = np.arange(1000) / 250.0
    x = np.zeros((1, 1000))
    x[0, 501] = 80.0  # a spike between bins must survive
    td, y = peak_decimate(t, x, 50)
    assert y.shape[1] == 2 * len(td) // 2 <= 110 and y.max() == 80.0


# --------------------------------------------------------------------------------------------------- Qt, fake data
def test_window_builds_without_a_session(qtbot):
    from affectstream.app.dashboard import _application
    from affectstream.app.dashboard.main_window import DashboardWindow

    _application()
    window = DashboardWindow(None, list_streams=False)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.ticks > 3, timeout=10000)
    assert window.open_button.isEnabled() and window.subject_button.isEnabled()
    assert not window.replay_toolbar.isVisible()  # only while a recording plays
    assert window.start_button.text() == "Start" and "not connected" in window.status.eeg.text()
    assert not window.grab().isNull()


def test_fake_session_fills_every_panel(fake_window, qtbot, tmp_path):
    w = fake_window
    qtbot.waitUntil(lambda: w.history.hops.n >= 12 and w.topomaps.updates >= 2 and w.video.frames_shown >= 5,
                    timeout=8000)
    fused = w.traces.curves["valence"]["fused"].getData()[1]
    assert np.isfinite(fused).sum() >= 10
    assert w.traces.curves["arousal"]["truth"].getData()[0].size > 0
    assert w.eeg_panel.strip_updates > 5
    assert set(w.eeg_panel.curves_by_quality()) >= {"", "flat", "noisy"}  # T7 flat, O2 noisy: own colours
    assert w.topomaps.images[0].image is not None and np.isfinite(w.topomaps.images[0].image).any()
    assert w.topomaps._tip_for(2)(x=0.0, y=0.0, data=w.topomaps.labels.index("Fz")).startswith("Fz\nalpha: ")
    qtbot.waitUntil(lambda: "256 / 256.0 Hz" in w.status.eeg.text(), timeout=10000)
    assert w.status.badge.isVisible() and "student" in w.status.estimator.text()
    assert "1 flat · 1 noisy" in w.eeg_panel.bad_label.text()
    assert w.eeg_panel.bad_label.toolTip() == "flat: T7\nnoisy: O2"

    # record: the button starts and stops the session's XDF recording (its content: tests/test_recording.py)
    path = tmp_path / "rec.xdf"
    w.record_to(path)
    qtbot.waitUntil(lambda: w.history.snapshot.recording == str(path), timeout=10000)
    start = w.history.hops.n
    qtbot.waitUntil(lambda: w.history.hops.n >= start + 6, timeout=5000)
    assert w.history.snapshot.recorded_hops >= 4
    w.record_to(None)
    qtbot.waitUntil(lambda: w.history.snapshot.recording is None, timeout=10000)
    assert w.sessions[-1].recordings == [path, None]  # started on that file, then stopped

    # marker hotkey: published on the affectstream-markers outlet and drawn
    n_markers = len(w.history.markers)
    qtbot.keyClick(w, QtCore.Qt.Key.Key_M)
    if len(w.history.markers) == n_markers:  # shortcut needs an active window on some platforms
        w.marker_button.click()
    assert len(w.history.markers) == n_markers + 1 and w.history.markers[-1][2] == "manual"
    assert w.markers.count == 1
    qtbot.waitUntil(lambda: any(line.isVisible() and line.value() == pytest.approx(
        max(m[0] for m in w.history.markers if m[2] == "manual"))
        for line in w.traces.marker_pools["valence"].lines), timeout=10000)


def test_scrolling_back_stops_following_and_live_returns(fake_window, qtbot):
    w = fake_window
    qtbot.waitUntil(lambda: w.history.hops.n >= 8, timeout=8000)
    vb = w.traces.plots["valence"].getViewBox()
    vb.sigRangeChangedManually.emit([True, False])
    assert not w.traces.follow and w.traces.live_button.isEnabled()
    w.traces.live_button.click()
    assert w.traces.follow
    w.eeg_panel.review_button.click()
    qtbot.waitUntil(lambda: w.eeg_panel.review_curves.get("") is not None
                    and w.eeg_panel.review_curves[""].getData()[0].size > 0, timeout=10000)
    w.eeg_panel.live_button.click()
    assert w.eeg_panel.mode == "sweep"


def test_lost_stream_is_reported_and_the_ui_keeps_running(fake_window, qtbot):
    w = fake_window
    qtbot.waitUntil(lambda: w.history.hops.n >= 4, timeout=8000)
    w.sessions[0].lose()
    qtbot.waitUntil(lambda: w.history.snapshot.streams["EEG"].state == "lost", timeout=10000)
    ticks = w.ticks
    qtbot.waitUntil(lambda: "lost" in w.status.eeg.text() and w.ticks > ticks + 5, timeout=10000)
    assert "lost" in w.traces.overlay.text()
    w.stop()
    qtbot.waitUntil(lambda: w.sessions[0].closed, timeout=10000)


def test_stalled_stream_is_shown_and_recovers_when_it_returns(fake_window, qtbot):
    w = fake_window
    qtbot.waitUntil(lambda: w.history.hops.n >= 4, timeout=8000)
    w.sessions[0].pause(3.0)
    # shown one second after the last sample (how soon on a real stream: affectstream bench, gui); the timeout
    # only stops a window that never shows it
    shown: list[str] = []  # the stream's detail when it first showed as stalled: "1.0 s since the last sample"

    def stalled() -> bool:
        view = w.history.snapshot.streams["EEG"]
        if view.state == "stalled":
            shown.append(view.detail)
        return bool(shown)

    qtbot.waitUntil(stalled, timeout=10000)
    assert float(shown[0].split(" ")[0]) >= 1.0  # not before a second of silence
    qtbot.waitUntil(lambda: "stalled" in w.traces.overlay.text(), timeout=10000)
    ticks = w.ticks
    qtbot.waitUntil(lambda: w.ticks > ticks + 5, timeout=2000)  # the UI keeps painting while the stream is silent
    qtbot.waitUntil(lambda: w.history.snapshot.streams["EEG"].state == "live", timeout=5000)
    n = w.history.hops.n
    qtbot.waitUntil(lambda: w.history.hops.n > n + 2, timeout=10000)  # estimates flow again
    assert "stalled" not in w.traces.overlay.text()


def test_stream_picker_pairs_markers_and_truth_of_the_same_device(qtbot):
    from affectstream.app.dashboard.controls import StreamEntry, StreamPicker

    picker = StreamPicker()
    qtbot.addWidget(picker)
    entries = [StreamEntry("sim-EEG", "EEG", "demo1-eeg", "lab1", 33, 256.0),
               StreamEntry("sim-Markers", "Markers", "demo1-markers", "lab1", 1, 0.0),
               StreamEntry("sim-Truth", "GroundTruth", "demo1-truth", "lab1", 2, 32.0),
               StreamEntry("affectstream-markers", "Markers", "affectstream-markers", "lab1", 1, 0.0),
               StreamEntry("cam", "Video", "cam-video", "lab2", 230400, 15.0)]
    picker._fill(entries)
    assert "@ lab1" in picker.eeg_box.currentText()
    picker.video_box.setCurrentIndex(1)
    spec = picker.spec()
    assert (spec.eeg_source_id, spec.markers_source_id, spec.truth_source_id, spec.video_source_id) == \
        ("demo1-eeg", "demo1-markers", "demo1-truth", "cam-video")


def test_the_mode_box_names_the_saliency_kind(qtbot):
    from affectstream.app.dashboard.topomap_panel import MODES, SALIENCY_LABELS, TopomapPanel

    panel = TopomapPanel()
    qtbot.addWidget(panel)
    index = list(MODES).index("saliency")
    assert "× band power" in panel.mode_box.itemText(index)  # gradient x input, the pipeline's default
    panel.set_saliency_kind("prm")
    assert panel.mode_box.itemText(index) == SALIENCY_LABELS["prm"] and "peak" in SALIENCY_LABELS["prm"]
