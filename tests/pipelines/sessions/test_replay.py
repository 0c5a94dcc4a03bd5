"""Replay: identical numbers at every speed, other tools' XDF files, refusals, and re-publishing over LSL."""

from __future__ import annotations

import json
import threading
import uuid

import numpy as np
import pytest

from affectstream.pipelines.engine import StreamFormatError
from affectstream.pipelines.sessions.publish import publish_recording
from affectstream.pipelines.sessions.replay import ReplaySummary, replay
from affectstream.pipelines.synthetic.recording import write_simulated_recording
from affectstream.core.xdf_reader import load_recording
from affectstream.core.xdf_writer import XDFWriter


def _records(path):
    out = []
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        rec.pop("latency_ms")  # wall-clock bookkeeping, the only value allowed to differ
        out.append(rec)
    return out


@pytest.fixture(scope="module")
def sim_video_xdf(tmp_path_factory):
    """8 s of SYNTHETIC session with the rendered face video (15 fps, 320x240), written by our XDFWriter."""
    return write_simulated_recording(tmp_path_factory.mktemp("sim") / "sim_video.xdf", 8.0, video=True)


def test_replay_gives_identical_records_at_every_speed(sim_video_xdf, tmp_path):
    seen = []
    fast = replay(sim_video_xdf, speed=None, out_jsonl=tmp_path / "fast.jsonl", on_result=seen.append)
    paced = replay(sim_video_xdf, speed=20.0, out_jsonl=tmp_path / "paced.jsonl")
    a, b = _records(tmp_path / "fast.jsonl"), _records(tmp_path / "paced.jsonl")
    assert a == b
    assert len(a) == fast.hops == paced.hops == len(seen) == 25  # (8 s - 2 s window) / 0.25 s + 1
    assert paced.wall_s >= 8.0 / 20.0  # it really was paced
    assert fast.video is not None and fast.frames == 120 and fast.face_found_ratio > 0.9
    assert all(r["synthetic"] and r["face_found"] for r in a)
    assert sum(r["valence_face"] is not None for r in a) >= 20 and a[-1]["status"] == "fused"
    assert fast.markers["rest_start"] == 1 and fast.n_markers == 2  # 5 s rest, then the first trial starts
    assert fast.ground_truth and fast.synthetic and not fast.missing_channels
    assert fast.unused_channels == ()  # the SampleCounter is bookkeeping, not a missing electrode
    assert fast.stats.counter_gaps == 0 and fast.stats.samples == 8 * 256
    np.testing.assert_allclose(np.diff([r["t"] for r in a]), 0.25)


def test_eeg_only_replay_is_chunking_independent(sim_video_xdf, tmp_path):
    """As fast as possible (64-hop chunks) and paced (one hop per chunk) give the same records without video."""
    s1 = replay(sim_video_xdf, with_video=False, out_jsonl=tmp_path / "a.jsonl")
    s2 = replay(sim_video_xdf, with_video=False, speed=50.0, out_jsonl=tmp_path / "b.jsonl")
    a, b = _records(tmp_path / "a.jsonl"), _records(tmp_path / "b.jsonl")
    assert a == b and len(a) == s1.hops == s2.hops == 25
    assert s1.video is None and s1.frames == 0
    assert any("'affectstream-sim-Video'" in n and "not loaded" in n for n in s1.notes)
    assert all(r["valence_face"] is None and not r["face_found"] for r in a)


def test_stop_event_ends_a_paced_replay(sim_video_xdf):
    stop = threading.Event()
    stop.set()
    summary = replay(sim_video_xdf, speed=1.0, with_video=False, stop=stop)
    assert summary.stopped and summary.hops == 0


def test_bad_arguments_and_files_without_eeg(tmp_path, sim_video_xdf):
    with pytest.raises(ValueError, match="speed"):
        replay(sim_video_xdf, speed=0)
    path = tmp_path / "markers_only.xdf"
    with XDFWriter(path) as w:
        sid = w.add_stream("m", "Markers", 1, 0.0, "string", "m")
        w.write(sid, ["x"], [1.0])
    with pytest.raises(StreamFormatError, match="no EEG stream"):
        replay(path)


# ---- other tools' files (../shared/data/xdf) ------------------------------------------------------------------


def test_minimal_xdf_is_refused_clearly(shared_data):
    path = shared_data / "xdf" / "xdf-modules_example_minimal.xdf"
    rec = load_recording(path)
    assert rec.eeg.name == "SendDataC" and rec.eeg.channel_format == "int16" and rec.eeg.data.shape == (9, 3)
    counts = rec.marker_counts()  # string markers from a stream with a huge id, reported
    assert rec.markers[0].stream_id == 46202862
    assert (counts["Hello"], counts["World"], counts["from"], counts["LSL"]) == (2, 2, 2, 2)
    with pytest.raises(StreamFormatError) as info:
        replay(path)
    msg = str(info.value)
    assert "SendDataC" in msg and "too low" in msg and "no channel labels" in msg and "\n" not in msg


def test_unlabeled_8ch_device_recording_is_refused_clearly(shared_data):
    path = shared_data / "xdf" / "eeglab_test_obci_8ch_1000Hz.xdf"
    rec = load_recording(path)
    assert rec.eeg.name == "obci_neeg1" and rec.eeg.labels is None and rec.eeg.data.shape == (9520, 8)
    with pytest.raises(StreamFormatError) as info:
        replay(path)
    assert "obci_neeg1" in str(info.value) and "8 channels and no channel labels" in str(info.value)


def test_eeglab_recording_replays_with_markers(shared_data, tmp_path):
    path = shared_data / "xdf" / "eeglab_eeg32_128Hz_markers_videoidx.xdf"
    out = tmp_path / "eeglab.jsonl"
    summary = replay(path, out_jsonl=out)
    assert isinstance(summary, ReplaySummary)
    assert summary.hops == 946  # (30504 - 256) / 32 + 1 hops of 0.25 s at 128 Hz
    assert summary.markers == {"square": 80, "rt": 74} and summary.markers_line() == "square x80, rt x74"
    assert set(summary.missing_channels) == {"Fp1", "AF3", "F7", "Fp2", "AF4", "F8"}
    assert any("VideoFrameIndex" in n and "skipped" in n for n in summary.notes)
    assert summary.video is None and not summary.synthetic
    records = _records(out)
    assert len(records) == 946
    assert records[0]["t"] == pytest.approx(5000.0 + 255 / 128) and records[-1]["t"] > 5238.0
    assert all(r["valence"] is not None and r["quality_eeg"] > 0.5 for r in records)
    assert all(set(r["bad_channels"]) >= {"Fp1", "Fp2"} for r in records)


def test_every_shared_xdf_loads_without_crashing(shared_data):
    files = sorted((shared_data / "xdf").glob("*.xdf"))
    assert files
    for path in files:
        rec = load_recording(path)
        assert rec.streams and rec.eeg is not None
        assert all("\n" not in n for n in rec.notes)


# ---- re-publishing ---------------------------------------------------------------------------------------------


@pytest.mark.lsl
def test_publish_recording_re_publishes_the_streams(tmp_path):
    from mne_lsl.lsl import StreamInlet

    from affectstream.pipelines.sources.lsl import find_stream

    path = tmp_path / "small.xdf"
    data = np.arange(150 * 4, dtype=np.float32).reshape(150, 4)
    stamps = 50.0 + np.arange(150) / 100.0
    with XDFWriter(path) as w:
        eeg = w.add_stream("small-eeg", "EEG", 4, 100.0, "float32", "small", labels=["Fz", "Cz", "Pz", "Oz"])
        mrk = w.add_stream("small-markers", "Markers", 1, 0.0, "string", "small-m")
        w.write(eeg, data, stamps)
        w.write(mrk, ["go"], [50.5])
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    result = {}
    thread = threading.Thread(target=lambda: result.update(publish_recording(
        path, speed=3.0, source_prefix=prefix, wait_for_consumers=15.0)), daemon=True)
    thread.start()
    sinfo = find_stream(None, source_id=f"{prefix}-small", timeout=15)
    assert sinfo.name == "small-eeg" and sinfo.n_channels == 4
    inlet = StreamInlet(sinfo, recover=False)
    inlet.open_stream(timeout=5)
    assert inlet.get_sinfo().get_channel_names() == ["Fz", "Cz", "Pz", "Oz"]
    got, ts = [], []
    try:
        while sum(len(t) for t in ts) < 150:
            d, t = inlet.pull_chunk(timeout=0.5)
            got.append(np.array(d, copy=True).reshape(-1, 4))
            ts.append(np.array(t, copy=True))
            assert thread.is_alive() or len(t), "the publisher ended before every sample arrived"
    finally:
        thread.join(10)
        inlet.close_stream()
    got, ts = np.concatenate(got), np.concatenate(ts)
    assert result == {"small-eeg": 150, "small-markers": 1}
    np.testing.assert_array_equal(got, data)
    np.testing.assert_allclose(np.diff(ts), np.diff(stamps), atol=1e-6)  # recorded spacing, shifted to now


def test_timing_faults_in_a_recording_are_handled_as_live(tmp_path):
    """Duplicated stamps are dropped and a clock jump restarts the window, exactly as the live feed does."""
    from affectstream.core.montage import MONTAGE_32
    from affectstream.pipelines.config import PipelineConfig
    from affectstream.pipelines.engine import AffectPipeline
    from affectstream.pipelines.feed import EEGFeed
    from affectstream.pipelines.sessions.recorded import eeg_spec
    from affectstream.pipelines.synthetic.sim_config import SimulatorConfig
    from affectstream.pipelines.synthetic.simulator import simulate

    rec = simulate(SimulatorConfig(seed=3), 20.0)
    stamps = 1000.0 + rec.times
    stamps[2560:] += 5.0  # the clock leaps 5 s at 10 s
    data, stamps = np.insert(rec.eeg, [100, 101, 102], rec.eeg[[99, 100, 101]], axis=0), \
        np.insert(stamps, [100, 101, 102], stamps[[99, 100, 101]])  # three duplicated stamps
    path = tmp_path / "faults.xdf"
    with XDFWriter(path) as w:
        sid = w.add_stream("EEG", "EEG", 32, 256.0, "float32", "faults", labels=list(MONTAGE_32))
        w.write(sid, data.astype(np.float32), stamps)
    got = []
    config = PipelineConfig(eeg_estimator="baseline")
    summary = replay(path, config=config, on_result=got.append)
    assert summary.timing == {"duplicate_stamps": 3, "reordered_stamps": 0, "clock_jumps": 1, "invalid_stamps": 0}
    assert any("clock jumps 1" in note for note in summary.notes)
    jump = 1000.0 + 10.0 + 5.0
    assert not any(jump <= h.t < jump + 2.0 - 1 / 256 for h in got)  # no hop's window spans the jump
    # the live feed, on the same samples pulled in other chunks, gives the same hops
    stream = load_recording(path).eeg
    feed = EEGFeed(AffectPipeline(eeg_spec(stream), config, live=False))
    live = []
    for i in range(0, len(stamps), 37):
        live += feed.push(stream.data[i:i + 37], stream.timestamps[i:i + 37])[0]
    assert [h.t for h in live] == [h.t for h in got]
    assert [h.valence for h in live] == [h.valence for h in got]
