"""Offline band-power features: filter equals MNE's, bands land where they should, frames align with labels,
and the cache hits, misses and stores no pickles."""

from __future__ import annotations

import numpy as np
import pytest

from affectstream.core.bandpower import WelchBandPower, WelchConfig
from affectstream.models.datasets.common import ContinuousLabels, Trial
from affectstream.models.datasets.features import (EXTRACTOR_VERSION, FeatureCache, FeatureConfig, bandpass,
                                                   compute_trial_features, design_bandpass, frame_starts)
from affectstream.core.montage import MONTAGE_32

SF = 256.0
ALPHA, DELTA, THETA = 2, 0, 1


def make_trial(seconds: float = 12.0, labels: bool = False, subject: int = 1, trial: int = 2) -> Trial:
    """10 Hz on O1/Oz, 20 Hz on Fz, noise on the rest; old names (T3, T5) and a non-EEG channel (EXG1)."""
    rng = np.random.default_rng(subject * 100 + trial)
    n = int(seconds * SF)
    t = np.arange(n) / SF
    names = ["O1", "Oz", "Fz", "T3", "T5", "Cz", "EXG1"]
    eeg = rng.standard_normal((len(names), n)) * 0.5
    eeg[0] += 20 * np.sin(2 * np.pi * 10 * t)
    eeg[1] += 20 * np.sin(2 * np.pi * 10 * t + 1.0)
    eeg[2] += 20 * np.sin(2 * np.pi * 20 * t)
    eeg[6] += 1e4  # ECG-like channel with an offset: must be dropped
    cont = None
    if labels:
        onset = 3.0
        n_lab = int((seconds - 6.0) * 4)
        cont = ContinuousLabels("valence", onset + np.arange(n_lab) / 4.0, np.zeros(n_lab, np.float32), 4.0)
    return Trial("synthetic", subject, trial, (eeg + 3000).astype(np.float32), SF, tuple(names), continuous=cont)


def test_bandpass_matches_mne_default_filter():
    mne_filter = pytest.importorskip("mne.filter")
    x = np.random.default_rng(0).standard_normal((2, 4096)) * 10 + 500
    ref = mne_filter.filter_data(x, SF, 0.3, 45.0, verbose=False)
    assert design_bandpass(SF).size == 2817
    np.testing.assert_allclose(bandpass(x, SF), ref, rtol=0, atol=1e-10 * np.abs(ref).max())


def test_alpha_sinusoid_lands_in_alpha_on_its_channels():
    tf = compute_trial_features(make_trial(), FeatureConfig())
    f = tf.features
    assert f.shape == (1 + int((12 - 2) / 0.25), 6, 32) and f.dtype == np.float32
    o1, oz, fz = MONTAGE_32.index("O1"), MONTAGE_32.index("Oz"), MONTAGE_32.index("Fz")
    assert (f[:, ALPHA, o1] > 0.9).all() and (f[:, ALPHA, oz] > 0.9).all()  # relative power
    # 20 Hz -> beta2 (18-30); the average reference leaks 1/6 of O1 + Oz's alpha into Fz (relative power ~0.1)
    assert (f[:, 4, fz] > 0.85).all() and (f[:, ALPHA, fz] < 0.15).all()
    own = compute_trial_features(make_trial(), FeatureConfig(average_reference=False)).features
    assert (own[:, 4, fz] > 0.95).all() and (own[:, ALPHA, fz] < 0.02).all()
    present = {MONTAGE_32[i] for i in np.flatnonzero(tf.present)}
    assert present == {"O1", "Oz", "Fz", "T7", "P7", "Cz"}  # T3/T5 renamed, EXG1 dropped
    assert np.isnan(f[:, :, ~tf.present]).all() and np.isfinite(f[:, :, tf.present]).all()
    np.testing.assert_allclose(f[:, :, tf.present].sum(axis=1), 1.0, atol=0.1)  # bands ~ cover the filtered power


def test_frames_equal_the_extractor_on_the_raw_windows():
    trial = make_trial(seconds=6.0)
    cfg = FeatureConfig(bandpass=False, average_reference=False, align="start", kind="log", batch_windows=3)
    f = compute_trial_features(trial, cfg).features
    cols = [MONTAGE_32.index(c) for c in ("O1", "Oz", "Fz", "T7", "P7", "Cz")]
    bp = WelchBandPower(WelchConfig(sfreq=SF, kind="log"))
    assert f.shape[0] == 17
    for i in (0, 7, 16):
        window = trial.eeg[:6, i * 64:i * 64 + 512]
        np.testing.assert_allclose(f[i][:, cols], bp(window), rtol=1e-5)


def test_frames_are_centred_on_labels_and_edges_clamped():
    trial = make_trial(seconds=12.0, labels=True)
    starts, times, n_clamped, mode = frame_starts(trial, FeatureConfig())
    assert mode == "labels" and starts.size == trial.continuous.values.size == 24 and n_clamped == 0
    np.testing.assert_allclose(times, trial.continuous.times)
    assert starts[0] == int(3.0 * SF) - 256  # window i = [t_i - 1 s, t_i + 1 s)
    early = Trial("synthetic", 1, 4, trial.eeg, SF, trial.ch_names,
                  continuous=ContinuousLabels("valence", np.arange(4) / 4.0, np.zeros(4, np.float32), 4.0))
    s2, _, n2, _ = frame_starts(early, FeatureConfig())
    assert s2.tolist() == [0, 0, 0, 0] and n2 == 4  # label 0 at t = 0 needs data from -1 s: shifted inside
    with pytest.raises(ValueError, match="no continuous labels"):
        frame_starts(make_trial(), FeatureConfig(align="labels"))


def test_band_edge_and_power_flags():
    t = np.arange(int(10 * SF)) / SF
    eeg = np.stack([10 * np.sin(2 * np.pi * 5 * t), np.random.default_rng(1).standard_normal(t.size)])
    trial = Trial("synthetic", 1, 6, eeg.astype(np.float32), SF, ("Cz", "Pz"))
    code = compute_trial_features(trial, FeatureConfig(average_reference=False)).features
    paper = compute_trial_features(trial, FeatureConfig(average_reference=False, band_edges="paper")).features
    cz = MONTAGE_32.index("Cz")
    assert paper[:, DELTA, cz].mean() > 5 * code[:, DELTA, cz].mean()  # 5 Hz is delta only in the paper bands
    assert code[:, THETA, cz].mean() > 0.8
    absolute = compute_trial_features(trial, FeatureConfig(average_reference=False, kind="absolute")).features
    log = compute_trial_features(trial, FeatureConfig(average_reference=False, kind="log")).features
    np.testing.assert_allclose(log, np.log10(absolute.astype(np.float64) + 1e-12), rtol=1e-4, equal_nan=True)


def test_cache_hits_identically_and_misses_on_any_change(tmp_path, monkeypatch):
    cache = FeatureCache(tmp_path)
    trials = [make_trial(seconds=8.0, labels=True, trial=k) for k in (2, 4)]
    cfg = FeatureConfig()
    first = cache.features_for(trials, cfg, progress=False)
    assert (cache.hits, cache.misses) == (0, 2)
    files = sorted(tmp_path.rglob("*.npz"))
    assert len(files) == 2
    with np.load(files[0], allow_pickle=False) as z:  # plain arrays, no pickle needed
        assert set(z.files) == {"features", "frame_times", "present", "n_clamped", "meta"}
    again = cache.features_for(trials, cfg, progress=False)
    assert (cache.hits, cache.misses) == (2, 2)
    for k in first:
        assert np.array_equal(first[k].features, again[k].features, equal_nan=True)
        assert np.array_equal(first[k].frame_times, again[k].frame_times)
        assert np.array_equal(first[k].present, again[k].present)
    # A different config or extractor version is a different key (a miss), never a stale hit.
    log_cfg = FeatureConfig(kind="log")
    assert cache.get("synthetic", trials[0].key, log_cfg) is None
    assert FeatureCache.key("synthetic", trials[0].key, cfg) != FeatureCache.key("synthetic", trials[0].key, log_cfg)
    assert FeatureCache.key("synthetic", trials[0].key, cfg) == FeatureCache.key(
        "synthetic", trials[0].key, FeatureConfig(batch_windows=7))  # batching does not change the numbers
    cache.load_or_compute(trials[0], log_cfg)
    assert cache.misses == 3 and len(list(tmp_path.rglob("*.npz"))) == 3
    monkeypatch.setattr("affectstream.models.datasets.features.EXTRACTOR_VERSION", EXTRACTOR_VERSION + "-next")
    assert cache.get("synthetic", trials[0].key, cfg) is None
    monkeypatch.undo()
    # A changed recording under the same key is recomputed; a corrupt file is a miss.
    longer = make_trial(seconds=9.0, labels=True, trial=2)
    assert cache.load_or_compute(longer, cfg).meta["n_samples"] == longer.n_samples and cache.misses == 4
    cache.path("synthetic", trials[1].key, cfg).write_bytes(b"not an npz")
    assert cache.get("synthetic", trials[1].key, cfg) is None
