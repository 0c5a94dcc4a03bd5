"""CDGKD's loss terms (docs/methods.md §3.3) against hand-computed values, its networks, and a tiny run from the CLI on
SYNTHETIC planted data (trains, reports, resumes to the same weights, re-scores exactly)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from affectstream.models.methods.cdgkd.losses import (batch_prototypes, dense_guidance_loss, prototype_ce_and_pace,
                                                      prototype_distances, rebalance_weights)
from affectstream.models.methods.cdgkd.nets import MultimodalGuide, UnimodalStudent
from affectstream.models.methods.cdgkd.method import CDGKDConfig, PMRTeacher, segments
from affectstream.models.nets.visual_student import count_parameters


def test_batch_prototypes_are_class_means_and_zero_for_an_absent_class():
    z = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0]])
    protos = batch_prototypes(z, torch.tensor([0, 0, 1]), 3)
    assert protos.tolist() == [[1.0, 0.0], [0.0, 4.0], [0.0, 0.0]]


def test_prototype_distances_by_hand():
    z, p = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert prototype_distances(z, p).tolist() == [[0.0, pytest.approx((1 + 4) / 2)]]  # mean squared difference
    assert prototype_distances(z, p, "cosine").tolist() == [[pytest.approx(0.0), pytest.approx(1.0)]]
    with pytest.raises(ValueError, match="distance"):
        prototype_distances(z, p, "manhattan")


def test_prototype_ce_and_pace_by_hand_and_gradient():
    z = torch.tensor([[0.0], [2.0]], requires_grad=True)  # one sample per class: each is its class's prototype
    pce, pace = prototype_ce_and_pace(z, torch.tensor([0, 1]), 2)
    right = 1 / (1 + math.exp(-4))  # distances 0 to its own prototype, (2 - 0)^2 = 4 to the other
    assert pce.item() == pytest.approx(-math.log(right), rel=1e-5)  # float32
    assert pace.item() == pytest.approx(2 * right, rel=1e-6)
    assert not pace.requires_grad  # the pace only steers the weights
    z2 = torch.tensor([[0.0], [1.0], [3.0]], requires_grad=True)  # class 0 = {0, 1}: its samples are pulled together
    pce2, _ = prototype_ce_and_pace(z2, torch.tensor([0, 0, 1]), 2)
    pce2.backward()
    assert z2.grad[0].item() < 0 < z2.grad[1].item()  # descent (-grad) moves 0 up and 1 down, to their mean 0.5


@pytest.mark.parametrize("paces, expected", [((1.0, 2.0), (1.0, 0.0)),  # rho 0.5: 1/rho - 1 = 1
                                             ((0.8, 1.0), (0.25, 0.0)),  # rho 0.8: 1.25 - 1
                                             ((1.0, 4.0), (1.0, 0.0)),  # 1/rho - 1 = 3, clipped to 1
                                             ((3.0, 2.0), (0.0, 0.5)),  # rho 1.5: the EEG lags
                                             ((2.0, 2.0), (0.0, 0.0))])
def test_rebalance_weights_boost_the_lagging_modality(paces, expected):
    assert rebalance_weights(*paces) == pytest.approx(expected)


def test_rebalance_weights_code_compat_is_inert_and_bad_paces_are_refused():
    assert rebalance_weights(1.0, 9.0, code_compat=True) == (0.0, 0.0)
    with pytest.raises(ValueError, match="positive"):
        rebalance_weights(0.0, 1.0)


def test_dense_guidance_kl_by_hand_in_both_directions():
    s = torch.zeros(1, 2, requires_grad=True)  # p_s = (1/2, 1/2)
    g = torch.tensor([[math.log(3.0), 0.0]], requires_grad=True)  # p_g = (3/4, 1/4) at T = 1
    keep = torch.tensor([True])
    code = dense_guidance_loss(s, [g], keep, temperature=1.0)
    assert code.item() == pytest.approx(0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25))  # KL(p_s || p_g)
    hinton = dense_guidance_loss(s, [g], keep, temperature=1.0, direction="hinton")
    assert hinton.item() == pytest.approx(0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5))
    # at T = 2 the logits are halved and Hinton's form is multiplied by T^2 = 4
    pg = torch.softmax(torch.tensor([math.log(3.0) / 2, 0.0]), 0).tolist()
    t2 = dense_guidance_loss(s, [g], keep, temperature=2.0, direction="hinton")
    assert t2.item() == pytest.approx(4 * sum(q * math.log(q / 0.5) for q in pg))
    code.backward()
    assert s.grad.abs().sum() > 0 and g.grad is None  # the guide is frozen


def test_dense_guidance_sums_only_the_kept_guides():
    torch.manual_seed(0)
    s = torch.randn(4, 2, requires_grad=True)
    g1, g2 = torch.randn(4, 2), torch.randn(4, 2)
    one = dense_guidance_loss(s, [g1], torch.tensor([True]))
    two = dense_guidance_loss(s, [g2], torch.tensor([True]))
    both = dense_guidance_loss(s, [g1, g2], torch.tensor([True, True]))
    assert both.item() == pytest.approx(one.item() + two.item())
    assert dense_guidance_loss(s, [g1, g2], torch.tensor([False, True])).item() == pytest.approx(two.item())
    none = dense_guidance_loss(s, [g1, g2], torch.tensor([False, False]))
    assert none.item() == 0.0 and none.requires_grad  # every guide dropped: a zero that still back-propagates
    with pytest.raises(ValueError, match="keep flags"):
        dense_guidance_loss(s, [g1], torch.tensor([True, False]))


def test_pmr_teacher_adds_the_lagging_modality_pce_and_resets_its_paces():
    torch.manual_seed(0)
    teacher = PMRTeacher(MultimodalGuide(8, 12, 2, (3,), 6, video_width=5)).eval()
    face, eeg, y = torch.randn(6, 4, 8), torch.randn(6, 4, 12), torch.tensor([0, 1, 0, 1, 0, 1])
    opts = CDGKDConfig(pmr_alpha=2.0)
    plain = teacher.loss(face, eeg, y, opts)  # weights start at 0: plain CE
    out = teacher.guide(face, eeg)
    assert plain.item() == pytest.approx(torch.nn.functional.cross_entropy(out.logits, y).item(), rel=1e-6)
    _, pace_v = prototype_ce_and_pace(out.video, y, 2)
    _, pace_e = prototype_ce_and_pace(out.eeg, y, 2)
    assert teacher.pace_sums.tolist() == pytest.approx([pace_v.item(), pace_e.item()])
    teacher.pace_sums.copy_(torch.tensor([3.0, 2.0], dtype=torch.float64))  # the face is ahead: rho = 1.5
    teacher.end_epoch(code_compat=False)
    assert teacher.weights.tolist() == [0.0, 0.5] and teacher.pace_sums.tolist() == [0.0, 0.0]
    boosted = teacher.loss(face, eeg, y, opts)
    pce_e, _ = prototype_ce_and_pace(out.eeg, y, 2)
    assert boosted.item() == pytest.approx(plain.item() + 2.0 * 0.5 * pce_e.item(), rel=1e-5)
    teacher.pace_sums.copy_(torch.tensor([3.0, 2.0], dtype=torch.float64))
    teacher.end_epoch(code_compat=True)  # the released code's constant pace: no rebalancing
    assert teacher.weights.tolist() == [0.0, 0.0]
    assert "weights" in teacher.state_dict() and "pace_sums" in teacher.state_dict()  # checkpointed with the model


def test_networks_shapes_and_the_chain_thins_the_eeg_branch():
    face, eeg = torch.randn(3, 16, 8), torch.randn(3, 16, 192)
    sizes = []
    for kernels, width in (((7, 5, 3), 64), ((7, 3), 48), ((7,), 32)):
        guide = MultimodalGuide(8, 192, 2, kernels, width)
        out = guide(face, eeg)
        assert out.logits.shape == (3, 2) and out.video.shape == (3, 32) and out.eeg.shape == (3, width)
        sizes.append(count_parameters(guide.eeg))
    assert sizes[0] > sizes[1] > sizes[2]
    assert UnimodalStudent("face", 8, 2)(face).shape == (3, 2)
    assert UnimodalStudent("eeg", 192, 2)(eeg).shape == (3, 2)
    with pytest.raises(ValueError, match="modality"):
        UnimodalStudent("gaze", 8, 2)


def test_segments_are_non_overlapping_and_drop_the_tail():
    x = np.arange(10)[:, None] * np.ones((1, 3))
    s = segments(x, 4)
    assert s.shape == (2, 4, 3) and s[1, 0, 0] == 4 and s[1, 3, 0] == 7


def test_a_partial_sub_table_keeps_the_methods_own_defaults(tmp_path):
    from affectstream.models.methods import BUILT_IN
    from affectstream.models.training.runner import load_config

    path = tmp_path / "c.toml"
    path.write_text('method = "cdgkd"\n[cdgkd.student]\nlr = 0.001\n')
    opts = load_config(path, BUILT_IN).options
    assert opts.student.lr == 0.001
    # the rest of the student's optimiser stays CDGKD's (AMSGrad, batch 128, no plateau decay), not OptimConfig's
    assert opts.student.amsgrad and opts.student.batch_size == 128 and not opts.student.reload_best_each_epoch
    assert opts.teacher.lr == 1e-4


@pytest.mark.slow
def test_tiny_cdgkd_run_from_the_cli_resumes_and_rescores(tmp_path):
    from affectstream.app.cli.main import main
    from affectstream.pipelines.synthetic.planted_dataset import build_planted_xdf_dataset

    data = tmp_path / "planted"
    build_planted_xdf_dataset(data, n_subjects=3, n_trials=2, trial_s=12.0, rest_s=3.0, progress=False)
    config = tmp_path / "cd.toml"
    config.write_text(f"""method = "cdgkd"
[run]
name = "cd"
out_dir = "runs"
[data]
path = "{data}"
[protocol]
kind = "loso"
[cdgkd]
segment_frames = 8
student_modality = "eeg"
[cdgkd.teacher]
lr = 1e-3
max_epochs = 4
[cdgkd.student]
lr = 1e-3
max_epochs = 3
""")
    report = tmp_path / "cd.json"
    assert main(["train", str(config), "--quiet", "--report", str(report)]) == 0
    summary = json.loads(report.read_text())
    assert summary["data"] == "synthetic" and summary["folds"] == 3 and summary["student_modality"] == "eeg"
    for name in ("teacher", "ta1", "ta2", "no_kd", "cdgkd"):
        assert 0.0 <= summary[name]["accuracy_mean"] <= 1.0
    c = summary["comparison"]
    assert (c["baseline"], c["method"], c["metric"]) == ("no_kd", "cdgkd", "accuracy")
    assert c["method_mean"] == pytest.approx(summary["cdgkd"]["accuracy_mean"])
    assert "SYNTHETIC DATA" in report.with_suffix(".md").read_text()

    folder = next((tmp_path / "runs").iterdir())
    last = folder / "folds" / "fold_02.json"
    recorded = json.loads(last.read_text())
    assert len(recorded["teacher"]["pmr_weights_last"]) == 2
    last.unlink()
    for ckpt in (folder / "folds" / "fold_02").glob("*.ckpt"):
        if ckpt.stem != "teacher":  # killed after the teacher: the chain is trained again from the checkpoints
            ckpt.unlink()
    assert main(["train", "--resume", str(folder), "--quiet"]) == 0
    again = json.loads(last.read_text())
    assert again["weights_sha256"] == recorded["weights_sha256"] and again["cdgkd"] == recorded["cdgkd"]
    assert main(["evaluate", str(folder), "--quiet"]) == 0
