"""Face detection, tracking and cropping for the visual path: OpenCV's Haar cascade (default) or YuNet.

Cost model. A detector's cost grows with the number of pixels *and* with how many window positions look
face-like, so a large face close to the camera is the expensive case. Two measures keep the face path inside its
per-frame budget (docs/architecture.md; ``affectstream bench`` measures it):

* **Detect at the face's scale, not the frame's.** Every pass downscales the image so that the smallest face of
  interest (``min_face`` original pixels) becomes ``detect_px`` pixels; nothing smaller than ``min_face`` is
  searched for anyway. For Haar the gain is modest (the cascade's own pyramid already works at the ``min_face``
  scale), for YuNet large; per-frame recall stays or improves (YuNet's largest anchors miss some large faces,
  which it finds once they are downscaled). The price is paid by faces close to ``min_face``: see ``detect_px``
  in :class:`FaceDetector`.
* **Track between full-frame passes.** :class:`FaceTracker` runs a full-frame pass every ``detect_every``-th frame
  (and whenever it has no face); in between it searches only a window around the tracked box, for faces of
  similar size, at a few thousand pixels, a fraction of a full pass's cost.

Confidence. YuNet returns a score in [0, 1]. The Haar cascade does not; :class:`FaceDetector` derives one from
``detectMultiScale3(..., outputRejectLevels=True)``: the *level weight* of a detection is the summed weak-classifier
response of the cascade's final stage (the largest within its group of overlapping windows), i.e. how far the
window cleared the last stage. Measured on the Pexels clip, true faces give a median weight of ~8 (5th percentile
~3), while non-face windows that survive all stages (``no_face.mp4`` with ``minNeighbors`` lowered to 0-2) give
~1-2.5 (at most 4.8). ``score = 1 / (1 + exp(-(weight - 1) / 1.5))`` maps that to ~0.99 for a typical face and
0.5 for a marginal window; detections below ``score_threshold`` (0.5 for Haar) are dropped on top of the
``minNeighbors`` criterion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from affectstream.core.files import regular_file

#: The cascade shipped inside opencv-python(-headless) < 5 (5.x ships none, docs/architecture.md, "Dependencies").
HAAR_CASCADE = "haarcascade_frontalface_default.xml"
_HAAR_WINDOW = 24           # native window of the frontal-face cascade, px
_HAAR_WEIGHT_MID = 1.0      # level weight mapped to score 0.5 (see the module docstring)
_HAAR_WEIGHT_SCALE = 1.5
#: Largest YuNet file accepted. The published models are 0.1-0.3 MB; OpenCV reads the whole file into memory, so a
#: mistaken path (a disk image, a video) is refused by its size before it is read.
MAX_MODEL_BYTES = 32 * 1024 * 1024


class FaceModelError(ValueError):
    """A face-detector model file that cannot be used (not a regular file, unreadable, too large, not a YuNet
    model OpenCV can run); the message names the path."""


@dataclass(frozen=True)
class Detection:
    """One face: box (x, y, w, h) in the pixels of the frame passed to the detector, and a score in [0, 1]."""

    x: float
    y: float
    w: float
    h: float
    score: float

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (self.x, self.y, self.w, self.h)

    @property
    def area(self) -> float:
        return self.w * self.h


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes: how the tracker recognises the face it followed."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _checked_model_file(path: Path) -> None:
    """Refuse what OpenCV should not be handed: a missing file (FileNotFoundError), a folder, device or pipe (reading
    ``/dev/zero`` never ends), an unreadable, empty or oversized file (:class:`FaceModelError`)."""
    size = regular_file(path, "YuNet face model", FaceModelError)
    if size == 0:
        raise FaceModelError(f"the YuNet face model {path} is empty (0 bytes)")
    if size > MAX_MODEL_BYTES:
        raise FaceModelError(f"the YuNet face model {path} is {size / 1e6:.0f} MB; a YuNet file is under 1 MB (at "
                             f"most {MAX_MODEL_BYTES // 2 ** 20} MiB are read)")


#: (width, height) of the blank frame a YuNet model is tried on when it is loaded.
_PROBE_SIZE = (320, 240)


def _load_yunet(path: Path, score_threshold: float):
    """``cv2.FaceDetectorYN`` of the checked file ``path``, run once on a blank frame; :class:`FaceModelError` where
    OpenCV cannot load or run it (with OpenCV's own error log silenced: the one line says it)."""
    _checked_model_file(path)
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        try:
            yunet = cv2.FaceDetectorYN.create(str(path), "", _PROBE_SIZE, score_threshold)
        except cv2.error:
            raise FaceModelError(f"cannot load the YuNet face model {path}: not a YuNet face detector (OpenCV "
                                 "cannot read it as an ONNX model)") from None
        try:
            yunet.detect(np.zeros((_PROBE_SIZE[1], _PROBE_SIZE[0], 3), np.uint8))
        except cv2.error:
            raise FaceModelError(f"cannot load the YuNet face model {path}: not a YuNet face detector (OpenCV reads "
                                 "the ONNX model but cannot run it on an image)") from None
    finally:
        cv2.utils.logging.setLogLevel(level)
    return yunet


class FaceDetector:
    """Frontal face detector: Haar cascade by default, YuNet when ``model_path`` names its ONNX file.

    Parameters
    ----------
    model_path : str | Path | None
        YuNet ONNX file (``face_detection_yunet_2023mar.onnx``). None uses OpenCV's bundled Haar cascade.
    min_face : float
        Smallest face (side, original pixels) that full-frame passes look for. Also sets the detection
        resolution, see ``detect_px``.
    detect_px : float
        Size the smallest face of interest is scaled to before detection (>= 24, the Haar window). Lower is
        faster but misses more faces near ``min_face``: single-frame recall on Pexels frames scaled so the face
        spans 64 / 96 / 128 px was 0.73 / 0.96 / 1.00 (Haar) and 0.92 / 1.00 / 1.00 (YuNet) at 32, against
        0.94 / 0.97 / 1.00 (Haar) at full resolution; at 24, YuNet fell to 0.52 for 64 px faces.
    score_threshold : float | None
        Detections scoring less are dropped. None: 0.7 for YuNet; 0.5 for Haar, i.e. a final-stage weight of at
        least 1, which removes the weak windows that survive ``min_neighbors`` (in ``multi_face.jpg`` one such
        window spans two faces and would otherwise be the "largest face").
    scale_factor, min_neighbors : float, int
        Haar ``detectMultiScale`` pyramid step and the number of overlapping hits a face needs.

    Raises
    ------
    FileNotFoundError
        ``model_path`` does not exist.
    FaceModelError
        ``model_path`` is not a regular file, cannot be read, is empty or larger than :data:`MAX_MODEL_BYTES`, or is
        not a model OpenCV's YuNet detector can load *and run* (an ONNX model of another network loads, then fails
        on the first frame: it is tried on a blank one here); the message names the path.
    ValueError
        The bundled cascade cannot be loaded.
    """

    def __init__(self, model_path: str | Path | None = None, *, min_face: float = 64.0, detect_px: float = 32.0,
                 score_threshold: float | None = None, scale_factor: float = 1.1, min_neighbors: int = 4) -> None:
        if min_face <= 0 or detect_px < _HAAR_WINDOW:
            raise ValueError(f"min_face must be positive and detect_px >= {_HAAR_WINDOW}; got {min_face}, {detect_px}")
        self.min_face = float(min_face)
        self.detect_px = float(detect_px)
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.score_threshold = float(score_threshold) if score_threshold is not None else \
            (0.5 if model_path is None else 0.7)
        self._yunet = None
        self._cascade = None
        self._input_size: tuple[int, int] | None = None
        if model_path is None:
            path = Path(cv2.data.haarcascades) / HAAR_CASCADE
            self._cascade = cv2.CascadeClassifier(str(path))
            if self._cascade.empty():
                raise ValueError(f"cannot load the Haar cascade {path} (opencv-python-headless>=5 ships none: "
                                 "pin <5 or configure the YuNet model file)")
            self.backend = "haar"
        else:
            path = Path(model_path)
            self._yunet = _load_yunet(path, self.score_threshold)
            self._input_size = _PROBE_SIZE
            self.backend = "yunet"
        self.model_path = path

    def detect(self, frame: np.ndarray, *, min_face: float | None = None,
               max_face: float | None = None) -> list[Detection]:
        """Faces in ``frame`` (BGR or grey uint8) with side in [``min_face``, ``max_face``], largest first.

        The frame is downscaled so that ``min_face`` becomes ``detect_px`` pixels (never upscaled); boxes are
        returned in the frame's own pixels.
        """
        lo = self.min_face if min_face is None else float(min_face)
        h, w = frame.shape[:2]
        hi = float(min(h, w)) if max_face is None else min(float(max_face), float(min(h, w)))
        scale = min(1.0, self.detect_px / lo)
        sw, sh = round(w * scale), round(h * scale)
        if min(sw, sh) < _HAAR_WINDOW or hi < lo:
            return []
        if self._cascade is not None:
            dets = self._detect_haar(frame, (sw, sh), lo * scale, hi * scale)
        else:
            dets = self._detect_yunet(frame, (sw, sh), lo * scale, hi * scale)
        sx, sy = w / sw, h / sh
        out = [Detection(d.x * sx, d.y * sy, d.w * sx, d.h * sy, d.score) for d in dets]
        return sorted(out, key=lambda d: d.area, reverse=True)

    def _detect_haar(self, frame: np.ndarray, size: tuple[int, int], lo: float, hi: float) -> list[Detection]:
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        if size != (frame.shape[1], frame.shape[0]):
            gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        lo_px = max(_HAAR_WINDOW, math.floor(lo))
        hi_px = max(lo_px, math.ceil(hi))
        boxes, _, weights = self._cascade.detectMultiScale3(
            gray, self.scale_factor, self.min_neighbors, minSize=(lo_px, lo_px), maxSize=(hi_px, hi_px),
            outputRejectLevels=True)
        scores = 1.0 / (1.0 + np.exp(-(np.ravel(weights) - _HAAR_WEIGHT_MID) / _HAAR_WEIGHT_SCALE))
        return [Detection(float(x), float(y), float(bw), float(bh), float(s))
                for (x, y, bw, bh), s in zip(np.reshape(boxes, (-1, 4)), scores) if s >= self.score_threshold]

    def _detect_yunet(self, frame: np.ndarray, size: tuple[int, int], lo: float, hi: float) -> list[Detection]:
        img = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR) if frame.ndim == 2 else frame
        if size != (img.shape[1], img.shape[0]):
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        if self._input_size != size:
            self._yunet.setInputSize(size)
            self._input_size = size
        _, faces = self._yunet.detect(img)
        if faces is None:
            return []
        # YuNet boxes are taller than wide; filter on the larger side, as the Haar pyramid's square windows do.
        return [Detection(float(f[0]), float(f[1]), float(f[2]), float(f[3]), float(f[-1]))
                for f in faces if lo * 0.8 <= max(f[2], f[3]) <= hi * 1.25]


@dataclass(frozen=True)
class TrackedFace:
    """The tracker's answer for one frame.

    ``box`` is the smoothed (x, y, w, h) in frame pixels, or None for "no face". ``held`` counts the frames
    since the face was last detected: 0 when it was found in this frame, 1..``max_missed`` when the previous box
    is carried over a short dropout.
    """

    box: tuple[float, float, float, float] | None
    score: float = 0.0
    held: int = 0

    @property
    def found(self) -> bool:
        return self.box is not None


NO_FACE = TrackedFace(None)


class FaceTracker:
    """Follow one face across frames: full-frame detection every k-th frame, local search in between.

    Which face: the detection overlapping the tracked box most (IoU >= ``min_iou``) keeps the track, so the
    subject is not swapped for a bystander; without a track (or when nothing overlaps) the largest face wins,
    because the subject in front of the camera is the closest person.

    Smoothing: the box centre and size are exponentially smoothed (``alpha_pos``, ``alpha_size``), which removes
    the detector's frame-to-frame jitter in the crop that the student sees; a jump to a non-overlapping face
    restarts the smoother instead of gliding across the frame.

    Dropouts: after a miss the last box is held for at most ``max_missed`` frames (reported with ``held > 0``),
    which bridges a blink-length detector miss; after that the tracker reports :data:`NO_FACE` and forgets the box,
    so a stale face is never returned for long.

    Parameters
    ----------
    detector : FaceDetector
    detect_every : int
        A full-frame pass runs at least every ``detect_every`` frames (1 = every frame), also catching a face that
        enters; frames in between search a window of ``1 + 2 * search`` box sides around the track for faces
        within a factor ``size_tolerance`` of its size. A failed local search falls back to a full-frame pass in the
        same frame.
    max_missed : int
        Frames the last box is held after the face is lost (0-3 are sensible).
    """

    def __init__(self, detector: FaceDetector, *, detect_every: int = 10, max_missed: int = 2,
                 alpha_pos: float = 0.6, alpha_size: float = 0.3, min_iou: float = 0.2, search: float = 0.5,
                 size_tolerance: float = 1.4) -> None:
        if detect_every < 1 or max_missed < 0 or not (0 < alpha_pos <= 1 and 0 < alpha_size <= 1):
            raise ValueError("detect_every >= 1, max_missed >= 0 and alphas in (0, 1] are required")
        self.detector = detector
        self.detect_every = int(detect_every)
        self.max_missed = int(max_missed)
        self.alpha_pos = float(alpha_pos)
        self.alpha_size = float(alpha_size)
        self.min_iou = float(min_iou)
        self.search = float(search)
        self.size_tolerance = float(size_tolerance)
        self.reset()

    def reset(self) -> None:
        """Forget the track (e.g. when the video source changes)."""
        self._state: np.ndarray | None = None   # smoothed (cx, cy, w, h)
        self._score = 0.0
        self._missed = 0
        self._since_full = 0

    @property
    def _box(self) -> tuple[float, float, float, float]:
        cx, cy, w, h = self._state
        return (float(cx - w / 2), float(cy - h / 2), float(w), float(h))

    def update(self, frame: np.ndarray) -> TrackedFace:
        """Detect/track in one frame and return the smoothed face, a held box, or :data:`NO_FACE`."""
        det = None
        if self._state is not None and self._since_full + 1 < self.detect_every:
            self._since_full += 1
            det = self._choose(self._detect_near(frame))
        if det is None:
            self._since_full = 0
            det = self._choose(self.detector.detect(frame))
        if det is None:
            return self._miss()
        self._missed = 0
        self._score = det.score
        target = np.array([det.x + det.w / 2, det.y + det.h / 2, det.w, det.h])
        if self._state is None or iou(self._box, det.box) < self.min_iou:
            self._state = target
        else:
            alpha = np.array([self.alpha_pos, self.alpha_pos, self.alpha_size, self.alpha_size])
            self._state = self._state + alpha * (target - self._state)
        return TrackedFace(self._box, self._score, 0)

    def _miss(self) -> TrackedFace:
        if self._state is None:
            return NO_FACE
        self._missed += 1
        if self._missed > self.max_missed:
            self.reset()
            return NO_FACE
        return TrackedFace(self._box, self._score, self._missed)

    def _choose(self, dets: list[Detection]) -> Detection | None:
        if not dets:
            return None
        if self._state is not None:
            prev = self._box
            best = max(dets, key=lambda d: iou(prev, d.box))
            if iou(prev, best.box) >= self.min_iou:
                return best
        return dets[0]  # largest

    def _detect_near(self, frame: np.ndarray) -> list[Detection]:
        cx, cy, w, h = self._state
        side = max(w, h)
        half = side * (0.5 + self.search)
        fh, fw = frame.shape[:2]
        x0, y0 = max(0, int(cx - half)), max(0, int(cy - half))
        x1, y1 = min(fw, int(math.ceil(cx + half))), min(fh, int(math.ceil(cy + half)))
        if x1 - x0 < 2 or y1 - y0 < 2:
            return []
        found = self.detector.detect(frame[y0:y1, x0:x1], min_face=side / self.size_tolerance,
                                     max_face=side * self.size_tolerance)
        return [Detection(d.x + x0, d.y + y0, d.w, d.h, d.score) for d in found]


def crop_face(frame: np.ndarray, box: tuple[float, float, float, float], size: int = 48, margin: float = 0.1,
              gray: bool = True) -> np.ndarray:
    """Square face crop at the student's input size.

    The box is made square on its longer side and grown by ``margin`` of that side on every edge, keeping its
    centre. Parts outside the frame are padded by replicating the border pixels (the padding the visual student
    was trained with) rather than shifting the square inwards, so the face stays centred and at the same scale
    as in the middle of the frame.

    Parameters
    ----------
    frame : ndarray uint8 (h, w, 3) BGR or (h, w) grey
    box : (x, y, w, h)
        Face box in frame pixels (e.g. :attr:`TrackedFace.box`).
    size : int
        Output side: 48 (FER+ native), 64 or 112.
    margin : float
        Fraction of the box side added on each edge.
    gray : bool
        True: (size, size) grey; False: (size, size, 3) BGR. A 3-channel student takes grey repeated to 3
        channels (its manifest ``input`` block), so pass ``gray=True`` and repeat.

    Returns
    -------
    ndarray uint8
    """
    if size < 8 or margin < 0:
        raise ValueError(f"size must be >= 8 and margin >= 0; got {size}, {margin}")
    x, y, w, h = box
    if w <= 0 or h <= 0:
        raise ValueError(f"empty face box {box}")
    side = max(1, round(max(w, h) * (1 + 2 * margin)))
    x0 = round(x + w / 2 - side / 2)
    y0 = round(y + h / 2 - side / 2)
    fh, fw = frame.shape[:2]
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + side, fw), min(y0 + side, fh)
    if sx1 <= sx0 or sy1 <= sy0:
        raise ValueError(f"face box {box} lies outside the {fw}x{fh} frame")
    patch = frame[sy0:sy1, sx0:sx1]
    if gray and patch.ndim == 3:
        patch = cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY)
    elif not gray and patch.ndim == 2:
        patch = cv2.cvtColor(patch, cv2.COLOR_GRAY2BGR)
    pads = (sy0 - y0, y0 + side - sy1, sx0 - x0, x0 + side - sx1)
    if any(pads):
        patch = cv2.copyMakeBorder(patch, *pads, cv2.BORDER_REPLICATE)
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interp)
