"""Emotion-EEG dataset loaders (docs/methods.md §7.1-§7.6) on tiny, format-faithful synthetic fixtures.

Each test writes a dataset in its distributed on-disk layout (tests/fixtures/*_files.py), loads it and
checks shapes, dtypes, channel names, sampling rates, labels, trial counts and a value round trip; and that a wrong
layout raises DatasetLayoutError naming the expected one.
"""

from __future__ import annotations

import inspect
import logging
import pickle
import shutil
from pathlib import Path

import mne
import numpy as np
import pytest
import scipy.io
from fixtures.deap_files import py2_pickle_dumps, write_deap
from fixtures.dreamer_files import write_dreamer
from fixtures.mahnob_files import write_mahnob
from fixtures.seed_files import write_seed, write_seed_iv, write_seed_v

from affectstream.models.datasets import common
from affectstream.models.datasets import deap
from affectstream.models.datasets import dreamer
from affectstream.models.datasets import mahnob
from affectstream.models.datasets import seed
from affectstream.models.datasets.common import DatasetLayoutError, Trial


def _check_common(tr: Trial, exp: dict, n_ch: int, sfreq: float) -> None:
    assert tr.eeg is not None and tr.eeg.dtype == np.float32 and tr.eeg.flags.c_contiguous
    assert tr.eeg.shape[0] == n_ch == len(tr.ch_names)
    assert tr.ch_names == tuple(exp["ch_names"])
    assert tr.sfreq == sfreq == exp["sfreq"]
    assert (tr.subject, tr.trial) == (exp["subject"], exp["trial"])
    assert tr.labels == exp["labels"]


# ------------------------------------------------------------------------------------------------ MAHNOB


@pytest.fixture(scope="module")
def mahnob_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("mahnob")
    return write_mahnob(root)


def test_mahnob_fixture_is_a_real_bdf(mahnob_root):
    bdf = mahnob_root.root / "Sessions" / "2" / "Part_1_S_Trial1_emotion.bdf"
    raw = mne.io.read_raw_bdf(bdf, verbose="error")
    assert len(raw.ch_names) == 47 and raw.ch_names[-1] == "Status" and raw.info["sfreq"] == 256.0
    assert raw.ch_names[:32] == list(mahnob.MAHNOB_EEG_CHANNELS)
    assert bdf.read_bytes()[:8] == b"\xffBIOSEMI"
    assert bdf.stat().st_size == 256 * 48 + 47 * 3 * raw.n_times
    m = scipy.io.loadmat(mahnob_root.root / "lable_continous_Mahnob.mat")
    assert m["trials_included"].shape == (4, 2) and np.squeeze(m["labels"]).shape == (4,)


def test_mahnob_loads_every_session(mahnob_root):
    trials = list(mahnob.load_mahnob(mahnob_root.root))
    assert [t.key for t in trials] == sorted(mahnob_root.trials, key=lambda k: int(k.split("sess")[1].split("/")[0]))
    assert len(trials) == 6
    for tr in trials:
        exp = mahnob_root.trials[tr.key]
        _check_common(tr, exp, 32, 256.0)
        assert tr.dataset == "mahnob" and tr.session == exp["session"]
        assert tr.eeg.shape == exp["eeg"].shape == (32, 8 * 256)
        np.testing.assert_allclose(tr.eeg, exp["eeg"], rtol=0, atol=1e-4)  # µV, after 24-bit quantisation
        assert tr.meta["stimulus_onset_s"] == 2.0 and tr.meta["stimulus_offset_s"] == 6.0
        assert tr.meta["bdf_trial"] == exp["bdf_trial"] and tr.meta["other_channels"][-1] == "Status"
        assert tr.video_path == exp["video"] and " C1 " in f" {tr.video_path.stem} ".replace("_", " ")
        assert tr.meta["gaze_tsv"].suffix == ".tsv"
        if exp["continuous"] is None:
            assert tr.continuous is None and not tr.meta["in_continuous_set"]
        else:
            c = tr.continuous
            assert c.name == "valence" and c.rate == 4.0 and c.values.dtype == np.float32
            np.testing.assert_allclose(c.values, exp["continuous"], atol=1e-6)
            np.testing.assert_allclose(c.times, 2.0 + np.arange(16) / 4.0)  # onset + i/4 on the EEG axis


def test_mahnob_options(mahnob_root):
    only = list(mahnob.load_mahnob(mahnob_root.root, continuous_only=True, subjects=["2"]))
    assert [(t.subject, t.trial) for t in only] == [(2, 2), (2, 4)]
    cropped = next(iter(mahnob.load_mahnob(mahnob_root.root / "Sessions", subjects=1, stimulus_only=True,
                                           continuous_labels=mahnob_root.root / "lable_continous_Mahnob.mat")))
    exp = mahnob_root.trials[cropped.key]
    assert cropped.eeg.shape == (32, 4 * 256)
    np.testing.assert_allclose(cropped.eeg, exp["eeg"][:, 512:1536], atol=1e-4)
    np.testing.assert_allclose(cropped.continuous.times, np.arange(16) / 4.0)
    none = list(mahnob.load_mahnob(mahnob_root.root, continuous_labels=False, subjects=[1]))
    assert len(none) == 3 and all(t.continuous is None for t in none)


def test_mahnob_wrong_layout(tmp_path, mahnob_root):
    with pytest.raises(DatasetLayoutError, match=r"expected <root>/Sessions/<sessionId>/session.xml") as e:
        mahnob.load_mahnob(tmp_path)
    assert "is empty" in str(e.value)
    bad = tmp_path / "flat"
    bad.mkdir()
    shutil.copy(mahnob_root.root / "Sessions" / "2" / "Part_1_S_Trial1_emotion.bdf", bad)
    with pytest.raises(DatasetLayoutError, match="Part_1_S_Trial1_emotion.bdf"):
        mahnob.load_mahnob(bad)
    (tmp_path / "Sessions" / "7").mkdir(parents=True)
    (tmp_path / "Sessions" / "7" / "session.xml").write_text("<sessions/>")
    with pytest.raises(DatasetLayoutError, match="root element <sessions>"):
        list(mahnob.load_mahnob(tmp_path))
    with pytest.raises(DatasetLayoutError, match="continuous_only=True needs lable_continous_Mahnob.mat"):
        mahnob.load_mahnob(tmp_path, continuous_only=True)


# -------------------------------------------------------------------------------------------------- DEAP


@pytest.fixture(scope="module")
def deap_root(tmp_path_factory):
    return write_deap(tmp_path_factory.mktemp("deap"))


def test_deap_loads_with_baseline_and_videos(deap_root, caplog):
    deap._warned_pickle = False
    with caplog.at_level(logging.WARNING):
        gen = deap.load_deap(deap_root.root)
        assert inspect.isgenerator(gen)
        trials = list(gen)
        list(deap.load_deap(deap_root.root, subjects="s01"))
    assert sum("pickles" in r.getMessage() for r in caplog.records) == 1  # warned once
    assert len(trials) == 6 and [t.key for t in trials] == list(deap_root.trials)
    for tr in trials:
        exp = deap_root.trials[tr.key]
        _check_common(tr, exp, 32, 128.0)
        assert tr.eeg.shape == (32, 8064) and tr.baseline is None
        assert tr.meta["baseline_s"] == 3.0 and tr.meta["baseline_samples"] == 384
        np.testing.assert_allclose(tr.eeg, exp["eeg"], rtol=1e-6, atol=1e-5)
        assert tr.meta["presentation_trial"] == exp["presentation_trial"]
        assert tr.video_path == exp["video"]  # named by presentation trial; s01 only
    assert deap.DEAP_EEG_CHANNELS[:4] == ("Fp1", "AF3", "F3", "F7") and len(set(deap.DEAP_EEG_CHANNELS)) == 32


def test_deap_drop_baseline_and_peripheral(deap_root):
    tr = next(iter(deap.load_deap(deap_root.root / "data_preprocessed_python", subjects=[2],
                                  drop_baseline=True, include_peripheral=True)))
    exp = deap_root.trials[tr.key]
    assert tr.eeg.shape == (32, 7680) and tr.baseline.shape == (32, 384) and tr.meta["baseline_s"] == 0.0
    np.testing.assert_allclose(tr.baseline, exp["eeg"][:, :384], rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(tr.eeg, exp["eeg"][:, 384:], rtol=1e-6, atol=1e-5)
    assert tr.meta["peripheral"].shape == (8, 7680) and tr.meta["peripheral_names"][0] == "hEOG"
    np.testing.assert_allclose(tr.meta["peripheral"], exp["peripheral"][:, 384:], rtol=1e-6, atol=1e-5)


def test_deap_protocol0_python2_pickle(tmp_path):
    w = write_deap(tmp_path, subjects=(5,), n_trials=2, n_seconds=4, protocol=0, face_video_subjects=())
    raw = (tmp_path / "data_preprocessed_python" / "s05.dat").read_bytes()
    assert raw.startswith(b"(dp0\nS'labels'") and b"cnumpy.core.multiarray\n_reconstruct\n" in raw
    with pytest.raises(UnicodeDecodeError):  # Python-2 str needs encoding="latin1"
        pickle.loads(raw)
    trials = list(deap.load_deap(tmp_path))
    assert [t.eeg.shape for t in trials] == [(32, 512)] * 2
    for tr in trials:
        np.testing.assert_allclose(tr.eeg, w.trials[tr.key]["eeg"], rtol=1e-6, atol=1e-5)
        assert tr.labels == w.trials[tr.key]["labels"]


def test_pickle_whitelist_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            import os

            return (os.getcwd, ())

    payload = pickle.dumps({"data": Evil(), "labels": np.zeros((1, 4))}, protocol=2)
    with pytest.raises(common.UnsafePickleError, match="getcwd"):
        common.restricted_unpickle(payload)
    d = tmp_path / "data_preprocessed_python"
    d.mkdir()
    (d / "s01.dat").write_bytes(payload)
    with pytest.raises(common.UnsafePickleError):
        list(deap.load_deap(tmp_path))
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    blobs = [pickle.dumps({"a": arr}, protocol=p) for p in (2, 4, 5)]
    blobs += [py2_pickle_dumps({"a": arr}, p) for p in (0, 2)]
    for blob in blobs:
        np.testing.assert_array_equal(common.restricted_unpickle(blob)["a"], arr)


def test_deap_wrong_layout(tmp_path):
    (tmp_path / "s1.dat").write_bytes(b"")
    with pytest.raises(DatasetLayoutError, match=r"expected <root>/data_preprocessed_python/s01.dat") as e:
        deap.load_deap(tmp_path)
    assert "s1.dat" in str(e.value)
    d = tmp_path / "data_preprocessed_python"
    d.mkdir()
    (d / "s01.dat").write_bytes(py2_pickle_dumps({"data": np.zeros((2, 32, 10)), "labels": np.zeros((2, 4))}))
    with pytest.raises(DatasetLayoutError, match=r"'data' has shape \(2, 32, 10\)"):
        list(deap.load_deap(tmp_path))


# ----------------------------------------------------------------------------------------------- DREAMER


@pytest.fixture(scope="module")
def dreamer_root(tmp_path_factory):
    return write_dreamer(tmp_path_factory.mktemp("dreamer"))


def test_dreamer_fixture_matches_reference_access_path(dreamer_root):
    m = scipy.io.loadmat(dreamer_root.root / "DREAMER.mat")
    top = m["DREAMER"][0, 0]
    clip = top["Data"][0, 1]["EEG"][0, 0]["stimuli"][0, 0][2, 0]
    assert clip.shape == (640, 14) and clip.dtype == np.float64
    assert top["Data"][0, 0]["EEG"][0, 0]["baseline"][0, 0].shape == (3, 1)
    assert top["Data"][0, 0]["ScoreValence"][0, 0].shape == (3, 1)
    assert top["EEG_SamplingRate"][0, 0] == 128 and top["EEG_Electrodes"].shape == (1, 14)
    np.testing.assert_array_equal(clip.T, dreamer_root.trials["dreamer/s02/t03"]["eeg"])


@pytest.mark.parametrize("squeeze_me", [False, True])
def test_dreamer_loads(dreamer_root, squeeze_me):
    trials = list(dreamer.load_dreamer(dreamer_root.root / "DREAMER.mat", squeeze_me=squeeze_me))
    assert [t.key for t in trials] == list(dreamer_root.trials)
    for tr in trials:
        exp = dreamer_root.trials[tr.key]
        _check_common(tr, exp, 14, 128.0)
        assert tr.eeg.shape == exp["eeg"].shape and tr.baseline.shape == (14, 256)
        np.testing.assert_allclose(tr.eeg, exp["eeg"], rtol=1e-6)
        np.testing.assert_allclose(tr.baseline, exp["baseline"], rtol=1e-6)
        assert all(isinstance(v, int) and 1 <= v <= 5 for v in tr.labels.values())
        assert (tr.meta["age"], tr.meta["gender"]) == (exp["age"], exp["gender"])
    sub = list(dreamer.load_dreamer(dreamer_root.root, subjects=[2], include_baseline=False))
    assert [t.subject for t in sub] == [2] * 3 and all(t.baseline is None for t in sub)


@pytest.mark.parametrize("squeeze_me", [False, True])
def test_dreamer_one_subject_one_clip(tmp_path, squeeze_me):
    """1x1 cells collapse under loadmat's wrappers / squeeze_me; the loader must still see one subject, one clip."""
    w = write_dreamer(tmp_path, n_subjects=1, n_trials=1)
    (tr,) = list(dreamer.load_dreamer(tmp_path, squeeze_me=squeeze_me))
    exp = w.trials["dreamer/s01/t01"]
    _check_common(tr, exp, 14, 128.0)
    np.testing.assert_allclose(tr.eeg, exp["eeg"], rtol=1e-6)


def test_dreamer_wrong_layout(tmp_path):
    with pytest.raises(DatasetLayoutError, match=r"expected <root>/DREAMER.mat holding the struct DREAMER"):
        dreamer.load_dreamer(tmp_path)
    scipy.io.savemat(tmp_path / "DREAMER.mat", {"dreamer": np.zeros(3)})
    with pytest.raises(DatasetLayoutError, match=r"holds variables \['dreamer'\]"):
        dreamer.load_dreamer(tmp_path)
    # a clip saved channels x samples (transposed) is refused, not silently mis-read
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = np.zeros((14, 300))
    subj = np.empty((1, 1), dtype=object)
    subj[0, 0] = {"EEG": {"stimuli": cell, "baseline": cell}, "ScoreValence": 1.0, "ScoreArousal": 1.0,
                  "ScoreDominance": 1.0}
    names = np.empty((1, 14), dtype=object)
    names[0, :] = list(dreamer.DREAMER_EEG_CHANNELS)
    scipy.io.savemat(tmp_path / "DREAMER.mat",
                     {"DREAMER": {"Data": subj, "EEG_SamplingRate": 128.0, "EEG_Electrodes": names}})
    with pytest.raises(DatasetLayoutError, match=r"shape \(14, 300\), expected \(samples, 14\)"):
        list(dreamer.load_dreamer(tmp_path))


# ------------------------------------------------------------------------------------------- SEED family


def test_seed_loads(tmp_path):
    w = write_seed(tmp_path)
    gen = seed.load_seed(tmp_path)
    assert inspect.isgenerator(gen)
    trials = list(gen)
    assert len(trials) == 12 and {t.key for t in trials} == set(w.trials)
    for tr in trials:
        exp = w.trials[tr.key]
        _check_common(tr, exp, 62, 200.0)
        assert tr.session == exp["session"] and tr.meta["date"] == exp["date"]
        assert tr.labels["emotion"] in (-1, 0, 1)
        np.testing.assert_allclose(tr.eeg, exp["eeg"], rtol=1e-6, atol=1e-5)
    assert len(seed.SEED_CHANNELS) == 62 == len(set(seed.SEED_CHANNELS))
    sub = list(seed.load_seed(tmp_path / "Preprocessed_EEG", subjects=[2], sessions=2))
    assert [(t.subject, t.session, t.trial) for t in sub] == [(2, 2, 1), (2, 2, 2), (2, 2, 3)]


def test_seed_iv_loads(tmp_path):
    w = write_seed_iv(tmp_path)
    trials = list(seed.load_seed_iv(tmp_path))
    assert len(trials) == 12 and {t.key for t in trials} == set(w.trials)
    for tr in trials:
        exp = w.trials[tr.key]
        _check_common(tr, exp, 62, 200.0)
        assert tr.labels["emotion"] == seed.SEED_IV_SESSION_LABELS[tr.session][tr.trial - 1]
        np.testing.assert_allclose(tr.eeg, exp["eeg"], rtol=1e-6, atol=1e-5)
    assert [len(v) for v in seed.SEED_IV_SESSION_LABELS.values()] == [24, 24, 24]
    assert {t.session for t in seed.load_seed_iv(tmp_path / "eeg_raw_data", sessions=[2])} == {2}


def test_seed_v_loads(tmp_path):
    w = write_seed_v(tmp_path)
    with np.load(tmp_path / "EEG_DE_features" / "1_123.npz", allow_pickle=False) as z:
        assert sorted(z.files) == ["data", "label"] and z["data"].dtype.kind == "S"
        assert sorted(pickle.loads(z["data"])) == [0, 1, 15, 16]  # the reference readers' access, verbatim
    trials = list(seed.load_seed_v(tmp_path))
    assert len(trials) == 8 and {t.key for t in trials} == set(w.trials)
    for tr in trials:
        exp = w.trials[tr.key]
        assert tr.eeg is None and tr.sfreq == 0.25 and tr.ch_names == seed.SEED_CHANNELS
        assert tr.labels == exp["labels"] and tr.session == exp["session"] and tr.trial == exp["trial"]
        f = tr.features
        assert f["eeg_de"].dtype == np.float32 and f["eeg_de"].shape[1] == 310 and f["eye"].shape[1] == 33
        np.testing.assert_allclose(f["eeg_de"], exp["eeg_de"], rtol=1e-6)
        np.testing.assert_allclose(f["eye"], exp["eye"], rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(tr.meta["window_labels"], exp["window_labels"])
    no_eye = next(iter(seed.load_seed_v(tmp_path / "EEG_DE_features", subjects=[2], sessions=[2], eye=False)))
    assert (no_eye.subject, no_eye.session, no_eye.trial) == (2, 2, 1) and "eye" not in no_eye.features


@pytest.mark.parametrize(
    ("loader", "pattern"),
    [
        (seed.load_seed, r"expected <root>/Preprocessed_EEG/<subject>_<yyyymmdd>.mat"),
        (seed.load_seed_iv, r"expected <root>/eeg_raw_data/\{1,2,3\}/<subject>_<yyyymmdd>.mat"),
        (seed.load_seed_v, r"expected <root>/EEG_DE_features/<subject>_123.npz"),
    ],
)
def test_seed_family_wrong_layout(tmp_path, loader, pattern):
    (tmp_path / "readme.txt").write_text("not a dataset")
    with pytest.raises(DatasetLayoutError, match=pattern) as e:
        loader(tmp_path)
    assert "readme.txt" in str(e.value)


def test_seed_bad_variable_shape(tmp_path):
    w = write_seed(tmp_path, subjects=(1,), n_sessions=1, n_trials=1)
    path = tmp_path / "Preprocessed_EEG" / "1_20131111.mat"
    assert path.is_file() and len(w.trials) == 1
    scipy.io.savemat(path, {"djc_eeg1": np.zeros((32, 10))})
    with pytest.raises(DatasetLayoutError, match=r"djc_eeg1 has shape \(32, 10\), expected \(62, T\)"):
        list(seed.load_seed(tmp_path))


def test_trial_validates_and_keys():
    with pytest.raises(ValueError, match="float32"):
        Trial("x", 1, 1, np.zeros((2, 3)), 100.0, ("a", "b"))
    with pytest.raises(ValueError, match="channel names"):
        Trial("x", 1, 1, np.zeros((2, 3), np.float32), 100.0, ("a",))
    t = Trial("seed", 3, 7, np.zeros((2, 300), np.float32), 100.0, ["a", "b"], session=2)
    assert t.key == "seed/s03/sess2/t07" and t.duration_s == 3.0 and t.ch_names == ("a", "b")
    assert common.subject_filter(["s03", 4, "7"]) == {3, 4, 7} and common.subject_filter(None) is None


def test_matlab_v73_is_reported(tmp_path):
    d = tmp_path / "Preprocessed_EEG"
    d.mkdir()
    (d / "label.mat").write_bytes(b"MATLAB 7.3 MAT-file, Platform: GLNXA64" + b"\0" * 200)
    with pytest.raises(DatasetLayoutError, match="v7.3"):
        seed.load_seed(tmp_path)


def test_models_do_not_import_app_layers():
    import ast

    for name in ("common", "mahnob", "deap", "dreamer", "seed"):
        src = (Path(common.__file__).parent / f"{name}.py").read_text()
        for node in ast.walk(ast.parse(src)):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(m.split(".")[0] in {"pipelines", "app", "calibration", "PySide6"} for m in mods), name
