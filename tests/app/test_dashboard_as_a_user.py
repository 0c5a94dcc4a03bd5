"""The dashboard driven as a person drives it (issue 22): clicks on the real buttons, at 1024 x 700 and 1680 x 1000.

On the fake session (``tests/fixtures/dashboard_session.py``): the layout at both sizes (screenshots in
``tests/output/``), the Record button (the file's path shown, a recorder's bug shown while the session goes on),
marker labels, a replay and the way back to live, the Subject… dialog, a stream picked while running. The Record
button on the real demo over LSL is in ``test_dashboard_record_live.py``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

pytest.importorskip("pytestqt")
QtCore = pytest.importorskip("PySide6.QtCore")

from affectstream.app.dashboard.model import StreamEntry  # noqa: E402
from affectstream.app.dashboard.worker import SourceSpec  # noqa: E402
from fixtures.dashboard_session import BrokenRecorderSession, fake_factory  # noqa: E402

SPEC = SourceSpec("EEG", eeg_source_id="fake-eeg", video="Video", video_source_id="fake-video")


def _window(qtbot, tmp_path, factory, spec=SPEC, size=(1024, 700)):
    from affectstream.app.dashboard import _application
    from affectstream.app.dashboard.main_window import DashboardWindow

    _application()
    w = DashboardWindow(spec, publish=False, list_streams=False, record_dir=tmp_path / "recs",
                        session_factory=factory, profiles_dir=tmp_path / "profiles")
    qtbot.addWidget(w)
    w.resize(*size)
    w.show()
    return w


def _click(qtbot, button) -> None:
    """A left click on the button's left part (a tool button's right part opens its menu)."""
    qtbot.mouseClick(button, QtCore.Qt.MouseButton.LeftButton, pos=QtCore.QPoint(8, button.height() // 2))


def _rect(widget, window) -> QtCore.QRect:
    return QtCore.QRect(widget.mapTo(window, QtCore.QPoint(0, 0)), widget.size())


def _overlaps(widgets, window) -> list[tuple[str, str]]:
    rects = [(w.objectName() or type(w).__name__, _rect(w, window)) for w in widgets if w.isVisible()]
    return [(a, b) for (a, ra), (b, rb) in itertools.combinations(rects, 2) if ra.intersects(rb)]


def _header(panel) -> list:
    layout = panel.layout().itemAt(0).layout()
    return [layout.itemAt(i).widget() for i in range(layout.count()) if layout.itemAt(i).widget() is not None]


def _scene_rect(item) -> QtCore.QRectF:
    return item.mapRectToScene(item.boundingRect())


# --------------------------------------------------------------------------------------------------- item 5
@pytest.mark.parametrize("size", [(1024, 700), (1680, 1000)])
def test_the_window_is_usable_at_this_size_and_nothing_overlaps(qtbot, tmp_path, output_dir, size):
    sessions = []
    w = _window(qtbot, tmp_path, fake_factory(sessions), size=size)
    qtbot.waitUntil(lambda: w.history.hops.n >= 44 and w.topomaps.updates >= 2 and w.video.frames_shown >= 5,
                    timeout=20000)  # 11 s: two markers
    qtbot.wait(400)
    assert w.minimumSize().width() <= 1024 and (w.width(), w.height()) == size
    window_rect = w.rect()
    # every toolbar button is on screen (none hidden behind a toolbar's overflow arrow)
    for button in (w.start_button, w.record_button, w.marker_button, w.open_button, w.subject_button,
                   w.picker.eeg_box, w.picker.video_box):
        assert button.isVisible() and window_rect.contains(_rect(button, w)), button.text()
    assert not _overlaps([w.traces, w.eeg_panel, w.topomaps, w.video], w)
    for panel in (w.traces, w.eeg_panel, w.topomaps, w.video):
        assert not _overlaps(_header(panel), w), type(panel).__name__
        assert window_rect.contains(_rect(panel, w)), type(panel).__name__
        for a, b in itertools.combinations([x for x in _header(panel) if x.isVisible()], 2):
            ra, rb = sorted((_rect(a, w), _rect(b, w)), key=lambda r: r.left())
            assert rb.left() - ra.right() >= 8, (a.objectName(), b.objectName())  # texts never run together
    # the status bar: every text inside the window, none over another (a narrow window wraps them)
    labels = [w.status.eeg, w.status.others, w.status.counters, w.status.estimator, w.status.badge, w.status.lsl]
    assert not _overlaps(labels, w)
    assert all(window_rect.contains(_rect(label, w)) for label in labels)
    assert "fake-EEG @ testhost" in w.status.eeg.text()
    # EEG: the channel names drawn are at least a line apart; each trace stays in its row
    names = [_scene_rect(item) for item in w.eeg_panel.label_items if item.isVisible()]
    assert all(b.top() >= a.bottom() - 1 for a, b in zip(names, names[1:]))
    # markers: labelled in their lane, inside it, no two labels over each other
    lane = w.traces.lane
    shown = [label for label in lane.labels if label.isVisible()]
    assert len(shown) >= 2 and "trial_start/stim_01" in lane.shown_texts()[0]
    lane_rect = _scene_rect(lane.plot.getViewBox())
    for label in shown:
        assert lane_rect.adjusted(-1, -1, 1, 1).contains(_scene_rect(label)), label.textItem.toPlainText()
    assert not any(_scene_rect(a).intersects(_scene_rect(b)) for a, b in itertools.combinations(shown, 2))
    # the face tag inside the frame's view
    tag = w.video.box_label
    assert tag.isVisible() and _scene_rect(w.video.view).adjusted(-1, -1, 1, 1).contains(_scene_rect(tag))
    path = w.save_screenshot(output_dir / f"dashboard_user_{size[0]}x{size[1]}.png")
    assert path.stat().st_size > 50_000
    w.close()


def test_marker_labels_show_their_own_text_after_a_new_session(qtbot):
    """Issue 22, item 3: a re-used label kept the previous session's marker text."""
    from affectstream.app.dashboard.trace_panel import TracePanel

    panel = TracePanel()
    qtbot.addWidget(panel)
    panel.resize(900, 400)
    panel.show()
    vb = panel.plots["valence"].getViewBox()
    vb.setXRange(0, 60, padding=0)
    panel.lane.show([(10.0, "trial_start/stim_38", "stream"), (30.0, "rt", "stream")])
    assert panel.lane.shown_texts() == ["trial_start/stim_38", "rt"]
    panel.reset()
    vb.setXRange(0, 60, padding=0)
    panel.lane.show([(12.0, "square", "stream")])
    assert panel.lane.shown_texts() == ["square"]
    panel.lane.show([(12.0, "{value} braces", "manual")])  # a text is shown as it is, never formatted
    assert panel.lane.shown_texts() == ["{value} braces"]


def test_labels_take_the_free_row_are_shortened_when_none_is_and_never_leave_the_lane():
    from affectstream.app.dashboard.marker_lane import place_labels

    def px(text: str) -> float:
        return 7.0 * len(text)

    markers = [(1.0, "trial_start/stim_01", "stream"), (2.0, "trial_end/stim_01", "stream"),
               (3.0, "rest_start", "stream"), (18.0, "x", "manual"), (59.0, "trial_start/stim_02", "stream")]
    placed = place_labels(markers, 0.0, 60.0, 600.0, px)  # 10 px a second
    assert [row for _, _, row, _, _ in placed[:2]] == [0, 1]  # the second label takes the free row
    t, x, row, text, flip = placed[2]  # no row free at 3 s: after the row's label, shortened before the next marker
    assert text.endswith("…") and x > t and 10 * x + px(text) <= 10 * 18 - 8
    assert placed[3][2] == 0 and placed[3][1] == 18.0  # a free row: at its marker
    assert placed[4][4] and placed[4][3] == "trial_start/stim_02"  # at the right edge it ends at its marker
    for r in (0, 1):
        spans = sorted((10 * x - (px(text) if flip else 0), 10 * x + (0 if flip else px(text)))
                       for _, x, row, text, flip in placed if row == r and text)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), spans
        assert all(0 <= lo and hi <= 600 for lo, hi in spans)


# --------------------------------------------------------------------------------------------------- items 1, 2
def test_record_shows_where_the_file_goes_without_hiding_the_stream_health(qtbot, tmp_path):
    sessions = []
    w = _window(qtbot, tmp_path, fake_factory(sessions))
    qtbot.waitUntil(lambda: w.history.hops.n >= 4, timeout=10000)
    assert w.record_dir == tmp_path / "recs" and str(w.record_dir) in w.record_button.toolTip()
    _click(qtbot, w.record_button)
    qtbot.waitUntil(lambda: w.history.snapshot.recording is not None, timeout=10000)
    path = sessions[-1].recordings[-1]
    assert path.parent == tmp_path / "recs" and path.name.startswith("sub-01_ses-1_task-dashboard_")
    qtbot.waitUntil(lambda: str(path) in w.notice.text(), timeout=5000)
    assert w.record_button.isChecked() and w.status.eeg.isVisible() and "256" in w.status.eeg.text()
    assert w.status.rec.isVisible()
    _click(qtbot, w.record_button)
    qtbot.waitUntil(lambda: w.notice.text() == f"Saved {path}", timeout=10000)
    assert not w.record_button.isChecked() and sessions[-1].recordings == [path, None] and w.running
    w.close()


def test_a_recorder_bug_is_shown_in_the_window_and_the_session_goes_on(qtbot, tmp_path):
    """Issue 22, item 1: the recorder's AttributeError stopped the live session silently (exit 0)."""
    sessions = []

    def factory(spec, config, publish):
        sessions.append(BrokenRecorderSession(spec, config, publish))
        return sessions[-1]

    w = _window(qtbot, tmp_path, factory)
    qtbot.waitUntil(lambda: w.history.hops.n >= 4, timeout=10000)
    _click(qtbot, w.record_button)
    qtbot.waitUntil(lambda: "AttributeError" in w.notice.text(), timeout=10000)
    assert w.notice.level == "error" and "The session goes on" in w.notice.text()
    assert not w.record_button.isChecked() and w.record_button.text() == "● Record"
    n = w.history.hops.n
    qtbot.waitUntil(lambda: w.history.hops.n >= n + 8, timeout=10000)
    assert w.running and w.history.snapshot.streams["EEG"].state == "live" and len(sessions) == 1
    assert w.exit_code == 1  # the process says that something failed
    w.close()


# --------------------------------------------------------------------------------------------------- item 4
def test_open_recording_shows_in_the_toolbar_and_back_to_live_reopens_the_live_streams(qtbot, tmp_path):
    from affectstream.app.dashboard.worker import _open_session
    from fixtures.marker_files import write_numeric_marker_recording

    sessions = []
    fake = fake_factory(sessions)

    def factory(spec, config, publish):
        return _open_session(spec, config, publish) if spec.recording is not None else fake(spec, config, publish)

    recording = write_numeric_marker_recording(tmp_path / "codes.xdf")
    w = _window(qtbot, tmp_path, factory)
    qtbot.waitUntil(lambda: w.history.hops.n >= 44, timeout=20000)  # the live markers are drawn
    w.open_recording(recording, speed=8.0)
    assert not w.picker.eeg_box.isEnabled() and "fake-eeg" not in w.picker.eeg_box.currentText()  # at once
    assert w.replay_toolbar.isVisible() and w.live_button.isEnabled() and not w.record_button.isEnabled()
    qtbot.waitUntil(lambda: len(w.history.markers) == 4, timeout=20000)
    assert w.picker.eeg_box.currentText().startswith("fixture-EEG  (recorded")
    assert w.traces.lane.shown_texts() and all("stim" not in t for t in w.traces.lane.shown_texts())
    _click(qtbot, w.live_button)
    assert w.spec.eeg_source_id == "fake-eeg" and not w.replaying
    qtbot.waitUntil(lambda: len(sessions) == 2, timeout=10000)  # opened on the worker thread
    assert not w.replay_toolbar.isVisible() and w.picker.eeg_box.isEnabled() and w.record_button.isEnabled()
    qtbot.waitUntil(lambda: w.history.hops.n >= 4, timeout=10000)
    assert all(text.startswith("trial_start") or text == "manual" for _, text, _ in w.history.markers)
    w.close()


# --------------------------------------------------------------------------------------------------- item 7
def test_subject_ok_without_a_change_keeps_the_session_and_the_dialog_says_how_to_make_a_profile(qtbot, tmp_path,
                                                                                                monkeypatch):
    from affectstream.app.dashboard import subject_dialog

    sessions = []
    w = _window(qtbot, tmp_path, fake_factory(sessions))
    qtbot.waitUntil(lambda: w.history.hops.n >= 2, timeout=10000)
    dialog = subject_dialog.SubjectDialog(w, tmp_path / "profiles", None)
    qtbot.addWidget(dialog)
    text = dialog.findChild(type(w.status.eeg)).text()
    assert "affectstream calibrate --subject ID" in text and "none yet" in text and str(tmp_path) in text
    assert dialog.choice() == subject_dialog.Choice(None)
    monkeypatch.setattr(subject_dialog, "choose_subject", lambda parent, root, current: subject_dialog.Choice(None))
    _click(qtbot, w.subject_button)
    assert len(sessions) == 1 and w.running and "Nothing changed" in w.notice.text()
    w.close()


def test_a_stream_picked_while_running_is_used_at_once(qtbot, tmp_path):
    """Issue 22, item 7: choosing 'no video' waited silently for a restart."""
    sessions = []
    w = _window(qtbot, tmp_path, fake_factory(sessions))
    qtbot.waitUntil(lambda: w.history.hops.n >= 2, timeout=10000)
    w.picker._fill([StreamEntry("fake", "EEG", "fake-eeg", "testhost", 32, 256.0),
                    StreamEntry("cam", "Video", "fake-video", "testhost", 230400, 15.0)])
    w.picker.video_box.setCurrentIndex(0)  # "no video", as the user picks it
    w.picker.video_box.activated.emit(0)
    assert not w.spec.has_video and "Switching to EEG fake-eeg" in w.notice.text()
    qtbot.waitUntil(lambda: len(sessions) == 2 and w.history.hops.n >= 2, timeout=10000)
    assert np.isfinite(w.history.hops.view[:, 1]).any()
    w.close()


def test_a_recording_asked_for_at_start_begins_once_the_session_runs(qtbot, tmp_path):
    """``demo --record`` with the window: the file is recorded from the session's start (it was ignored)."""
    from affectstream.app.dashboard import _application
    from affectstream.app.dashboard.main_window import DashboardWindow

    _application()
    sessions = []
    w = DashboardWindow(SPEC, publish=False, list_streams=False, session_factory=fake_factory(sessions),
                        record=tmp_path / "start.xdf")
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.history.snapshot.recording == str(tmp_path / "start.xdf"), timeout=10000)
    assert sessions[-1].recordings == [tmp_path / "start.xdf"] and w.record_button.isChecked()
    w.close()
    assert sessions[-1].closed
