"""The Record button clicked during ``affectstream demo`` (the simulator over LSL, the real pipeline and recorder), as
issue 22 did it: the file lands in ``recordings/`` of the working directory with samples in every stream and their
clock offsets, the session is still live afterwards, and the demo exits 0."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("pytestqt")
QtCore = pytest.importorskip("PySide6.QtCore")


class _User:
    """Clicks through the demo window on a 100 ms timer: a marker, Record, another marker, Record again after
    ``record_s``, and notes what the window showed."""

    def __init__(self, window, record_s: float) -> None:
        self.w, self.record_s = window, record_s
        self.phase, self.t = "waiting", 0.0
        self.seen: dict = {}
        self.timer = QtCore.QTimer(window)
        self.timer.timeout.connect(self.step)
        self.timer.start(100)

    def click(self, button) -> None:
        from PySide6.QtTest import QTest

        QTest.mouseClick(button, QtCore.Qt.MouseButton.LeftButton, pos=QtCore.QPoint(8, button.height() // 2))

    def step(self) -> None:
        w, now = self.w, time.monotonic()
        snap = w.history.snapshot
        if self.phase == "waiting" and snap.state == "running" and w.history.hops.n >= 8:
            self.click(w.marker_button)  # the dashboard's own Markers outlet exists before the recording starts
            self.click(w.record_button)
            self.phase, self.t = "recording", now
        elif self.phase == "recording" and snap.recording and "notice" not in self.seen:
            self.seen["notice"] = w.notice.text()
        elif self.phase == "recording" and now - self.t >= self.record_s / 2 and "marked" not in self.seen:
            self.seen["marked"] = True  # once the recorder has connected the outlet (it looks for it at the start)
            self.click(w.marker_button)
        elif self.phase == "recording" and now - self.t >= self.record_s:
            self.seen["hops_at_stop"] = w.history.hops.n
            self.click(w.record_button)
            self.phase, self.t = "stopped", now
        elif self.phase == "stopped" and now - self.t >= 3.0:
            self.seen.update(state=snap.state, eeg=snap.streams["EEG"].state, hops=w.history.hops.n,
                             notice=self.seen.get("notice", ""), saved=w.notice.text(), exit_code=w.exit_code)
            self.phase = "done"


@pytest.mark.lsl
@pytest.mark.slow
def test_record_clicked_in_the_demo_writes_every_stream_and_the_demo_goes_on(tmp_path, monkeypatch, output_dir):
    import pyxdf

    from affectstream.app.dashboard import run_demo
    from affectstream.core.paths import RECORDINGS_ENV

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(RECORDINGS_ENV, raising=False)
    users: list[_User] = []
    rc = run_demo(duration=26.0, video=True, screenshot=output_dir / "dashboard_demo_after_recording.png",
                  _on_window=lambda w: users.append(_User(w, record_s=10.0)))
    seen = users[0].seen
    assert rc == 0 and seen.get("exit_code") == 0, seen
    files = list((tmp_path / "recordings").glob("sub-01_ses-1_task-dashboard_*.xdf"))
    assert len(files) == 1, list(tmp_path.rglob("*"))
    assert str(files[0]) in seen["notice"] and seen["saved"] == f"Saved {files[0]}"
    # still live after the recording stopped: estimates kept coming
    assert seen["state"] == "running" and seen["eeg"] == "live" and seen["hops"] > seen["hops_at_stop"] + 4
    streams, header = pyxdf.load_xdf(str(files[0]), synchronize_clocks=True)
    by_type: dict[str, list] = {}
    for s in streams:
        by_type.setdefault(s["info"]["type"][0], []).append(s)
    assert {"EEG", "Affect", "Markers", "GroundTruth", "Video"} <= set(by_type), sorted(by_type)
    eeg = by_type["EEG"][0]
    assert len(eeg["time_stamps"]) >= 256 * 8  # about 10 s at 256 Hz
    assert len(eeg["clock_times"]) >= 2  # its clock offsets, as --record writes them
    assert len(by_type["Affect"][0]["time_stamps"]) >= 4 * 8
    markers = {s["info"]["name"][0]: np.ravel(s["time_series"]).tolist() for s in by_type["Markers"]}
    assert "affectstream-sim-Markers" in markers, markers
    assert markers.get("affectstream-markers") == ["manual 2"], markers  # the marker published during the recording
    assert all(len(s["time_stamps"]) for s in by_type["GroundTruth"] + by_type["Video"])
