"""A dataset copy as the trainer's trials: cropping, labels on [-1, 1], frames, signals on disk, replicas marked."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures.replicas import write_replica

from affectstream.models.datasets.common import DatasetLayoutError
from affectstream.models.datasets.deap import load_deap
from affectstream.models.datasets.features import FeatureCache, FeatureConfig
from affectstream.models.datasets.mahnob import load_mahnob
from affectstream.models.datasets.trainer_trials import load_trainer_trials, rating_to_unit


def _trials(kind, tmp_path, **kw):
    root = write_replica(kind, tmp_path / kind)
    return root, load_trainer_trials(kind, root, cache_dir=tmp_path / "cache", progress=False, **kw)


def test_deap_drops_the_baseline_and_maps_ratings_onto_the_unit_scale(tmp_path):
    root, trials = _trials("deap", tmp_path)
    raw = {t.key: t for t in load_deap(root)}
    assert len(trials) == 12 and all(t.meta["synthetic"] for t in trials)
    for t in trials:
        source = raw[t.key]
        assert t.n_samples == (13 - 3) * 128  # the 3 s pre-trial baseline is cut off
        np.testing.assert_array_equal(np.asarray(t.eeg), source.eeg[:, 384:])
        assert isinstance(t.eeg, np.memmap) and not t.eeg.flags.writeable  # held on disk, read-only
        np.testing.assert_allclose(t.continuous.values, (source.labels["valence"] - 5) / 4, rtol=1e-6)
        np.testing.assert_allclose(t.meta["arousal"], (source.labels["arousal"] - 5) / 4, rtol=1e-6)
        # one label per band-power frame: 2 s windows every 0.25 s over 10 s
        assert t.continuous.values.size == 1 + int((10 - 2) / 0.25)
        np.testing.assert_allclose(t.meta["video_times"], t.continuous.times + 3.0)  # the video starts at the baseline
    feats = FeatureCache(tmp_path / "feat").features_for(trials, FeatureConfig(), progress=False)
    assert all(len(feats[t.key].features) == t.continuous.values.size for t in trials)


def test_keeping_the_baseline_and_cropping_the_last_seconds(tmp_path):
    _, kept = _trials("deap", tmp_path, baseline="keep")
    assert kept[0].n_samples == 13 * 128
    _, cropped = _trials("deap", tmp_path / "b", crop_s=4.0)
    assert cropped[0].n_samples == 4 * 128 and cropped[0].continuous.values.size == 9


def test_mahnob_trials_are_the_clip_between_the_triggers_and_continuous_ones_keep_their_annotations(tmp_path):
    root, trials = _trials("mahnob", tmp_path)
    assert {t.n_samples for t in trials} == {8 * 256}
    _, continuous = _trials("mahnob_continuous", tmp_path / "c")
    raw = {(t.subject, t.trial): t for t in load_mahnob(root, continuous_labels=True, continuous_only=True)}
    assert len(continuous) == len(raw) == 9
    for t in continuous:
        source = raw[t.subject, t.trial]
        np.testing.assert_array_equal(t.continuous.values, source.continuous.values)
        assert t.n_samples == source.n_samples  # the whole recording: windows are centred on the labels
        assert t.meta["arousal"].shape == t.continuous.values.shape


def test_the_seed_family_gets_class_indices_and_seed_its_valence(tmp_path):
    _, seed = _trials("seed", tmp_path)
    for t in seed:
        code = t.labels["emotion"]
        assert np.all(t.meta["emotion"] == code + 1) and np.all(t.continuous.values == code)
    _, seed_iv = _trials("seed_iv", tmp_path / "iv")
    t = seed_iv[0]
    assert t.continuous is None and t.meta["class_names"] == ("neutral", "sad", "fear", "happy")
    n_frames = 1 + int((t.n_samples / 200 - 2) / 0.25)
    assert t.features["eye"].shape == (n_frames, 31)  # each frame takes its 4 s eye window
    np.testing.assert_array_equal(t.features["eye"][0], t.features["eye"][7])  # frame centres 1.0 and 2.75 s
    _, seed_v = _trials("seed_v", tmp_path / "v")
    assert all(t.eeg is None and t.features["eeg_de"].shape[1] == 310 for t in seed_v)
    assert all(len(t.meta["emotion"]) == len(t.features["eye"]) for t in seed_v)


def test_an_out_of_scale_rating_is_one_clear_error(tmp_path, monkeypatch):
    root = write_replica("dreamer", tmp_path / "dreamer")
    from affectstream.models.datasets import dataset_kinds

    spec = dataset_kinds.DATASET_KIND_SPECS["dreamer"]
    monkeypatch.setitem(dataset_kinds.DATASET_KIND_SPECS, "dreamer",
                        dataset_kinds.DatasetKind("dreamer", "DREAMER", spec.load, {"valence": (1.0, 2.0)}))
    with pytest.raises(DatasetLayoutError, match=r"valence rating .* outside DREAMER's scale 1-2"):
        load_trainer_trials("dreamer", root, cache_dir=tmp_path / "cache", progress=False)
    with pytest.raises(DatasetLayoutError, match="does not exist"):
        load_trainer_trials("dreamer", tmp_path / "nowhere", cache_dir=tmp_path / "cache", progress=False)


def test_a_changed_copy_misses_the_feature_cache(tmp_path):
    root, trials = _trials("dreamer", tmp_path)
    cache = FeatureCache(tmp_path / "feat")
    before = cache.features_for(trials, FeatureConfig(), progress=False)
    write_replica("dreamer", root, n_subjects=3)  # rewritten in place: new file time
    import scipy.io

    mat = scipy.io.loadmat(root / "DREAMER.mat")
    mat["DREAMER"][0, 0]["Data"][0, 0]["EEG"][0, 0]["stimuli"][0, 0][0, 0] *= 3.0
    scipy.io.savemat(root / "DREAMER.mat", {"DREAMER": mat["DREAMER"]})
    again = load_trainer_trials("dreamer", root, cache_dir=tmp_path / "cache", progress=False)
    after = cache.features_for(again, FeatureConfig(kind="absolute"), progress=False)
    absolute_before = cache.features_for(trials, FeatureConfig(kind="absolute"), progress=False)
    key = again[0].key
    assert cache.misses >= len(trials) and before[key].features.shape == after[key].features.shape
    assert not np.allclose(after[key].features, absolute_before[key].features, equal_nan=True)


def test_rating_to_unit():
    np.testing.assert_allclose(rating_to_unit([1, 3, 5], (1, 5)), [-1, 0, 1])
    np.testing.assert_allclose(rating_to_unit(7.0, (1, 9)), 0.5)
