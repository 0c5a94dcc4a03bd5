"""CRPN in the trainer: the two pathways' shapes and frozen parts, the method's two losses on a batch (what learns
and what does not), and a tiny run on real FER+ images from the CLI (skipped without ../shared)."""

from __future__ import annotations

import json

import pytest
import torch

from affectstream.models.methods.crpn.losses import orthogonality_loss, weighted_supcon
from affectstream.models.methods.crpn.nets import ConceptualPathway, PerceptualPathway
from affectstream.models.methods.crpn.method import (ConceptLoss, CRPNConfig, CRPNStudentConfig, CRPNTeacherConfig,
                                                     PerceptLoss)
from affectstream.models.training.image_loop import scheduled_lr


def test_pathway_shapes_and_the_frozen_non_emotion_encoder():
    torch.manual_seed(0)
    teacher = ConceptualPathway(1, 0.25, True, 8, dim=32)
    out = teacher(torch.randn(4, 1, 48, 48))
    assert out.logits.shape == (4, 8) and out.embedding.shape == (4, 32) and out.non_emotion.shape == (4, 32)
    assert out.alpha.shape == (4,) and bool(((out.alpha > 0) & (out.alpha < 1)).all())
    assert torch.allclose(out.embedding.norm(dim=1), torch.ones(4), atol=1e-5)
    # the non-emotion encoder starts as a copy of the emotion encoder and is fixed (the paper: all of it)
    for a, b in zip(teacher.emotion_body.parameters(), teacher.non_emotion_body.parameters()):
        assert torch.equal(a, b) and a.requires_grad and not b.requires_grad
    assert not any(p.requires_grad for p in teacher.non_emotion_head.parameters())
    code = ConceptualPathway(1, 0.25, True, 8, dim=32, classifier="mlp", non_emotion_heads_trainable=True)
    assert all(p.requires_grad for p in code.non_emotion_head.parameters())
    student = PerceptualPathway(1, 0.25, True, 8, dim=32)
    s = student(torch.randn(2, 1, 48, 48))
    assert s.logits.shape == (2, 8) and s.embedding.shape == (2, 32)
    with pytest.raises(ValueError, match="classifier"):
        ConceptualPathway(classifier="deep")


def test_confidence_scales_the_logits():
    torch.manual_seed(0)
    teacher = ConceptualPathway(1, 0.25, True, 8, dim=16).eval()
    x = torch.randn(3, 1, 48, 48)
    logits, f_emo, alpha = teacher.emotion(x)
    assert torch.allclose(logits, teacher.classifier(f_emo) * alpha[:, None])


def test_concept_loss_is_the_weighted_sum_of_its_terms_and_trains_only_the_emotion_side():
    torch.manual_seed(0)
    teacher = ConceptualPathway(1, 0.25, True, 8, dim=16)
    x, y = torch.randn(6, 1, 48, 48), torch.tensor([0, 1, 0, 1, 2, 2])
    out = teacher(x)
    opts = CRPNConfig(orth_weight=0.1, wce_weight=0.0, cc_weight=0.0)
    loss = ConceptLoss(opts).loss(out, x, y, 0.0, CRPNTeacherConfig(), torch.arange(6))
    assert loss.item() == pytest.approx(0.1 * orthogonality_loss(out.embedding, out.non_emotion).item(), rel=1e-6)
    only_cc = ConceptLoss(CRPNConfig(orth_weight=0.0, wce_weight=0.0, cc_weight=0.5)).loss(
        out, x, y, 0.0, CRPNTeacherConfig(), torch.arange(6))
    assert only_cc.item() == pytest.approx(0.5 * weighted_supcon(out.embedding, y).item(), rel=1e-6)
    ConceptLoss(CRPNConfig()).loss(out, x, y, 0.0, CRPNTeacherConfig(), torch.arange(6)).backward()
    assert teacher.emotion_body.stem[0].weight.grad.abs().sum() > 0 and teacher.confidence.weight.grad is not None
    assert all(p.grad is None for p in teacher.non_emotion_body.parameters())
    with pytest.raises(ValueError, match="hard labels"):
        ConceptLoss(CRPNConfig()).check(CRPNTeacherConfig(targets="soft"))
    with pytest.raises(ValueError, match="focal_alpha"):
        ConceptLoss(CRPNConfig(focal_alpha=(1.0, 2.0))).check(CRPNTeacherConfig())


def test_percept_loss_teaches_the_student_and_leaves_the_teacher_alone():
    torch.manual_seed(0)
    teacher = ConceptualPathway(1, 0.25, True, 8, dim=16)
    student = PerceptualPathway(1, 0.25, True, 8, dim=16)
    x, y = torch.randn(4, 1, 48, 48), torch.tensor([0, 0, 1, 1])
    high = torch.tensor([True, False, True, False])
    pool = torch.nn.functional.normalize(torch.randn(5, 16), dim=1)
    terms = PerceptLoss(teacher, high, y, pool, torch.tensor([0, 0, 1, 1, 1]), CRPNConfig())
    cfg = CRPNStudentConfig(amp_bf16=False)
    loss = terms.loss(student(x), x, y, 0.0, cfg, torch.arange(4))
    loss.backward()
    assert torch.isfinite(loss) and loss.item() > 0
    assert student.body.stem[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())  # the teacher ran without a graph
    assert not teacher.training  # and in eval mode (no dropout, BatchNorm statistics untouched)


def test_cyclic_cosine_is_crpns_per_batch_schedule():
    cfg = CRPNTeacherConfig(lr=1e-4, cosine_t_max=5)
    lrs = [scheduled_lr(step, 1000, 0, cfg) for step in range(11)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[5] == pytest.approx(0.0, abs=1e-12)
    assert lrs[10] == pytest.approx(1e-4) and lrs[2] == pytest.approx(lrs[8])  # period 2 * T_max = 10 steps


@pytest.mark.slow
def test_tiny_crpn_run_on_real_ferplus_from_the_cli(tmp_path, shared_data):
    from affectstream.app.cli.main import main

    config = tmp_path / "cr.toml"
    small = "epochs = 1\nlimit_train = 256\nbatch_size = 64\nwidth_mult = 0.25\n"
    config.write_text(f'method = "crpn"\n[run]\nname = "cr"\nout_dir = "runs"\n[data]\nkind = "ferplus"\n'
                      f"[crpn]\ndim = 32\n[crpn.teacher]\n{small}[crpn.student]\n{small}")
    report = tmp_path / "cr.json"
    assert main(["train", str(config), "--quiet", "--report", str(report)]) == 0
    summary = json.loads(report.read_text())
    assert summary["data"] == "real" and summary["method"] == "crpn"
    c = summary["comparison"]
    assert c["dataset"] == "FER+" and c["metric"] == "accuracy" and 0.0 <= c["p_value"] <= 1.0
    assert c["method_whole"] == pytest.approx(summary["crpn"]["test"]["8way"]["accuracy"])
    assert summary["crpn"]["valid"]["8way"]["n_majority"] > 3000  # the whole FER+ valid split was scored
    folder = next((tmp_path / "runs").iterdir())
    fold = json.loads((folder / "folds" / "fold_00.json").read_text())
    assert sum(fold["concepts"]["train_per_class"]) == 256 and 0 < fold["concepts"]["high_fraction"] <= 1
    assert len(fold["crpn"]["test"]["predictions"]) == len(fold["no_kd"]["test"]["predictions"])
    assert "Real data: FER+" in report.with_suffix(".md").read_text()
    assert main(["evaluate", str(folder), "--quiet"]) == 0


@pytest.mark.parametrize("method, kind", [("crpn", "xdf"), ("cdgkd", "ferplus")])
def test_a_method_on_the_wrong_kind_of_data_is_refused_in_one_line(tmp_path, capsys, method, kind):
    from affectstream.app.cli.main import main

    config = tmp_path / "c.toml"
    config.write_text(f'method = "{method}"\n[data]\nkind = "{kind}"\n')
    assert main(["train", str(config), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"method '{method}' trains on [data] kind" in err
