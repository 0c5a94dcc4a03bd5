"""The atypical simulated subject (SYNTHETIC): affect planted on other bands and electrodes, with other signs, than
in the typical population the bundled student was trained on; every random draw that of its typical twin."""

from __future__ import annotations

import numpy as np
import pytest

from affectstream.pipelines.synthetic.sim_config import SimulatorConfig
from affectstream.pipelines.synthetic.simulator import SessionSimulator
from affectstream.pipelines.synthetic.subject import make_subject_params, planted_pattern


def test_the_atypical_pattern_shares_no_planted_feature_with_the_typical_one():
    typical, atypical = planted_pattern(), planted_pattern("atypical")
    for axis in ("valence", "arousal"):
        assert atypical[axis].shape == typical[axis].shape and atypical[axis].any()
        assert not (atypical[axis] * typical[axis] > 0).any()  # no (band, channel) moves the same way
        # as large as the typical pattern: calibration has as much to learn, only elsewhere
        assert np.abs(atypical[axis]).max() == pytest.approx(np.abs(typical[axis]).max())
    assert not atypical["valence"][2].any()  # no frontal alpha asymmetry: the baseline estimator's cue is gone
    with pytest.raises(ValueError, match="unknown subject kind"):
        planted_pattern("odd")


def test_an_atypical_subject_is_its_typical_twin_with_another_pattern():
    typical = make_subject_params(SimulatorConfig(seed=3, subject="s01"))
    atypical = make_subject_params(SimulatorConfig(seed=3, subject="s01", subject_kind="atypical"))
    assert atypical.valence_gain == typical.valence_gain and atypical.alpha_peak_hz == typical.alpha_peak_hz
    np.testing.assert_array_equal(atypical.rhythm_log_power, typical.rhythm_log_power)
    assert ((atypical.valence_weights != 0) == (planted_pattern("atypical")["valence"] != 0)).all()
    sim = SessionSimulator(SimulatorConfig(seed=3, subject="s01", subject_kind="atypical"))
    np.testing.assert_array_equal(sim.planted_pattern["arousal"], planted_pattern("atypical")["arousal"])
    twin = SessionSimulator(SimulatorConfig(seed=3, subject="s01"))
    np.testing.assert_array_equal(sim.truth_at(np.arange(0, 60.0, 0.5)), twin.truth_at(np.arange(0, 60.0, 0.5)))
    assert not np.array_equal(sim.read_eeg(2560)[0], twin.read_eeg(2560)[0])
    with pytest.raises(ValueError, match="subject_kind"):
        SimulatorConfig(subject_kind="odd")
