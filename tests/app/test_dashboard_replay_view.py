"""What the dashboard shows around a replay: the stream picker (every live match; the recording's streams while it
plays), numeric markers, the model warning, and panel headers that stay apart at the window's narrowest."""

from __future__ import annotations

import itertools

import pytest

pytest.importorskip("pytestqt")
QtCore = pytest.importorskip("PySide6.QtCore")

from affectstream.app.dashboard.model import StreamEntry  # noqa: E402
from fixtures.marker_files import write_numeric_marker_recording  # noqa: E402

LIVE = [StreamEntry("sim-EEG", "EEG", "sim-a-eeg", "lab1", 33, 256.0),
        StreamEntry("sim-EEG", "EEG", "sim-b-eeg", "lab1", 33, 256.0),  # a second simulator: same name and host
        StreamEntry("Muse", "eeg", "muse-1", "lab2", 5, 256.0),
        StreamEntry("cam", "Video", "cam-video", "lab2", 230400, 15.0),
        StreamEntry("sim-Markers", "Markers", "sim-a-markers", "lab1", 1, 0.0)]


def _items(box) -> list[str]:
    return [box.itemText(i) for i in range(box.count())]


def _window(qtbot):
    from affectstream.app.dashboard import _application
    from affectstream.app.dashboard.main_window import DashboardWindow

    _application()
    w = DashboardWindow(None, publish=False, list_streams=False)
    qtbot.addWidget(w)
    w.show()
    return w


def _overlaps(widgets) -> list[tuple[str, str]]:
    """Pairs of the given visible widgets whose on-screen rectangles intersect."""
    rects = [(w.objectName() or type(w).__name__ + ":" + getattr(w, "text", lambda: "")()[:20],
              QtCore.QRect(w.mapToGlobal(QtCore.QPoint(0, 0)), w.size())) for w in widgets if w.isVisible()]
    return [(a, b) for (a, ra), (b, rb) in itertools.combinations(rects, 2) if ra.intersects(rb)]


def _header_widgets(panel) -> list:
    layout = panel.layout().itemAt(0).layout()
    return [layout.itemAt(i).widget() for i in range(layout.count()) if layout.itemAt(i).widget() is not None]


def test_picker_lists_every_matching_stream_and_tells_same_names_apart(qtbot):
    from affectstream.app.dashboard.controls import StreamPicker

    picker = StreamPicker(wait=0.2)
    qtbot.addWidget(picker)
    assert picker.wait == 1.0  # never a lookup shorter than liblsl's answers take
    picker._fill(LIVE)
    eeg = _items(picker.eeg_box)
    assert len(eeg) == 3 and len(set(eeg)) == 3  # the type matched whatever its case ("eeg")
    assert sum("sim-a-eeg" in t for t in eeg) == 1 and sum("sim-b-eeg" in t for t in eeg) == 1
    assert _items(picker.video_box) == ["no video", "cam @ lab2  (15 fps)"]
    picker.eeg_box.setCurrentIndex(next(i for i, t in enumerate(eeg) if "sim-b-eeg" in t))
    picker._fill(list(reversed(LIVE)))  # a new listing keeps the choice
    assert picker.spec().eeg_source_id == "sim-b-eeg"


def test_picker_shows_the_recordings_streams_and_no_live_one_while_it_plays(qtbot):
    from affectstream.app.dashboard.controls import StreamPicker

    picker = StreamPicker()
    qtbot.addWidget(picker)
    picker._fill(LIVE)
    picker.show_recording(())
    assert _items(picker.eeg_box) == ["loading the recording …"] and picker.spec() is None
    recorded = (StreamEntry("EEGLAB-sample-EEG", "EEG", "eeglab", "rec-host", 32, 128.0, recorded=True),)
    picker.show_recording(recorded)
    picker._fill(LIVE)  # a listing that finishes meanwhile changes nothing shown
    assert _items(picker.eeg_box) == ["EEGLAB-sample-EEG  (recorded, 32 ch, 128 Hz)"]
    assert _items(picker.video_box) == ["no video in the recording"]
    assert not picker.eeg_box.isEnabled() and picker.spec() is None
    picker.show_live()
    assert len(_items(picker.eeg_box)) == 3 and picker.eeg_box.isEnabled() and picker.spec() is not None


def test_replay_draws_numeric_markers_and_shows_only_the_recordings_stream(qtbot, tmp_path, monkeypatch):
    path = write_numeric_marker_recording(tmp_path / "codes.xdf")
    monkeypatch.chdir(tmp_path)
    w = _window(qtbot)
    assert w.record_dir == tmp_path.resolve() / "recordings"  # where `run --record` writes too: recordings/README.md
    w.picker._fill(LIVE)
    w.open_recording(path, speed=8.0)
    qtbot.waitUntil(lambda: len(w.history.markers) == 4, timeout=20000)
    assert [text for _, text, _ in w.history.markers] == ["1", "2", "1", "1"]
    assert _items(w.picker.eeg_box) == ["fixture-EEG  (recorded, 32 ch, 256 Hz)"]
    snap = w.history.snapshot
    assert snap.streams["Markers"].samples == 4 and snap.eeg_model_trained_on == "synthetic"
    assert not snap.model_warning and not w.traces.warning.isVisible()  # the simulator's own EEG
    w.stop()
    qtbot.waitUntil(lambda: w.picker.eeg_box.isEnabled(), timeout=3000)  # stopped: the live listing is back
    # the live listing: the streams listed last (the window lists this machine's streams again meanwhile)
    assert not any("recorded" in t for t in _items(w.picker.eeg_box))
    w.close()


def test_real_eeg_replay_at_the_narrowest_window_warns_and_keeps_headers_apart(qtbot, shared_data, output_dir):
    """The EEGLAB recording (6 montage channels not measured: interpolated) at the window's minimum width: the model
    warning is shown, the maps draw those 6 hollow, the header texts stay apart, and no two header items or panels
    overlap."""
    w = _window(qtbot)
    minimum = w.minimumSize()
    w.resize(minimum.width(), max(minimum.height(), 700))
    w.open_recording(shared_data / "xdf" / "eeglab_eeg32_128Hz_markers_videoidx.xdf", speed=16.0)
    qtbot.waitUntil(lambda: w.history.hops.n >= 40 and bool(w.topomaps.hollow_labels()), timeout=30000)
    qtbot.wait(300)
    assert w.minimumSize() == minimum  # new texts never move the window's minimum
    assert w.width() == minimum.width()
    snap = w.history.snapshot
    assert "simulated EEG" in snap.model_warning and w.traces.warning.isVisible()
    assert "calibrate" in w.traces.warning.toolTip() and "⚠" in w.status.estimator.text()
    eeg, maps = w.eeg_panel, w.topomaps
    assert maps.hollow_labels() == ("Fp1", "AF3", "F7", "Fp2", "AF4", "F8")
    assert eeg.n == 30 and eeg.head_label.shown_text().startswith("head at ")  # the cap's 30 electrodes, EOG left out
    assert not _overlaps(_header_widgets(eeg) + _header_widgets(maps))
    assert not _overlaps([eeg, maps, w.traces, w.video])
    gap = eeg.head_label.geometry().left() - eeg.bad_label.geometry().right()
    assert gap >= 8  # header texts never run together
    w.save_screenshot(output_dir / "dashboard_replay_narrow.png")
    w.close()
