"""The recorder's video frames and Affect stream (issue 20, items 2 and 4).

Video frames are written on the recorder's own thread, never on the one that hands them in (the face path's reader):
a bounded queue between them, whose overflow is counted, and a failed write that the next poll reports. The Affect
stream is declared irregular, so that pyxdf's default load (dejitter on) keeps the estimates' stamps across a gap.

The session handed to :class:`SessionRecorder` is a stand-in holding only what the recorder reads (its EEG inlet's
description, the Affect ids, the frame source's rate); the hop results are stand-ins with the eight Affect values.
All data are SYNTHETIC.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
import pytest
import pyxdf

from affectstream.pipelines.sinks import recorder as recorder_module
from affectstream.pipelines.sinks.recorder import SessionRecorder

pytestmark = pytest.mark.lsl  # the recorder looks for Markers streams on the machine in the background

N_EEG = 2


def _session(fps: float | None = None) -> SimpleNamespace:
    """What SessionRecorder reads of a LiveSession; ``fps``: a face thread with a frame source of that rate."""
    from mne_lsl.lsl import StreamInfo

    info = StreamInfo("stand-in-eeg", "EEG", N_EEG, 256.0, "float32", f"test-rec-{uuid.uuid4().hex[:10]}")
    worker = SimpleNamespace(source=SimpleNamespace(fps=fps)) if fps is not None else None
    return SimpleNamespace(synthetic=True, inlet=SimpleNamespace(info=info, clock_offset=0.0), markers=None,
                           truth=None, pipeline=SimpleNamespace(hop_s=0.25),
                           affect_source_id=f"affectstream-affect-test-{uuid.uuid4().hex[:10]}", affect_desc={},
                           worker=worker, record_sinfos=[], latest_eeg=(np.empty((0, N_EEG)), np.empty(0)))


def _hop(t: float, k: int) -> SimpleNamespace:
    est = SimpleNamespace(valence=0.1 * k, arousal=-0.1 * k)
    return SimpleNamespace(t=t, valence=0.5, arousal=-0.5, confidence=0.9, quality_eeg=1.0, eeg=est, face=est)


def _frame(k: int) -> np.ndarray:
    return np.full((6, 8, 3), k, dtype=np.uint8)


def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _streams(path, **kwargs) -> dict[str, dict]:
    return {s["info"]["type"][0]: s for s in pyxdf.load_xdf(str(path), **kwargs)[0]}


def test_affect_stamps_survive_pyxdfs_default_dejitter_across_a_gap(tmp_path):
    """10 s of 4 Hz estimates, a 3 s EEG outage without any, 10 s more: the stamps written are the stamps loaded,
    with and without dejittering (which fitted a regular stream's stamps to one line: a gap under 125 s, 500 samples
    at 4 Hz, is no break to it)."""
    path = tmp_path / "gappy.xdf"
    session = _session()
    rec = SessionRecorder(path, session)
    stamps = np.concatenate([1000.0 + 0.25 * np.arange(40), 1013.0 + 0.25 * np.arange(40)])
    for k, t in enumerate(stamps):
        rec.record_poll(session, [_hop(float(t), k)])
    rec.close()
    raw = _streams(path, dejitter_timestamps=False)["Affect"]
    default = _streams(path)["Affect"]
    np.testing.assert_allclose(raw["time_stamps"], stamps, rtol=0, atol=1e-9)
    np.testing.assert_allclose(default["time_stamps"], raw["time_stamps"], rtol=0, atol=1e-9)
    assert float(default["info"]["nominal_srate"][0]) == 0.0
    assert default["info"]["desc"][0]["hop_s"] == ["0.25"]
    np.testing.assert_allclose(default["time_series"][:, 2], 0.1 * np.arange(80), rtol=1e-6)  # valence_eeg


def test_the_affect_outlet_is_declared_irregular_with_its_hop():
    """What LabRecorder sees of the outlet: nominal rate 0 (so its recordings are not dejittered either) and the
    hop in the desc."""
    from mne_lsl.lsl import StreamInlet

    from affectstream.pipelines.sinks.outputs import AffectOutlet
    from affectstream.pipelines.sources.discovery import find_stream

    source_id = f"affectstream-affect-test-{uuid.uuid4().hex[:10]}"
    outlet = AffectOutlet(source_id, hop_s=0.125, synthetic=True)
    try:
        sinfo = find_stream(None, source_id=source_id, timeout=10)
        inlet = StreamInlet(sinfo)
        inlet.open_stream(timeout=5)
        full = inlet.get_sinfo(timeout=5)
        inlet.close_stream()
    finally:
        outlet.close()
    assert sinfo.sfreq == 0.0 and full.desc.child_value("hop_s") == "0.125"


def test_frames_are_written_on_the_recorders_thread_in_order(tmp_path):
    path = tmp_path / "frames.xdf"
    rec = SessionRecorder(path, _session(fps=30.0))
    writers = set()
    write = rec.writer.write

    def noting_write(stream_id, data, stamps):
        if np.shape(data)[-1] == _frame(0).size:  # a video frame
            writers.add(threading.get_ident())
        write(stream_id, data, stamps)

    rec.writer.write = noting_write
    for k in range(20):
        rec.record_frame(_frame(k), 50.0 + k / 30)
    rec.close()
    assert writers and threading.get_ident() not in writers
    video = _streams(path, dejitter_timestamps=False)["Video"]
    assert video["time_series"][:, 0].view(np.uint8).tolist() == list(range(20))
    np.testing.assert_allclose(video["time_stamps"], 50.0 + np.arange(20) / 30, rtol=0, atol=1e-9)
    assert (rec.frames.written, rec.frames.dropped) == (20, 0)


def test_a_full_frame_queue_drops_and_counts_and_a_failed_write_reaches_the_poll(tmp_path, monkeypatch):
    """A disk that stalls: frames beyond the queue's bytes are left out and counted, the others written in order;
    a write that then fails stops the frame thread, and the session's next poll gets the OSError."""
    frame_bytes = _frame(0).nbytes
    monkeypatch.setattr(recorder_module, "MAX_QUEUED_FRAME_BYTES", 3 * frame_bytes)
    path = tmp_path / "stall.xdf"
    session = _session(fps=30.0)
    rec = SessionRecorder(path, session)
    stalled, entered = threading.Event(), threading.Event()
    write = rec.writer.write

    def stalling_write(stream_id, data, stamps):
        if stream_id == rec.frames.sid and not stalled.is_set():
            entered.set()
            stalled.wait(10)
        write(stream_id, data, stamps)

    rec.writer.write = stalling_write
    rec.record_frame(_frame(0), 1.0)
    assert entered.wait(10)  # frame 0 is being written (and still counts in the queue)
    for k in range(1, 8):
        rec.record_frame(_frame(k), 1.0 + k / 30)
    assert rec.frames.dropped == 5  # frames 1 and 2 fit beside frame 0; 3-7 do not
    stalled.set()

    def failing_write(stream_id, data, stamps):
        if stream_id == rec.frames.sid:
            raise OSError(28, "No space left on device")
        write(stream_id, data, stamps)

    _until(lambda: rec.frames.written == 3)
    rec.writer.write = failing_write
    rec.record_frame(_frame(9), 2.0)
    _until(lambda: rec.frames.error is not None)
    with pytest.raises(OSError, match="No space left"):
        rec.record_poll(session, [])
    rec.close()
    video = _streams(path, dejitter_timestamps=False)["Video"]
    assert video["time_series"][:, 0].view(np.uint8).tolist() == [0, 1, 2]
