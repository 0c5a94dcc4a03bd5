"""The face path: frame -> tracked face -> crop -> visual student -> a face estimate with its confidence.

Every frame is processed as it arrives (so the tracker sees a continuous sequence); each hop then takes the newest
face result that is not newer than the hop's stream time and not older than ``max_age_s``. Using stream time on
both sides makes a replay reproduce the live pairing of EEG windows and frames.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from affectstream.pipelines.face.detect import FaceDetector, FaceTracker, crop_face
from affectstream.pipelines.face.student import FaceAffect, FaceStudent
from affectstream.pipelines.fusion import ModalityEstimate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaceResult:
    """What the face path saw in one frame."""

    t: float
    found: bool
    box: tuple[float, float, float, float] | None = None
    score: float = 0.0
    held: int = 0
    affect: FaceAffect | None = None

    def estimate(self) -> ModalityEstimate:
        """The face modality's vote: NaN without a face or a student; confidence from the detector score.

        A box carried over a short detector dropout (``held`` > 0) counts half, since the expression may have
        changed while the face was not seen.
        """
        if not self.found or self.affect is None:
            return ModalityEstimate(source="student" if self.affect is not None else "none")
        confidence = self.score * (0.5 if self.held else 1.0)
        return ModalityEstimate(self.affect.valence, self.affect.arousal, confidence, "student")

    def to_json(self) -> dict:
        emotion = None
        if self.affect is not None and self.found:
            emotion = {"label": self.affect.label,
                       "probabilities": {c: round(float(p), 4) for c, p in zip(self.affect.classes,
                                                                              self.affect.probabilities)}}
        return {"face_found": self.found, "face_score": round(self.score, 4), "emotion": emotion}


class FacePath:
    """Tracker + visual student, with the recent results kept for pairing with EEG hops.

    Parameters
    ----------
    detector : FaceDetector | None
        Default: the Haar cascade.
    student : FaceStudent | None
        Default: the bundled visual student when it verifies; without one, faces are still tracked and reported
        but give no valence.
    max_age_s : float
        A face result older than this (stream time) at a hop counts as "no face".
    """

    def __init__(self, detector: FaceDetector | None = None, student: FaceStudent | None = None,
                 max_age_s: float = 0.5, device: str = "cpu", margin: float = 0.1, precision: str = "int8") -> None:
        self.tracker = FaceTracker(detector or FaceDetector())
        self.student = student if student is not None else self._load_student(device, precision)
        self.max_age_s = max_age_s
        self.margin = margin
        self._recent: deque[FaceResult] = deque(maxlen=64)
        self.latest_frame: np.ndarray | None = None  #: the newest frame processed (for display)
        self.frames = 0
        self.frames_with_face = 0

    @staticmethod
    def _load_student(device: str, precision: str) -> FaceStudent | None:
        from affectstream.models.deploy.manifest import ModelIntegrityError

        try:
            return FaceStudent.from_manifest(device, precision)
        except ModelIntegrityError as exc:
            log.warning("visual student unavailable (%s); faces are tracked without an estimate", exc)
            return None

    def process(self, frame: np.ndarray, t: float) -> FaceResult:
        """Track the face in ``frame`` (uint8 BGR) stamped ``t`` and run the student on its crop."""
        tracked = self.tracker.update(frame)
        affect = None
        if tracked.found and self.student is not None:
            crop = crop_face(frame, tracked.box, size=self.student.size[0], margin=self.margin, gray=True)
            affect = self.student(crop)
        result = FaceResult(t, tracked.found, tracked.box, tracked.score, tracked.held, affect)
        self.latest_frame = frame
        self._recent.append(result)
        self.frames += 1
        self.frames_with_face += int(tracked.found)
        return result

    def at(self, t: float) -> FaceResult | None:
        """The newest result stamped at or before ``t`` and within ``max_age_s``; None when there is none."""
        for result in reversed(self._recent):
            if result.t <= t:
                return result if t - result.t <= self.max_age_s else None
        return None

    @property
    def latest(self) -> FaceResult | None:
        """The newest result (for display; hops use :meth:`at`)."""
        return self._recent[-1] if self._recent else None

    @property
    def found_ratio(self) -> float:
        return self.frames_with_face / self.frames if self.frames else math.nan
