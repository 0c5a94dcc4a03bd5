"""When a run that names a subject uses the subject's profile, and the band-power ridge as a profile's student: it
runs on the live path's estimator (onnxruntime, no PyTorch) and computes exactly the fitted linear map. The
normaliser and band powers here are SYNTHETIC random numbers, not EEG."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from affectstream.calibration.profiles import Profile, default_use, load_profile, save_profile
from affectstream.calibration.subject_model import LinearFit
from affectstream.core.feature_layout import N_FEATURES
from affectstream.core.feature_norm import RunningFeatureNorm
from affectstream.core.montage import MONTAGE_32


def _profile(**selection) -> Profile:
    sel = {"kept": "calibrated", "model": "band_power_ridge", "chance_p": 0.01, "better_than_chance": True}
    return Profile(Path("/p/s01"), {"subject": "s01", "selection": {**sel, **selection}}, {}, {})


def test_only_a_kept_calibrated_model_that_beats_chance_is_used_by_default():
    assert default_use(_profile()) is None
    for profile, words in (
            (_profile(chance_p=0.31, better_than_chance=False), ("not better than chance (p = 0.31)",
                                                                  "not used by default")),
            (_profile(chance_p=None, better_than_chance=False), ("not better than chance (not tested)",)),
            (_profile(kept="uncalibrated"), ("kept the uncalibrated student",)),
            (_profile(kept="baseline"), ("kept the baseline estimator", 'eeg_estimator = "baseline"'))):
        notice = default_use(profile)
        assert all(w in notice for w in words), notice
        assert "using the bundled EEG student" in notice and 'profile = "/p/s01"' in notice
        assert "\n" not in notice


def test_a_band_power_ridge_profile_is_a_student_the_live_path_runs(tmp_path):
    pytest.importorskip("onnx")
    from affectstream.pipelines.eeg.student import EEGStudentEstimator

    rng = np.random.default_rng(0)
    norm = RunningFeatureNorm(N_FEATURES)
    norm.transform_sequence(rng.normal(1.0, 0.3, (40, N_FEATURES)))  # synthetic frames
    folder = tmp_path / "s02"
    folder.mkdir()
    (folder / "eeg_student.pt").write_bytes(b"an earlier calibration's student")  # replaced, not merged
    fit = LinearFit(rng.normal(0, 0.05, (N_FEATURES, 2)), np.array([0.1, -0.2]), (1.0, 10.0))
    selection = {"kept": "calibrated", "model": "band_power_ridge", "chance_p": 0.02, "better_than_chance": True}
    save_profile(tmp_path, "s02", linear=fit, norm=norm, bad_channels={"T7": "flat"}, synthetic=True,
                 montage=MONTAGE_32, selection=selection)
    assert not (folder / "eeg_student.pt").exists()
    manifest = json.loads((folder / "manifest.json").read_text())["models"]
    assert set(manifest) == {"eeg_student"} and manifest["eeg_student"]["model"] == "band_power_ridge"
    profile = load_profile(tmp_path, "s02")
    assert profile.selection == selection and default_use(profile) is None
    estimator = EEGStudentEstimator.from_profile(profile.folder)
    assert estimator.trained_on == "synthetic" and not estimator.keep[MONTAGE_32.index("T7")]
    power = rng.normal(1.0, 0.3, (30, 6, 32))
    estimates, inputs = estimator.step_many(power, np.ones((30, 32), dtype=bool))
    expected = np.clip(inputs.astype(np.float64).mean(axis=2) @ fit.weights + fit.intercept, -1, 1)
    got = np.array([(e.valence, e.arousal) for e in estimates])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert np.abs(got).max() > 0.05  # not a constant: the frames move it
