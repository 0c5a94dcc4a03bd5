"""Face crops out of a dataset's video at given times, for the trainer's visual teachers.

DEAP (subjects 1-22) and MAHNOB-HCI ship a frontal video per trial; the trainer
(:mod:`affectstream.models.datasets.trainer_trials`) wants the face at each feature frame's time. The crops are
made as the live face path makes them (:class:`~.detect.FaceDetector`, :func:`~.detect.crop_face`), so that the
frozen FER+ student sees a dataset's faces the way it sees a webcam's; a :class:`~.detect.FaceTracker` follows the
face from frame to frame (a full-frame search every tenth frame, a local one in between: a few times faster than
searching every frame, and the crop does not jitter). A frame in which no face is found takes the
last face found before it in the same video (a face does not leave a seated subject's video between two frames at
4 Hz; blinks and turned heads do make the detector miss); frames before the first face take the first one. A video
with no face at all gives no crops, and the trial then has no frames (the visual teacher refuses it by name).
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from affectstream.pipelines.face.detect import FaceDetector, FaceTracker, crop_face

__all__ = ["face_crops_at"]

log = logging.getLogger(__name__)


def _read_at(capture: cv2.VideoCapture, indices: np.ndarray) -> list[np.ndarray | None]:
    """The frames at ``indices`` (ascending), read in one pass (seeking is unreliable in many AVI codecs)."""
    out: list[np.ndarray | None] = [None] * len(indices)
    want = {}
    for k, i in enumerate(indices):
        want.setdefault(int(i), []).append(k)
    last = max(want) if want else -1
    position = 0
    while position <= last:
        ok, frame = capture.read()
        if not ok:
            break
        for k in want.get(position, ()):
            out[k] = frame
        position += 1
    return out


def face_crops_at(video: Path, times: np.ndarray, size: int = 48, detector: FaceDetector | None = None
                  ) -> np.ndarray | None:
    """``(T, size, size, 3)`` uint8 BGR face crops of ``video`` at ``times`` (seconds from its first frame).

    Returns None when the video cannot be read or shows no face (logged with the file's name).
    """
    capture = cv2.VideoCapture(str(video))
    try:
        fps = capture.get(cv2.CAP_PROP_FPS)
        n_frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if not capture.isOpened() or fps <= 0 or n_frames <= 0:
            log.warning("%s: cannot read the video; its trial has no face frames", video)
            return None
        indices = np.clip(np.floor(np.asarray(times, np.float64) * fps + 1e-6).astype(np.int64), 0, n_frames - 1)
        frames = _read_at(capture, indices)
    finally:
        capture.release()
    tracker = FaceTracker(detector or FaceDetector())
    crops: list[np.ndarray | None] = []
    for frame in frames:
        face = tracker.update(frame) if frame is not None else None
        crops.append(crop_face(frame, face.box, size=size, gray=False) if face is not None and face.found else None)
    found = [k for k, c in enumerate(crops) if c is not None]
    if not found:
        log.warning("%s: no face found in %d frames; its trial has no face frames", video, len(crops))
        return None
    out = np.empty((len(crops), size, size, 3), np.uint8)
    held = crops[found[0]]
    for k, crop in enumerate(crops):
        held = crop if crop is not None else held
        out[k] = held
    if len(found) < len(crops):
        log.info("%s: a face in %d of %d frames; the others hold the last face found", video, len(found), len(crops))
    return out
