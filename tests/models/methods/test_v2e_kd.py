"""Visual-to-EEG KD (docs/methods.md §2): its KD terms and the student loss against numbers worked out by hand, the
shuffled-teacher control's permutation, the recipe it reports, and a tiny run on SYNTHETIC planted data that is the
same, weight for weight, when run twice with the same seed and config."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from affectstream.core.paths import REPO
from affectstream.models.methods import BUILT_IN
from affectstream.models.methods.v2e_kd.losses import feature_kd_loss, output_kd_loss
from affectstream.models.methods.v2e_kd.method import V2EKDConfig, _student_loss, recipe, shuffled_extra
from affectstream.models.training.loop import VALID, WindowSet, make_windows
from affectstream.models.training.runner import load_config

# one window of two steps with two features: student (1, 2), (3, 4); teacher (0, 0), (1, 1)
STUDENT = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
TEACHER = torch.tensor([[[0.0, 0.0], [1.0, 1.0]]])


def test_feature_kd_l1_by_hand():
    # |differences| 1, 2, 2, 3 -> mean over batch x steps x features = 8 / 4 = 2
    assert feature_kd_loss(STUDENT, TEACHER).item() == pytest.approx(2.0)
    # the second step is padding: (1 + 2) / 2 = 1.5
    assert feature_kd_loss(STUDENT, TEACHER, torch.tensor([[True, False]])).item() == pytest.approx(1.5)
    s = STUDENT.clone().requires_grad_(True)
    feature_kd_loss(s, TEACHER, torch.tensor([[True, False]])).backward()
    # d/ds of |s - t| / 2 is sign(s - t) / 2 on the valid step, 0 on the padding
    assert s.grad.tolist() == [[[0.5, 0.5], [0.0, 0.0]]]


def test_output_kd_mse_by_hand():
    student, teacher = torch.tensor([[1.0, 3.0]]), torch.tensor([[0.0, 0.0]])
    assert output_kd_loss(student, teacher).item() == pytest.approx((1 + 9) / 2)
    assert output_kd_loss(student, teacher, torch.tensor([[True, False]])).item() == pytest.approx(1.0)


@pytest.mark.parametrize("kd, expected", [
    # 1 - CCC([1, 2, 3], [1, 2, 4]) = 13/31 (worked out in tests/models/training/test_loss_hand.py);
    # features (1, 2), (3, 4), (7, 8) against (0, 0), (1, 1), (5, 6): |differences| 1, 2, 2, 3, 2, 2 -> L1 = 12/6 = 2
    ("features", 13 / 31 + 0.5 * 2.0),
    # prediction [1, 2, 3] against the teacher's [1, 2, 2]: squared errors 0, 0, 1 -> MSE 1/3
    ("output", 13 / 31 + 0.5 / 3),
])
def test_student_loss_adds_w_times_the_kd_term_by_hand(kd, expected):
    features = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [7.0, 8.0]]])
    net = lambda x: SimpleNamespace(valence=torch.tensor([[1.0, 2.0, 3.0]]), features=features)  # noqa: E731
    batch = (torch.zeros(1, 3, 4), torch.tensor([[1.0, 2.0, 4.0]]),
             {VALID: torch.ones(1, 3, dtype=torch.bool), "knowledge": torch.tensor([[[0.0, 0.0], [1.0, 1.0],
                                                                                     [5.0, 6.0]]]),
              "teacher_output": torch.tensor([[1.0, 2.0, 2.0]])})
    cpu = torch.device("cpu")
    assert _student_loss(net, batch, kd=kd, w=0.5, target="valence", device=cpu).item() == pytest.approx(expected)
    assert _student_loss(net, batch, kd=kd, w=0.0, target="valence", device=cpu).item() == pytest.approx(13 / 31)


def test_shuffled_teacher_permutes_the_knowledge_across_windows_only():
    seqs = [(np.full((6, 2), i, np.float32), np.full(6, i, np.float32), {"knowledge": np.full((6, 3), i, np.float32)})
            for i in range(8)]
    w = make_windows(seqs, window=6, hop=6)
    s = shuffled_extra(w, "knowledge", seed=3)
    assert s.x is w.x and s.y is w.y and s.extra[VALID] is w.extra[VALID]  # inputs, targets, padding stay
    own = w.extra["knowledge"][:, 0, 0]
    moved = s.extra["knowledge"][:, 0, 0]
    assert sorted(moved.tolist()) == sorted(own.tolist()) and bool((moved != own).all())  # no window keeps its own
    for n in (2, 3):  # even where a uniform permutation is often the identity
        few = shuffled_extra(make_windows(seqs[:n], window=6, hop=6), "knowledge", seed=0)
        assert bool((few.extra["knowledge"][:, 0, 0] != np.arange(n)).all())
    assert np.array_equal(shuffled_extra(w, "knowledge", seed=3).extra["knowledge"], s.extra["knowledge"])
    assert not np.array_equal(shuffled_extra(w, "knowledge", seed=4).extra["knowledge"], s.extra["knowledge"])
    assert isinstance(s, WindowSet) and "knowledge" in w.extra and np.array_equal(w.extra["knowledge"][:, 0, 0], own)


def test_defaults_are_the_papers_recipe_and_the_planted_config_lists_its_departures():
    paper = V2EKDConfig()
    assert paper.kd_weights == (0.2, 0.4, 0.6, 0.8, 1.0)  # the paper's selection grid (docs/methods.md §2.3)
    assert (paper.teacher.lr, paper.teacher.batch_size, paper.teacher.max_epochs) == (1e-5, 2, 30)
    assert (paper.student.lr, paper.student.batch_size, paper.student.max_epochs) == (1e-5, 2, 15)
    assert recipe(SimpleNamespace(options=paper, features=load_config(
        REPO / "models" / "configs" / "planted_v2e_kd.toml", BUILT_IN).features)) == ("paper", [])
    kind, deviations = recipe(load_config(REPO / "models" / "configs" / "planted_v2e_kd.toml", BUILT_IN))
    assert kind == "project"
    assert "student.lr = 0.001 (paper: 1e-05)" in deviations and "teacher.max_epochs = 15 (paper: 30)" in deviations
    assert not any(d.startswith("target") for d in deviations)


TINY = """method = "v2e_kd"
[run]
name = "tiny"
out_dir = "runs"
[data]
path = "{data}"
cache_dir = "../cache"
[protocol]
kind = "loso"
max_folds = 1
[v2e_kd]
kd_weights = [0.5, 1.0]
[v2e_kd.teacher]
lr = 1e-3
max_epochs = 2
[v2e_kd.student]
lr = 1e-3
max_epochs = 2
"""


@pytest.mark.slow
def test_tiny_run_has_the_controls_and_is_the_same_twice(tmp_path):
    from affectstream.app.cli.main import main
    from affectstream.pipelines.synthetic.planted_dataset import build_planted_xdf_dataset

    data = tmp_path / "planted"  # 12-s trials: 48 steps, every training window padded to 96
    build_planted_xdf_dataset(data, n_subjects=3, n_trials=2, trial_s=12.0, rest_s=3.0, progress=False)
    folders, report = [], tmp_path / "tiny.json"
    for where in ("a", "b"):  # the same config file in two folders (each run writes next to its config)
        config = tmp_path / where / "tiny.toml"
        config.parent.mkdir()
        config.write_text(TINY.format(data=data))
        assert main(["train", str(config), "--quiet", *(["--report", str(report)] if where == "a" else [])]) == 0
        folders.append(next((tmp_path / where / "runs").iterdir()))
    summary = json.loads(report.read_text())
    c = summary["comparison"]
    assert set(c["controls"]) == {"plain_kd", "shuffled_teacher"} and len(c["per_fold"]["teacher"]) == 1
    assert c["teacher"]["mean"] == pytest.approx(summary["teacher"]["ccc_mean"])
    assert c["recipe"] == "project" and "kd_weights = (0.5, 1.0) (paper: (0.2, 0.4, 0.6, 0.8, 1.0))" in c["deviations"]
    assert c["same_optimizer"] and all(math.isfinite(summary[k]["ccc_mean"]) for k in ("plain_kd", "shuffled_teacher"))
    text = report.with_suffix(".md").read_text()
    assert "control: plain KD" in text and "SYNTHETIC DATA" in text
    # same seed, same config: the same weights for every arm
    a, b = (json.loads((f / "folds" / "fold_00.json").read_text()) for f in folders)
    assert set(a["weights_sha256"]) == {"teacher", "no_kd", "kd_w0.5", "kd_w1", "plain_kd", "shuffled_teacher"}
    assert a["weights_sha256"] == b["weights_sha256"] and a["test"] == b["test"]
    assert len(set(a["weights_sha256"].values())) == 6  # and the arms did train differently
