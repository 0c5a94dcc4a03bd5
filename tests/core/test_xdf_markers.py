"""Marker streams in XDF files: string ones, and numeric ones (int or float codes) read as the same text events."""

from __future__ import annotations

import numpy as np

from affectstream.core.xdf_reader import load_recording
from affectstream.core.xdf_writer import XDFWriter
from fixtures.marker_files import MUSE_P300, write_muse_p300_xdf


def test_numeric_marker_streams_are_markers_and_read_as_text(tmp_path):
    path = tmp_path / "codes.xdf"
    with XDFWriter(path, flush_interval_s=None) as w:
        eeg = w.add_stream("eeg", "EEG", 2, 100.0, "float32", "eeg", labels=["Fz", "Cz"])
        ints = w.add_stream("codes", "Markers", 1, 0.0, "int32", "codes")
        floats = w.add_stream("stim", "Triggers", 2, 0.0, "float32", "stim")
        untyped = w.add_stream("button", "", 1, 0.0, "int16", "button")
        frames = w.add_stream("VideoFrameIndex", "FrameIndex", 1, 30.0, "int32", "frames")  # a signal, not events
        w.write(eeg, np.zeros((300, 2), np.float32), 10.0 + np.arange(300) / 100.0)
        w.write(ints, np.array([[7], [2_000_000]], np.int32), [10.5, 11.0])
        w.write(floats, np.array([[2.0, 0.25], [3.0, -1.0]], np.float32), [10.2, 12.0])
        w.write(untyped, np.array([[4]], np.int16), [11.5])
        w.write(frames, np.arange(90, dtype=np.int32).reshape(-1, 1), 10.0 + np.arange(90) / 30.0)
    rec = load_recording(path)
    assert sorted(s.name for s in rec.markers) == ["button", "codes", "stim"]
    assert rec.eeg.name == "eeg"
    assert [(t, text) for t, text, _ in rec.marker_events()] == [
        (10.2, "2|0.25"), (10.5, "7"), (11.0, "2000000"), (11.5, "4"), (12.0, "3|-1")]
    assert any("VideoFrameIndex" in note for note in rec.notes)  # not counted as markers


def test_an_irregular_integer_eeg_stream_is_not_taken_for_markers(tmp_path):
    path = tmp_path / "odd_eeg.xdf"
    with XDFWriter(path, flush_interval_s=None) as w:
        sid = w.add_stream("adc", "EEG", 2, 0.0, "int16", "adc", labels=["Fz", "Cz"])
        w.write(sid, np.ones((5, 2), np.int16), np.arange(5.0))
    rec = load_recording(path)
    assert rec.markers == [] and rec.eeg is not None and rec.eeg.name == "adc"


def test_muse_p300_int32_markers_are_all_counted(shared_data, tmp_path):
    """The real Muse P300 session (../shared/data, MANIFEST §2): 165 non-targets and 32 targets, on their rows."""
    rec = load_recording(write_muse_p300_xdf(shared_data, tmp_path / "muse_p300.xdf"))
    assert [s.channel_format for s in rec.markers] == ["int32"]
    assert rec.marker_counts() == {"1": 165, "2": 32}
    table = np.genfromtxt(shared_data / MUSE_P300, delimiter=",", names=True)
    rows = np.flatnonzero(table["Marker"] != 0)
    events = rec.marker_events()
    np.testing.assert_allclose([t for t, _, _ in events], table["timestamps"][rows])
    assert [text for _, text, _ in events] == [str(int(c)) for c in table["Marker"][rows]]
