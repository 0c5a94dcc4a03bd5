"""NeuroGaze-Distill: each distillation term against hand-computed values, and a tiny run of the whole method
(SYNTHETIC EEG teacher from the planted generator, real FER+ images from ../shared, skipped without them)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from affectstream.models.methods.neurogaze.losses import (METHODS_ANCHORS, dgeo_loss, dgeo_ramp, kd_loss, proto_kd_loss,
                                                          proto_targets)
from affectstream.models.nets.prototypes import PrototypeBank


def _identity_bank(tau: float = 0.9) -> PrototypeBank:
    """25 orthogonal prototypes (D = 25): cos(p_j, p_k) is 1 on the diagonal and 0 elsewhere."""
    return PrototypeBank(np.eye(25, dtype=np.float32), np.linspace(-0.8, 0.8, 5).astype(np.float32), tau=tau)


def test_kd_loss_modes_by_hand():
    s = torch.tensor([[1.0, 0.0]])
    t = torch.tensor([[0.0, 1.0]])
    ps = torch.softmax(s / 5.0, dim=1)
    pt = torch.softmax(t / 5.0, dim=1)
    assert kd_loss(s, t, "mse_prob", 5.0).item() == pytest.approx(float(((ps - pt) ** 2).mean()), rel=1e-6)
    assert kd_loss(s, t, "mse_logit").item() == pytest.approx(1.0)
    kl = float((pt * (pt.log() - ps.log())).sum()) * 25.0
    assert kd_loss(s, t, "kl", 5.0).item() == pytest.approx(kl, rel=1e-5)
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


def test_gaussian_and_teacher_mixed_targets():
    bank = _identity_bank()
    q = proto_targets(torch.tensor([3]), bank, METHODS_ANCHORS, "gaussian_grid", sigma=0.4)
    assert q.sum().item() == pytest.approx(1.0) and int(q.argmax()) == 1  # sadness (-0.8, -0.4): bin (0, 1)
    onehot = torch.zeros(1, 8)
    onehot[0, 1] = 1.0
    mixed = proto_targets(torch.tensor([0]), bank, METHODS_ANCHORS, "teacher_mix", teacher_probs=onehot)
    np.testing.assert_allclose(mixed.numpy(), proto_targets(torch.tensor([1]), bank, METHODS_ANCHORS).numpy(),
                               rtol=1e-6)  # the teacher says happiness, whatever the label
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


@pytest.mark.slow
def test_tiny_neurogaze_run(tmp_path, shared_data):
    from affectstream.app.cli.main import main
    from affectstream.pipelines.synthetic.planted_dataset import build_planted_xdf_dataset

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
limit_train = 384
batch_size = 64
dgeo_start = 0.0
dgeo_end = 1.0
""")
    assert main(["train", str(config), "--quiet"]) == 0
    folder = next((tmp_path / "runs").iterdir())
    metrics = json.loads((folder / "metrics.json").read_text())
    fold = metrics["folds"][0]
    assert fold["sizes"][1] == 2 and fold["sizes"][2] == 0  # one validation subject (2 trials), no test trials
    bank = PrototypeBank.load(folder / "folds" / "fold_00" / "prototypes.npz")
    assert bank.sha256() == fold["prototypes"]["sha256"] and int(bank.counts.sum()) == 2 * 48
    for split in ("valid", "test"):
        for protocol in ("8way", "present_only"):
            assert 0.0 <= fold["fer"][split][protocol]["accuracy"] <= 1.0
    assert fold["fer"]["valid"]["8way"]["n_majority"] > 3000  # the whole FER+ valid split was scored
    assert len(fold["student"]["history"]) == 1
    report = (folder / "report.md").read_text()
    assert "SYNTHETIC EEG" in report and "real FER+ images" in report
    assert main(["evaluate", str(folder), "--quiet"]) == 0
