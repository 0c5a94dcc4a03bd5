"""Live recording: every stream of a session lands in one XDF file that pyxdf reads back."""

import subprocess
import sys
import time
import uuid

import numpy as np
import pytest
import pyxdf

pytestmark = pytest.mark.lsl


def test_live_session_records_every_stream(tmp_path):
    from affectstream.pipelines.sessions.live import open_video_source, run_headless

    prefix = f"test-{uuid.uuid4().hex[:10]}"
    sim = subprocess.Popen([sys.executable, "-m", "affectstream", "simulate", "--duration", "60", "--source-prefix",
                            prefix], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    path = tmp_path / "sub-01_ses-1_task-test.xdf"
    try:
        video = open_video_source(video_source_id=f"{prefix}-video", timeout=20)
        summary = run_headless("EEG", source_id=f"{prefix}-eeg", duration=6.0, resolve_timeout=20,
                               video_source=video, publish=False, record=path, markers=f"{prefix}-markers",
                               ground_truth=f"{prefix}-truth")
    finally:
        sim.terminate()
        sim.wait(10)
    streams = {s["info"]["type"][0]: s for s in pyxdf.load_xdf(str(path))[0]}
    assert set(streams) == {"EEG", "Markers", "GroundTruth", "Affect", "Video"}
    eeg = streams["EEG"]
    counter = eeg["time_series"][:, -1]
    assert len(counter) >= summary.stats.samples - 64 and np.all(np.diff(counter) == 1)  # nothing lost in the file
    labels = [c["label"][0] for c in eeg["info"]["desc"][0]["channels"][0]["channel"]]
    assert labels[:3] == ["Fp1", "AF3", "F3"] and labels[-1] == "SampleCounter"
    assert eeg["info"]["desc"][0]["synthetic"][0] == "true"
    assert len(streams["Affect"]["time_stamps"]) == summary.hops
    video = streams["Video"]
    w, h = int(video["info"]["desc"][0]["width"][0]), int(video["info"]["desc"][0]["height"][0])
    assert video["time_series"].shape[1] == w * h * 3 and len(video["time_stamps"]) > 30
    # every stream is on one clock: the estimates fall inside the EEG's time span
    assert eeg["time_stamps"][0] <= streams["Affect"]["time_stamps"][0] <= eeg["time_stamps"][-1] + 0.01


def test_a_full_disk_stops_the_recording_cleanly_and_the_session_goes_on(tmp_path):
    """The writer's next write fails as a full disk does: the recording stops with the reason, the file keeps what
    was flushed before, and the session keeps estimating."""
    import errno

    from affectstream.pipelines.sessions.live import LiveSession
    from affectstream.pipelines.synthetic.publisher import start_simulator_process, stop_process
    from affectstream.core.xdf_reader import load_recording

    prefix = f"test-{uuid.uuid4().hex[:10]}"
    sim = start_simulator_process(0, "sim01", 60.0, video=False, prefix=prefix)
    path = tmp_path / "full.xdf"
    try:
        session = LiveSession("EEG", source_id=f"{prefix}-eeg", publish=False, resolve_timeout=20.0)
        try:
            session.start_recording(path)
            hops = []
            deadline = time.monotonic() + 20
            while len(hops) < 8 and time.monotonic() < deadline:
                hops += session.poll()
                time.sleep(0.02)
            session.recorder.writer.flush()

            def disk_full(*_args, **_kwargs):
                raise OSError(errno.ENOSPC, "No space left on device")

            session.recorder.writer.write = disk_full
            before = len(hops)
            while len(hops) < before + 8 and time.monotonic() < deadline + 20:
                hops += session.poll()
                time.sleep(0.02)
        finally:
            session.close()
    finally:
        stop_process(sim)
    assert session.recorder is None and "No space left on device" in session.recording_error
    assert str(path) in session.recording_error
    assert len(hops) >= before + 8  # the estimates went on after the recording stopped
    rec = load_recording(path, allow_truncated=True)
    assert rec.eeg.n_samples > 0  # what was flushed before the failure is readable


def test_a_recording_started_later_adds_every_markers_stream_once(tmp_path):
    """The dashboard's Record: the recorder finds the Markers streams on the machine by itself, in the background,
    and gives the one the session follows already no second inlet."""
    from affectstream.pipelines.config import PipelineConfig
    from affectstream.pipelines.sessions.live import LiveSession
    from affectstream.pipelines.sources.discovery import find_stream
    from affectstream.pipelines.synthetic.publisher import start_simulator_process, stop_process
    from fixtures.lsl_players import start_player, stop

    prefix, tag = f"test-{uuid.uuid4().hex[:10]}", uuid.uuid4().hex[:8]
    sim = start_simulator_process(0, "sim01", 60.0, video=False, prefix=prefix)
    player = start_player(60, f"stim-pc-{tag}:Markers:int32:{tag}-codes")
    path = tmp_path / "later.xdf"
    try:
        find_stream(None, source_id=f"{tag}-codes", timeout=20)
        with LiveSession("EEG", source_id=f"{prefix}-eeg", publish=False, markers=f"{prefix}-markers",
                         config=PipelineConfig(eeg_estimator="baseline"), resolve_timeout=20.0) as session:
            started = session.start_recording(path)
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline:
                session.poll()
                time.sleep(0.02)
    finally:
        stop_process(sim)
        stop(player)
    assert started == path
    streams = pyxdf.load_xdf(str(path))[0]
    ids = [s["info"]["source_id"][0] for s in streams]
    assert ids.count(f"{prefix}-markers") == 1 and ids.count(f"{tag}-codes") == 1
    codes = streams[ids.index(f"{tag}-codes")]
    assert codes["time_series"].dtype == np.int32 and len(codes["time_series"]) >= 10
    eeg = streams[ids.index(f"{prefix}-eeg")]["time_stamps"]
    assert eeg[0] - 1.0 <= codes["time_stamps"][0] and codes["time_stamps"][-1] <= eeg[-1] + 1.0  # one clock
