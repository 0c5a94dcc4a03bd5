"""The live dashboard (pytest-qt, offscreen).

Fast tests drive the real window through a fake session (no LSL, no models): building, traces, sweep, maps, video,
status, recording, markers, a lost stream. The live tests run the real pipeline on the simulator in a child process
(unique ``--source-prefix``): traces fill, maps update, rates are reported, a screenshot is written to
``tests/output/dashboard_demo.png`` and checked panel by panel, and a killed simulator shows as stalled/lost within
2 s. ``run_demo`` is exercised end to end with a screenshot.
"""

from __future__ import annotations

import math
import time
import uuid

import numpy as np
import pytest

pytest.importorskip("pytestqt")
QtCore = pytest.importorskip("PySide6.QtCore")

from affectstream.app.dashboard.model import Delivery, EEGRing, History, Mailbox, Snapshot  # noqa: E402
from affectstream.app.dashboard.worker import SourceSpec  # noqa: E402

N_CH = 32


# --------------------------------------------------------------------------------------------------- fake session
class _FakeInfo:
    def __init__(self, name: str, sfreq: float = 0.0) -> None:
        self.name, self.hostname, self.sfreq = name, "testhost", sfreq


class _Identity:
    present = np.ones(N_CH, dtype=bool)

    @staticmethod
    def apply(x):
        return x

    @staticmethod
    def describe() -> str:
        return "32/32 montage channels matched (fake)"


class _FakeFaceThread:
    def __init__(self) -> None:
        self.error = None
        self.source = type("Src", (), {"label": "fake-video", "fps": 15.0, "dropped": 0})()

    def is_alive(self) -> bool:
        return True


class _FakeFace:
    def __init__(self) -> None:
        self.frames = 0
        self.latest_frame = None
        self.latest = None


class FakeSession:
    """Stands in for ``affectstream.pipelines.sessions.live.LiveSession``: 256 Hz EEG in real time, one hop per 64 samples.

    T7 is flat and O2 noisy (their traces must take the quality colours); saliency comes every 4 hops; a face frame
    with an affect every hop. ``lose()`` makes the next poll raise mne-lsl's LostError.
    """

    sfreq = 256.0

    def __init__(self, spec=None, config=None, publish=True) -> None:
        from affectstream.pipelines.engine import StreamStats
        from affectstream.pipelines.sessions.live import StreamStatus

        from affectstream.core.montage import MONTAGE_32

        self.labels = MONTAGE_32
        self.status = StreamStatus("fake-EEG", self.sfreq)
        self.pipeline = type("P", (), {})()
        self.pipeline.mapping = _Identity()
        self.pipeline.stats = StreamStats()
        self.pipeline.estimator_name = "student"
        self.inlet = type("I", (), {"info": _FakeInfo("fake-EEG", self.sfreq)})()
        self.synthetic = True
        self.face = _FakeFace()
        self.worker = _FakeFaceThread()
        self.markers = self.truth = None
        self.latest_eeg = (np.empty((0, N_CH)), np.empty(0))
        self.new_markers, self.new_truth = [], (np.empty(0), np.empty((0, 2)))
        self.recordings: list = []  # start_recording / stop_recording calls (None = stopped)
        from mne_lsl.lsl import local_clock

        self.t_start = time.monotonic()
        self.t0 = local_clock()  # stream times on the LSL clock, as a real inlet gives them
        self.sent = 0
        self.hops = 0
        self.lost = False
        self.paused: tuple[float, float] | None = None
        self.closed = False
        self.rng = np.random.default_rng(0)

    def lose(self) -> None:
        self.lost = True

    def pause(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (a stalled headset), then resume with what queued up meanwhile."""
        self.paused = (time.monotonic(), time.monotonic() + seconds)

    def poll(self):
        from mne_lsl.lsl._utils import LostError

        if self.lost:
            raise LostError("The stream connection has been lost.")
        if self.paused is not None and time.monotonic() < self.paused[1]:
            self.latest_eeg = (np.empty((0, N_CH)), np.empty(0))
            self.new_markers, self.new_truth = [], (np.empty(0), np.empty((0, 2)))
            self.status.last_sample_age_s = time.monotonic() - self.paused[0]
            return []
        due = int((time.monotonic() - self.t_start) * self.sfreq)
        n = due - self.sent
        self.new_markers = []
        self.new_truth = (np.empty(0), np.empty((0, 2)))
        if n <= 0:
            self.latest_eeg = (np.empty((0, N_CH)), np.empty(0))
            self.status.last_sample_age_s = 0.01
            return []
        idx = np.arange(self.sent, due)
        t = self.t0 + idx / self.sfreq
        data = 20.0 * self.rng.standard_normal((n, N_CH)) + 30.0 * np.sin(2 * np.pi * 10 * t)[:, None]
        data[:, self.labels.index("T7")] = 0.0
        data[:, self.labels.index("O2")] *= 20.0
        self.latest_eeg = (data, t)
        self.status.samples += n
        self.status.measured_rate = self.sfreq
        self.status.backlog_s, self.status.clock_offset_s, self.status.last_sample_age_s = 0.004, -1e-5, 0.0
        self.new_truth = (t[::8], np.column_stack([np.sin(t[::8] / 5), np.cos(t[::8] / 7)]))
        if self.sent // 1280 != due // 1280:
            self.new_markers = [(float(t[-1]), f"trial_start/stim_{due // 1280:02d}")]
        results = []
        first, last = self.sent // 64, due // 64
        for k in range(first + 1, last + 1):
            results.append(self._hop(self.t0 + k * 64 / self.sfreq))
        self.sent = due
        self.pipeline.stats.samples = due
        self.pipeline.stats.hops = self.hops
        return results

    def _hop(self, t: float):
        from affectstream.pipelines.engine import HopResult
        from affectstream.pipelines.face.path import FaceResult
        from affectstream.pipelines.face.student import FaceAffect
        from affectstream.pipelines.fusion import ModalityEstimate

        self.hops += 1
        v_eeg, a_eeg = 0.6 * math.sin(t / 4), 0.5 * math.cos(t / 6)
        v_face, a_face = 0.4 * math.sin(t / 3), 0.2
        probs = np.abs(self.rng.standard_normal(8)).astype(np.float32)
        probs[1] += 3.0
        probs /= probs.sum()
        classes = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
        face = FaceResult(t, True, (100.0, 60.0, 120.0, 120.0), 0.95, 0, FaceAffect(probs, classes, v_face, a_face))
        frame = np.zeros((240, 320, 3), dtype=np.uint8)
        frame[:, :, 0] = np.linspace(40, 200, 320, dtype=np.uint8)[None, :]
        frame[60:180, 100:220, 2] = 220
        self.face.latest_frame, self.face.latest = frame, face
        self.face.frames += 1
        saliency = self.rng.random((6, N_CH)) if self.hops % 4 == 1 else None
        features = np.log10(np.abs(self.rng.standard_normal((6, N_CH))) + 1.0) + np.arange(6, 0, -1)[:, None]
        good = np.ones(N_CH, dtype=bool)
        good[[self.labels.index("T7"), self.labels.index("O2")]] = False
        return HopResult(
            t=t, valence=0.5 * (v_eeg + v_face), arousal=0.5 * (a_eeg + a_face), confidence=0.8, status="fused",
            eeg=ModalityEstimate(v_eeg, a_eeg, 0.7, "student"), quality_eeg=30 / 32,
            bad_channels={"T7": "flat", "O2": "noisy"}, features=features, good=good, synthetic=True,
            latency_ms=1.5, face=ModalityEstimate(v_face, a_face, 0.9, "student"), face_result=face,
            saliency=saliency)

    def start_recording(self, path):
        self.recordings.append(path)
        return path

    def stop_recording(self) -> None:
        if self.recordings and self.recordings[-1] is not None:
            self.recordings.append(None)

    def close(self) -> None:
        self.closed = True


def _fake_factory(holder: list):
    def factory(spec, config, publish):
        session = FakeSession(spec, config, publish)
        holder.append(session)
        return session
    return factory


@pytest.fixture
def fake_window(qtbot, tmp_path):
    from affectstream.app.dashboard import _application
    from affectstream.app.dashboard.main_window import DashboardWindow

    _application()
    sessions: list[FakeSession] = []
    window = DashboardWindow(SourceSpec("EEG", eeg_source_id="fake-eeg", video="Video", video_source_id="fake-video"),
                             publish=False, list_streams=False, record_dir=tmp_path,
                             session_factory=_fake_factory(sessions))
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
    qtbot.waitUntil(lambda: window.ticks > 3, timeout=2000)
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
    qtbot.waitUntil(lambda: "256 / 256.0 Hz" in w.status.eeg.text(), timeout=3000)
    assert w.status.badge.isVisible() and "student" in w.status.estimator.text()
    assert "1 flat · 1 noisy" in w.eeg_panel.bad_label.text()
    assert w.eeg_panel.bad_label.toolTip() == "flat: T7\nnoisy: O2"

    # record: the button starts and stops the session's XDF recording (its content: tests/test_recording.py)
    path = tmp_path / "rec.xdf"
    w.record_to(path)
    qtbot.waitUntil(lambda: w.history.snapshot.recording == str(path), timeout=3000)
    start = w.history.hops.n
    qtbot.waitUntil(lambda: w.history.hops.n >= start + 6, timeout=5000)
    assert w.history.snapshot.recorded_hops >= 4
    w.record_to(None)
    qtbot.waitUntil(lambda: w.history.snapshot.recording is None, timeout=2000)
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
        for line in w.traces.marker_pools["valence"].lines), timeout=3000)


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
                    and w.eeg_panel.review_curves[""].getData()[0].size > 0, timeout=3000)
    w.eeg_panel.live_button.click()
    assert w.eeg_panel.mode == "sweep"


def test_lost_stream_is_reported_and_the_ui_keeps_running(fake_window, qtbot):
    w = fake_window
    qtbot.waitUntil(lambda: w.history.hops.n >= 4, timeout=8000)
    w.sessions[0].lose()
    qtbot.waitUntil(lambda: w.history.snapshot.streams["EEG"].state == "lost", timeout=1000)
    ticks = w.ticks
    qtbot.waitUntil(lambda: "lost" in w.status.eeg.text() and w.ticks > ticks + 5, timeout=2000)
    assert "lost" in w.traces.overlay.text()
    w.stop()
    qtbot.waitUntil(lambda: w.sessions[0].closed, timeout=3000)


def test_stalled_stream_is_shown_within_a_second_and_recovers_when_it_returns(fake_window, qtbot):
    w = fake_window
    qtbot.waitUntil(lambda: w.history.hops.n >= 4, timeout=8000)
    w.sessions[0].pause(3.0)
    stalled_at = time.monotonic()
    qtbot.waitUntil(lambda: w.history.snapshot.streams["EEG"].state == "stalled", timeout=2500)
    assert time.monotonic() - stalled_at < 2.0  # the status flips one second after the last sample, not later
    qtbot.waitUntil(lambda: "stalled" in w.traces.overlay.text(), timeout=1000)
    ticks = w.ticks
    qtbot.waitUntil(lambda: w.ticks > ticks + 5, timeout=2000)  # the UI keeps painting while the stream is silent
    qtbot.waitUntil(lambda: w.history.snapshot.streams["EEG"].state == "live", timeout=5000)
    n = w.history.hops.n
    qtbot.waitUntil(lambda: w.history.hops.n > n + 2, timeout=3000)  # estimates flow again
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


# --------------------------------------------------------------------------------------------------- live (LSL)
def _start_sim(video: bool, duration: float = 120.0):
    from affectstream.pipelines.synthetic.publisher import start_simulator_process

    prefix = f"dashtest-{uuid.uuid4().hex[:8]}"
    return prefix, start_simulator_process(0, "sim01", duration, video=video, prefix=prefix)


def _panel_variance(image: np.ndarray, window, widget) -> float:
    top_left = widget.mapTo(window, QtCore.QPoint(0, 0))
    x, y, w, h = top_left.x(), top_left.y(), widget.width(), widget.height()
    region = image[y:y + h, x:x + w, :3].astype(float)
    return float(region.mean(axis=2).var())


def _qimage_to_array(qimage) -> np.ndarray:
    from PySide6 import QtGui

    img = qimage.convertToFormat(QtGui.QImage.Format.Format_RGBA8888)
    ptr = img.constBits()
    return np.frombuffer(ptr, np.uint8).reshape(img.height(), img.bytesPerLine() // 4, 4)[:, :img.width()].copy()


@pytest.mark.lsl
@pytest.mark.slow
def test_demo_fills_traces_maps_video_and_status(qtbot, output_dir):
    from affectstream.pipelines.synthetic.publisher import stop_process
    from affectstream.app.dashboard import _application
    from affectstream.app.dashboard.main_window import DashboardWindow

    _application()
    prefix, sim = _start_sim(video=True)
    try:
        spec = SourceSpec("EEG", eeg_source_id=f"{prefix}-eeg", video="Video", video_source_id=f"{prefix}-video",
                          markers_source_id=f"{prefix}-markers", truth_source_id=f"{prefix}-truth",
                          resolve_timeout=20.0)
        w = DashboardWindow(spec, publish=False, list_streams=False)
        qtbot.addWidget(w)
        w.show()
        qtbot.waitUntil(lambda: w.history.snapshot.state in ("running", "error"), timeout=40000)
        assert w.history.snapshot.state == "running", w.history.snapshot.error
        qtbot.waitUntil(lambda: w.history.hops.n >= 24 and w.topomaps.updates >= 3 and w.video.frames_shown >= 30,
                        timeout=20000)
        snap = w.history.snapshot
        eeg = snap.streams["EEG"]
        assert eeg.state == "live" and eeg.nominal_rate == 256.0 and abs(eeg.measured_rate - 256.0) < 15
        assert snap.streams["Video"].state == "live" and snap.synthetic and snap.estimator == "student"
        assert snap.counter_gaps == 0
        assert "256 / 25" in w.status.eeg.text() and w.status.badge.isVisible()
        assert np.isfinite(w.traces.curves["valence"]["fused"].getData()[1]).sum() >= 16
        assert w.traces.curves["valence"]["truth"].getData()[0].size > 20
        assert w.topomaps.images[5].image is not None
        path = w.save_screenshot(output_dir / "dashboard_demo.png")
        image = _qimage_to_array(w.grab().toImage())
        for panel in (w.traces, w.eeg_panel, w.topomaps, w.video):
            assert _panel_variance(image, w, panel) > 50, type(panel).__name__
        # the maps are in colour, not only outlines on black
        tl = w.topomaps.mapTo(w, QtCore.QPoint(0, 0))
        topo = image[tl.y():tl.y() + w.topomaps.height(), tl.x():tl.x() + w.topomaps.width(), :3].astype(int)
        assert ((topo.max(axis=2) - topo.min(axis=2)) > 60).mean() > 0.05
        assert path.stat().st_size > 50_000
        stats = w.frame_stats()
        assert stats["frames"] > 30
        w.close()
    finally:
        stop_process(sim)


@pytest.mark.lsl
@pytest.mark.slow
def test_killed_simulator_shows_as_stalled_or_lost_within_two_seconds(qtbot):
    from affectstream.pipelines.config import PipelineConfig

    from affectstream.pipelines.synthetic.publisher import stop_process
    from affectstream.app.dashboard import _application
    from affectstream.app.dashboard.main_window import DashboardWindow

    _application()
    prefix, sim = _start_sim(video=False)
    try:
        spec = SourceSpec("EEG", eeg_source_id=f"{prefix}-eeg", resolve_timeout=20.0)
        w = DashboardWindow(spec, config=PipelineConfig(eeg_estimator="baseline"), publish=False,
                            list_streams=False)
        qtbot.addWidget(w)
        w.show()
        qtbot.waitUntil(lambda: w.history.snapshot.state in ("running", "error"), timeout=30000)
        assert w.history.snapshot.state == "running", w.history.snapshot.error
        qtbot.waitUntil(lambda: w.history.hops.n >= 2 and w.history.snapshot.streams["EEG"].state == "live",
                        timeout=15000)
        sim.kill()
        killed = time.monotonic()
        qtbot.waitUntil(lambda: w.history.snapshot.streams["EEG"].state in ("stalled", "lost"), timeout=2000)
        shown_after = time.monotonic() - killed
        ticks = w.ticks
        qtbot.waitUntil(lambda: w.ticks > ticks + 10, timeout=1000)  # the GUI keeps painting
        state = w.history.snapshot.streams["EEG"].state
        assert state in w.status.eeg.text() and shown_after < 2.0
        assert w.topomaps.mode == "bandpower" and w.topomaps.updates >= 1  # no student: band-power maps instead
        w.close()
    finally:
        stop_process(sim)


@pytest.mark.lsl
@pytest.mark.slow
def test_run_demo_saves_a_screenshot_and_stops_what_it_started(tmp_path):
    import psutil

    from affectstream.app.dashboard import run_demo

    before = {p.pid for p in psutil.Process().children(recursive=True)}
    png = tmp_path / "demo.png"
    rc = run_demo(screenshot=png, duration=3.0)
    assert rc == 0 and png.stat().st_size > 50_000
    from PySide6 import QtGui

    arr = _qimage_to_array(QtGui.QImage(str(png)))
    assert arr[..., :3].mean(axis=2).var() > 100
    time.sleep(0.5)
    left = {p.pid for p in psutil.Process().children(recursive=True) if p.is_running()
            and p.status() != psutil.STATUS_ZOMBIE} - before
    assert not left, "run_demo left child processes running"
