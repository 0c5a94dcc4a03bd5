"""The face path under CPU load (issue 20, item 2): a face that appears and disappears in the video is followed by
``face_found`` within half a second while two processes spin on both cores and the session records, and the run
reports the face path's dropped frames and lag, with a summary that agrees with the JSONL.

The video is SYNTHETIC: one photograph from ../shared/data (never copied into the project) and a blank grey frame,
written to a temporary file at test time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest
from fixtures.lsl_players import noise_eeg_outlet

from affectstream.pipelines.config import PipelineConfig
from affectstream.pipelines.sessions.live import open_video_source, run_headless

pytestmark = pytest.mark.lsl

FPS = 60.0  #: faster than the face path runs under this load (about 40 ms a frame at 640x480 here)
SIZE = (640, 480)
PHASE_S = 1.0  #: the face is shown for PHASE_S, then a blank frame for PHASE_S, over and over
MAX_AGE_S = 0.5  #: FacePath.max_age_s: how soon face_found must follow the video


def _clip(path: Path, photo: Path) -> None:
    """One cycle: the face for PHASE_S, then blank grey for PHASE_S (played in a loop)."""
    face = cv2.resize(cv2.imread(str(photo)), SIZE)
    blank = np.full_like(face, 128)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, SIZE)
    if not writer.isOpened():
        pytest.skip("OpenCV cannot write MJPG here")
    n = round(PHASE_S * FPS)
    for k in range(2 * n):
        writer.write(face if k < n else blank)
    writer.release()


@contextmanager
def _cpu_hog(n: int = 2) -> Iterator[None]:
    """``n`` child processes that spin (one per core of the team machines)."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(10)


def test_face_found_follows_the_video_under_cpu_load_while_recording(tmp_path, shared_data):
    clip, out, rec = tmp_path / "face_blank.avi", tmp_path / "run.jsonl", tmp_path / "run.xdf"
    _clip(clip, shared_data / "video/single_face.jpg")
    stop = threading.Event()
    pusher, source_id = noise_eeg_outlet(stop, "face-load")
    sources = []

    def open_clip():
        sources.append(open_video_source(video_file=clip))
        return sources[-1]

    try:
        with _cpu_hog():
            summary = run_headless("EEG", source_id=source_id, duration=4.0, resolve_timeout=10.0, publish=False,
                                   out=out, record=rec, open_video=open_clip,
                                   config=PipelineConfig(eeg_estimator="baseline", window_s=1.0, hop_s=0.125))
    finally:
        stop.set()
        pusher.join(5)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    phase = (np.array([r["t"] for r in rows]) - sources[0].start) % (2 * PHASE_S)
    shown = phase < PHASE_S
    judged = phase % PHASE_S >= MAX_AGE_S  # half a second after each appearance and disappearance
    assert judged[shown].sum() >= 4 and judged[~shown].sum() >= 4
    found = np.array([r["face_found"] for r in rows])
    assert found[judged].tolist() == shown[judged].tolist()

    face = summary.face
    assert face["frames_read"] >= 3 * FPS  # the whole run's frames, each processed or dropped (one may be pending)
    assert 0 <= face["frames_read"] - face["frames_processed"] - face["dropped"] <= 1
    assert face["lag_p50_ms"] < 1e3 * MAX_AGE_S
    assert summary.face_found_hops == int(found.sum()) and summary.hops == len(rows)  # the summary says the JSONL
