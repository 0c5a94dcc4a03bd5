"""Replay inside the dashboard: the transport (play, pause, seek, speed) and the window's Open Recording.

The session is driven with a hand-moved clock, so the tests are exact and fast: played from the start the hops
equal ``affectstream replay``'s to the last bit; paused, nothing moves; a seek restarts the pipeline one window
before the target; a slow machine slows the replay down instead of skipping data. The window tests open a
SYNTHETIC recording with the face video through the real worker and check every control.
"""

from __future__ import annotations

import numpy as np
import pytest

from affectstream.pipelines.config import PipelineConfig
from affectstream.pipelines.sessions.replay import replay
from affectstream.pipelines.sessions.replay_session import ReplaySession
from affectstream.pipelines.synthetic.recording import write_simulated_recording


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def sim_xdf(tmp_path_factory):
    """20 s of SYNTHETIC session with the rendered face video, markers and ground truth."""
    return write_simulated_recording(tmp_path_factory.mktemp("rs") / "sim.xdf", 20.0, video=True)


def _values(results) -> np.ndarray:
    return np.array([[h.t, h.valence, h.arousal, h.eeg.valence, h.face.valence] for h in results], dtype=float)


def test_played_from_the_start_equals_the_headless_replay(sim_xdf):
    clock = _Clock()
    session = ReplaySession(sim_xdf, clock=clock, speed=2.0, max_hops_per_poll=1000)
    got, eeg_samples, markers, truth = [], 0, [], 0
    while not session.ended:
        clock.t += 0.05
        got += session.poll()
        eeg_samples += len(session.latest_eeg[1])
        markers += session.new_markers
        truth += len(session.new_truth[0])
    ref = []
    replay(sim_xdf, config=PipelineConfig(), on_result=ref.append)
    assert len(got) == len(ref) > 60
    np.testing.assert_array_equal(_values(got), _values(ref))
    rec = session.recording
    assert eeg_samples == rec.eeg.n_samples  # every sample shown exactly once
    assert [m[1] for m in markers] == [e[1] for e in rec.marker_events()]
    assert truth == rec.ground_truth[0].n_samples
    assert session.face.frames == rec.video.n_samples
    # 2x: 20 s of recording took about 10 s of the (hand-moved) wall clock
    assert clock.t == pytest.approx(session.duration_s / 2.0, abs=0.1)
    assert not session.transport.playing and session.transport.state == "ended"


def test_pause_holds_and_play_resumes_where_it_was(sim_xdf):
    clock = _Clock()
    session = ReplaySession(sim_xdf, clock=clock, with_video=False)
    clock.t = 5.0
    n = len(session.poll())
    assert n == pytest.approx((5.0 - 2.0) / 0.25 + 1, abs=1)  # first hop after one 2 s window, then 4 per second
    session.pause()
    clock.t = 50.0
    assert session.poll() == [] and session.transport.position_s == pytest.approx(5.0, abs=1e-6)
    assert session.transport.state == "paused"
    session.play()
    clock.t = 51.0
    assert len(session.poll()) == 4
    assert session.transport.position_s == pytest.approx(6.0, abs=1e-6)


def test_seek_restarts_one_window_before_the_target(sim_xdf):
    clock = _Clock()
    session = ReplaySession(sim_xdf, clock=clock, with_video=False, playing=False)
    session.seek(12.0)
    assert session.transport.epoch == 1 and session.transport.position_s == pytest.approx(12.0, abs=0.01)
    first = session.poll()
    assert len(first) == 1  # the hop whose window ends at the target, at once
    assert first[0].t - session.t_first == pytest.approx(12.0, abs=1 / 256)
    shown = session.latest_eeg[1]
    assert shown[0] - session.t_first == pytest.approx(10.0, abs=1 / 256)  # the window before the target is drawn
    # the restarted pipeline equals a replay of the file cut at the same sample
    session.play()
    clock.t += 3.0
    after = first + session.poll()
    assert len(after) == 13
    session.seek(-5.0)
    assert session.transport.position_s == 0.0 and session.poll() == []  # no hop before the first full window
    session.seek(1e9)
    assert session.transport.position_s == pytest.approx(session.duration_s)


def test_set_speed_changes_the_pace_from_then_on(sim_xdf):
    clock = _Clock()
    session = ReplaySession(sim_xdf, clock=clock, with_video=False, max_hops_per_poll=1000)
    clock.t = 2.0
    session.set_speed(4.0)
    clock.t = 3.0
    session.poll()
    assert session.transport.position_s == pytest.approx(6.0, abs=1e-6)
    with pytest.raises(ValueError, match="positive"):
        session.set_speed(0.0)


def test_a_slow_machine_slows_the_replay_instead_of_skipping(sim_xdf):
    clock = _Clock()
    session = ReplaySession(sim_xdf, clock=clock, with_video=False, speed=16.0, max_hops_per_poll=2)
    clock.t = 1.0  # 16 s of recording due, but only 2 hops may be computed per poll
    hops = session.poll()
    assert len(hops) == 2
    assert session.transport.position_s == pytest.approx(2.25, abs=1 / 256)  # held at what was computed
    total = list(hops)
    while not session.ended:
        clock.t += 0.01
        total += session.poll()
    assert len(total) == int((session.recording.eeg.n_samples - 512) // 64) + 1  # every hop, none skipped


# ------------------------------------------------------------------------------------------------ the window
pytest.importorskip("pytestqt")


def test_dashboard_opens_a_recording_with_play_pause_seek_and_speed(qtbot, sim_xdf, output_dir):
    from affectstream.app.dashboard import _application
    from affectstream.app.dashboard.main_window import DashboardWindow
    from affectstream.app.dashboard.replay_bar import ReplayBar

    _application()
    w = DashboardWindow(None, publish=False, list_streams=False)
    qtbot.addWidget(w)
    w.show()
    assert not w.replay_toolbar.isVisible() and w.open_button.isEnabled()
    w.open_recording(sim_xdf, speed=4.0)
    qtbot.waitUntil(lambda: w.history.snapshot.state in ("running", "error"), timeout=20000)
    assert w.history.snapshot.state == "running", w.history.snapshot.error
    assert w.replay_toolbar.isVisible() and not w.record_button.isEnabled()
    qtbot.waitUntil(lambda: w.history.hops.n >= 12 and w.video.frames_shown >= 5, timeout=15000)
    snap = w.history.snapshot
    assert snap.transport.speed == 4.0 and snap.streams["EEG"].state == "playing"
    assert snap.synthetic and w.status.badge.isVisible() and w.status.replay.isVisible()
    assert "sim.xdf" in w.status.replay.text() and "replay" in w.windowTitle()
    assert w.history.hops.view[0, 0] == pytest.approx(2.0, abs=0.01)  # times count from the recording's start
    bar: ReplayBar = w.replay_bar
    assert bar.play_button.text().endswith("Pause") and bar.speed.currentData() == 4.0

    bar.play_button.click()  # pause
    qtbot.waitUntil(lambda: w.history.snapshot.transport.state == "paused", timeout=3000)
    n = w.history.hops.n
    qtbot.wait(600)
    assert w.history.hops.n == n and "paused at" in w.traces.overlay.text()
    assert bar.play_button.text().endswith("Play")

    bar.slider.setValue(int(15.0 * bar.STEPS_PER_S))  # seek by dropping the handle at 0:15
    bar.slider.sliderReleased.emit()
    qtbot.waitUntil(lambda: w.history.snapshot.transport.epoch == 1 and w.history.hops.n >= 1, timeout=5000)
    assert w.history.hops.view[0, 0] == pytest.approx(15.0, abs=0.01)  # the view restarted at the target
    assert w.history.hops.n == 1
    assert bar.position.text().startswith("0:15")

    bar.speed.setCurrentIndex(bar.speed.findData(1.0))
    bar.speed.activated.emit(bar.speed.currentIndex())
    bar.play_button.click()
    qtbot.waitUntil(lambda: w.history.snapshot.transport.playing and w.history.snapshot.transport.speed == 1.0,
                    timeout=3000)
    w.add_marker("look here")
    assert any(text == "look here" for _, text, _ in w.history.markers)
    qtbot.waitUntil(lambda: w.history.hops.n >= 5, timeout=5000)
    w.save_screenshot(output_dir / "dashboard_replay.png")
    w.close()
    qtbot.waitUntil(lambda: all(not x.is_alive() for x in w._old_workers), timeout=5000)


def test_unreadable_recording_shows_its_reason_in_the_window(qtbot, tmp_path):
    from affectstream.app.dashboard import _application
    from affectstream.app.dashboard.main_window import DashboardWindow

    _application()
    bad = tmp_path / "not_xdf.xdf"
    bad.write_bytes(b"this is not an XDF file at all")
    w = DashboardWindow(None, publish=False, list_streams=False)
    qtbot.addWidget(w)
    w.open_recording(bad)
    qtbot.waitUntil(lambda: w.history.snapshot.state == "error", timeout=10000)
    assert "XDF" in w.history.snapshot.error or "magic" in w.history.snapshot.error
    qtbot.waitUntil(lambda: w.start_button.text() == "Start", timeout=3000)
    w.close()
