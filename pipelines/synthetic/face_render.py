"""Synthetic face frames whose expression follows valence and arousal (SYNTHETIC video for the simulator).

The product's face path runs real face detectors (OpenCV's Haar cascade and YuNet) on every frame, so a synthetic
face must look enough like a photographed frontal face for both to find it: a shaded skin oval lit from the upper
left (Lambertian shading of an ellipsoid, so the cheeks and forehead are bright and the rim darker), dark hair
framing the forehead, eye sockets darker than the cheeks and a bright nose bridge between them (the contrast
pattern Haar features respond to), whites of the eyes with a dark iris and pupil, eyebrows, a shaded nose with
nostrils, lips, ears, neck and shoulders on a plain background, and mild sensor noise and blur.

Expression mapping (v = valence, a = arousal, both in [-1, 1]):

* mouth: corners move up with v (smile) and down with -v (frown); the lips part with a (dark mouth interior,
  teeth once wide open);
* eyebrows: the inner ends drop with -v (a knit, displeased brow) and rise with v; both brows rise with a;
* eyes: the eye opening grows with a (wide-eyed when aroused, heavy-lidded when calm).

Everything that does not change with the expression (background, head, shading, hair, nose) is rendered once per
(size, identity) and cached; a frame copies that base, draws eyes, brows and mouth, and moves the head by a small
similarity transform (``pose`` drift plus ``rng`` jitter).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

# Skin tones (BGR) from light to dark, hair colours (BGR), iris colours (BGR), backgrounds (BGR).
_SKIN = ((173, 198, 236), (150, 180, 226), (125, 160, 205), (100, 135, 180), (84, 110, 155), (70, 92, 138))
_HAIR = ((25, 22, 20), (30, 40, 55), (35, 55, 85), (40, 60, 110), (70, 110, 150))
_IRIS = ((60, 45, 30), (40, 60, 90), (90, 80, 50), (50, 90, 60))
_BACKGROUND = ((200, 196, 190), (185, 190, 200), (170, 175, 170), (210, 205, 200), (160, 150, 140))


@dataclass(frozen=True)
class _Identity:
    """What makes one synthetic person look different from another."""

    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    iris: tuple[int, int, int]
    background: tuple[int, int, int]
    aspect: float        # face half-width / half-height
    long_hair: bool
    lip_tone: float      # how much darker and redder than the skin the lips are
    parting: float       # tilt of the hairline (side parting)


def _identity(identity: int) -> _Identity:
    """The look of ``identity``, drawn from its own generator so it never depends on anything else."""
    rng = np.random.default_rng([identity & 0xFFFFFFFF, 0xFACE])
    return _Identity(
        skin=_SKIN[rng.integers(len(_SKIN))],
        hair=_HAIR[rng.integers(len(_HAIR))],
        iris=_IRIS[rng.integers(len(_IRIS))],
        background=_BACKGROUND[rng.integers(len(_BACKGROUND))],
        aspect=float(rng.uniform(0.72, 0.80)),
        long_hair=bool(rng.integers(2)),
        lip_tone=float(rng.uniform(0.6, 0.9)),
        parting=float(rng.uniform(-0.08, 0.08)),
    )


@dataclass(frozen=True)
class _Layout:
    """Face geometry in pixels for one frame size (head centred, before the pose transform)."""

    cx: float
    cy: float
    s: float             # face half-height

    def p(self, x: float, y: float) -> tuple[int, int]:
        """Face coordinates (units of the half-height, y down) -> integer pixel (x, y) at 1/16 px precision."""
        return int(round((self.cx + x * self.s) * 16)), int(round((self.cy + y * self.s) * 16))

    def length(self, r: float) -> int:
        return int(round(r * self.s * 16))


_SHIFT = 4  # fractional bits of every cv2 drawing call (1/16 px)


def _layout(size: tuple[int, int]) -> _Layout:
    h, w = size
    return _Layout(cx=w / 2.0, cy=h * 0.50, s=0.34 * min(h, w * 0.75))


def _blob(shape: tuple[int, int], centre: tuple[float, float], radii: tuple[float, float]) -> np.ndarray:
    """A soft elliptical Gaussian (peak 1) used for shading."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    return np.exp(-0.5 * (((xx - centre[0]) / radii[0]) ** 2 + ((yy - centre[1]) / radii[1]) ** 2))


def _face_skin(yy: np.ndarray, xx: np.ndarray, lay: _Layout, skin: np.ndarray, asp: float) -> np.ndarray:
    """The skin of the face over the whole frame (float32 BGR): Lambertian shading of an ellipsoid lit from the
    upper left and the front, and its relief (dark eye sockets, bright brow ridge and nose bridge, shadow under the
    nose, warm cheeks)."""
    s, cx, cy = lay.s, lay.cx, lay.cy
    h, w = yy.shape
    nx = (xx - cx) / (asp * s)
    ny = (yy - cy) / s
    r2 = nx ** 2 + ny ** 2
    nz = np.sqrt(np.clip(1 - r2, 0, 1))
    light = np.array([-0.3, -0.35, 0.89], np.float32)
    light /= np.linalg.norm(light)
    shade = 0.55 + 0.55 * np.clip(nx * light[0] + ny * light[1] + nz * light[2], 0, 1)
    face = skin * shade[..., None]

    def rel(x: float, y: float, rx: float, ry: float) -> np.ndarray:
        return _blob((h, w), (cx + x * s, cy + y * s), (rx * s, ry * s))[..., None]
    sockets = rel(-0.3, -0.12, 0.2, 0.11) + rel(0.3, -0.12, 0.2, 0.11)
    face *= 1 - 0.45 * sockets
    face *= 1 + 0.18 * rel(0.0, -0.08, 0.06, 0.3)                   # nose bridge
    face *= 1 + 0.15 * rel(-0.02, 0.2, 0.05, 0.04)                   # nose tip
    face *= 1 + 0.10 * (rel(-0.3, -0.32, 0.2, 0.06) + rel(0.3, -0.32, 0.2, 0.06))   # brow ridge
    face *= 1 - 0.22 * rel(0.0, 0.30, 0.14, 0.04)                    # under the nose
    face *= 1 - 0.18 * rel(0.07, 0.12, 0.04, 0.16)                   # shaded side of the nose
    face *= 1 - 0.12 * rel(0.0, 0.78, 0.22, 0.06)                    # under the lower lip / chin fold
    blush = rel(-0.38, 0.25, 0.13, 0.09) + rel(0.38, 0.25, 0.13, 0.09)
    return face * (1 - 0.08 * blush) + np.array([60, 70, 200], np.float32) * 0.08 * blush


@lru_cache(maxsize=32)
def _base(size: tuple[int, int], identity: int) -> np.ndarray:
    """Everything that does not move with the expression, uint8 BGR (read-only: it is shared by the cache)."""
    h, w = size
    ident = _identity(identity)
    lay = _layout(size)
    s, cx, cy, asp = lay.s, lay.cx, lay.cy, ident.aspect
    img = np.empty((h, w, 3), np.float32)
    img[:] = ident.background
    img *= (1.05 - 0.1 * np.linspace(0, 1, h, dtype=np.float32))[:, None, None]   # soft vertical light falloff

    skin = np.array(ident.skin, np.float32)
    hair = np.array(ident.hair, np.float32)
    canvas = np.zeros((h, w), np.uint8)

    def mask(draw) -> np.ndarray:
        canvas[:] = 0
        draw(canvas)
        return cv2.GaussianBlur(canvas, (0, 0), max(0.6, s * 0.012)).astype(np.float32)[..., None] / 255.0

    def paint(m: np.ndarray, colour: np.ndarray) -> None:
        img[:] = img * (1 - m) + colour * m

    # Shoulders (shirt), hair behind the head (long hair falls beside the neck), neck.
    shirt = np.array(ident.background, np.float32)[::-1] * 0.5 + 30
    paint(mask(lambda c: cv2.ellipse(c, lay.p(0, 1.95), (lay.length(1.55), lay.length(0.75)), 0, 0, 360, 255, -1,
                                      cv2.LINE_AA, _SHIFT)), shirt)

    def draw_hair(c: np.ndarray) -> None:
        cv2.ellipse(c, lay.p(0, -0.12), (lay.length(asp + 0.1), lay.length(1.05)), 0, 0, 360, 255, -1,
                    cv2.LINE_AA, _SHIFT)
        if ident.long_hair:
            cv2.rectangle(c, lay.p(-asp - 0.16, -0.1), lay.p(asp + 0.16, 1.05), 255, -1, cv2.LINE_AA, _SHIFT)

    hair_mask = mask(draw_hair)
    paint(hair_mask, hair)
    paint(mask(lambda c: cv2.rectangle(c, lay.p(-0.36, 0.6), lay.p(0.36, 1.3), 255, -1, cv2.LINE_AA, _SHIFT)),
          skin * 0.72)
    # Ears.
    for side in (-1, 1):
        paint(mask(lambda c, sd=side: cv2.ellipse(c, lay.p(sd * asp * 0.98, 0.02), (lay.length(0.11),
                                                   lay.length(0.2)), 0, 0, 360, 255, -1, cv2.LINE_AA, _SHIFT)),
              skin * 0.8)

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    face_mask = mask(lambda c: cv2.ellipse(c, lay.p(0, 0), (lay.length(asp), lay.length(1.0)), 0, 0, 360, 255, -1,
                                           cv2.LINE_AA, _SHIFT))
    paint(face_mask, _face_skin(yy, xx, lay, skin, asp))
    # Hair over the top of the forehead, down to a curved hairline (higher in the middle, lower at the temples).
    hairline = -0.6 + 0.28 * ((xx - cx) / (asp * s)) ** 2 + ident.parting * (xx - cx) / s
    fringe = cv2.GaussianBlur((yy < cy + hairline * s).astype(np.float32), (0, 0), max(0.8, s * 0.02))
    paint(fringe[..., None] * np.maximum(face_mask, hair_mask), hair)
    # Nostrils.
    for side in (-1, 1):
        paint(mask(lambda c, sd=side: cv2.ellipse(c, lay.p(sd * 0.07, 0.27), (lay.length(0.04), lay.length(0.022)),
                                                   0, 0, 360, 255, -1, cv2.LINE_AA, _SHIFT)) * 0.8, skin * 0.35)
    out = np.clip(img, 0, 255).astype(np.uint8)
    out.flags.writeable = False
    return out


@lru_cache(maxsize=8)
def _noise(size: tuple[int, int]) -> np.ndarray:
    """Four fixed fields of mild sensor noise (int16), picked at random per frame: cheap and deterministic."""
    rng = np.random.default_rng(0x5EED)
    return rng.normal(0.0, 2.5, size=(4, *size, 1)).round().astype(np.int16)


def _eye(img: np.ndarray, lay: _Layout, side: int, opening: float, iris: tuple[int, int, int],
         look: tuple[float, float]) -> None:
    """Sclera, iris, pupil, highlight and lids of one eye; ``opening`` is the half-height in face units."""
    cx, cy = side * 0.3, -0.12
    rx = 0.16
    centre = lay.p(cx, cy)
    axes = (lay.length(rx), lay.length(opening))
    x0, y0 = int((lay.cx + (cx - rx) * lay.s)) - 2, int(lay.cy + (cy - 0.12) * lay.s) - 2
    x1, y1 = int((lay.cx + (cx + rx) * lay.s)) + 3, int(lay.cy + (cy + 0.12) * lay.s) + 3
    roi = img[y0:y1, x0:x1]
    sclera = np.zeros(roi.shape[:2], np.uint8)   # drawn in ROI coordinates: (x0, y0) is the origin
    cv2.ellipse(sclera, (centre[0] - x0 * 16, centre[1] - y0 * 16), axes, 0, 0, 360, 255, -1, cv2.LINE_AA, _SHIFT)
    m = sclera[..., None].astype(np.float32) / 255.0
    iris_img = np.full_like(roi, 200)
    icentre = lay.p(cx + look[0] * 0.03, cy + look[1] * 0.02)
    shifted = (icentre[0] - x0 * 16, icentre[1] - y0 * 16)
    cv2.circle(iris_img, shifted, lay.length(0.068), iris, -1, cv2.LINE_AA, _SHIFT)
    cv2.circle(iris_img, shifted, lay.length(0.032), (15, 15, 15), -1, cv2.LINE_AA, _SHIFT)
    cv2.circle(iris_img, (shifted[0] - lay.length(0.02), shifted[1] - lay.length(0.02)), lay.length(0.012),
               (250, 250, 250), -1, cv2.LINE_AA, _SHIFT)
    roi[:] = (roi * (1 - m) + iris_img * m).astype(np.uint8)
    lid = max(1, int(round(lay.s * 0.025)))
    cv2.ellipse(img, centre, axes, 0, 180, 360, (30, 30, 35), lid + 1, cv2.LINE_AA, _SHIFT)   # upper lid, lashes
    cv2.ellipse(img, centre, axes, 0, 20, 160, (70, 70, 80), max(1, lid - 1), cv2.LINE_AA, _SHIFT)


def _brow(img: np.ndarray, lay: _Layout, side: int, inner_dy: float, raise_: float,
          colour: tuple[int, int, int]) -> None:
    """An arched eyebrow; ``inner_dy`` moves the inner end (face units, + down), ``raise_`` lifts the whole brow."""
    y = -0.33 - raise_
    xs = np.linspace(0.1, 0.48, 9)
    arch = -0.05 * np.sin(np.pi * (xs - 0.1) / 0.38)
    tilt = inner_dy * (0.48 - xs) / 0.38
    pts = np.array([lay.p(side * x, y + a + t) for x, a, t in zip(xs, arch, tilt)], np.int32)
    thick = max(2, int(round(lay.s * 0.075)))
    cv2.polylines(img, [pts], False, colour, thick, cv2.LINE_AA, _SHIFT)


def _mouth(img: np.ndarray, lay: _Layout, valence: float, arousal: float, lip: tuple[int, int, int]) -> None:
    """Lips whose corners follow valence and whose opening follows arousal."""
    half_w = 0.24 + 0.04 * max(valence, 0.0)
    corner_dy = -0.09 * valence                  # up for positive valence (y grows downward)
    open_ = 0.012 + 0.07 * max(0.0, (arousal + 0.3) / 1.3) ** 1.5
    y0 = 0.52
    xs = np.linspace(-1, 1, 21)
    bend = corner_dy * xs ** 2                    # parabola through the corners
    upper = [lay.p(x * half_w, y0 + b - open_ * (1 - x ** 2) * 0.5) for x, b in zip(xs, bend)]
    lower = [lay.p(x * half_w, y0 + b + open_ * (1 - x ** 2) * 0.5) for x, b in zip(xs, bend)]
    lip_up = [lay.p(x * half_w, y0 + b - open_ * (1 - x ** 2) * 0.5 - 0.05 * (1 - x ** 2) ** 0.5)
              for x, b in zip(xs, bend)]
    lip_lo = [lay.p(x * half_w, y0 + b + open_ * (1 - x ** 2) * 0.5 + 0.07 * (1 - x ** 2) ** 0.5)
              for x, b in zip(xs, bend)]
    cv2.fillPoly(img, [np.array(lip_up + upper[::-1], np.int32)], lip, cv2.LINE_AA, _SHIFT)
    cv2.fillPoly(img, [np.array(lower + lip_lo[::-1], np.int32)], tuple(min(255, int(c * 1.08)) for c in lip),
                 cv2.LINE_AA, _SHIFT)
    cv2.fillPoly(img, [np.array(upper + lower[::-1], np.int32)], (35, 25, 45), cv2.LINE_AA, _SHIFT)
    if open_ > 0.04:   # upper teeth
        teeth = [lay.p(x * half_w * 0.8, y0 + b * 0.8 - open_ * (1 - x ** 2) * 0.5 + 0.01) for x, b in zip(xs, bend)]
        teeth_lo = [lay.p(x * half_w * 0.8, y0 + b * 0.8 - open_ * (1 - x ** 2) * 0.5 + 0.01 + open_ * 0.3)
                    for x, b in zip(xs, bend)]
        cv2.fillPoly(img, [np.array(teeth + teeth_lo[::-1], np.int32)], (150, 155, 160), cv2.LINE_AA, _SHIFT)


def render_face(valence: float, arousal: float, size: tuple[int, int] = (240, 320), *, identity: int = 0,
                rng: np.random.Generator | None = None,
                pose: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    """Render one SYNTHETIC frontal face whose expression follows (valence, arousal).

    Parameters
    ----------
    valence, arousal : float
        Affect in [-1, 1] (clipped): valence bends the mouth and tilts the brows, arousal opens the eyes and the
        mouth and raises the brows.
    size : tuple of int
        Frame (height, width).
    identity : int
        Selects skin tone, hair, eye colour, face shape and background; the same identity always looks the same.
    rng : numpy Generator | None
        Source of per-frame jitter (sub-pixel head motion, gaze, sensor noise). None renders without jitter.
    pose : tuple of float
        Head drift (dx, dy, roll): shifts as fractions of the frame width/height, roll in degrees.

    Returns
    -------
    ndarray uint8 (h, w, 3)
        BGR frame.
    """
    v = float(np.clip(valence, -1.0, 1.0))
    a = float(np.clip(arousal, -1.0, 1.0))
    size = (int(size[0]), int(size[1]))
    ident = _identity(identity)
    lay = _layout(size)
    img = _base(size, identity).copy()

    look = (0.0, 0.0)
    dx, dy, roll = pose
    if rng is not None:
        look = (float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1)))
        dx += float(rng.normal(0, 0.002))
        dy += float(rng.normal(0, 0.002))
        roll += float(rng.normal(0, 0.3))

    opening = 0.05 + 0.03 * (a + 1) / 2
    for side in (-1, 1):
        _eye(img, lay, side, opening, ident.iris, look)
        _brow(img, lay, side, inner_dy=-0.06 * v, raise_=0.03 * max(a, 0.0) + 0.01 * a,
              colour=tuple(int(c * 0.9) for c in ident.hair))
    skin = np.array(ident.skin, np.float32)
    lip = skin * (1 - ident.lip_tone * (1 - np.array([0.72, 0.68, 0.92], np.float32)))   # darker and redder
    _mouth(img, lay, v, a, tuple(int(c) for c in lip))

    h, w = size
    m = cv2.getRotationMatrix2D((lay.cx, lay.cy), roll, 1.0)
    m[:, 2] += (dx * w, dy * h)
    img = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    img = cv2.GaussianBlur(img, (3, 3), 0)
    if rng is not None:
        noise = _noise(size)[int(rng.integers(4))]
        img = np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return img
