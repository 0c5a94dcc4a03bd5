"""CMCRD (docs/methods.md §5): its loss terms against hand-worked values, where the gradients must and must not go,
and a fold's arms: one optimiser and schedule for every student, the teacher's own recipe, determinism, the controls
in the summary. The fold tests run on tiny random arrays (a few dozen rows, two epochs)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from affectstream.models.methods.cmcrd import training
from affectstream.models.methods.cmcrd.losses import ContrastMemory, entropy_weights, gate, mcc_loss, weighted_nce


@pytest.fixture
def one_thread():
    """Tiny tensors: one intra-op thread is much faster than several fighting over a loaded machine's cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_entropy_weights_favour_a_confident_teacher_and_sum_to_b0():
    uniform = torch.zeros(4, 4)
    assert entropy_weights(uniform).tolist() == pytest.approx([1.0] * 4)  # all 1 + 1/4, normalised to 4
    assert entropy_weights(uniform, b0=32).sum().item() == pytest.approx(32.0)
    logits = torch.tensor([[20.0, 0.0], [0.0, 0.0]])  # confident, uncertain
    w = entropy_weights(logits)
    expected = torch.tensor([2.0, 1 + math.exp(-math.log(2))])  # H ~ 0 and H = ln 2
    assert w.tolist() == pytest.approx((2 * expected / expected.sum()).tolist(), rel=1e-3)


# Two samples, two classes. Logits chosen so that softmax(z / 2.5) is (0.9, 0.1) and (0.2, 0.8): with a = p(class 0),
# C = sum_i w_i p_i p_i^T has C01 = C10 = S = sum w a (1 - a), column sums A = sum w a and B = sum w (1 - a), so
# L = (C01 / B + C10 / A) / 2 = S (1/A + 1/B) / 2.
_A = (0.9, 0.2)
_LOGITS = [[2.5 * math.log(9.0), 0.0], [2.5 * math.log(0.25), 0.0]]


def _hand_weights() -> list[float]:
    h = [0.32506297394697, 0.50038242385068]  # -(a ln(a + 1e-5) + (1 - a) ln(1 - a + 1e-5)) for a = 0.9, 0.2
    raw = [1 + math.exp(-x) for x in h]  # 1.72247, 1.60630
    return [2 * r / sum(raw) for r in raw]  # normalised to B0 = 2: 1.03490, 0.96510


def test_mcc_by_hand_on_two_samples_and_two_classes():
    w = _hand_weights()
    s = w[0] * 0.9 * 0.1 + w[1] * 0.2 * 0.8
    a, b = w[0] * 0.9 + w[1] * 0.2, w[0] * 0.1 + w[1] * 0.8
    assert mcc_loss(torch.tensor(_LOGITS, dtype=torch.float64)).item() == pytest.approx(s * (1 / a + 1 / b) / 2)
    assert s * (1 / a + 1 / b) / 2 == pytest.approx(0.25145, abs=1e-5)
    assert mcc_loss(torch.tensor([[100.0, -100.0], [-100.0, 100.0]])).item() == pytest.approx(0.0, abs=1e-6)


def test_mcc_gradient_does_not_flow_through_the_entropy_weights():
    logits = torch.tensor(_LOGITS, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(mcc_loss(logits), logits)
    w = _hand_weights()
    s = sum(wi * x * (1 - x) for wi, x in zip(w, _A))
    a, b = sum(wi * x for wi, x in zip(w, _A)), sum(wi * (1 - x) for wi, x in zip(w, _A))
    # dL/da_i with the weights held constant, times da_i/dz_i0 = a_i (1 - a_i) / 2.5 (and minus that for z_i1)
    fixed_w = [(wi * (1 - 2 * x) * (1 / a + 1 / b) + s * wi * (1 / b ** 2 - 1 / a ** 2)) / 2 * x * (1 - x) / 2.5
               for wi, x in zip(w, _A)]
    assert grad[:, 0].tolist() == pytest.approx(fixed_w, rel=1e-9)
    assert grad[:, 1].tolist() == pytest.approx([-g for g in fixed_w], rel=1e-9)
    # the derivative of the loss as a function (weights recomputed from the moved logits) is another number
    eps, through_w = 1e-6, []
    for i in range(2):
        up, down = logits.detach().clone(), logits.detach().clone()
        up[i, 0] += eps
        down[i, 0] -= eps
        through_w.append((mcc_loss(up) - mcc_loss(down)).item() / (2 * eps))
    assert all(abs(t - f) > 1e-4 for t, f in zip(through_w, fixed_w))


def test_weighted_nce_by_hand():
    p = torch.tensor([[0.5, 0.1, 0.2]])
    n_data = 10  # K = 2 negatives: noise K / n = 0.2
    by_hand = -(math.log(0.5 / 0.7) + math.log(0.2 / 0.3) + math.log(0.2 / 0.4))
    one = torch.ones(1)
    assert weighted_nce(p, one, one, n_data).item() == pytest.approx(by_hand, rel=1e-5)
    assert weighted_nce(p, one, -one, n_data).item() == pytest.approx(-by_hand, rel=1e-5)  # a wrong teacher


def test_weighted_nce_by_hand_on_two_samples_with_weights_and_signs():
    p = torch.tensor([[0.5, 0.1, 0.2], [0.3, 0.4, 0.05]])
    # noise K / n = 0.2; sample 0: weight 2, teacher right -> P = (1.0, 0.2, 0.4);
    # sample 1: weight 0.5, teacher wrong -> P = (0.15, 0.2, 0.025), its terms signed -1
    first = math.log(1.0 / 1.2) + math.log(0.2 / 0.4) + math.log(0.2 / 0.6)
    second = math.log(0.15 / 0.35) + math.log(0.2 / 0.4) + math.log(0.2 / 0.225)
    loss = weighted_nce(p, torch.tensor([2.0, 0.5]), torch.tensor([1.0, -1.0]), n_data=10)
    assert loss.item() == pytest.approx(-(first - second) / 2, rel=1e-5)


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


def test_memory_by_hand():
    mem = ContrastMemory(feat_dim=2, n_data=4, tau=1.0, momentum=0.5)
    bank = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    mem.memory_s.copy_(bank)
    mem.memory_t.copy_(bank)
    e_s = torch.tensor([[1.0, 0.0]], requires_grad=True)
    e_t = torch.tensor([[0.0, 1.0]])
    idx, contrast = torch.tensor([0]), torch.tensor([[0, 1, 2]])
    p_s, p_t = mem(e_s, e_t, idx, contrast)
    e = math.e  # student side: dots 1, 0, -1 with bank rows 0, 1, 2; Z = mean(exp) * n_data
    assert p_s.detach()[0].tolist() == pytest.approx([x / (4 * (e + 1 + 1 / e) / 3) for x in (e, 1, 1 / e)], rel=1e-6)
    assert p_t[0].tolist() == pytest.approx([x / (4 * (2 + e) / 3) for x in (1, e, 1)], rel=1e-6)  # dots 0, 1, 0
    p_s.sum().backward()  # before the batch's entries are written: the gradient is that of the bank it read
    z_s = 4 * (e + 1 + 1 / e) / 3  # d/de_s of sum_k exp(e_s . b_k) / Z = sum_k exp(e_s . b_k) b_k / Z
    assert e_s.grad[0].tolist() == pytest.approx([(e - 1 / e) / z_s, 1 / z_s], rel=1e-6)
    assert not mem.memory_t.requires_grad  # the bank does not learn by gradient
    assert torch.equal(mem.memory_s, bank)  # written when the next batch reads the bank
    mem.flush()
    assert mem.memory_s[0].tolist() == pytest.approx([1.0, 0.0])  # norm(0.5 (1, 0) + 0.5 (1, 0))
    assert mem.memory_t[0].tolist() == pytest.approx([2 ** -0.5, 2 ** -0.5])  # norm(0.5 (1, 0) + 0.5 (0, 1))
    z_first = mem.z.clone()
    p_s2, _ = mem(e_s.detach(), e_t, idx, contrast)
    assert torch.equal(mem.z, z_first)  # Z is set once
    # the second batch reads the first one's entry in the teacher's bank, (1, 1) / sqrt(2)
    assert p_s2[0, 0] == pytest.approx(math.exp(2 ** -0.5) / z_s, rel=1e-6)


@pytest.mark.parametrize("n_data", [40, 4000])  # a bank smaller than a batch's reads (one product) and larger
def test_the_scores_read_each_rows_own_bank_entries(n_data):
    torch.manual_seed(0)
    mem = ContrastMemory(feat_dim=8, n_data=n_data, tau=0.5)
    e_s, e_t = torch.randn(4, 8), torch.randn(4, 8)
    contrast = torch.randint(0, n_data, (4, 11))
    p_s, p_t = mem(e_s, e_t, torch.arange(4), contrast)
    z_s, z_t = mem.z.tolist()
    for b in range(4):  # one row at a time, each dot product on its own
        for k in range(11):
            j = int(contrast[b, k])
            assert float(p_s[b, k]) == pytest.approx(math.exp(float(e_s[b] @ mem.memory_t[j]) / 0.5) / z_s, rel=1e-5)
            assert float(p_t[b, k]) == pytest.approx(math.exp(float(e_t[b] @ mem.memory_s[j]) / 0.5) / z_t, rel=1e-5)


def test_warmup_cosine_by_hand():
    # 6 warm-up steps then a half cosine over 6 more
    assert [training.warmup_cosine(s, 6, 12) for s in (0, 2, 5)] == pytest.approx([1 / 6, 0.5, 1.0])
    assert [training.warmup_cosine(s, 6, 12) for s in (6, 9, 12)] == pytest.approx([1.0, 0.5, 0.0], abs=1e-12)


# -- a fold on tiny random data -------------------------------------------------------------------------------------

def _run(tmp_path, seed: int = 0, **options):
    from affectstream.models.methods.cmcrd.method import CMCRDConfig
    from affectstream.models.training.config import RunConfig, TrainConfig
    from affectstream.models.training.distributed import DistContext
    from affectstream.models.training.method import Run

    opts = dict(teacher_epochs=2, student_epochs=2, warmup_epochs=1, batch_size=8, nce_k=10, hidden=16, feat_dim=8)
    config = TrainConfig(method="cmcrd", options=CMCRDConfig(**{**opts, **options}), run=RunConfig(seed=seed))
    return Run(config=config, folder=tmp_path, ctx=DistContext(), command="pytest", progress=False)


def _data():
    """Five SYNTHETIC trials of 16 frames, 3 classes; the 'face' rows carry the class, the 'EEG' rows a little of it."""
    from affectstream.models.methods.cmcrd.method import _Data

    rng = np.random.default_rng(0)
    y = {k: rng.integers(0, 3, 16) for k in "abcde"}
    face = {k: (np.eye(3)[v] * 2 + rng.normal(0, 0.5, (16, 3))).astype(np.float32) for k, v in y.items()}
    eeg = {k: np.hstack([np.eye(3)[v] * 0.5, np.zeros((16, 3))]).astype(np.float32) + rng.normal(0, 1, (16, 6))
           .astype(np.float32) for k, v in y.items()}
    return _Data(eeg, face, y, synthetic=True)


def _fold(index: int = 0):
    from affectstream.models.training.protocols import Fold

    return Fold(index, train=("a", "b", "c"), val=("d",), test=("e",), protocol="loso")


def test_every_student_arm_has_the_students_optimizer_and_schedule(tmp_path, monkeypatch, one_thread):
    from affectstream.models.methods.cmcrd import method

    seen = []
    original = training.train_best

    def spy(model, opt, batch_loss, *args, **kwargs):
        rates: list[float] = []

        def logged(idx):
            rates.append(opt.param_groups[0]["lr"])
            return batch_loss(idx)

        seen.append((type(opt), dict(opt.defaults), rates, kwargs.get("patience", 0)))
        return original(model, opt, logged, *args, **kwargs)

    monkeypatch.setattr(training, "train_best", spy)
    method.fold(_run(tmp_path), _data(), _fold())
    (t_cls, t_def, t_rates, t_patience), *students = seen
    assert t_cls is torch.optim.SGD and t_def["lr"] == 1e-3 and t_def["momentum"] == 0.9 and t_patience == 10
    assert set(t_rates) == {1e-3}  # the teacher: no schedule
    assert len(students) == 4  # no_kd, cmcrd, plain_kd, shuffled_teacher
    for cls, defaults, rates, _ in students:
        assert cls is torch.optim.AdamW and defaults["lr"] == 1e-3 and defaults["weight_decay"] == 1e-3
        assert rates == students[0][2]
    # 48 training rows in batches of 8: 6 steps an epoch, 1 epoch of warm-up, 2 in all
    assert students[0][2] == pytest.approx([1e-3 * x for x in (1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1.0, 1.0,
                                                               0.9330127, 0.75, 0.5, 0.25, 0.0669873)])


def test_a_fold_is_deterministic_and_its_arms_differ(tmp_path, one_thread):
    from affectstream.models.methods.cmcrd import method

    data = _data()
    first = method.fold(_run(tmp_path / "1"), data, _fold())["weights_sha256"]
    again = method.fold(_run(tmp_path / "2"), data, _fold())["weights_sha256"]
    other = method.fold(_run(tmp_path / "3", seed=1), data, _fold())["weights_sha256"]
    assert set(first) == {"teacher", "no_kd", "cmcrd", "plain_kd", "shuffled_teacher"}
    assert first == again
    assert all(first[k] != other[k] for k in first)  # the seed matters, so the equality above is not vacuous
    assert len({first[k] for k in ("no_kd", "cmcrd", "plain_kd", "shuffled_teacher")}) == 4


def test_the_teachers_mcc_batch_comes_from_the_configured_partition(tmp_path, monkeypatch, one_thread):
    from affectstream.core.feature_norm import zscore_by_train
    from affectstream.models.methods.cmcrd import method
    from affectstream.models.training.loop import stack_trials

    data = _data()
    f_tr, f_va, f_te = zscore_by_train(*(stack_trials(data.face, k) for k in ("abc", "d", "e")))
    for source, rows in (("test", f_te), ("val", f_va), ("train", f_tr)):
        seen = []
        monkeypatch.setattr(method, "fit_teacher", lambda *a, **k: seen.append(a[3]) or training.fit_teacher(*a, **k))
        method.fold(_run(tmp_path / source, mcc_batch=source, student_epochs=1, nce_k=4), data, _fold())
        np.testing.assert_array_equal(seen[0], rows)


def test_the_teacher_learns_from_the_unlabelled_rows_only_through_mcc(one_thread):
    from affectstream.models.methods.cmcrd.method import MLP, CMCRDConfig
    from affectstream.models.training.method import weights_sha256

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)).astype(np.float32), rng.integers(0, 3, 40)
    val = (x[:8], y[:8])
    u1, u2 = rng.normal(size=(2, 20, 3)).astype(np.float32)

    def fitted(weight: float, unlabelled: np.ndarray) -> str:
        torch.manual_seed(0)
        teacher = MLP(3, 3, 8)
        opts = CMCRDConfig(mcc_weight=weight, teacher_epochs=1, batch_size=8, teacher_lr=0.1)
        training.fit_teacher(teacher, x, y, unlabelled, val, opts, seed=0)
        return weights_sha256(teacher)

    assert fitted(1.0, u1) != fitted(1.0, u2)
    assert fitted(0.0, u1) == fitted(0.0, u2)
    with pytest.raises(ValueError, match="mcc_batch"):
        fitted(1.0, u1[:1])


def test_the_summary_carries_the_controls_the_teacher_and_the_deviations(tmp_path, one_thread):
    from affectstream.models.methods.cmcrd import method

    run, data = _run(tmp_path, student_epochs=1, nce_k=4), _data()
    results = [method.fold(run, data, _fold(i)) for i in range(2)]
    summary, report = method.summarise(run, data, results)
    c = summary["comparison"]
    assert set(c["controls"]) == {"plain_kd", "shuffled_teacher"} and c["same_optimizer"] is True
    assert c["per_fold"]["plain_kd"] == [r["plain_kd"]["test"]["balanced_accuracy"] for r in results]
    assert c["teacher"]["mean"] == pytest.approx(np.mean([r["teacher"]["test"]["balanced_accuracy"] for r in results]))
    assert c["recipe"] == "project"  # a face teacher on valence bins is not the paper's task
    assert "teacher_modality = 'face' (paper: 'eye')" in c["deviations"]
    assert "student_epochs = 1 (paper: 40)" in c["deviations"]
    assert summary["transductive"] == ["the teacher's MCC term draws unlabelled batches of the test partition's "
                                       "teacher inputs"]
    assert "CRD (control: plain_kd)" in report and "shuffled across samples" in report


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
threads = 1
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
    for name in ("teacher", "no_kd", "cmcrd", "plain_kd", "shuffled_teacher"):
        assert 0.0 <= summary[name]["balanced_accuracy_mean"] <= 1.0
    assert set(summary["comparison"]["controls"]) == {"plain_kd", "shuffled_teacher"}
    folder = next((tmp_path / "runs").iterdir())
    assert main(["evaluate", str(folder), "--quiet"]) == 0
