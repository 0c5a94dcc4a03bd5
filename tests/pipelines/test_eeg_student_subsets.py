"""The EEG student's montage subsets (``[eeg_student] montage_subsets``, pipelines/eeg_student_training.py): seeded
draws per training recording, the live path on each subset, one version of each window per epoch, and a tiny
planted benchmark trained with them (SYNTHETIC data)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from affectstream.core.montage import MONTAGE_32
from affectstream.core.typed_config import ConfigError
from affectstream.models.training.loop import WindowSet
from affectstream.pipelines import eeg_student_training as est
from affectstream.pipelines.eeg_student_training import EEGStudentConfig, homologue, subset_draws


def _recording(labels, subject=1, trial=1):
    return SimpleNamespace(ch_names=tuple(labels), subject=subject, session=1, trial=trial)


def test_subset_draws_are_seeded_per_recording_and_within_the_sizes():
    rec = _recording(MONTAGE_32 + ("SampleCounter",))
    draws = subset_draws(rec, 20, (4, 16), seed=0, symmetric=False)
    assert len(draws) == 20
    for columns in draws:
        assert 4 <= len(columns) <= 16 and len(set(columns.tolist())) == len(columns)
        assert list(columns) == sorted(columns) and columns.max() < 32  # montage channels only, never the counter
    assert all(np.array_equal(a, b) for a, b in zip(draws, subset_draws(rec, 20, (4, 16), seed=0, symmetric=False)))
    for other in (subset_draws(rec, 20, (4, 16), seed=1, symmetric=False),
                  subset_draws(_recording(rec.ch_names, subject=2), 20, (4, 16), seed=0, symmetric=False)):
        assert any(not np.array_equal(a, b) for a, b in zip(draws, other))
    assert {len(c) for c in subset_draws(rec, 5, (6, 6), seed=0, symmetric=False)} == {6}


def test_symmetric_subsets_are_homologous_pairs_and_midline_sites():
    assert [homologue(x) for x in ("F3", "Fp2", "PO4", "T7", "Fz", "Oz")] == ["F4", "Fp1", "PO3", "T8", None, None]
    rec = _recording(MONTAGE_32)
    draws = subset_draws(rec, 50, (3, 16), seed=0)
    for columns in draws:
        labels = {MONTAGE_32[c] for c in columns}
        assert 3 <= len(labels) <= 17 and all(homologue(x) is None or homologue(x) in labels for x in labels)
    assert min(map(len, draws)) <= 4 and max(map(len, draws)) >= 16
    assert all(np.array_equal(a, b) for a, b in zip(draws, subset_draws(rec, 50, (3, 16), seed=0)))


def test_subsets_of_a_smaller_recording_come_from_its_montage_channels():
    labels = ("AUX", "Fp1", "Fp2", "F3", "F4", "TP9", "C3", "C4", "O1")  # AUX and TP9 are no montage channel
    for symmetric in (False, True):
        for columns in subset_draws(_recording(labels), 10, (3, 32), seed=0, symmetric=symmetric):
            assert 0 not in columns and 5 not in columns and 3 <= len(columns) <= 7


@pytest.mark.parametrize("options, message", [({"montage_subsets": -1}, "montage_subsets"),
                                              ({"subset_sizes": (2, 8)}, "subset_sizes"),
                                              ({"subset_sizes": (8, 4)}, "subset_sizes"),
                                              ({"subset_sizes": (4, 33)}, "subset_sizes"),
                                              ({"seed": -1}, "seed")])
def test_bad_subset_options_are_refused(options, message):
    with pytest.raises(ConfigError, match=message):
        EEGStudentConfig(**options)


def test_an_epoch_shows_every_window_once_in_one_of_its_versions():
    n, versions = 50, np.stack([np.full((50, 4, 3), k, np.float32) for k in range(3)])
    windows = WindowSet(versions[0], np.arange(n * 4, dtype=np.float32).reshape(n, 4))
    assert est._epoch_windows(windows, versions[:1], 0, 0) is windows  # no subsets: today's recipe
    epoch = est._epoch_windows(windows, versions, 0, 0)
    assert len(epoch) == n and epoch.y is windows.y
    picked = epoch.x[:, 0, 0]
    assert set(picked.tolist()) == {0.0, 1.0, 2.0} and (epoch.x == picked[:, None, None]).all()
    np.testing.assert_array_equal(est._epoch_windows(windows, versions, 0, 0).x, epoch.x)
    assert not np.array_equal(est._epoch_windows(windows, versions, 0, 1).x, epoch.x)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    from affectstream.pipelines.synthetic.planted_dataset import build_planted_xdf_dataset

    folder = tmp_path_factory.mktemp("planted")
    build_planted_xdf_dataset(folder, n_subjects=3, n_trials=2, trial_s=12.0, rest_s=3.0, progress=False)
    return folder


def _config(tmp_path, data, **options) -> str:
    table = "".join(f"{k} = {json.dumps(v)}\n" for k, v in options.items())
    path = tmp_path / "tiny.toml"
    path.write_text(f'method = "eeg_student"\n[run]\nname = "tiny"\nout_dir = "runs"\n[data]\npath = "{data}"\n'
                    'unit = "session"\n[protocol]\nkind = "holdout"\ntest_subjects = [3]\nval_fraction = 0.5\n'
                    f"[eeg_student]\n{table}[eeg_student.train]\nmax_epochs = 1\nbatch_size = 2\nwindow = 32\n"
                    "hop = 16\n")
    return str(path)


def _record_live_calls(monkeypatch) -> list:
    calls, live = [], est._live_features

    def recording(trial, columns=None):
        calls.append((trial.key, None if columns is None else tuple(columns)))
        return live(trial, columns)

    monkeypatch.setattr(est, "_live_features", recording)
    return calls


@pytest.mark.slow
def test_a_fast_dev_run_computes_the_subsets_of_the_training_recordings_only(tmp_path, planted, monkeypatch):
    from affectstream.models.training.runner import run_training

    calls = _record_live_calls(monkeypatch)
    folder = run_training(_config(tmp_path, planted, montage_subsets=2, subset_sizes=[3, 8]), est.training_methods(),
                          progress=False, fast_dev_run=True)
    metrics = json.loads((folder / "metrics.json").read_text())
    fold = metrics["folds"][0]
    assert metrics["fast_dev_run"] and len(fold["history"]) == 1
    subset_keys = [key for key, columns in calls if columns is not None]  # keys are xdf/sNN/sess1/t01
    assert len(fold["subjects"]["train"]) == 1 and len(subset_keys) == 2  # K = 2 for the one training recording
    assert {int(key.split("/")[1][1:]) for key in subset_keys} == set(fold["subjects"]["train"])
    assert len([key for key, columns in calls if columns is None]) == 3  # every recording's full montage
    assert all(3 <= len(columns) <= 9 for key, columns in calls if columns is not None)
    assert "2 random symmetric subsets of 3-8" in (folder / "report.md").read_text()
    assert not (tmp_path / "weights").exists()


@pytest.mark.slow
def test_the_export_says_what_montages_the_student_was_trained_on(tmp_path, planted, monkeypatch):
    from affectstream.models.training.runner import run_training

    calls = _record_live_calls(monkeypatch)
    run_training(_config(tmp_path, planted, export_to=str(tmp_path / "weights")), est.training_methods(),
                 progress=False)
    assert all(columns is None for _, columns in calls)  # montage_subsets = 0: today's recipe, no subsets
    entry = json.loads((tmp_path / "weights" / "manifest.json").read_text())["models"]["eeg_student"]
    assert entry["input"]["training_montages"] == "the full 32-channel montage"
    assert entry["training"]["config"]["montage_subsets"] == 0
