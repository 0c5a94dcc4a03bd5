"""CMCRD's loss terms (docs/methods.md §5) against hand-computed values.

Also checks where the gradients must and must not go.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from affectstream.models.methods.cmcrd.losses import ContrastMemory, entropy_weights, gate, mcc_loss, weighted_nce


def test_entropy_weights_favour_a_confident_teacher_and_sum_to_b0():
    uniform = torch.zeros(4, 4)
    assert entropy_weights(uniform).tolist() == pytest.approx([1.0] * 4)  # all 1 + 1/4, normalised to 4
    assert entropy_weights(uniform, b0=32).sum().item() == pytest.approx(32.0)
    logits = torch.tensor([[20.0, 0.0], [0.0, 0.0]])  # confident, uncertain
    w = entropy_weights(logits)
    expected = torch.tensor([2.0, 1 + math.exp(-math.log(2))])  # H ~ 0 and H = ln 2
    assert w.tolist() == pytest.approx((2 * expected / expected.sum()).tolist(), rel=1e-3)


def test_mcc_is_zero_without_confusion_and_half_for_uniform_two_class_predictions():
    assert mcc_loss(torch.tensor([[100.0, -100.0], [-100.0, 100.0]])).item() == pytest.approx(0.0, abs=1e-6)
    # p = 0.5 everywhere: every entry of C equals, each column sums to 2 entries -> 0.5 each; off-diagonal 1, / 2
    assert mcc_loss(torch.zeros(6, 2)).item() == pytest.approx(0.5)


def test_weighted_nce_by_hand():
    p = torch.tensor([[0.5, 0.1, 0.2]])
    n_data = 10  # K = 2 negatives: noise K / n = 0.2
    by_hand = -(math.log(0.5 / 0.7) + math.log(0.2 / 0.3) + math.log(0.2 / 0.4))
    one = torch.ones(1)
    assert weighted_nce(p, one, one, n_data).item() == pytest.approx(by_hand, rel=1e-5)
    assert weighted_nce(p, one, -one, n_data).item() == pytest.approx(-by_hand, rel=1e-5)  # a wrong teacher
    doubled = -(math.log(1.0 / 1.2) + math.log(0.2 / 0.4) + math.log(0.2 / 0.6))
    assert weighted_nce(p, 2 * one, one, n_data).item() == pytest.approx(doubled, rel=1e-5)


def test_gating_stops_the_gradient_of_the_less_reliable_modality():
    y = torch.tensor([0, 0, 1])
    z_s = torch.tensor([[2.0, 0.0], [0.0, 2.0], [0.0, 2.0]])  # right, wrong, right
    z_t = torch.tensor([[0.0, 2.0], [2.0, 0.0], [0.0, 2.0]])  # wrong, right, right
    e_s = torch.randn(3, 4, requires_grad=True)
    e_t = torch.randn(3, 4, requires_grad=True)
    gs, gt, sign = gate(e_s, e_t, z_s, z_t, y)
    (gs * gt).sum().backward()
    assert e_s.grad[0].abs().sum() == 0 and e_s.grad[1].abs().sum() > 0  # student right, teacher wrong: stopped
    assert e_t.grad[1].abs().sum() == 0 and e_t.grad[0].abs().sum() > 0  # teacher right, student wrong: stopped
    assert e_s.grad[2].abs().sum() > 0 and e_t.grad[2].abs().sum() > 0  # both right: both learn
    assert sign.tolist() == [-1.0, 1.0, 1.0]
    # nobody right anywhere: the masks are inverted (every embedding is stopped, as in the released code)
    e_s.grad = None
    gs, _, sign = gate(e_s[:1], e_t[:1], z_t[:1], z_t[:1], torch.tensor([0]))
    gs.sum().backward()
    assert e_s.grad is None or e_s.grad.abs().sum() == 0
    assert sign.tolist() == [-1.0]


def test_memory_probabilities_update_and_gradients():
    torch.manual_seed(0)
    mem = ContrastMemory(feat_dim=8, n_data=20, tau=0.07, momentum=0.05)
    e_s = F.normalize(torch.randn(2, 8), dim=1).requires_grad_(True)
    e_t = F.normalize(torch.randn(2, 8), dim=1)
    idx = torch.tensor([3, 7])
    contrast = torch.tensor([[3, 1, 2], [7, 4, 5]])
    old_s = mem.memory_s[idx].clone()
    old_t_rows = mem.memory_t[contrast].clone()
    p_s, p_t = mem(e_s, e_t, idx, contrast)
    raw = torch.exp(torch.einsum("bkd,bd->bk", old_t_rows, e_s.detach()) / 0.07)
    z_s = raw.mean() * 20
    assert torch.allclose(p_s.detach(), raw / z_s, rtol=1e-5)
    assert torch.allclose(mem.memory_s[idx], F.normalize(0.05 * old_s + 0.95 * e_s.detach(), dim=1), atol=1e-6)
    z_first = mem.z.clone()
    mem(e_s.detach(), e_t, idx, contrast)
    assert torch.equal(mem.z, z_first)  # Z is set once
    p_s.sum().backward()
    assert e_s.grad is not None and e_s.grad.abs().sum() > 0  # the student's embedding learns from the bank
    assert not mem.memory_t.requires_grad  # the bank does not


def test_mlp_shapes():
    from affectstream.models.methods.cmcrd.method import MLP

    logits, feature = MLP(192, 3, hidden=16)(torch.randn(5, 192))
    assert logits.shape == (5, 3) and feature.shape == (5, 16)


@pytest.mark.slow
def test_tiny_cmcrd_run_from_the_cli(tmp_path):
    """Face teacher -> EEG student on a tiny SYNTHETIC planted set: the run trains, reports and re-scores."""
    import json

    from affectstream.app.cli.main import main
    from affectstream.pipelines.synthetic.planted_dataset import build_planted_xdf_dataset

    data = tmp_path / "planted"
    build_planted_xdf_dataset(data, n_subjects=3, n_trials=2, trial_s=12.0, rest_s=3.0, progress=False)
    config = tmp_path / "cm.toml"
    config.write_text(f"""method = "cmcrd"
[run]
name = "cm"
out_dir = "runs"
[data]
path = "{data}"
[protocol]
kind = "loso"
[cmcrd]
teacher_epochs = 2
student_epochs = 2
warmup_epochs = 1
nce_k = 20
""")
    report = tmp_path / "cm.json"
    assert main(["train", str(config), "--quiet", "--report", str(report)]) == 0
    summary = json.loads(report.read_text())
    assert summary["data"] == "synthetic" and summary["folds"] == 3 and summary["method"] == "cmcrd"
    for name in ("teacher", "no_kd", "cmcrd"):
        assert 0.0 <= summary[name]["balanced_accuracy_mean"] <= 1.0
    folder = next((tmp_path / "runs").iterdir())
    assert main(["evaluate", str(folder), "--quiet"]) == 0
