"""A clip on screen offscreen: its first frame is reported on the LSL clock, it keeps its length, it ends once."""

from __future__ import annotations

import time

import pytest
from fixtures.clip_files import write_clip

pytest.importorskip("pytestqt")


def test_a_clip_plays_for_its_length_and_reports_its_first_frame(qtbot, tmp_path):
    from mne_lsl.lsl import local_clock

    from affectstream.app.clip_player import ClipPlayer
    from affectstream.app.dashboard import _application
    from affectstream.calibration.clips import probe_clip

    _application()
    write_clip(tmp_path / "c.avi", 25, fps=25.0)
    player = ClipPlayer()
    qtbot.addWidget(player)
    player.resize(320, 240)
    player.show()
    firsts, ends = [], []
    player.first_frame.connect(lambda t: firsts.append((t, time.perf_counter())))
    player.finished.connect(lambda: ends.append(time.perf_counter()))
    onset = local_clock()
    player.play(probe_clip(tmp_path / "c.avi"))
    assert player.playing
    qtbot.waitUntil(lambda: bool(ends), timeout=10000)
    assert len(firsts) == 1 and 0 <= firsts[0][0] - onset < 1.0  # the first frame follows the onset within a second
    elapsed = ends[0] - firsts[0][1]
    assert 0.9 <= elapsed <= 3.0  # one second of clip: not rushed, not stretched far past its length
    assert not player.playing and player.dropped <= 25
    qtbot.wait(200)
    assert len(ends) == 1


def test_a_stopped_clip_does_not_report_an_end(qtbot, tmp_path):
    from affectstream.app.clip_player import ClipPlayer, sound_support
    from affectstream.app.dashboard import _application
    from affectstream.calibration.clips import probe_clip

    _application()
    write_clip(tmp_path / "c.avi", 50, fps=25.0)
    player = ClipPlayer()
    qtbot.addWidget(player)
    player.show()
    ends = []
    player.finished.connect(lambda: ends.append(1))
    player.play(probe_clip(tmp_path / "c.avi"))
    qtbot.wait(300)
    player.stop()
    qtbot.wait(2500)
    assert not ends and not player.playing
    assert isinstance(sound_support(), str)  # "" with sound, else the reason in one line
    assert "\n" not in sound_support()
