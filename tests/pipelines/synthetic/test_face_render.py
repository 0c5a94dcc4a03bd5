"""Synthetic faces (SYNTHETIC video): the expression follows (valence, arousal) and real detectors find the face."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from affectstream.pipelines.synthetic.face_render import _layout, render_face

SIZES = [(240, 320), (480, 640)]
GRID = np.linspace(-1.0, 1.0, 4)
IDENTITIES = range(4)   # include the darkest skin tone (identity 2), the hardest case for Haar


def _frames(size):
    """Frames over the whole (v, a) grid and several identities, with the simulator's range of head drift."""
    rng = np.random.default_rng(7)
    for identity, (v, a) in itertools.product(IDENTITIES, itertools.product(GRID, GRID)):
        pose = (rng.uniform(-0.035, 0.035), rng.uniform(-0.015, 0.015), rng.uniform(-3, 3))
        yield render_face(v, a, size, identity=identity, rng=rng, pose=pose)


def test_frame_format_and_determinism():
    frame = render_face(0.3, -0.2, (240, 320), identity=5)
    assert frame.shape == (240, 320, 3) and frame.dtype == np.uint8 and frame.flags.writeable
    np.testing.assert_array_equal(frame, render_face(0.3, -0.2, (240, 320), identity=5))
    a = render_face(0.3, -0.2, (240, 320), identity=5, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a, render_face(0.3, -0.2, (240, 320), identity=5, rng=np.random.default_rng(1)))
    assert not np.array_equal(a, render_face(0.3, -0.2, (240, 320), identity=5, rng=np.random.default_rng(2)))
    assert not np.array_equal(frame, render_face(0.3, -0.2, (240, 320), identity=6))
    np.testing.assert_array_equal(render_face(4.0, -3.0, (120, 160)), render_face(1.0, -1.0, (120, 160)))


def test_pose_moves_the_head():
    still = render_face(0, 0, (240, 320))
    moved = render_face(0, 0, (240, 320), pose=(0.03, 0.0, 0.0))
    gray = [cv2.cvtColor(x, cv2.COLOR_BGR2GRAY).astype(np.float32) for x in (still, moved)]
    (dx, dy), _ = cv2.phaseCorrelate(gray[0], gray[1])
    assert dx == pytest.approx(0.03 * 320, abs=1.0) and abs(dy) < 1.0


def _darkest_row(gray: np.ndarray, x: float, y0: float, y1: float) -> int:
    """Row of the darkest pixel in column ``x`` between rows y0 and y1 (the mouth slit)."""
    col = gray[int(y0):int(y1), int(round(x))]
    return int(y0) + int(np.argmin(col))


@pytest.mark.parametrize("valence", [-1.0, 1.0])
def test_valence_bends_the_mouth(valence):
    size = (480, 640)
    lay = _layout(size)
    gray = cv2.cvtColor(render_face(valence, -1.0, size), cv2.COLOR_BGR2GRAY)
    y0, y1 = lay.cy + 0.38 * lay.s, lay.cy + 0.68 * lay.s
    centre = _darkest_row(gray, lay.cx, y0, y1)
    corners = [_darkest_row(gray, lay.cx + side * 0.18 * lay.s, y0, y1) for side in (-1, 1)]
    if valence > 0:
        assert max(corners) < centre - 3   # smile: the corners are higher (smaller row) than the middle
    else:
        assert min(corners) > centre + 3   # frown


def test_valence_tilts_the_brows():
    size = (480, 640)
    lay = _layout(size)

    def inner_brow_row(v: float) -> int:
        gray = cv2.cvtColor(render_face(v, 0.0, size), cv2.COLOR_BGR2GRAY)
        return _darkest_row(gray, lay.cx - 0.14 * lay.s, lay.cy - 0.55 * lay.s, lay.cy - 0.2 * lay.s)

    assert inner_brow_row(-1.0) > inner_brow_row(1.0) + 2   # knit brow: the inner end drops


def test_arousal_opens_eyes_and_mouth():
    size = (480, 640)
    lay = _layout(size)

    def measure(a: float) -> tuple[int, int]:
        gray = cv2.cvtColor(render_face(0.0, a, size), cv2.COLOR_BGR2GRAY)
        eye = gray[int(lay.cy - 0.25 * lay.s):int(lay.cy), int(lay.cx - 0.5 * lay.s):int(lay.cx - 0.1 * lay.s)]
        mouth = gray[int(lay.cy + 0.38 * lay.s):int(lay.cy + 0.68 * lay.s),
                     int(lay.cx - 0.2 * lay.s):int(lay.cx + 0.2 * lay.s)]
        return int((eye > 170).sum()), int((mouth < 60).sum())   # white of the eye; dark mouth interior

    calm, aroused = measure(-1.0), measure(1.0)
    assert aroused[0] > 1.3 * calm[0]
    assert aroused[1] > 2 * max(calm[1], 1)   # (the upper teeth cover part of the open mouth)


def _rate(detect, size) -> float:
    return float(np.mean([detect(frame) for frame in _frames(size)]))


@pytest.mark.parametrize("size", SIZES)
def test_haar_finds_the_face(size):
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    assert not cascade.empty()
    for scale_factor in (1.1, 1.2):
        rate = _rate(lambda f: len(cascade.detectMultiScale(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY),
                                                            scaleFactor=scale_factor, minNeighbors=5)) > 0, size)
        assert rate >= 0.95, (size, scale_factor, rate)


@pytest.mark.parametrize("size", SIZES)
def test_yunet_finds_the_face(size, shared_data):
    model = shared_data / "models" / "face_detection_yunet_2023mar.onnx"
    if not model.is_file():
        pytest.skip(f"{model} is not present")
    h, w = size
    yunet = cv2.FaceDetectorYN.create(str(model), "", (w, h), 0.8)

    def found(frame: np.ndarray) -> bool:
        _, faces = yunet.detect(frame)
        return faces is not None and len(faces) > 0

    assert _rate(found, size) >= 0.95
