"""Where each FER+ emotion sits in the valence/arousal plane.

FER+ labels are categorical; the live trace is continuous. Until a student with a trained valence/arousal space is
bundled, the face's valence and arousal are the expectation of these anchors under the class probabilities. The
coordinates follow the circumplex placement of the basic emotions (Russell 1980; the 2-D placements reported for
AffectNet's categories by Mollahosseini et al. 2017), rounded, on the [-1, 1] scale used everywhere in the project.
They are a documented convention, not a measurement, and every output that uses them is tagged ``anchors``.
"""

from __future__ import annotations

import numpy as np

from affectstream.models.datasets.ferplus import EMOTIONS

#: (valence, arousal) per FER+ class, in FER+ class order.
FER_VA_ANCHORS: dict[str, tuple[float, float]] = {
    "neutral": (0.0, 0.0),
    "happiness": (0.8, 0.4),
    "surprise": (0.2, 0.8),
    "sadness": (-0.7, -0.4),
    "anger": (-0.6, 0.7),
    "disgust": (-0.7, 0.3),
    "fear": (-0.6, 0.7),
    "contempt": (-0.5, 0.2),
}


def anchor_matrix(classes: tuple[str, ...] = tuple(EMOTIONS)) -> np.ndarray:
    """(n_classes, 2) anchors in the order of ``classes``."""
    return np.array([FER_VA_ANCHORS[c] for c in classes], dtype=np.float64)


def expected_valence_arousal(probabilities: np.ndarray, classes: tuple[str, ...] = tuple(EMOTIONS)) -> np.ndarray:
    """Expected (valence, arousal) under class ``probabilities`` (..., n_classes) -> (..., 2)."""
    return np.asarray(probabilities) @ anchor_matrix(classes)
