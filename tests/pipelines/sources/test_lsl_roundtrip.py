"""Live path over real LSL on this machine: simulator child process -> headless run -> Affect outlet."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
import time
import uuid

import numpy as np
import pytest

from affectstream.pipelines.sources.lsl import StreamNotFoundError, find_stream

pytestmark = pytest.mark.lsl


@pytest.fixture
def simulator():
    """Start ``affectstream simulate`` (EEG, markers, ground truth; no video) with unique source_ids."""
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    proc = subprocess.Popen([sys.executable, "-m", "affectstream", "simulate", "--no-video", "--duration", "60",
                             "--source-prefix", prefix, "--seed", "3"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    yield prefix
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_roundtrip_drops_and_reorders_nothing(simulator, tmp_path):
    from mne_lsl.lsl import StreamInlet
    from mne_lsl.lsl._utils import LostError

    from affectstream.pipelines.sessions.live import run_headless

    affect_samples = []
    stop_reader = threading.Event()

    def read_affect():
        # A second consumer, as LabRecorder or another tool would be, proves the outlet publishes.
        sinfo = find_stream("Affect", source_id=f"affectstream-affect-{simulator}-eeg", timeout=20)
        inlet = StreamInlet(sinfo, recover=False)
        inlet.open_stream(timeout=5)
        try:
            while not stop_reader.is_set():
                data, ts = inlet.pull_chunk(timeout=0.2)
                affect_samples.extend(np.array(data, copy=True).tolist())
        except LostError:  # the run closed its outlet first
            pass

    reader = threading.Thread(target=read_affect, daemon=True)
    reader.start()
    out = tmp_path / "run.jsonl"
    summary = run_headless("EEG", source_id=f"{simulator}-eeg", duration=8.0, out=out, resolve_timeout=20)
    time.sleep(0.5)
    stop_reader.set()
    reader.join(5)

    assert summary.synthetic
    assert summary.stats.samples > 5 * 256  # 8 s minus connection set-up (the first clock sync takes ~1 s)
    assert summary.stats.counter_gaps == 0 and summary.stats.counter_reorders == 0
    assert summary.stats.skipped_hops == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == summary.hops >= 20
    ts = np.array([r["t"] for r in lines])
    # one hop every 64 samples of stream time (the clock-sync offset estimate moves by microseconds)
    np.testing.assert_allclose(np.diff(ts), 0.25, atol=1e-3)
    assert all(r["synthetic"] and r["estimator_eeg"] in ("student", "baseline") for r in lines)
    assert all(math.isfinite(r["latency_ms"]) for r in lines)
    assert sum(r["valence"] is not None for r in lines) >= len(lines) - 1
    assert affect_samples and len(affect_samples[0]) >= 5


def test_no_stream_found_lists_what_was_seen(simulator):
    find_stream("EEG", source_id=f"{simulator}-eeg", timeout=20)  # wait until the simulator is up
    with pytest.raises(StreamNotFoundError) as info:
        find_stream("NoSuchHeadset", timeout=1.5)
    message = str(info.value)
    assert "NoSuchHeadset" in message and f"{simulator}-eeg" in message


def test_run_cli_reports_missing_stream_in_one_line():
    proc = subprocess.run([sys.executable, "-m", "affectstream", "run", "--headless", "--eeg", "NoSuchHeadset",
                           "--timeout", "1", "--duration", "1"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "no LSL stream with name or type 'NoSuchHeadset'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_both_modalities_fuse_live(tmp_path):
    """Simulator with its face video -> EEG student + face path -> fused JSONL records."""
    from affectstream.pipelines.sessions.live import open_video_source, run_headless

    prefix = f"test-{uuid.uuid4().hex[:10]}"
    proc = subprocess.Popen([sys.executable, "-m", "affectstream", "simulate", "--duration", "60", "--source-prefix",
                             prefix], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        video = open_video_source(video_source_id=f"{prefix}-video", timeout=20)
        out = tmp_path / "both.jsonl"
        summary = run_headless("EEG", source_id=f"{prefix}-eeg", duration=6.0, out=out, resolve_timeout=20,
                               video_source=video, publish=False)
    finally:
        proc.terminate()
        proc.wait(10)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary.face_found_ratio >= 0.9
    with_face = [r for r in lines if r["face_found"]]
    assert len(with_face) >= 0.8 * len(lines)
    r = with_face[-1]
    assert set(r["emotion"]["probabilities"]) == {"neutral", "happiness", "surprise", "sadness", "anger", "disgust",
                                                  "fear", "contempt"}
    assert math.isclose(sum(r["emotion"]["probabilities"].values()), 1.0, abs_tol=1e-3)
    assert r["valence_face"] is not None and r["status"] == "fused" and 0 < r["confidence"] <= 1
