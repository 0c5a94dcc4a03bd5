"""CMCRD in the trainer (docs/methods.md §5): a teacher on one modality distils into a student on another by contrastive
representation distillation, generalised from eye movements -> EEG to the modalities the trainer knows.

Here the teacher sees the face (the frozen FER+ student's 8 logits per frame) and the student the EEG (N_FEATURES band
powers per frame); the task is the paper's: classification, of the valence state into ``n_classes`` bins (negative /
neutral / positive for 3, edges at +-``neutral_band``). Per fold:

1. **Teacher** (MLP, docs/methods.md §5.2 ``DNN_Net``): CE (+ ``mcc_weight`` x MCC on the batch, §5.3: the paper adds
   it, the released code computes it unused -- a weight of 0 reproduces the code), SGD, selected on validation accuracy.
2. **Student without distillation**: the same MLP on the EEG with CE only.
3. **Student with CMCRD**: ``CE + crd_weight * (L_s + L_t)`` with the entropy weights, the gradient gating, the
   teacher-correctness sign and the two memory banks (:mod:`affectstream.models.methods.cmcrd.losses`), AdamW with
   warm-up then cosine.
4. **Scores** on the held-out subject: accuracy and balanced accuracy of both students (and the teacher).

Frames are samples (one per 0.25 s, as the 4-s windows of the paper are samples); features are z-scored with the
training statistics (docs/methods.md §8 #27 notes the code fits the test set separately; ``zscore = "train"`` is the
honest default, ``"separate"`` the code's).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from affectstream.models.methods.cmcrd.losses import (ContrastMemory, Embed, entropy_weights, gate, mcc_loss,
                                                      weighted_nce)
from affectstream.models.datasets.features import FeatureCache
from affectstream.models.training import fast_dev
from affectstream.models.training.evaluation import balanced_accuracy
from affectstream.core.feature_norm import zscore_by_train
from affectstream.models.training.protocols import Fold
from affectstream.models.training.compare import classification_report, fold_comparison, fold_scores
from affectstream.models.training.loop import index_batches, stack_trials
from affectstream.models.training.method import Method, Run

__all__ = ["CMCRDConfig", "METHOD", "MLP"]


@dataclass(frozen=True)
class CMCRDConfig:
    """Options of CMCRD (the ``[cmcrd]`` table)."""

    n_classes: int = 3
    neutral_band: float = 0.2  #: |valence| below this is the neutral class (3 classes)
    hidden: int = 128
    feat_dim: int = 128
    crd_weight: float = 0.02
    nce_k: int = 1000  #: negatives per sample (from the other classes)
    tau: float = 0.07
    momentum: float = 0.05
    mcc_weight: float = 1.0  #: the teacher's MCC term (0 = the released code, which computes it but does not use it)
    teacher_epochs: int = 20
    student_epochs: int = 20
    warmup_epochs: int = 5
    batch_size: int = 32
    lr: float = 1e-3
    zscore: Literal["train", "separate"] = "train"
    #: what the teacher sees: the face (the frozen FER+ student's logits per frame) or the eye-movement features a
    #: dataset ships (SEED-IV, SEED-V: the paper's EM -> EEG)
    teacher_modality: Literal["face", "eye"] = "face"
    #: valence bins, or the dataset's own emotion classes (the SEED family; n_classes must be their number)
    labels: Literal["valence", "emotion"] = "valence"


class MLP(nn.Module):
    """docs/methods.md §5.2 ``DNN_Net``: two blocks of Linear + BN + ReLU; the second block's output is the distilled
    feature.

    Shapes: ``(B, D_in) -> (logits (B, C), feature (B, hidden))``.
    """

    def __init__(self, d_in: int, n_classes: int, hidden: int = 128) -> None:
        super().__init__()

        def block(a: int, b: int) -> nn.Sequential:
            return nn.Sequential(nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU())

        self.block1 = nn.Sequential(block(d_in, hidden), block(hidden, hidden))
        self.block2 = nn.Sequential(block(hidden, hidden), block(hidden, hidden))
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.block2(self.block1(x))
        return self.head(f), f


@dataclass
class _Data:
    eeg: dict[str, np.ndarray]
    face: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    synthetic: bool


def _student_inputs(run: Run) -> dict[str, np.ndarray]:
    """The EEG student's input per frame: band power (missing channels 0), or, for a release that ships no signal
    (SEED-V), its differential-entropy features."""
    trials = run.trials
    if all(t.eeg is None for t in trials):
        return {t.key: np.asarray(t.features["eeg_de"], np.float32) for t in trials}
    config = run.config
    feats = FeatureCache(config.resolve(config.data.cache_dir) / "features").features_for(
        trials, config.features, progress=run.progress)
    return {k: np.nan_to_num(f.features.reshape(len(f.features), -1), nan=0.0).astype(np.float32)
            for k, f in feats.items()}


def _teacher_inputs(run: Run, modality: str) -> dict[str, np.ndarray]:
    if modality == "face":
        from affectstream.models.methods.v2e_kd.method import frame_features

        return frame_features(run, run.trials)
    missing = [t.key for t in run.trials if "eye" not in t.features]
    if missing:
        raise ValueError(f"{len(missing)} trials (e.g. {missing[0]}) have no eye-movement features: the eye teacher "
                         "needs a dataset that ships them (SEED-IV's eye_feature_smooth, SEED-V's "
                         "Eye_movement_features)")
    return {t.key: np.asarray(t.features["eye"], np.float32) for t in run.trials}


def _targets(run: Run, opts: CMCRDConfig) -> dict[str, np.ndarray]:
    if opts.labels == "emotion":
        names = {tuple(t.meta.get("class_names", ())) for t in run.trials}
        if len(names) != 1 or len(next(iter(names))) != opts.n_classes:
            raise ValueError(f"labels = 'emotion' needs trials with emotion classes, {opts.n_classes} of them "
                             f"(cmcrd.n_classes); the trials have {sorted(len(n) for n in names)}")
        return {t.key: np.asarray(t.meta["emotion"], np.int64) for t in run.trials}
    edges = np.array([-opts.neutral_band, opts.neutral_band]) if opts.n_classes == 3 else \
        np.linspace(-1, 1, opts.n_classes + 1)[1:-1]
    if any(t.continuous is None for t in run.trials):
        raise ValueError("the trials have no valence labels; classify their emotion classes with "
                         "--set cmcrd.labels=emotion")
    return {t.key: np.digitize(t.continuous.values, edges).astype(np.int64) for t in run.trials}


def prepare(run: Run) -> _Data:
    opts: CMCRDConfig = run.config.options
    return _Data(_student_inputs(run), _teacher_inputs(run, opts.teacher_modality), _targets(run, opts),
                 all(t.meta.get("synthetic", False) for t in run.trials))


def _accuracy(model: MLP, x: np.ndarray, y: np.ndarray, n_classes: int) -> dict[str, float]:
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(x))[0].argmax(1).numpy()
    return {"accuracy": float((pred == y).mean()), "balanced_accuracy": balanced_accuracy(y, pred, n_classes)}


def _train_best(model: MLP, opt: torch.optim.Optimizer, batch_loss: Callable[[np.ndarray], torch.Tensor], n: int,
                xv: np.ndarray, yv: np.ndarray, opts: CMCRDConfig, epochs: int, seed: int) -> dict:
    """The loop both students and the teacher share: seeded mini-batches of the ``n`` training rows, one optimiser
    step on ``batch_loss(rows)`` each, and the weights of the epoch with the best validation accuracy kept."""
    best, state = -1.0, None
    for epoch in range(fast_dev.epochs(epochs)):
        model.train()
        for idx in index_batches(n, opts.batch_size, seed, epoch):
            loss = batch_loss(idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
        score = _accuracy(model, xv, yv, opts.n_classes)["accuracy"]
        if score > best:
            best, state = score, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    return {"val_accuracy": best}


def _fit_ce(model: MLP, x: np.ndarray, y: np.ndarray, xv: np.ndarray, yv: np.ndarray, opts: CMCRDConfig,
            epochs: int, seed: int, mcc: float = 0.0) -> dict:
    """CE training (+ MCC for the teacher), SGD as the paper's teacher; best validation accuracy kept."""
    opt = torch.optim.SGD(model.parameters(), lr=opts.lr * 10, momentum=0.9)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def batch_loss(idx: np.ndarray) -> torch.Tensor:
        logits, _ = model(xt[idx])
        return F.cross_entropy(logits, yt[idx]) + (mcc * mcc_loss(logits) if mcc > 0 else 0.0)

    return _train_best(model, opt, batch_loss, len(x), xv, yv, opts, epochs, seed)


def _negatives(y: np.ndarray) -> list[np.ndarray]:
    """Per class: the training indices of the *other* classes (CRD's ``cls_negative``)."""
    return [np.flatnonzero(y != c) for c in range(int(y.max()) + 1)]


def _fit_cmcrd(student: MLP, teacher: MLP, xs: np.ndarray, xt_: np.ndarray, y: np.ndarray, xv: np.ndarray,
               yv: np.ndarray, opts: CMCRDConfig, seed: int) -> dict:
    embed_s, embed_t = Embed(opts.hidden, opts.feat_dim), Embed(opts.hidden, opts.feat_dim)
    memory = ContrastMemory(opts.feat_dim, len(y), opts.tau, opts.momentum)
    params = list(student.parameters()) + list(embed_s.parameters()) + list(embed_t.parameters())
    opt = torch.optim.AdamW(params, lr=opts.lr, weight_decay=1e-3)
    steps_per_epoch = max(1, math.ceil(len(y) / opts.batch_size))
    total, warm = steps_per_epoch * opts.student_epochs, steps_per_epoch * opts.warmup_epochs
    rng = np.random.default_rng(seed)
    pools = _negatives(y)
    t_x, s_x, y_t = torch.from_numpy(xt_), torch.from_numpy(xs), torch.from_numpy(y)
    teacher.eval()
    steps = itertools.count()

    def batch_loss(idx: np.ndarray) -> torch.Tensor:
        step = next(steps)
        lr = opts.lr * (step + 1) / warm if step < warm else \
            opts.lr * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))
        for g in opt.param_groups:
            g["lr"] = lr
        negs = np.stack([rng.choice(pools[c], opts.nce_k, replace=len(pools[c]) < opts.nce_k) for c in y[idx]])
        contrast = torch.from_numpy(np.column_stack([idx, negs]))
        z_s, f_s = student(s_x[idx])
        with torch.no_grad():
            z_t, f_t = teacher(t_x[idx])
        e_s, e_t = embed_s(f_s), embed_t(f_t)
        e_s, e_t, sign = gate(e_s, e_t, z_s.detach(), z_t, y_t[idx])
        p_s, p_t = memory(e_s, e_t, torch.from_numpy(idx), contrast)
        w = entropy_weights(z_t)
        crd = weighted_nce(p_s, w, sign, len(y)) + weighted_nce(p_t, w, sign, len(y))
        return F.cross_entropy(z_s, y_t[idx]) + opts.crd_weight * crd

    return _train_best(student, opt, batch_loss, len(y), xv, yv, opts, opts.student_epochs, seed)


def fold(run: Run, data: _Data, fold: Fold) -> dict:
    opts: CMCRDConfig = run.config.options
    seed = run.config.run.seed + fold.index
    tr, va, te = list(fold.train), list(fold.val), list(fold.test)
    sep = opts.zscore == "separate"
    e_tr, e_va, e_te = zscore_by_train(*(stack_trials(data.eeg, keys) for keys in (tr, va, te)), separate=sep)
    f_tr, f_va, f_te = zscore_by_train(*(stack_trials(data.face, keys) for keys in (tr, va, te)), separate=sep)
    y_tr, y_va, y_te = (np.concatenate([data.y[k] for k in keys]) for keys in (tr, va, te))
    run.seed(fold.index)
    teacher = MLP(f_tr.shape[1], opts.n_classes, opts.hidden)
    t_fit = _fit_ce(teacher, f_tr, y_tr, f_va, y_va, opts, opts.teacher_epochs, seed, opts.mcc_weight)
    run.seed(fold.index)
    baseline = MLP(e_tr.shape[1], opts.n_classes, opts.hidden)
    b_fit = _fit_ce(baseline, e_tr, y_tr, e_va, y_va, opts, opts.student_epochs, seed)
    run.seed(fold.index)
    student = MLP(e_tr.shape[1], opts.n_classes, opts.hidden)
    s_fit = _fit_cmcrd(student, teacher, e_tr, f_tr, y_tr, e_va, y_va, opts, seed)
    folder = run.fold_dir(fold)
    hashes = {name: run.save_weights(model, folder / f"{name}.pt")
              for name, model in (("teacher", teacher), ("no_kd", baseline), ("cmcrd", student))}
    return {"teacher": {**t_fit, "test": _accuracy(teacher, f_te, y_te, opts.n_classes)},
            "no_kd": {**b_fit, "test": _accuracy(baseline, e_te, y_te, opts.n_classes)},
            "cmcrd": {**s_fit, "test": _accuracy(student, e_te, y_te, opts.n_classes)},
            "class_counts_test": np.bincount(y_te, minlength=opts.n_classes).tolist(), "weights_sha256": hashes}


def summarise(run: Run, data: _Data, results: list[dict]) -> tuple[dict, str]:
    opts: CMCRDConfig = run.config.options
    out = {"data": "synthetic" if data.synthetic else "real", "method": "cmcrd", "folds": len(results),
           "protocol": run.config.protocol.kind, "metric": "balanced_accuracy", "command": run.command,
           **fold_scores(results, ("teacher", "no_kd", "cmcrd"))}
    out["comparison"] = fold_comparison([r["no_kd"]["test"]["balanced_accuracy"] for r in results],
                                        [r["cmcrd"]["test"]["balanced_accuracy"] for r in results],
                                        baseline_name="no_kd", method_name="cmcrd", metric="balanced_accuracy",
                                        dataset=run.dataset, folds=f"{len(results)} {out['protocol'].upper()} folds")
    out["p_value"] = out["comparison"]["p_value"]
    classes = "emotion classes" if opts.labels == "emotion" else "valence classes"
    intro = (f"{opts.teacher_modality.capitalize()} teacher -> EEG student, {opts.n_classes} {classes}, "
             f"{out['protocol'].upper()} ({out['folds']} folds), test scores mean ± std over folds.")
    labels = {"teacher": f"{opts.teacher_modality} teacher (MLP)", "no_kd": "EEG student, CE only",
              "cmcrd": "EEG student + CMCRD"}
    return out, classification_report(f"CMCRD — {run.config.run.name}", data.synthetic, intro, labels, out,
                                      out["comparison"], run.command)


def rescore(run: Run, data: _Data, fold: Fold, result: dict) -> dict[str, float]:
    opts: CMCRDConfig = run.config.options
    tr, te = list(fold.train), list(fold.test)
    sep = opts.zscore == "separate"
    _, e_te = zscore_by_train(stack_trials(data.eeg, tr), stack_trials(data.eeg, te), separate=sep)
    y_te = np.concatenate([data.y[k] for k in te])
    model = MLP(e_te.shape[1], opts.n_classes, opts.hidden)
    model.load_state_dict(torch.load(run.fold_dir(fold) / "cmcrd.pt", weights_only=True))
    acc = _accuracy(model, e_te, y_te, opts.n_classes)["balanced_accuracy"]
    return {f"fold {fold.index} cmcrd test balanced accuracy": acc - result["cmcrd"]["test"]["balanced_accuracy"]}


METHOD = Method("cmcrd", CMCRDConfig, prepare, fold, summarise, rescore,
                data_kinds=("xdf", "deap", "mahnob", "mahnob_continuous", "dreamer", "seed", "seed_iv", "seed_v"))
