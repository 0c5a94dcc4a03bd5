"""NeuroGaze-Distill: each distillation term against hand-computed values, the paper's recipe as the defaults, the
shuffled prototype bank, every student arm seeded on its own and the comparison (one fold on SYNTHETIC EEG features
and SYNTHETIC images), and a tiny run of the whole method from the CLI (SYNTHETIC EEG teacher from the planted
generator, real FER+ images from ../shared, skipped without them)."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from fixtures.fer_images import first_images

from affectstream.models.methods.neurogaze.losses import (METHODS_ANCHORS, dgeo_loss, dgeo_ramp, kd_loss, proto_kd_loss,
                                                          proto_targets)
from affectstream.models.nets.prototypes import PrototypeBank


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _identity_bank(tau: float = 0.9) -> PrototypeBank:
    """25 orthogonal prototypes (D = 25): cos(p_j, p_k) is 1 on the diagonal and 0 elsewhere."""
    return PrototypeBank(np.eye(25, dtype=np.float32), np.linspace(-0.8, 0.8, 5).astype(np.float32), tau=tau)


def test_kd_loss_modes_by_hand():
    s = torch.tensor([[1.0, 0.0]])
    t = torch.tensor([[0.0, 1.0]])
    # T = 5: softmax(s / 5) = (sigmoid(0.2), sigmoid(-0.2)) = (0.549834, 0.450166), the teacher's the reverse, so each
    # probability differs by tanh(0.1) = 0.0996680: MSE = tanh(0.1)^2 = 0.00993371
    assert kd_loss(s, t, "mse_prob", 5.0).item() == pytest.approx(0.00993371, rel=1e-5)
    assert kd_loss(s, t, "mse_logit").item() == pytest.approx(1.0)  # (1 + 1) / 2
    # Hinton: T^2 KL(p_t || p_s) = 25 * (0.549834 - 0.450166) * log(0.549834 / 0.450166) = 25 * 0.0996680 * 0.2
    assert kd_loss(s, t, "kl", 5.0).item() == pytest.approx(0.498340, rel=1e-5)
    assert kd_loss(s, s, "mse_prob").item() == 0.0
    with pytest.raises(ValueError, match="kd mode"):
        kd_loss(s, t, "l1")


def test_class_anchor_target_is_the_softmax_of_the_anchor_prototype_cosines():
    bank = _identity_bank()
    q = proto_targets(torch.tensor([1]), bank, METHODS_ANCHORS, "class_anchor", tau=0.9)
    # happiness anchors at (0.8, 0.4): valence bin 4, arousal bin 3 -> flat index 23
    e = math.exp(1 / 0.9)
    expected = np.full(25, 1 / (e + 24))
    expected[23] = e / (e + 24)
    np.testing.assert_allclose(q[0].numpy(), expected, rtol=1e-6)
    # neutral (0, 0) is the centre bin 12
    assert int(proto_targets(torch.tensor([0]), bank, METHODS_ANCHORS)[0].argmax()) == 12


def test_gaussian_and_teacher_mixed_targets_by_hand():
    bank = _identity_bank()
    q = proto_targets(torch.tensor([3]), bank, METHODS_ANCHORS, "gaussian_grid", sigma=0.4).reshape(5, 5)
    # sadness (-0.8, -0.4) is grid point (0, 1); the grid's spacing is 0.4 = sigma, so bin (i, j) weighs
    # exp(-(i^2 + (j - 1)^2) / 2), and the normaliser is the product of the row and column sums
    rows = sum(math.exp(-i * i / 2) for i in range(5))
    cols = sum(math.exp(-(j - 1) ** 2 / 2) for j in range(5))
    assert q[0, 1].item() == pytest.approx(1 / (rows * cols), rel=1e-5)
    assert q[2, 3].item() == pytest.approx(math.exp(-4) / (rows * cols), rel=1e-5)
    # the teacher says half neutral (bin 12), half happiness (bin 23): each class-anchor target has
    # e / (e + 24) on its bin and 1 / (e + 24) elsewhere, e = exp(1 / 0.9)
    half = torch.zeros(1, 8)
    half[0, :2] = 0.5
    mixed = proto_targets(torch.tensor([5]), bank, METHODS_ANCHORS, "teacher_mix", teacher_probs=half)[0]
    e = math.exp(1 / 0.9)
    expected = np.full(25, 1 / (e + 24))
    expected[[12, 23]] = 0.5 * (e + 1) / (e + 24)
    np.testing.assert_allclose(mixed.numpy(), expected, rtol=1e-5)  # whatever the label (5, disgust)
    with pytest.raises(ValueError, match="teacher"):
        proto_targets(torch.tensor([0]), bank, METHODS_ANCHORS, "teacher_mix")


def test_proto_kd_is_zero_when_the_student_sits_on_the_target_prototype():
    bank = _identity_bank()
    q = proto_targets(torch.tensor([1]), bank, METHODS_ANCHORS, tau=0.9)
    on_target = torch.zeros(1, 25)
    on_target[0, 23] = 3.0  # any norm: cosine
    assert proto_kd_loss(on_target, bank, q, tau=0.9).item() == pytest.approx(0.0, abs=1e-6)
    elsewhere = torch.zeros(1, 25)
    elsewhere[0, 0] = 1.0
    # q_stu is q_pro with bins 0 and 23 swapped: KL = (q23 - q0) * log(q23 / q0) = (e - 1) / (e + 24) / tau
    e = math.exp(1 / 0.9)
    assert proto_kd_loss(elsewhere, bank, q, tau=0.9).item() == pytest.approx((e - 1) / (e + 24) / 0.9, rel=1e-5)


def test_dgeo_cap_and_margin_by_hand():
    # class 1 (positive): two unit vectors 90 degrees apart -> centroid at 45 degrees, 1 - cos = 1 - 0.7071
    # class 0: two identical vectors equal to one of class 1's -> centroid cosine with class 1's = 0.7071
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    y = torch.tensor([1, 1, 0, 0])
    var = 1 - math.cos(math.pi / 4)
    cap = max(0.0, var - 0.2)
    margin = max(0.0, math.cos(math.pi / 4) - (1 - 0.2))
    assert dgeo_loss(z, y, positive=[1], kappa=0.2, margin=0.2).item() == pytest.approx(cap + margin, abs=1e-6)
    assert dgeo_loss(z, y, positive=[1], kappa=0.5, margin=0.4).item() == pytest.approx(
        math.cos(math.pi / 4) - 0.6, abs=1e-6)  # cap inactive, margin active
    assert dgeo_loss(z[:1], y[:1], positive=[1]).item() == 0.0  # no class with two samples


def test_dgeo_ramp_is_the_late_cosine():
    assert [dgeo_ramp(e) for e in (0, 19.9, 20, 40, 60, 80)] == pytest.approx([0, 0, 0, 0.5, 1, 1])
    assert dgeo_ramp(25, hard_gate=0.2) == 0.0 and dgeo_ramp(35, hard_gate=0.2) > 0.2


def test_distillation_needs_its_teacher_and_bank():
    from affectstream.models.methods.neurogaze.distillation import Distillation, NeuroGazeStudentConfig

    cfg = NeuroGazeStudentConfig()
    with pytest.raises(ValueError, match="KD teacher"):
        Distillation(None, _identity_bank()).check(cfg)
    with pytest.raises(ValueError, match="prototype bank"):
        Distillation(lambda x: x, None).check(cfg)


def test_the_students_defaults_are_the_papers_recipe_and_budget():
    from affectstream.models.methods.neurogaze.arms import recipe
    from affectstream.models.methods.neurogaze.distillation import NeuroGazeStudentConfig

    cfg = NeuroGazeStudentConfig()
    # docs/methods.md §1.4-1.5 (the paper's summary and README): hard labels with inverse-frequency class weights and
    # label smoothing 0.055, lambda_kd 0.30 at T = 5, lambda_proto 0.12 at tau 0.9, lambda_geo 0.012 ramped over
    # epochs 20 -> 60, AdamW 2e-4 with weight decay 0.05, clipping at 1.0, batch 128, 100 epochs, macro-F1 selection
    paper = {"targets": "hard", "class_weights": "inverse_freq", "label_smoothing": 0.055, "kd_weight": 0.30,
             "kd_temperature": 5.0, "proto_weight": 0.12, "proto_tau": 0.9, "dgeo_weight": 0.012, "dgeo_start": 20.0,
             "dgeo_end": 60.0, "lr": 2e-4, "weight_decay": 0.05, "grad_clip": 1.0, "batch_size": 128, "epochs": 100,
             "select_metric": "macro_f1"}
    assert {k: getattr(cfg, k) for k in paper} == paper
    kind, deviations = recipe(cfg, "DREAMER")
    assert kind == "paper" and all(d.endswith("[fixed]") for d in deviations) and len(deviations) == 3
    # a shorter budget keeps the recipe; soft targets do not
    kind, deviations = recipe(dataclasses.replace(cfg, epochs=40, lr=2e-3), "DREAMER")
    assert kind == "paper" and deviations[:2] == ["student.epochs = 40 (paper: 100) [budget]",
                                                  "student.lr = 0.002 (paper: 0.0002) [budget]"]
    kind, deviations = recipe(dataclasses.replace(cfg, targets="soft"), "DREAMER")
    assert kind == "project" and deviations[0] == "student.targets = 'soft' (paper: 'hard')"


def test_the_shuffled_bank_moves_every_prototype_to_another_bin():
    from affectstream.models.methods.neurogaze.arms import shuffled_bank

    counts = np.arange(25).reshape(5, 5)
    bank = PrototypeBank(np.eye(25, dtype=np.float32), np.linspace(-0.8, 0.8, 5).astype(np.float32), counts)
    shuffled, perm = shuffled_bank(bank, seed=3)
    # bin k now holds one-hot perm[k] and its count
    np.testing.assert_array_equal(shuffled.prototypes.numpy(), np.eye(25, dtype=np.float32)[perm])
    np.testing.assert_array_equal(shuffled.counts.numpy().ravel(), perm)
    assert sorted(perm.tolist()) == list(range(25)) and not (perm == np.arange(25)).any()
    bin_, seen = 0, set()
    while bin_ not in seen:  # one cycle through all 25 bins
        seen.add(bin_)
        bin_ = int(perm[bin_])
    assert len(seen) == 25
    assert np.array_equal(shuffled_bank(bank, seed=3)[1], perm) and not np.array_equal(shuffled_bank(bank, 4)[1], perm)


def _tiny_fold(tmp_path, monkeypatch, **options):
    """One NeuroGaze fold on SYNTHETIC EEG features and SYNTHETIC FER-like images (random pixels, tests/fixtures),
    with the real frozen FER teacher of models/weights; returns the run and the fold's result."""
    from affectstream.core.feature_layout import N_FEATURES
    from affectstream.models.methods.neurogaze import method as ng
    from affectstream.models.methods.neurogaze.distillation import NeuroGazeStudentConfig
    from affectstream.models.training.config import RunConfig, TrainConfig
    from affectstream.models.training.distributed import single_process
    from affectstream.models.training.loop import OptimConfig
    from affectstream.models.training.method import Run
    from affectstream.models.training.protocols import Fold
    from fixtures.fer_images import synthetic_fer

    monkeypatch.setattr(ng, "load_ferplus", lambda *a, **k: synthetic_fer(n_train=64, n_valid=32, n_test=32))
    rng = np.random.default_rng(0)
    data = ng._Data({k: rng.standard_normal((40, N_FEATURES)).astype(np.float32) for k in range(4)},
                    {k: rng.uniform(-1, 1, (40, 2)).astype(np.float32) for k in range(4)}, synthetic=True)
    student = NeuroGazeStudentConfig(epochs=1, batch_size=32, width_mult=0.125, embedding_dim=16, amp_bf16=False,
                                     channels_last=False, dgeo_start=0.0, dgeo_end=1.0, eval_batch_size=64)
    opts = ng.NeuroGazeConfig(teacher=OptimConfig(max_epochs=1, batch_size=4, window=32, hop=16),
                              teacher_channels=(8, 16), student=student, **options)
    run = Run(TrainConfig(method="neurogaze", options=opts, run=RunConfig(seed=0)), tmp_path, single_process(),
              "affectstream train tiny.toml", progress=False)
    return run, data, ng.fold(run, data, Fold(0, (0, 1, 2), (3,), ()))


def test_every_arm_seeded_on_its_own_and_the_comparison(tmp_path, monkeypatch):
    from affectstream.models.methods.neurogaze.method import summarise

    run, data, full = _tiny_fold(tmp_path / "a", monkeypatch)
    _, _, alone = _tiny_fold(tmp_path / "b", monkeypatch, baseline=False)
    hashes = full["weights_sha256"]
    # the method's student (and the EEG teacher and bank before it) is the same with or without the other arms
    assert alone["weights_sha256"] == {k: hashes[k] for k in ("eeg_teacher", "visual_student")}
    assert alone["prototypes"]["sha256"] == full["prototypes"]["sha256"]
    students = [hashes[k] for k in ("visual_student", "visual_baseline", "visual_plain_kd", "visual_shuffled_teacher")]
    assert len(set(students)) == 4  # each arm's loss is its own
    assert set(full["controls"]) == {"plain_kd", "shuffled_teacher"} and "controls" not in alone
    assert full["controls"]["shuffled_teacher"]["prototypes_sha256"] != full["prototypes"]["sha256"]
    summary, report = summarise(run, data, [full])
    c = summary["comparison"]
    assert set(c["controls"]) == {"plain_kd", "shuffled_teacher"} and c["same_optimizer"] is True
    assert c["teacher"]["whole"] == full["fer_teacher"]["fer"]["test"]["8way"]["accuracy"]
    assert c["by_metric"]["macro_f1"]["scores"]["method"] == full["fer"]["test"]["8way"]["macro_f1"]
    assert c["recipe"] == summary["recipe"] == "project"  # batch 32 is not the recipe's 128
    assert any(d.startswith("student.epochs = 1 (paper: 100)") for d in c["deviations"])
    assert "plain KD" in report and "prototypes shuffled" in report and "Recipe: project" in report


@pytest.mark.slow
def test_tiny_neurogaze_run(tmp_path, shared_data, monkeypatch):
    from affectstream.app.cli.main import main
    from affectstream.models.methods.neurogaze import method as ng
    from affectstream.pipelines.synthetic.planted_dataset import build_planted_xdf_dataset

    monkeypatch.setattr(ng, "load_ferplus", first_images(ng.load_ferplus))  # real FER+ images, the first 256
    data = tmp_path / "planted"
    build_planted_xdf_dataset(data, n_subjects=3, n_trials=2, trial_s=12.0, rest_s=3.0, progress=False)
    config = tmp_path / "ng.toml"
    config.write_text(f"""method = "neurogaze"
[run]
name = "ng"
out_dir = "runs"
[data]
path = "{data}"
[protocol]
kind = "holdout"
val_fraction = 0.34
[neurogaze.teacher]
max_epochs = 2
[neurogaze.student]
epochs = 1
limit_train = 256
batch_size = 64
width_mult = 0.25
amp_bf16 = false
dgeo_start = 0.0
dgeo_end = 1.0
""")
    report = tmp_path / "ng.json"
    assert main(["train", str(config), "--quiet", "--report", str(report)]) == 0
    folder = next((tmp_path / "runs").iterdir())
    metrics = json.loads((folder / "metrics.json").read_text())
    fold = metrics["folds"][0]
    assert fold["sizes"][1] == 2 and fold["sizes"][2] == 0  # one validation subject (2 trials), no test trials
    bank = PrototypeBank.load(folder / "folds" / "fold_00" / "prototypes.npz")
    assert bank.sha256() == fold["prototypes"]["sha256"] and int(bank.counts.sum()) == 2 * 48
    for split in ("valid", "test"):
        for protocol in ("8way", "present_only"):
            assert 0.0 <= fold["fer"][split][protocol]["accuracy"] <= 1.0
    assert 200 < fold["fer"]["valid"]["8way"]["n_majority"] <= 256  # the first 256 images with a majority label
    assert len(fold["student"]["history"]) == 1
    summary = json.loads(report.read_text())
    c = summary["comparison"]
    assert set(c["per_fold"]) == {"baseline", "method", "plain_kd", "shuffled_teacher", "teacher"}
    assert c["method_whole"] == pytest.approx(fold["fer"]["test"]["8way"]["accuracy"])
    # the frozen FER teacher is the bundled 40-epoch student: on real FER+ it beats a 1-epoch student by far
    assert c["teacher"]["whole"] > 0.7 > c["method_whole"]
    assert summary["recipe"] == "project"  # batch 64
    text = (folder / "report.md").read_text()
    assert "SYNTHETIC EEG" in text and "real FER+ images" in text and "NeuroGaze minus each arm" in text
    assert main(["evaluate", str(folder), "--quiet"]) == 0
