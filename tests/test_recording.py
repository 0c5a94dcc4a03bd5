"""Live recording: every stream of a session lands in one XDF file that pyxdf reads back."""

import subprocess
import sys
import uuid

import numpy as np
import pytest
import pyxdf

pytestmark = pytest.mark.lsl


def test_live_session_records_every_stream(tmp_path):
    from pipelines.live import open_video_source, run_headless

    prefix = f"test-{uuid.uuid4().hex[:10]}"
    sim = subprocess.Popen([sys.executable, "-m", "app.cli", "simulate", "--duration", "60", "--source-prefix",
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
