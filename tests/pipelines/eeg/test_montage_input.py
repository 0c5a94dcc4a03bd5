"""A headset's channels onto the model montage: naming, pass-through, interpolation, flags, coverage."""

import math

import numpy as np
import pytest

from affectstream.core.interpolation import spline_weights
from affectstream.core.montage import MONTAGE_32
from affectstream.pipelines.config import MontageConfig, PipelineConfig
from affectstream.pipelines.eeg.montage_input import INTERPOLATED, MontageProjector, stream_labels, stream_mapping
from affectstream.pipelines.engine import AffectPipeline, EEGStreamSpec, StreamFormatError

CYTON = ("Fp1", "Fp2", "C3", "C4", "P7", "P8", "O1", "O2")


def test_channel_names_come_from_the_option_the_preset_or_the_stream():
    assert stream_labels(None, 8, MontageConfig(channels=CYTON)) == CYTON
    assert stream_labels(("1",) * 8, 8, MontageConfig(preset="openbci-cyton")) == CYTON
    assert stream_labels(("a", "b"), 2) == ("a", "b")
    with pytest.raises(ValueError, match="not both"):
        stream_labels(None, 8, MontageConfig(preset="openbci-cyton", channels=CYTON))
    with pytest.raises(ValueError, match="names 8 channels but the stream has 9"):
        stream_labels(None, 9, MontageConfig(channels=CYTON))


def test_unlabelled_streams_are_refused_with_the_options_named():
    with pytest.raises(ValueError, match="--channels.*--montage"):
        stream_mapping(None, 8)
    spec = EEGStreamSpec(sfreq=250.0, n_channels=8, labels=tuple(str(i) for i in range(1, 9)), name="obci")
    with pytest.raises(StreamFormatError, match="'obci'.*--channels"):
        AffectPipeline(spec, PipelineConfig(eeg_estimator="baseline"))


def test_a_full_montage_passes_through_untouched():
    projector = MontageProjector(stream_mapping(MONTAGE_32 + ("SampleCounter",), 33))
    x = np.random.default_rng(0).standard_normal((2, 32, 50))
    windows, valued = projector.project(x, np.ones((2, 32), dtype=bool))
    np.testing.assert_array_equal(windows, x)
    assert valued.all()


def test_missing_and_bad_channels_are_interpolated_and_flagged():
    mapping = stream_mapping(CYTON, 8)
    projector = MontageProjector(mapping)
    x = np.random.default_rng(1).standard_normal((3, 8, 40))
    good = np.ones((3, 8), dtype=bool)
    good[1, CYTON.index("C3")] = False  # one window with a bad electrode
    windows, valued = projector.project(x, good)
    assert valued.all()
    f3 = MONTAGE_32.index("F3")
    np.testing.assert_allclose(windows[0, f3], spline_weights(CYTON, ["F3"])[0] @ x[0])
    c3 = MONTAGE_32.index("C3")
    np.testing.assert_array_equal(windows[0, c3], x[0, CYTON.index("C3")])  # measured: passed through
    others = [lab for lab in CYTON if lab != "C3"]
    np.testing.assert_allclose(windows[1, c3], spline_weights(others, ["C3"])[0] @ np.delete(x[1], 2, axis=0))
    measured = projector.measured(good)
    assert measured.sum(axis=1).tolist() == [8, 7, 8]
    reasons = ("",) * 8
    flags = projector.bad_channels(reasons, valued[0])
    assert set(flags) == set(MONTAGE_32) - set(CYTON) and set(flags.values()) == {INTERPOLATED}


def test_too_few_good_electrodes_leave_the_channels_without_value():
    projector = MontageProjector(stream_mapping(("TP9", "AF7", "AF8", "TP10", "Right AUX"), 5))
    x = np.ones((1, 4, 10))
    windows, valued = projector.project(x, np.array([[True, False, False, True]]))
    assert not valued.any() and np.isnan(windows).all()
    assert set(projector.bad_channels(("", "flat", "flat", ""), valued[0]).values()) == {"missing", "flat"}


def test_a_muse_gives_estimates_with_a_confidence_that_says_how_little_is_measured():
    rng = np.random.default_rng(2)
    labels = ("TP9", "AF7", "AF8", "TP10", "Right AUX")
    pipe = AffectPipeline(EEGStreamSpec(sfreq=256.0, n_channels=5, labels=labels, name="muse"),
                          PipelineConfig(eeg_estimator="baseline"))
    x = 20 * rng.standard_normal((256 * 40, 5))
    results = pipe.push_eeg(x, np.arange(len(x)) / 256.0)
    last = results[-1]
    assert math.isclose(last.quality_eeg, 4 / 32)
    assert last.good.all() and not last.measured.any()
    assert math.isfinite(last.eeg.valence) and 0 < last.eeg.confidence <= 4 / 32 + 1e-9
    assert "Right AUX" in pipe.mapping.unused and "TP9" in pipe.mapping.describe()
