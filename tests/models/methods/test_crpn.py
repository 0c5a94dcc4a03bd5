"""CRPN in the trainer: the two pathways' shapes and frozen parts, the method's two losses on a batch (what learns
and what does not), the two controls by hand, every student arm seeded on its own and the comparison (one fold on
SYNTHETIC images), the recipe, and a tiny run on real FER+ images from the CLI (skipped without ../shared)."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch
from fixtures.fer_images import first_images

from affectstream.models.methods.crpn.losses import orthogonality_loss, weighted_supcon
from affectstream.models.methods.crpn.nets import ConceptualPathway, PerceptualPathway
from affectstream.models.methods.crpn.method import (ConceptLoss, CRPNConfig, CRPNStudentConfig, CRPNTeacherConfig,
                                                     HintonKD, PerceptLoss, ShuffledPerceptLoss)
from affectstream.models.training.image_loop import scheduled_lr


pytestmark = pytest.mark.usefixtures("one_torch_thread")


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


class _FixedTeacher(torch.nn.Module):
    """A stand-in for the frozen conceptual pathway whose ``emotion`` returns the given logits and features."""

    def __init__(self, logits: torch.Tensor, features: torch.Tensor) -> None:
        super().__init__()
        self.logits, self.features = logits, features

    def emotion(self, x):
        return self.logits, self.features, torch.ones(len(x))


def test_plain_kd_is_hintons_by_hand():
    teacher = _FixedTeacher(torch.tensor([[0.0, 2 * math.log(3.0)]]), torch.zeros(1, 4))
    student = torch.tensor([[0.0, 0.0]])
    out = type("Out", (), {"logits": student})()
    loss = HintonKD(teacher, temperature=2.0, weight=0.5).loss(out, torch.zeros(1, 1, 48, 48), torch.tensor([1]), 0.0,
                                                               CRPNStudentConfig(amp_bf16=False), torch.arange(1))
    # T = 2: the teacher's softmax(0, ln 3) = (1/4, 3/4), the student's (1/2, 1/2);
    # 0.5 * T^2 * KL = 2 * (1/4 log(1/2) + 3/4 log(3/2))
    assert loss.item() == pytest.approx(2 * (0.25 * math.log(0.5) + 0.75 * math.log(1.5)), rel=1e-5)


def test_the_shuffled_teacher_gives_every_sample_another_samples_view():
    n = 6
    logits, features = torch.arange(n * 8.0).reshape(n, 8), torch.arange(n * 4.0).reshape(n, 4)
    high, labels = torch.tensor([True, False] * 3), torch.arange(n) % 3
    args = (_FixedTeacher(logits, features), high, labels, features, labels, CRPNConfig())
    x, idx = torch.zeros(n, 1, 48, 48), torch.arange(n)
    plain = PerceptLoss(*args).teacher_view(x, idx, 0.5, False)
    shuffled = ShuffledPerceptLoss(*args, seed=0).teacher_view(x, idx, 0.5, False)
    perm = [int(row[0] // 8) for row in shuffled[0]]  # which sample's logits each row got
    assert sorted(perm) == list(range(n)) and all(p != i for i, p in enumerate(perm))
    for a, b in zip(plain, shuffled):  # logits, features, flags and labels move together
        assert torch.equal(b, a[perm])
    again = ShuffledPerceptLoss(*args, seed=0).teacher_view(x, idx, 0.5, False)
    assert torch.equal(again[0], shuffled[0])  # a function of (seed, step): the same on a resumed run
    later = [ShuffledPerceptLoss(*args, seed=0).teacher_view(x, idx, 0.5 + s / 10, False)[0] for s in range(1, 4)]
    assert any(not torch.equal(v, shuffled[0]) for v in later)  # a fresh permutation each step


def _tiny_fold(tmp_path, monkeypatch, **options):
    """One CRPN fold on SYNTHETIC FER-like images (random pixels, tests/fixtures) with tiny networks."""
    from affectstream.models.methods.crpn import method as crpn
    from affectstream.models.training.config import RunConfig, TrainConfig
    from affectstream.models.training.distributed import single_process
    from affectstream.models.training.method import Run
    from affectstream.models.training.protocols import Fold
    from fixtures.fer_images import synthetic_fer

    def hard(*args, **kwargs):  # majority labels, as CRPN trains on
        fer = synthetic_fer(n_train=64, n_valid=32, n_test=32)
        return dataclasses.replace(fer, targets=fer.train.votes.argmax(1))

    monkeypatch.setattr(crpn, "load_ferplus", hard)
    small = dict(epochs=1, batch_size=32, width_mult=0.125, amp_bf16=False, channels_last=False, eval_batch_size=64)
    opts = CRPNConfig(teacher=CRPNTeacherConfig(**small), student=CRPNStudentConfig(**small), dim=16, **options)
    run = Run(TrainConfig(method="crpn", options=opts, run=RunConfig(seed=0)), tmp_path, single_process(),
              "affectstream train tiny.toml", progress=False)
    return run, crpn.fold(run, None, Fold(0, (), (), ()))


def test_every_arm_seeded_on_its_own_and_the_comparison(tmp_path, monkeypatch):
    from affectstream.models.methods.crpn.method import summarise

    run, full = _tiny_fold(tmp_path / "a", monkeypatch)
    _, alone = _tiny_fold(tmp_path / "b", monkeypatch, controls=False)
    hashes = full["weights_sha256"]
    assert alone["weights_sha256"] == {k: hashes[k] for k in ("teacher", "no_kd", "crpn")}
    assert len({hashes[k] for k in ("no_kd", "crpn", "plain_kd", "shuffled_teacher")}) == 4
    summary, report = summarise(run, None, [full])
    c = summary["comparison"]
    assert set(c["controls"]) == {"plain_kd", "shuffled_teacher"} and c["same_optimizer"] is True
    assert c["teacher"]["whole"] == full["teacher"]["test"]["8way"]["accuracy"]
    assert c["by_metric"]["macro_f1"]["scores"]["method"] == full["crpn"]["test"]["8way"]["macro_f1"]
    # tiny epochs and batches, bodies x0.125: the released recipe otherwise
    assert summary["recipe"] == "project" and "teacher.epochs = 1 (paper: 100) [budget]" in summary["deviations"]
    assert "plain KD" in report and "shuffled" in report and "Recipe: project" in report


def test_recipe_is_the_papers_with_the_defaults():
    from affectstream.models.methods.crpn.method import recipe

    kind, deviations = recipe(CRPNConfig())
    assert kind == "paper" and all(d.endswith("[fixed]") for d in deviations)
    kind, deviations = recipe(CRPNConfig(student=CRPNStudentConfig(epochs=5)))
    assert kind == "paper" and deviations[0] == "student.epochs = 5 (paper: 40) [budget]"
    kind, deviations = recipe(CRPNConfig(concept_loss="mse"))
    assert kind == "project" and deviations[0] == "concept_loss = 'mse' (paper: 'mmd')"


@pytest.mark.slow
def test_tiny_crpn_run_on_real_ferplus_from_the_cli(tmp_path, shared_data, monkeypatch):
    from affectstream.app.cli.main import main
    from affectstream.models.methods.crpn import method as crpn

    monkeypatch.setattr(crpn, "load_ferplus", first_images(crpn.load_ferplus))  # real FER+ images, the first 256
    config = tmp_path / "cr.toml"
    # bf16 autocast is emulated (slow) on CPUs without native bf16: tests train in float32
    small = "epochs = 1\nlimit_train = 256\nbatch_size = 64\nwidth_mult = 0.25\namp_bf16 = false\n"
    config.write_text(f'method = "crpn"\n[run]\nname = "cr"\nout_dir = "runs"\n[data]\nkind = "ferplus"\n'
                      f"[crpn]\ndim = 32\n[crpn.teacher]\n{small}[crpn.student]\n{small}")
    report = tmp_path / "cr.json"
    assert main(["train", str(config), "--quiet", "--report", str(report)]) == 0
    summary = json.loads(report.read_text())
    assert summary["data"] == "real" and summary["method"] == "crpn"
    c = summary["comparison"]
    assert c["dataset"] == "FER+" and c["metric"] == "accuracy" and 0.0 <= c["p_value"] <= 1.0
    assert c["method_whole"] == pytest.approx(summary["crpn"]["test"]["8way"]["accuracy"])
    assert set(c["per_fold"]) == {"baseline", "method", "plain_kd", "shuffled_teacher", "teacher"}
    assert 200 < summary["crpn"]["valid"]["8way"]["n_majority"] <= 256  # the first 256 valid images with a majority
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
