"""The training of CMCRD's arms (docs/methods.md §5.3, §5.5): the teacher, and students that differ only in their loss.

Every student arm -- CE only (``no_kd``), CMCRD, plain CRD (the ``plain_kd`` control) and CMCRD from a shuffled
teacher -- trains with one optimiser and one schedule (:func:`student_optimizer`): AdamW with a per-step linear warm-up
then a half cosine to 0, the same epochs, mini-batches and selection. A difference between arms is therefore the
loss's, not the optimiser's. The teacher trains as the paper's code does: SGD with momentum 0.9 at ``teacher_lr``, CE
plus MCC on an unlabelled batch, early stopping (:func:`fit_teacher`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from affectstream.models.methods.cmcrd.config import CMCRDConfig
from affectstream.models.methods.cmcrd.losses import (ContrastMemory, Embed, entropy_weights, gate, mcc_loss,
                                                      weighted_nce)
from affectstream.models.training import fast_dev
from affectstream.models.training.evaluation import balanced_accuracy
from affectstream.models.training.loop import index_batches


__all__ = ["Contrast", "StudentLoss", "fit_student", "fit_teacher", "scores", "student_optimizer", "teacher_outputs",
           "train_best", "warmup_cosine"]

#: A student arm's loss: cross-entropy alone, CE + CMCRD, or CE + CRD (no entropy weights, gating or signs).
StudentLoss = Literal["ce", "cmcrd", "crd"]


def scores(model: nn.Module, x: np.ndarray, y: np.ndarray, n_classes: int) -> dict[str, float]:
    """Accuracy and balanced accuracy of ``model`` (eval mode) on the rows ``x`` with labels ``y``."""
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(x))[0].argmax(1).numpy()
    return {"accuracy": float((pred == y).mean()), "balanced_accuracy": balanced_accuracy(y, pred, n_classes)}


def warmup_cosine(step: int, warm: int, total: int) -> float:
    """The learning-rate factor of optimiser step ``step`` (0-based): linear warm-up to 1 over the first ``warm``
    steps, then half a cosine down to 0 at step ``total``."""
    if step < warm:
        return (step + 1) / warm
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))


def student_optimizer(params: list[nn.Parameter], opts: CMCRDConfig,
                      n: int) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """The optimiser of every student arm (docs/methods.md §5.5): AdamW (``lr``, ``weight_decay``) and its per-step
    schedule, :func:`warmup_cosine` over ``warmup_epochs`` and ``student_epochs`` of the ``n`` training rows."""
    opt = torch.optim.AdamW(params, lr=opts.lr, weight_decay=opts.weight_decay)
    per_epoch = sum(1 for _ in index_batches(n, opts.batch_size, 0, 0))
    warm, total = per_epoch * opts.warmup_epochs, per_epoch * opts.student_epochs
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda step: warmup_cosine(step, warm, total))


def train_best(model: nn.Module, opt: torch.optim.Optimizer, batch_loss: Callable[[np.ndarray], torch.Tensor],
               n: int, val: tuple[np.ndarray, np.ndarray], opts: CMCRDConfig, epochs: int, seed: int, *,
               schedule: torch.optim.lr_scheduler.LRScheduler | None = None, patience: int = 0) -> dict:
    """The loop of every arm: seeded mini-batches of the ``n`` training rows, one optimiser step (and one schedule
    step) on ``batch_loss(rows)`` each; the weights of the epoch with the best validation accuracy are kept, and with
    ``patience`` > 0 training stops once that many epochs have passed without a better one (the teacher's rule)."""
    best, best_epoch, state, epoch = -1.0, 0, None, -1
    for epoch in range(fast_dev.epochs(epochs)):
        model.train()
        for idx in index_batches(n, opts.batch_size, seed, epoch):
            loss = batch_loss(idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if schedule is not None:
                schedule.step()
        score = scores(model, *val, opts.n_classes)["accuracy"]
        if score > best:
            best, best_epoch, state = score, epoch, {k: v.clone() for k, v in model.state_dict().items()}
        elif patience and epoch - best_epoch > patience:
            break
    model.load_state_dict(state)
    return {"val_accuracy": best, "best_epoch": best_epoch, "epochs_trained": epoch + 1}


def fit_teacher(teacher: nn.Module, x: np.ndarray, y: np.ndarray, unlabelled: np.ndarray,
                val: tuple[np.ndarray, np.ndarray], opts: CMCRDConfig, seed: int) -> dict:
    """The teacher (docs/methods.md §5.3): SGD (``teacher_lr``, momentum 0.9), CE on the labelled batch plus
    ``mcc_weight`` x MCC on a batch of ``unlabelled`` rows (inputs only, drawn at random each step, as many as a
    batch), early stopping after ``teacher_patience`` epochs without a better validation accuracy."""
    use_mcc = opts.mcc_weight > 0
    if use_mcc and len(unlabelled) < 2:
        raise ValueError(f"the teacher's MCC term draws unlabelled rows from the {opts.mcc_batch!r} partition, which "
                         f"has {len(unlabelled)} in this fold: set cmcrd.mcc_batch to another one (or "
                         "cmcrd.mcc_weight = 0)")
    opt = torch.optim.SGD(teacher.parameters(), lr=opts.teacher_lr, momentum=0.9)
    xt, yt, xu = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(unlabelled)
    rng = np.random.default_rng([seed, 1])
    size = min(opts.batch_size, len(unlabelled))

    def batch_loss(idx: np.ndarray) -> torch.Tensor:
        loss = F.cross_entropy(teacher(xt[idx])[0], yt[idx])
        if use_mcc:
            loss = loss + opts.mcc_weight * mcc_loss(teacher(xu[rng.choice(len(xu), size, replace=False)])[0])
        return loss

    return train_best(teacher, opt, batch_loss, len(x), val, opts, opts.teacher_epochs, seed,
                      patience=opts.teacher_patience)


def teacher_outputs(teacher: nn.Module, x: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The frozen teacher's ``(logits, feature)`` for every row of ``x`` (eval mode: a row's outputs do not depend on
    the other rows, so permuting them across samples is permuting the rows)."""
    teacher.eval()
    with torch.no_grad():
        return teacher(torch.from_numpy(x))


class Contrast(nn.Module):
    """The contrastive term of a student: the two embedding heads (trained with the student), CRD's memory banks,
    the negatives drawn per sample from the other classes, and the loss of CMCRD or of plain CRD.

    Parameters
    ----------
    teacher_out : (Tensor, Tensor)
        The teacher's ``(logits (N, C), feature (N, D_t))`` of the N training rows, in row order.
    y : ndarray
        The N training labels.
    d_student : int
        The student's feature size.
    opts : CMCRDConfig
        ``feat_dim``, ``tau``, ``momentum``, ``nce_k``.
    seed : int
        Seeds the negatives.
    cmcrd : bool
        CMCRD's entropy weights, gating and teacher-correctness signs; False: CRD (unit weights and signs).
    """

    def __init__(self, teacher_out: tuple[torch.Tensor, torch.Tensor], y: np.ndarray, d_student: int,
                 opts: CMCRDConfig, seed: int, cmcrd: bool) -> None:
        super().__init__()
        self.z_t, self.f_t = teacher_out
        self.embed_s, self.embed_t = Embed(d_student, opts.feat_dim), Embed(self.f_t.shape[1], opts.feat_dim)
        self.memory = ContrastMemory(opts.feat_dim, len(y), opts.tau, opts.momentum)
        self.pools = [np.flatnonzero(y != c) for c in range(int(y.max()) + 1)]  # CRD's cls_negative
        self.rng, self.k, self.cmcrd = np.random.default_rng(seed), opts.nce_k, cmcrd

    def forward(self, idx: np.ndarray, z_s: torch.Tensor, f_s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        negs = np.stack([self.rng.choice(self.pools[c], self.k, replace=len(self.pools[c]) < self.k)
                         for c in y.numpy()])
        contrast = torch.from_numpy(np.column_stack([idx, negs]))
        z_t = self.z_t[idx]
        e_s, e_t = self.embed_s(f_s), self.embed_t(self.f_t[idx])
        if self.cmcrd:
            e_s, e_t, sign = gate(e_s, e_t, z_s.detach(), z_t, y)
            w = entropy_weights(z_t)
        else:
            w = sign = torch.ones(len(idx))
        p_s, p_t = self.memory(e_s, e_t, torch.from_numpy(idx), contrast)
        n = self.memory.n_data
        return weighted_nce(p_s, w, sign, n) + weighted_nce(p_t, w, sign, n)


def fit_student(student: nn.Module, x: np.ndarray, y: np.ndarray, val: tuple[np.ndarray, np.ndarray],
                opts: CMCRDConfig, seed: int, loss: StudentLoss = "ce",
                teacher_out: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict:
    """One student arm: ``CE`` (``loss = "ce"``) or ``CE + crd_weight * contrastive term`` from ``teacher_out``,
    with :func:`student_optimizer` over the student and (when distilling) the embedding heads."""
    contrast = None if loss == "ce" else Contrast(teacher_out, y, opts.hidden, opts, seed, loss == "cmcrd")
    params = list(student.parameters()) + ([] if contrast is None else list(contrast.parameters()))
    opt, schedule = student_optimizer(params, opts, len(y))
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)

    def batch_loss(idx: np.ndarray) -> torch.Tensor:
        z_s, f_s = student(xs[idx])
        ce = F.cross_entropy(z_s, ys[idx])
        return ce if contrast is None else ce + opts.crd_weight * contrast(idx, z_s, f_s, ys[idx])

    return train_best(student, opt, batch_loss, len(y), val, opts, opts.student_epochs, seed, schedule=schedule)
