"""Film-clip stimuli: which files of a stimulus folder are clips, and how long each one plays.

The seed datasets elicit emotion with clips (DEAP: one-minute music videos; MAHNOB-HCI and FACED: film excerpts), so
the calibration protocol takes a folder of video files beside (or instead of) images. A clip's block lasts as long as
the clip; its onset and offset are protocol events like an image's (``block_start/<stim>``, ``block_end/<stim>``).

Decoding is OpenCV's (every platform the project runs on has it); sound needs Qt Multimedia and is the wizard's
concern (:mod:`affectstream.app.clip_player`). A clip is probed once, when the folder is loaded, so that a file
OpenCV cannot decode is refused before the session starts rather than in the middle of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CLIP_SUFFIXES", "Clip", "probe_clip"]

#: File suffixes taken as clips (what OpenCV's FFmpeg backend reads on every platform).
CLIP_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")

#: Longest clip accepted (seconds): longer than any film excerpt of the seed datasets (DEAP 60 s, FACED ~1-2 min,
#: MAHNOB-HCI up to ~2 min), short enough that a mistaken choice (a whole film) is refused, not played for hours.
MAX_CLIP_S = 600.0


@dataclass(frozen=True)
class Clip:
    """A probed clip: where it is, its frame rate, frame count and size."""

    path: Path
    fps: float
    n_frames: int
    width: int
    height: int

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps


def probe_clip(path: str | Path) -> Clip:
    """Open ``path`` with OpenCV, read its first frame and count its frames.

    The frame count is counted by decoding (grab without converting) rather than taken from the container's header,
    which some formats leave empty or approximate; a one-minute clip counts in about a second.

    Raises
    ------
    ValueError
        The file cannot be decoded, has no frame, no sane frame rate, or is longer than :data:`MAX_CLIP_S`
        (one line naming the file).
    """
    import cv2

    path = Path(path)
    cap = cv2.VideoCapture(str(path))
    try:
        ok, frame = cap.read() if cap.isOpened() else (False, None)
        if not ok or frame is None:
            raise ValueError(f"{path}: not a video OpenCV can decode")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not math.isfinite(fps) or not 1.0 <= fps <= 240.0:
            raise ValueError(f"{path}: its frame rate ({fps:g}) is not a video's")
        n = 1
        while cap.grab():
            n += 1
            if n / fps > MAX_CLIP_S:
                raise ValueError(f"{path}: longer than {MAX_CLIP_S:.0f} s; cut the excerpt to show")
    finally:
        cap.release()
    return Clip(path, fps, n, int(frame.shape[1]), int(frame.shape[0]))
