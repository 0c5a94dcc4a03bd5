"""The trainer's numeric keys are range-checked, with the key's full name (issue 20, item 9): values that would fill
the disk (a billion planted subjects), never end, or make no sense (a validation share of 2) are refused before
anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from affectstream.core.paths import REPO
from affectstream.models.training.config import ConfigError, load_train_config
from fixtures.hostile import one_line


@pytest.fixture(scope="module")
def methods() -> dict[str, type]:
    """Every method ``affectstream train`` offers (the built-in ones and the bundled EEG student's)."""
    from affectstream.pipelines.eeg_student_training import training_methods

    return {name: m.config_cls for name, m in training_methods().items()}


def _config(tmp_path: Path, body: str, method: str = "v2e_kd") -> Path:
    path = tmp_path / "c.toml"
    path.write_text(f'method = "{method}"\n{body}\n')
    return path


@pytest.mark.parametrize(("body", "key"), [
    ("[data.planted]\nn_subjects = 1000000000", "data.planted.n_subjects"),
    ("[data.planted]\ntrial_s = 1e12", "data.planted.trial_s"),
    ("[data.planted]\nn_trials = 0", "data.planted.n_trials"),
    ("[data.planted]\nface_size = 100000", "data.planted.face_size"),
    ("[protocol]\nval_fraction = 2", "protocol.val_fraction"),
    ("[protocol]\nval_fraction = -0.1", "protocol.val_fraction"),
    ("[protocol]\nn_folds = 1", "protocol.n_folds"),
    ("[protocol]\nmax_folds = -1", "protocol.max_folds"),
    ("[run]\nthreads = -2", "run.threads"),
    ("[run]\nseed = -1", "run.seed"),
    ("[data]\ncrop_s = -5", "data.crop_s"),
    ("[features]\nhop_s = 1e-9", "features.hop_s"),
    ("[features]\nsegment_overlap = 1", "features.segment_overlap"),
    ("[v2e_kd.teacher]\nbatch_size = 0", "v2e_kd.teacher.batch_size"),
    ("[v2e_kd.student]\nmax_epochs = 10000000", "v2e_kd.student.max_epochs"),
    ("[v2e_kd]\ndropout = 1.0", "v2e_kd.dropout"),
])
def test_out_of_range_trainer_values_name_the_key(tmp_path, methods, body, key):
    with pytest.raises(ConfigError, match=rf"{key.replace('.', '[.]')}: expected a number") as info:
        load_train_config(_config(tmp_path, body), methods)
    one_line(info.value)


@pytest.mark.parametrize(("method", "body", "key"), [
    ("cmcrd", "[cmcrd]\nbatch_size = -1", "cmcrd.batch_size"),
    ("cmcrd", "[cmcrd]\nstudent_epochs = 0", "cmcrd.student_epochs"),
    ("crpn", "[crpn.student]\nepochs = 0", "crpn.student.epochs"),
    ("neurogaze", "[neurogaze.student]\nerase_p = 1.5", "neurogaze.student.erase_p"),
    ("neurogaze", "[neurogaze.student]\nlabel_smoothing = 1", "neurogaze.student.label_smoothing"),
    ("cdgkd", "[cdgkd]\nsegment_frames = 0", "cdgkd.segment_frames"),
    ("eeg_student", "[eeg_student.train]\nbatch_size = 0", "eeg_student.train.batch_size"),
    ("ferplus_supervised", "[ferplus_supervised.student]\neval_batch_size = 0",
     "ferplus_supervised.student.eval_batch_size"),
])
def test_every_method_table_is_range_checked(tmp_path, methods, method, body, key):
    with pytest.raises(ConfigError, match=rf"{key.replace('.', '[.]')}: expected a number"):
        load_train_config(_config(tmp_path, body, method), methods)


def test_a_9000_subject_test_list_is_refused(tmp_path, methods):
    subjects = ", ".join(str(s) for s in range(9000))
    for section, key in (("protocol", "test_subjects"), ("data", "subjects")):
        with pytest.raises(ConfigError, match=rf"{section}[.]{key}: at most 1000 entries, got 9000") as info:
            load_train_config(_config(tmp_path, f"[{section}]\n{key} = [{subjects}]"), methods)
        one_line(info.value)


def test_a_planted_benchmark_too_large_for_a_disk_is_refused(tmp_path, methods):
    """Each key within its range, the product is not: 200 subjects x 500 trials x 1 h."""
    body = "[data]\ngenerate_planted = true\n[data.planted]\nn_subjects = 200\nn_trials = 500\ntrial_s = 3600"
    with pytest.raises(ConfigError, match=r"data[.]planted: .* h of SYNTHETIC recordings") as info:
        load_train_config(_config(tmp_path, body), methods)
    one_line(info.value)


def test_every_shipped_config_is_within_the_ranges(methods):
    paths = sorted((REPO / "models" / "configs").rglob("*.toml"))
    assert paths
    for path in paths:
        load_train_config(path, methods)
