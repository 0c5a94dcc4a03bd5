"""A recording started with the session holds the video's first frame (issue 20, item 14): the face thread must not
read frames before the recorder is attached to it."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
from fixtures.lsl_players import noise_eeg_outlet
import pyxdf

from affectstream.pipelines.config import PipelineConfig
from affectstream.pipelines.sessions.live import open_video_source, run_headless

pytestmark = pytest.mark.lsl

FPS = 20.0


def _pattern(k: int, h: int = 48, w: int = 64) -> np.ndarray:
    """Frame ``k`` of a BGR pattern that no other frame of the clip equals."""
    y, x = np.mgrid[:h, :w]
    return np.stack([(4 * x + 16 * k) % 256, (5 * y + 16 * k) % 256, (x + y + 40 * k) % 256], -1).astype(np.uint8)


def _clip(path) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), FPS, (64, 48))
    if not writer.isOpened():
        pytest.skip("OpenCV cannot write FFV1 here")
    for k in range(10):
        writer.write(_pattern(k))
    writer.release()


def test_a_recording_started_with_the_session_has_the_first_video_frame(tmp_path):
    clip, path = tmp_path / "pattern.avi", tmp_path / "rec.xdf"
    _clip(clip)
    stop = threading.Event()
    pusher, source_id = noise_eeg_outlet(stop, "first-frame")
    try:
        run_headless("EEG", source_id=source_id, duration=1.0, resolve_timeout=10.0, publish=False, record=path,
                     config=PipelineConfig(eeg_estimator="baseline"),
                     open_video=lambda: open_video_source(video_file=clip))
    finally:
        stop.set()
        pusher.join(5)
    (video,) = [s for s in pyxdf.load_xdf(str(path), dejitter_timestamps=False)[0] if s["info"]["type"] == ["Video"]]
    frames = video["time_series"].view(np.uint8).reshape(-1, 48, 64, 3)
    assert len(frames) >= 10
    shown = [next((k for k in range(10) if np.array_equal(f, _pattern(k))), None) for f in frames[:10]]
    assert shown == list(range(10))  # the clip from its first frame on, none skipped
    np.testing.assert_allclose(np.diff(video["time_stamps"][:10]), 1 / FPS, atol=1e-6)
