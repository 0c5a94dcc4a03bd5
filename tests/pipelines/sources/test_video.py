"""Frame sources and the LSL ``Video`` contract: file and camera sources, publisher -> LSLVideoSource round trips,
and refusal of streams that break the contract."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectstream.core.video import VideoFormat
from affectstream.pipelines.sources.video import CameraSource, LSLVideoSource, VideoFileSource
from affectstream.pipelines.sources.webcam_publisher import publish_video
from affectstream.core.paths import REPO

ROOT = REPO
FPS = 20.0


def pattern(k: int, h: int = 48, w: int = 64) -> np.ndarray:
    """Frame ``k`` of a known BGR pattern; the three channels differ, so a channel swap is caught."""
    y, x = np.mgrid[:h, :w]
    return np.stack([(4 * x + 16 * k) % 256, (5 * y + 16 * k) % 256, (x + y + 40 * k) % 256], -1).astype(np.uint8)


@pytest.fixture
def clip(tmp_path) -> Path:
    """10 pattern frames in a lossless (FFV1) file, so decoded pixels equal the pattern exactly."""
    path = tmp_path / "pattern.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), FPS, (64, 48))
    if not writer.isOpened():
        pytest.skip("OpenCV cannot write FFV1 here")
    for k in range(10):
        writer.write(pattern(k))
    writer.release()
    return path


def which_pattern(frame: np.ndarray) -> int | None:
    return next((k for k in range(10) if np.array_equal(frame, pattern(k, *frame.shape[:2]))), None)


# --- file and camera -------------------------------------------------------------------------------------------------


def test_file_source_is_deterministic(clip):
    with VideoFileSource(clip, start=5.0) as source:
        items = list(source)
    assert [which_pattern(f) for f, _ in items] == list(range(10))
    np.testing.assert_allclose([t for _, t in items], 5.0 + np.arange(10) / FPS)


def test_file_source_loops_with_increasing_stamps(clip):
    source = VideoFileSource(clip, loop=True)
    items = [source.read() for _ in range(25)]
    source.close()
    assert [which_pattern(f) for f, _ in items] == [k % 10 for k in range(25)]
    np.testing.assert_allclose([t for _, t in items], np.arange(25) / FPS)


def test_file_source_paces_in_real_time(clip):
    from mne_lsl.lsl import local_clock

    with VideoFileSource(clip, realtime=True) as source:
        t0 = time.monotonic()
        stamps = [source.read()[1] for _ in range(5)]
        elapsed = time.monotonic() - t0
    assert elapsed >= 4 / FPS - 0.01
    np.testing.assert_allclose(np.diff(stamps), 1 / FPS)
    assert abs(stamps[-1] - local_clock()) < 0.5  # LSL clock, not file time


def test_file_source_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        VideoFileSource(tmp_path / "missing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 1000)
    with pytest.raises(ValueError, match="junk.mp4"):
        VideoFileSource(junk)


def test_camera_that_cannot_be_opened():
    with pytest.raises(OSError, match="cannot open camera 97"):
        CameraSource(97)


def test_publisher_refuses_a_source_that_is_not_real_time(clip):
    with VideoFileSource(clip) as source, pytest.raises(ValueError, match="real-time"):
        publish_video(source)


# --- LSL round trips -------------------------------------------------------------------------------------------------

@pytest.mark.lsl
def test_round_trip_through_a_child_publisher(clip, tmp_path):
    from mne_lsl.lsl import local_clock

    source_id = f"test-video-{uuid.uuid4().hex}"
    code = textwrap.dedent(f"""
        from affectstream.pipelines.sources.video import VideoFileSource
        from affectstream.pipelines.sources.webcam_publisher import publish_video
        publish_video(VideoFileSource({str(clip)!r}, realtime=True, loop=True), name="test-video",
                      source_id={source_id!r}, duration=30)
    """)
    # The child inherits os.environ, including LSLAPICFG from conftest (discovery stays on this machine).
    log = tmp_path / "publisher.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ),
                                stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        with LSLVideoSource("test-video", source_id=source_id, timeout=20) as video:
            assert video.format == VideoFormat(64, 48, 3, "BGR")
            assert video.info.source_id == source_id and video.fps == FPS
            got = [item for item in (video.read(timeout=2.0) for _ in range(4)) if item is not None]
            assert len(got) == 4
            assert all(f.shape == (48, 64, 3) and f.dtype == np.uint8 for f, _ in got)
            assert None not in [which_pattern(f) for f, _ in got]  # pixel-exact
            assert np.all(np.diff([t for _, t in got]) > 0)
            # A slow consumer gets the newest frame only; the ones that queued meanwhile are counted as dropped.
            time.sleep(0.5)
            dropped = video.dropped
            _, stamp = video.read()
            assert video.dropped >= dropped + 4
            assert local_clock() - stamp < 0.2  # the newest, not the oldest queued frame (~0.5 s old)
    except Exception:
        print("publisher stderr:\n" + log.read_text())
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class PatternSource:
    """A duck-typed real-time source: ``n`` pattern frames at 50 fps."""

    realtime = True
    fps = 50.0
    label = "pattern"

    def __init__(self, n: int) -> None:
        self.n, self.k = n, 0

    def read(self):
        from mne_lsl.lsl import local_clock

        if self.k >= self.n:
            return None
        time.sleep(1 / self.fps)
        self.k += 1
        return pattern(self.k % 10, 96, 128), local_clock()


@pytest.mark.lsl
def test_publisher_resizes_and_iteration_ends_with_the_stream():
    source_id = f"test-video-{uuid.uuid4().hex}"
    stop = threading.Event()
    publisher = threading.Thread(target=publish_video, args=(PatternSource(10_000),), kwargs={
        "name": "test-video-small", "source_id": source_id, "size": (48, 64), "stop": stop})
    publisher.start()
    frames = []
    try:
        video = LSLVideoSource("test-video-small", source_id=source_id, timeout=10)
        reader = threading.Thread(target=lambda: frames.extend(f for f, _ in video), daemon=True)
        reader.start()
        deadline = time.monotonic() + 10
        while len(frames) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()  # the publisher returns and its outlet goes away: the reader's iteration must end
        reader.join(15)
        assert not reader.is_alive(), "iteration did not end when the outlet went away"
        video.close()
    finally:
        stop.set()
        publisher.join(15)
    assert len(frames) >= 3 and all(f.shape == (48, 64, 3) for f in frames)
    assert video.received == len(frames) + video.dropped


def _outlet(name: str, n_channels: int, dtype: str = "int8", desc: dict | None = None):
    """An outlet on a unique source_id, with ``desc`` entries written as given (None: no desc at all)."""
    from mne_lsl.lsl import StreamInfo, StreamOutlet

    source_id = f"test-video-{uuid.uuid4().hex}"
    info = StreamInfo(name, "Video", n_channels, FPS, dtype, source_id)
    for key, value in (desc or {}).items():
        info.desc.append_child_value(key, str(value))
    return StreamOutlet(info, chunk_size=1, max_buffered=1), source_id


@pytest.mark.lsl
@pytest.mark.filterwarnings("ignore:A single sample is pushed")
def test_rgb_stream_is_delivered_as_bgr():
    outlet, source_id = _outlet("test-video-rgb", 48 * 64 * 3,
                                desc={"width": 64, "height": 48, "channels": 3, "color_order": "RGB"})
    with LSLVideoSource("test-video-rgb", source_id=source_id, timeout=10) as video:
        rgb = np.ascontiguousarray(pattern(3)[..., ::-1])
        outlet.push_chunk(rgb.reshape(1, -1).view(np.int8))
        item = video.read(timeout=5.0)
    assert item is not None and np.array_equal(item[0], pattern(3))
    del outlet


@pytest.mark.lsl
@pytest.mark.parametrize(("n_channels", "dtype", "desc", "reason"), [
    (100, "int8", {"width": 8, "height": 4, "channels": 3}, "100 channels != width 8 x height 4 x channels 3"),
    (96, "int8", None, "desc lacks width, height, channels"),
    (96, "float32", {"width": 8, "height": 4, "channels": 3}, "channel format float32"),
], ids=["channel-count", "no-desc", "float32"])
def test_malformed_video_stream_is_refused(n_channels, dtype, desc, reason):
    from affectstream.pipelines.sources.lsl import find_stream

    name = f"bad-video-{uuid.uuid4().hex[:6]}"
    outlet, source_id = _outlet(name, n_channels, dtype, desc)
    sinfo = find_stream(name, source_id=source_id, timeout=10)
    with pytest.raises(ValueError) as info:
        LSLVideoSource(sinfo, timeout=5)
    message = str(info.value)
    assert name in message and reason in message and "\n" not in message
    del outlet
