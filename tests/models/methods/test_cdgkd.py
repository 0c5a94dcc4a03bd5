"""CDGKD's loss terms (docs/methods.md §3.3) and its controls' losses against hand-computed values, its networks and
config checks, and a tiny run from the CLI on SYNTHETIC planted data (trains every arm, reports, gives the same weights
when run again, resumes to the same weights, re-scores exactly)."""

from __future__ import annotations

import json
import math
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from affectstream.core.paths import REPO
from affectstream.core.typed_config import ConfigError
from affectstream.models.methods.cdgkd.losses import (batch_prototypes, dense_guidance_loss, prototype_ce_and_pace,
                                                      prototype_distances, rebalance_weights)
from affectstream.models.methods.cdgkd.nets import MultimodalGuide, UnimodalStudent
from affectstream.models.methods.cdgkd.method import CDGKDConfig, PMRTeacher, _guided_loss, recipe, segments
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
    eeg_student = UnimodalStudent("eeg", 192, 2)
    assert eeg_student(eeg).shape == (3, 2)
    assert count_parameters(eeg_student.branch) <= sizes[2]  # by default no wider than TA-2: the chain keeps thinning
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
def test_tiny_cdgkd_run_from_the_cli_is_deterministic_resumes_and_rescores(tmp_path):
    from affectstream.app.cli.main import main
    from affectstream.pipelines.synthetic.planted_dataset import build_planted_xdf_dataset

    data = tmp_path / "planted"
    build_planted_xdf_dataset(data, n_subjects=3, n_trials=2, trial_s=12.0, rest_s=3.0, progress=False)
    config = tmp_path / "a" / "cd.toml"
    config.parent.mkdir()
    config.write_text(f"""method = "cdgkd"
[run]
name = "cd"
out_dir = "runs"
[data]
path = "{data}"
cache_dir = "../cache"
[protocol]
kind = "loso"
[cdgkd]
segment_frames = 8
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
    assert summary["data"] == "synthetic" and summary["folds"] == 3 and summary["student_modality"] == "face"
    for name in ("teacher", "ta1", "ta2", "no_kd", "cdgkd", "plain_kd", "shuffled_teacher"):
        assert 0.0 <= summary[name]["accuracy_mean"] <= 1.0
    c = summary["comparison"]
    assert (c["baseline"], c["method"], c["metric"]) == ("no_kd", "cdgkd", "accuracy")
    assert c["method_mean"] == pytest.approx(summary["cdgkd"]["accuracy_mean"])
    assert c["controls"]["plain_kd"]["mean"] == pytest.approx(summary["plain_kd"]["accuracy_mean"])
    assert c["controls"]["shuffled_teacher"]["mean"] == pytest.approx(summary["shuffled_teacher"]["accuracy_mean"])
    assert c["teacher"]["mean"] == pytest.approx(summary["teacher"]["accuracy_mean"]) and c["same_optimizer"]
    assert c["recipe"] == "project" and "student.max_epochs = 3 (paper: 100)" in c["deviations"]
    text = report.with_suffix(".md").read_text()
    assert "SYNTHETIC DATA" in text and "control: student + plain KD" in text

    folder = next((tmp_path / "a" / "runs").iterdir())
    # same seed, same config (copied elsewhere): the same weights for every model of every fold
    shutil.copytree(config.parent, tmp_path / "b", ignore=shutil.ignore_patterns("runs"))
    assert main(["train", str(tmp_path / "b" / "cd.toml"), "--quiet"]) == 0
    twin = next((tmp_path / "b" / "runs").iterdir())
    for index in range(3):
        a, b = (json.loads((f / "folds" / f"fold_{index:02d}.json").read_text())["weights_sha256"]
                for f in (folder, twin))
        assert a == b and len(a) == 7 and len(set(a.values())) == 7  # seven models, each trained its own way
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


def test_an_eeg_student_wider_than_the_assistants_is_refused():
    assert CDGKDConfig(student_modality="eeg").student_eeg_width == 32  # TA-2's width, TA-2's one kernel
    for wide in ({"student_eeg_width": 64}, {"student_eeg_kernels": (7, 5, 3)}, {"ta2_eeg_width": 16}):
        with pytest.raises(ConfigError, match="no wider than the teacher assistants"):
            CDGKDConfig(student_modality="eeg", **wide)
    CDGKDConfig(student_modality="face", student_eeg_width=64)  # the face student has no EEG branch to check


def test_a_wide_eeg_student_in_a_config_file_is_one_line_from_the_cli(tmp_path, capsys):
    from affectstream.app.cli.main import main

    config = tmp_path / "c.toml"
    config.write_text('method = "cdgkd"\n[cdgkd]\nstudent_modality = "eeg"\nstudent_eeg_width = 64\n')
    assert main(["train", str(config), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "student_eeg_width 64" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_the_planted_configs_use_the_papers_face_student_or_a_thin_eeg_one():
    from affectstream.models.methods import BUILT_IN
    from affectstream.models.training.runner import load_config

    paper = load_config(REPO / "models" / "configs" / "planted_cdgkd.toml", BUILT_IN).options
    assert paper.student_modality == "face"
    kind, deviations = recipe(paper)
    assert kind == "project" and "student.lr = 0.001 (paper: 1e-05)" in deviations
    assert not any(d.startswith("student_modality") for d in deviations)
    eeg = load_config(REPO / "models" / "configs" / "planted_cdgkd_eeg.toml", BUILT_IN).options
    assert eeg.student_modality == "eeg" and eeg.student_eeg_width <= min(eeg.ta1_eeg_width, eeg.ta2_eeg_width)
    assert "student_modality = 'eeg' (paper: 'face')" in recipe(eeg)[1]
    assert recipe(CDGKDConfig(target="arousal")) == ("paper", [])


def _logits_guide(face: torch.Tensor, eeg: torch.Tensor) -> SimpleNamespace:
    """A stand-in guide whose "face" input rows are its logits."""
    return SimpleNamespace(logits=face)


def test_plain_kd_is_hintons_kd_from_the_teacher_by_hand():
    # one sample of class 0; student logits (0, 0) -> p_s = (1/2, 1/2) at any T
    # teacher logits (2 ln 3, 0) at T = 2 -> (ln 3, 0) -> p_t = (3/4, 1/4)
    # CE = ln 2; Hinton: T^2 KL(p_t || p_s) = 4 (3/4 ln(3/2) + 1/4 ln(1/2))
    # loss = alpha CE + (1 - alpha) KD with alpha = 0.5
    student, teacher = torch.zeros(1, 2), torch.tensor([[2 * math.log(3.0), 0.0]])
    opts = CDGKDConfig(alpha=0.5, temperature=2.0, drop_rate=1.0)  # drop_rate is CDGKD's; Hinton's KD keeps its guide
    loss = _guided_loss(lambda x: x, torch.tensor([0]), y=torch.tensor([0]), inputs=(student,),
                        guide_inputs=(teacher, teacher), guides=[_logits_guide], opts=opts, hinton=True)
    kd = 4 * (0.75 * math.log(1.5) + 0.25 * math.log(0.5))
    assert loss.item() == pytest.approx(0.5 * math.log(2.0) + 0.5 * kd, rel=1e-6)


def test_the_shuffled_teacher_hands_each_sample_another_samples_guidance_by_hand():
    # T = 1, two samples of class 0, one guide, never dropped (drop_rate 0), code direction KL(p_s || p_g):
    # student s0 = (0, 0) -> (1/2, 1/2), s1 = (ln 3, 0) -> (3/4, 1/4); guide g0 = (ln 3, 0), g1 = (0, 0)
    # in place:  KL(s0 || g0) = 1/2 ln(2/3) + 1/2 ln(2) = 1/2 ln(4/3); KL(s1 || g1) = 3/4 ln(3/2) + 1/4 ln(1/2)
    # swapped:   KL(s0 || g1) = KL(s1 || g0) = 0
    # CE: (ln 2 - ln(3/4)) / 2 either way; loss = CE / 2 + KD / 2
    student = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])
    guide = torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0]])
    opts = CDGKDConfig(alpha=0.5, temperature=1.0, drop_rate=0.0)
    ce = (math.log(2.0) - math.log(0.75)) / 2
    in_place = (0.5 * math.log(4 / 3) + 0.75 * math.log(1.5) + 0.25 * math.log(0.5)) / 2
    kwargs = dict(y=torch.tensor([0, 0]), inputs=(student,), guide_inputs=(guide, guide),
                  guides=[_logits_guide], opts=opts)
    idx = torch.tensor([0, 1])
    assert _guided_loss(lambda x: x, idx, **kwargs).item() == pytest.approx(ce / 2 + in_place / 2, rel=1e-6)
    seen = set()
    for seed in range(8):
        swapped = torch.randperm(2, generator=torch.Generator().manual_seed(seed)).tolist() == [1, 0]
        loss = _guided_loss(lambda x: x, idx, **kwargs, shuffle=torch.Generator().manual_seed(seed)).item()
        assert loss == pytest.approx(ce / 2 + (0.0 if swapped else in_place) / 2, rel=1e-6, abs=1e-7)
        seen.add(swapped)
    assert seen == {True, False}
