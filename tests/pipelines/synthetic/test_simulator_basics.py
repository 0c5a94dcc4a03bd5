"""The simulator (SYNTHETIC data): realistic spectra, planted truth, determinism, markers and faces."""

import numpy as np
import pytest
import scipy.signal

from affectstream.pipelines.face.detect import FaceDetector
from affectstream.core.montage import MONTAGE_32
from affectstream.pipelines.synthetic.sim_config import SimulatorConfig
from affectstream.pipelines.synthetic.simulator import SessionSimulator, simulate
from affectstream.pipelines.synthetic.subject import planted_pattern


@pytest.fixture(scope="module")
def rec():
    return simulate(SimulatorConfig(seed=0, subject="sim01"), 60.0)


def _psd(x, fs):
    return scipy.signal.welch(x, fs=fs, nperseg=int(fs * 2), axis=0)


def test_eeg_looks_like_eeg(rec):
    f, p = _psd(rec.eeg, rec.srate)
    rms = rec.eeg.std(axis=0)
    assert rec.eeg.shape == (int(60 * rec.srate), 32) and rec.eeg.dtype == np.float32
    assert 3 < np.median(rms) < 100  # tens of µV
    oz, fz = MONTAGE_32.index("Oz"), MONTAGE_32.index("Fz")
    alpha = (f >= 8) & (f <= 12)
    assert p[alpha, oz].mean() > 3 * p[alpha, fz].mean()  # posterior-dominant alpha
    line = np.argmin(np.abs(f - 50))
    assert p[line].mean() > 5 * p[(f > 46) & (f < 49)].mean()  # 50 Hz line noise
    low, high = p[(f > 2) & (f < 4)].mean(), p[(f > 32) & (f < 40)].mean()
    assert low > 10 * high  # 1/f-like fall-off


def test_blinks_are_frontal(rec):
    fp1, o1 = MONTAGE_32.index("Fp1"), MONTAGE_32.index("O1")
    slow = scipy.signal.sosfiltfilt(scipy.signal.butter(2, 4, fs=rec.srate, output="sos"), rec.eeg, axis=0)
    assert np.percentile(slow[:, fp1], 99.5) > 3 * np.percentile(np.abs(slow[:, o1]), 99.5)


def test_deterministic_and_independent_of_chunking():
    cfg = SimulatorConfig(seed=4, subject="sim02")
    a, _ = SessionSimulator(cfg).read_eeg(2000)
    sim = SessionSimulator(cfg)
    parts = [sim.read_eeg(n)[0] for n in (1, 7, 500, 1492)]
    np.testing.assert_array_equal(a, np.concatenate(parts))
    assert not np.array_equal(a, SessionSimulator(SimulatorConfig(seed=4, subject="sim03")).read_eeg(2000)[0])


def test_truth_and_markers(rec):
    assert np.abs(rec.valence).max() <= 1 and np.abs(rec.arousal).max() <= 1
    assert rec.valence.std() > 0.1 and rec.synthetic
    texts = [m for _, m in rec.markers]
    assert texts[0] == "rest_start" and texts[1].startswith("trial_start/stim_")
    starts = [t for t, m in rec.markers if m.startswith("trial_start/")]
    assert np.allclose(np.diff(starts), 25.0)  # rest 5 s + trial 20 s


def test_planted_pattern_shape_and_sites():
    p = planted_pattern()
    assert p["valence"].shape == p["arousal"].shape == (6, 32)
    alpha = 2
    assert p["valence"][alpha, MONTAGE_32.index("F3")] < 0 < p["valence"][alpha, MONTAGE_32.index("F4")]
    assert not p["valence"][0].any()  # delta carries no planted effect


def test_rendered_faces_are_detected_and_follow_valence():
    sim = SessionSimulator(SimulatorConfig(video_size=(240, 320)))
    detector = FaceDetector()
    times = np.linspace(0, 120, 40)
    found = [bool(detector.detect(sim.frame_at(t))) for t in times]
    assert np.mean(found) >= 0.95
    from affectstream.pipelines.synthetic.face_render import render_face

    happy, sad = render_face(0.9, 0.0, (240, 320)), render_face(-0.9, 0.0, (240, 320))
    assert np.abs(happy.astype(int) - sad.astype(int)).sum() > 0
