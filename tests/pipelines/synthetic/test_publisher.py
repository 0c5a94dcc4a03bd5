"""The simulator over LSL (SYNTHETIC data): stream layout, gap-free EEG with exact timestamps, markers, truth, video.

The publisher runs in a child process, as it would beside the application; the test resolves its streams by a
unique ``source_id`` prefix so that no other stream on this machine can answer, and always ends the child.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid

import cv2
import numpy as np
import pytest

from affectstream.core.paths import REPO

ROOT = REPO
os.environ.setdefault("LSLAPICFG", str(ROOT / "pipelines" / "lsl_api.cfg"))   # before liblsl loads

from mne_lsl.lsl import StreamInlet, resolve_streams  # noqa: E402

from affectstream.core.montage import MONTAGE_32  # noqa: E402
from affectstream.pipelines.synthetic.publisher import run_simulator  # noqa: E402
from affectstream.pipelines.synthetic.sim_config import SimulatorConfig  # noqa: E402

pytestmark = pytest.mark.lsl

SRATE = 256.0
CHILD = """
from affectstream.pipelines.synthetic.publisher import run_simulator
from affectstream.pipelines.synthetic.sim_config import SimulatorConfig
run_simulator(SimulatorConfig(seed=3, subject="sim05", rest_s=1.0, trial_s=1.0), 30.0, source_prefix={prefix!r})
"""


@pytest.fixture(scope="module")
def publisher():
    """A simulator publishing in a child process; yields its source_id prefix."""
    prefix = f"affectstream-test-{uuid.uuid4().hex[:12]}"
    env = dict(os.environ, LSLAPICFG=os.environ["LSLAPICFG"])
    proc = subprocess.Popen([sys.executable, "-c", CHILD.format(prefix=prefix)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL)   # stderr goes to pytest's capture
    try:
        yield prefix
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _inlet(source_id: str) -> StreamInlet:
    found = resolve_streams(timeout=10, source_id=source_id)
    assert len(found) == 1, f"no stream with source_id {source_id}"
    inlet = StreamInlet(found[0], max_buffered=30)
    inlet.open_stream(timeout=5)
    return inlet


def _pull(inlet: StreamInlet, n: int, timeout: float = 10.0) -> tuple[np.ndarray | list, np.ndarray]:
    """At least ``n`` samples (or whatever arrived within ``timeout``)."""
    chunks, stamps, got, end = [], [], 0, time.monotonic() + timeout
    while got < n and time.monotonic() < end:
        data, ts = inlet.pull_chunk(timeout=0.2)
        if len(ts):
            chunks.append(data)
            stamps.append(ts)
            got += len(ts)
    if chunks and isinstance(chunks[0], list):
        return [row for c in chunks for row in c], np.concatenate(stamps)
    return (np.concatenate(chunks) if chunks else np.empty((0, 0))), (np.concatenate(stamps) if stamps
                                                                       else np.empty(0))


@pytest.fixture(scope="module")
def streams(publisher):
    """Inlets of the four streams, opened together so they cover the same span of the session."""
    inlets = {kind: _inlet(f"{publisher}-{kind}") for kind in ("eeg", "markers", "truth", "video")}
    yield inlets
    for inlet in inlets.values():   # inlets before the outlets go away (no "transmission broke off")
        inlet.close_stream()


def test_eeg_stream_layout(streams):
    info = streams["eeg"].get_sinfo(timeout=5)
    assert info.name == "affectstream-sim-EEG" and info.stype == "EEG"
    assert info.n_channels == 33 and info.sfreq == SRATE and info.dtype == np.float32
    assert info.get_channel_names() == list(MONTAGE_32) + ["SampleCounter"]
    assert [t.lower() for t in info.get_channel_types()] == ["eeg"] * 32 + ["misc"]
    assert info.get_channel_units()[:32] == ["microvolts"] * 32
    desc = info.desc
    assert desc.child_value("synthetic") == "true" and desc.child_value("generator") == "affectstream simulator"
    assert desc.child_value("subject") == "sim05" and desc.child_value("seed") == "3"


def test_eeg_has_no_gap_and_exact_timestamps(streams):
    data, ts = _pull(streams["eeg"], int(2 * SRATE))
    assert len(ts) >= 2 * SRATE
    counter = data[:, 32].astype(np.int64)
    assert (np.diff(counter) == 1).all()                       # nothing lost, nothing repeated
    np.testing.assert_allclose(np.diff(ts), 1 / SRATE, atol=1e-6)
    t0 = ts - counter / SRATE                                 # every sample at t0 + i / srate, one t0
    assert np.ptp(t0) < 1e-6
    eeg = data[:, :32]
    assert np.isfinite(eeg).all() and 3 < np.median(eeg.std(axis=0)) < 100


def test_markers_and_truth_share_the_eeg_clock(streams):
    eeg, eeg_ts = _pull(streams["eeg"], 8)
    t0 = float(np.median(eeg_ts - eeg[:, 32] / SRATE))         # the session's start on the LSL clock
    markers, marker_ts = _pull(streams["markers"], 3, timeout=6.0)
    assert len(markers) >= 3
    labels = [m[0] for m in markers]
    assert any(lab.startswith("trial_start/stim_") for lab in labels)
    assert set(lab.split("/")[0] for lab in labels) <= {"rest_start", "trial_start", "trial_end"}
    session_t = marker_ts - t0   # rest 1 s + trial 1 s: every marker falls on a whole second of session time
    np.testing.assert_allclose(session_t, np.round(session_t), atol=1e-6)
    truth, truth_ts = _pull(streams["truth"], 32)
    assert truth.shape[1] == 2 and len(truth) >= 32
    assert np.abs(truth).max() <= 1.0
    np.testing.assert_allclose(np.diff(truth_ts), 1 / 32, atol=1e-6)
    info = streams["truth"].get_sinfo(timeout=5)
    assert info.get_channel_names() == ["valence", "arousal"] and info.stype == "GroundTruth"


def test_video_frames_carry_a_detectable_face(streams):
    info = streams["video"].get_sinfo(timeout=5)
    desc = info.desc
    w, h = int(desc.child_value("width")), int(desc.child_value("height"))
    assert (h, w) == SimulatorConfig().video_size and info.stype == "Video"
    assert desc.child_value("channels") == "3" and desc.child_value("color_order") == "BGR"
    assert desc.child_value("synthetic") == "true" and info.n_channels == h * w * 3
    frames, ts = _pull(streams["video"], 3)
    assert len(ts) >= 3
    frame = np.ascontiguousarray(frames[-1]).view(np.uint8).reshape(h, w, 3)
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    assert len(cascade.detectMultiScale(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), 1.1, 5)) == 1


def test_stop_event_and_duration_end_the_publisher():
    cfg = SimulatorConfig(seed=1)
    stop = threading.Event()
    prefix = f"affectstream-test-{uuid.uuid4().hex[:12]}"
    thread = threading.Thread(target=run_simulator, args=(cfg, None),
                              kwargs={"video": False, "source_prefix": prefix, "stop": stop})
    thread.start()
    try:
        assert resolve_streams(timeout=5, source_id=f"{prefix}-eeg")
        stop.set()
        thread.join(timeout=3)
        assert not thread.is_alive()
    finally:
        stop.set()
        thread.join(timeout=5)
    # the duration ends it by itself, about a second after the start; the join's timeout only stops a publisher
    # that never ends
    stop_timed = threading.Event()
    timed = threading.Thread(target=run_simulator, args=(cfg, 0.3),
                             kwargs={"video": False, "source_prefix": prefix + "-timed", "stop": stop_timed})
    timed.start()
    timed.join(timeout=30)
    ended = not timed.is_alive()
    stop_timed.set()
    timed.join(timeout=5)
    assert ended, "the duration did not end the publisher"
