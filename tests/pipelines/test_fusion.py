"""Fusion keeps going on one modality and gives NaN with a status when both are missing."""

import math

from affectstream.pipelines.fusion import ModalityEstimate, fuse


def test_both_modalities_weighted_by_confidence():
    f = fuse({"eeg": ModalityEstimate(0.6, 0.2, 0.75, "student"), "face": ModalityEstimate(-0.2, 0.6, 0.25, "student")})
    assert math.isclose(f.valence, 0.75 * 0.6 + 0.25 * -0.2)
    assert math.isclose(f.arousal, 0.75 * 0.2 + 0.25 * 0.6)
    assert f.status == "fused" and math.isclose(f.weights["eeg"], 0.75)
    assert f.confidence > 0.75  # agreeing evidence adds up


def test_eeg_only():
    f = fuse({"eeg": ModalityEstimate(0.3, -0.1, 0.5), "face": ModalityEstimate()})
    assert (f.valence, f.arousal, f.status) == (0.3, -0.1, "eeg only")
    assert f.weights == {"eeg": 1.0, "face": 0.0}


def test_face_only_when_eeg_is_nan():
    f = fuse({"eeg": ModalityEstimate(math.nan, math.nan, 0.9), "face": ModalityEstimate(-0.4, 0.3, 0.8)})
    assert (f.valence, f.status) == (-0.4, "face only")


def test_neither_gives_nan_and_status_never_a_stale_number():
    f = fuse({"eeg": ModalityEstimate(0.5, 0.5, 0.0), "face": ModalityEstimate()})
    assert math.isnan(f.valence) and math.isnan(f.arousal) and f.status == "no estimate" and f.confidence == 0.0
