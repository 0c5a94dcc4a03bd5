"""One training loop for every sequence model of the trainer: windows, epochs, selection, checkpoints.

The recipe is Zhang et al.'s (docs/methods.md §2.4), with each choice in :class:`OptimConfig`: Adam, ReduceLROnPlateau
on the validation score (mode ``max``), early stopping, and the best-so-far weights re-loaded after every epoch that did
not improve (``load_best_at_each_epoch=1`` in the reference code: an epoch that made the model worse is undone, so the
next one starts again from the best weights with the smaller learning rate).

Checkpoints: after every epoch the whole state (model, optimiser, scheduler, best weights, history, counters) is
written atomically with :func:`torch.save` and read back with ``weights_only=True`` (only tensors and plain values),
so a killed run resumes at the next epoch and ends with the same weights as an uninterrupted one: batch order comes
from a generator seeded with ``(seed, epoch)``, and the checkpoint keeps torch's random state for dropout.

Data-parallel (``torchrun``, :mod:`affectstream.models.training.distributed`): with a distributed context the model is
wrapped in DistributedDataParallel, each rank takes its shard of the epoch's windows (:func:`batches`), and the
validation score and train loss are averaged across ranks, so every rank takes the same learning-rate, selection and
early-stopping decisions and ends with the same weights. Only rank 0 writes checkpoints and shows progress.

In a fast-dev run (:mod:`affectstream.models.training.fast_dev`) :func:`fit` runs one epoch and the batch sources
(:func:`batches`, :func:`index_batches`) yield a handful of batches.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from affectstream.models.training import fast_dev
from affectstream.models.training.checkpoint import restore_checkpoint, save_checkpoint
from affectstream.models.training.distributed import DistContext, all_reduce_mean, shard_indices, wrap_model
from affectstream.models.training.evaluation import sequence_windows

__all__ = ["VALID", "FitResult", "OptimConfig", "WindowSet", "batches", "ccc_loss", "fit", "index_batches",
           "make_windows", "recipe_deviations", "regression_loss", "stack_trials"]

#: The name of the padding mask among a :class:`WindowSet`'s extras (and so in every batch's ``extra``).
VALID = "valid"


@dataclass(frozen=True)
class OptimConfig:
    """Optimisation of one model (every default in one place; the reference values are in docs/methods.md §2.4).

    The defaults differ from the reference where the planted benchmark must run on a CPU in minutes: ``lr`` 1e-3
    and ``batch_size`` 8 (reference 1e-5 and 2, for a pre-trained backbone and 239 trials on a GPU).
    """

    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 8
    window: int = 96  #: label points per training window (24 s at 4 Hz)
    hop: int = 32
    max_epochs: int = 15
    early_stop: int = 20  #: epochs without improvement before stopping
    plateau_patience: int = 5
    plateau_factor: float = 0.5
    min_lr: float = 1e-6
    reload_best_each_epoch: bool = True
    grad_clip: float = 0.0  #: max gradient norm; 0 = off (the reference does not clip)
    amsgrad: bool = False  #: Adam's AMSGrad variant (CDGKD trains with Keras' ``Adam(amsgrad=True)``)


@dataclass
class WindowSet:
    """Training windows of a partition, gathered once: inputs ``x`` (N, window, D), targets ``y`` (N, window) and
    extra per-step arrays (e.g. the teacher's knowledge) under ``extra``.

    :func:`make_windows` always puts the padding mask there: ``extra[VALID]`` (N, window) bool, False at the zeros
    that pad a sequence shorter than a window. The losses take it (``valid``) so that padding is not scored as data.
    """

    x: np.ndarray
    y: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.x)


def make_windows(sequences: Iterable[tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]], window: int,
                 hop: int) -> WindowSet:
    """Cut each ``(x (T, D), y (T,), extra {name: (T, ...)})`` into windows as the evaluation does (zero padding),
    with the padding mask as ``extra[VALID]``."""
    xs, ys, extras = [], [], {}
    for x, y, extra in sequences:
        if VALID in extra:
            raise ValueError(f"{VALID!r} is the name of the padding mask in a window set; name the extra otherwise")
        w = sequence_windows(len(y), window, hop)
        xs.append(w.take(np.asarray(x, dtype=np.float32)))
        ys.append(w.take(np.asarray(y, dtype=np.float32)))
        extras.setdefault(VALID, []).append(w.mask)
        for name, value in extra.items():
            extras.setdefault(name, []).append(w.take(np.asarray(value, dtype=np.float32)))
    if not xs:
        raise ValueError("no sequences to train on")
    return WindowSet(np.concatenate(xs), np.concatenate(ys), {k: np.concatenate(v) for k, v in extras.items()})


def batches(data: WindowSet, batch_size: int, seed: int, epoch: int, ctx: DistContext | None = None):
    """Shuffled mini-batches of tensors ``(x, y, extra)``; the order depends only on ``(seed, epoch)``.

    Under DDP (``ctx`` distributed) each rank gets its shard of the same permutation, equally long on every rank.
    """
    if ctx is not None and ctx.distributed:
        order = shard_indices(len(data), ctx, seed, epoch)
    else:
        order = np.random.default_rng([seed, epoch]).permutation(len(data))
    for b in fast_dev.limit_batches(range(0, len(order), batch_size), epoch):
        idx = order[b:b + batch_size]
        yield (torch.from_numpy(data.x[idx]), torch.from_numpy(data.y[idx]),
               {k: torch.from_numpy(v[idx]) for k, v in data.extra.items()})


def index_batches(n: int, batch_size: int, seed: int, epoch: int):
    """Shuffled mini-batches of sample indices ``0 .. n-1`` (numpy), the order depending only on ``(seed, epoch)``;
    a last batch of one sample is dropped (BatchNorm needs two). For methods whose samples are rows, not windows."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    starts = (b for b in range(0, n, batch_size) if n - b >= 2)
    for b in fast_dev.limit_batches(starts, epoch):
        yield order[b:b + batch_size]


def stack_trials(per_trial: dict[Any, np.ndarray], keys) -> np.ndarray:
    """The rows of the trials ``keys``, concatenated in that order, as float32."""
    return np.concatenate([per_trial[k] for k in keys]).astype(np.float32)


def ccc_loss(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over windows of ``1 - CCC`` (B, T) -> scalar: biased covariance, unbiased variances, squared mean
    difference, exactly as the reference code (docs/methods.md §2.3).

    ``valid`` (B, T) bool marks the steps that are data (``extra[VALID]`` of a batch): each window's CCC is then taken
    over its valid steps only (the reference scores the zero padding of a short trial as if it were data), and a
    window with fewer than two valid steps, which has no variance, is left out of the mean (0 with a gradient path if
    none is left). With every step valid the reference's formula is computed as before, so runs without padding
    reproduce bit for bit.
    """
    if valid is None or bool(valid.all()):
        mp, mt = pred.mean(dim=1, keepdim=True), target.mean(dim=1, keepdim=True)
        cov = ((pred - mp) * (target - mt)).mean(dim=1)
        denom = pred.var(dim=1) + target.var(dim=1) + (mp - mt).squeeze(1) ** 2
        return (1 - 2 * cov / (denom + 1e-8)).mean()
    m = valid.to(pred.dtype)
    n = m.sum(dim=1)
    kept = n >= 2
    if not bool(kept.any()):
        return pred.sum() * 0.0
    pred, target, m, n = pred[kept], target[kept], m[kept], n[kept]
    mp, mt = (m * pred).sum(dim=1) / n, (m * target).sum(dim=1) / n
    dp, dt = m * (pred - mp[:, None]), m * (target - mt[:, None])
    cov = (dp * dt).sum(dim=1) / n
    denom = (dp ** 2).sum(dim=1) / (n - 1) + (dt ** 2).sum(dim=1) / (n - 1) + (mp - mt) ** 2
    return (1 - 2 * cov / (denom + 1e-8)).mean()


def regression_loss(pred: torch.Tensor, target: torch.Tensor, kind: str = "ccc",
                    valid: torch.Tensor | None = None) -> torch.Tensor:
    """The loss of a regression target, (B, T) -> scalar: ``"ccc"`` (:func:`ccc_loss`) or ``"mse"``; ``valid``
    (B, T) bool leaves padded steps out (see :func:`ccc_loss`).

    ``"mse"`` is for a dataset rated once per clip (DEAP, DREAMER, MAHNOB's felt ratings, SEED): the target is
    constant within every training window, where a window's CCC has no covariance to reward, so a CCC loss is 1 for
    every prediction and trains nothing. It averages over the finite, valid targets only; a target with none (SEED
    has no arousal rating) adds nothing.
    """
    if kind == "ccc":
        return ccc_loss(pred, target, valid)
    if kind != "mse":
        raise ValueError(f"unknown regression loss {kind!r}; use 'ccc' or 'mse'")
    finite = torch.isfinite(target) if valid is None else torch.isfinite(target) & valid.bool()
    if not bool(finite.any()):
        return pred.sum() * 0.0
    return ((pred - torch.nan_to_num(target)) ** 2)[finite].mean()


def recipe_deviations(options: Any, paper: Any, *, ignore: tuple[str, ...] = (), prefix: str = "") -> list[str]:
    """The options in which a method's config departs from the paper's recipe, as ``"key = value (paper: value)"``.

    ``paper`` is the options dataclass as the paper has it (for a method whose defaults are the paper's choices, its
    default instance); nested dataclasses (an :class:`OptimConfig`) are compared field by field. ``ignore`` names the
    fields that choose the experiment rather than the recipe (e.g. ``target``). An empty list: the paper's recipe.
    """
    out = []
    for f in fields(options):
        if f.name in ignore:
            continue
        ours, theirs = getattr(options, f.name), getattr(paper, f.name)
        if is_dataclass(ours) and is_dataclass(theirs):
            out += recipe_deviations(ours, theirs, prefix=f"{prefix}{f.name}.")
        elif ours != theirs:
            out.append(f"{prefix}{f.name} = {ours!r} (paper: {theirs!r})")
    return out


@dataclass
class FitResult:
    """What :func:`fit` did: per-epoch ``history`` (train loss, validation score, learning rate), the selected
    epoch and its score; the model holds the selected weights."""

    history: list[dict[str, float]]
    best_epoch: int
    best_score: float
    resumed_from: int = 0


def fit(model: torch.nn.Module, loss_fn: Callable[[torch.nn.Module, tuple], torch.Tensor],
        epoch_batches: Callable[[int], Iterable[tuple]], score_fn: Callable[[torch.nn.Module], float],
        config: OptimConfig, *, checkpoint: str | Path | None = None, desc: str = "training", progress: bool = True,
        ctx: DistContext | None = None, amp: bool = False, cpu_bf16: bool = False) -> FitResult:
    """Train ``model`` and keep the weights with the best validation score (higher is better).

    Parameters
    ----------
    model : torch.nn.Module
        The model (its selected weights are loaded at the end).
    loss_fn : callable
        ``loss_fn(net, batch) -> scalar tensor``; ``net`` is the DDP wrapper under DDP, else ``model``.
    epoch_batches : callable
        ``epoch_batches(epoch)`` -> the epoch's batches (see :func:`batches`).
    score_fn : callable
        Validation score of the (unwrapped) model, e.g. CCC; averaged across DDP ranks.
    config : OptimConfig
    checkpoint : path | None
        Resume from this file when it exists; rewritten after every epoch (by rank 0).
    ctx : DistContext | None
        Data-parallel context (None: one process). ``epoch_batches`` must then shard (see :func:`batches`).
    amp : bool
        Mixed precision on CUDA: the loss is computed under float16 autocast with a gradient scaler (ignored off
        CUDA).
    cpu_bf16 : bool
        bfloat16 autocast on the CPU. Measured on the team machines (AVX-512 BF16), one EEG-student training step
        (batch 32 x 96 frames, 1 thread): 43-47 ms instead of 61-72 ms in float32. Off by default, so the committed
        reports (trained in float32) reproduce exactly.
    """
    distributed = ctx is not None and ctx.distributed
    net = wrap_model(model, ctx) if distributed else model
    is_main = ctx is None or ctx.is_main
    on_cuda = next(model.parameters()).device.type == "cuda"
    step = _Step(model, config, amp=amp and on_cuda, cpu_bf16=cpu_bf16 and not on_cuda)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(step.opt, mode="max", patience=config.plateau_patience,
                                                       factor=config.plateau_factor, min_lr=config.min_lr)
    path = Path(checkpoint) if checkpoint is not None else None
    s = restore_checkpoint(path, model, step.opt) or {
        "best_model": copy.deepcopy(model.state_dict()), "history": [], "best_score": -math.inf, "best_epoch": -1,
        "stale": 0, "epoch": -1}
    if "scheduler" in s:
        sched.load_state_dict(s.pop("scheduler"))
    start = s["epoch"] + 1
    bar = tqdm(range(start, fast_dev.epochs(config.max_epochs)), desc=desc, unit="epoch",
               disable=not (progress and is_main), leave=False)
    for epoch in bar:
        if s["stale"] >= config.early_stop:
            break
        net.train()
        losses = [step(loss_fn, net, batch) for batch in fast_dev.limit_batches(epoch_batches(epoch), epoch)]
        model.eval()
        score = float(score_fn(model))
        train_loss = float(np.mean(losses)) if losses else math.nan
        if distributed:  # identical decisions on every rank (bit-identical already, unless the maths differs)
            score, train_loss = all_reduce_mean(score, ctx), all_reduce_mean(train_loss, ctx)
        sched.step(score)
        s["history"].append({"epoch": epoch, "train_loss": train_loss, "val_score": score,
                             "lr": step.opt.param_groups[0]["lr"]})
        if score > s["best_score"]:
            s.update(best_score=score, best_epoch=epoch, stale=0, best_model=copy.deepcopy(model.state_dict()))
        else:
            s["stale"] += 1
            if config.reload_best_each_epoch:
                model.load_state_dict(s["best_model"])
        s["epoch"] = epoch
        bar.set_postfix(loss=f"{train_loss:.3f}", val=f"{score:.3f}", best=f"{s['best_score']:.3f}")
        if path is not None and is_main:
            save_checkpoint(path, model, step.opt, scheduler=sched.state_dict(), **s)
    model.load_state_dict(s["best_model"])
    model.eval()
    return FitResult(s["history"], s["best_epoch"], s["best_score"], resumed_from=start)


class _Step:
    """One optimiser step of :func:`fit`: Adam, the loss under autocast (float16 with a gradient scaler on CUDA,
    bfloat16 on the CPU when asked for), optional gradient clipping; returns the batch's loss."""

    def __init__(self, model: torch.nn.Module, config: OptimConfig, *, amp: bool, cpu_bf16: bool) -> None:
        self.model, self.clip, self.amp, self.cpu_bf16 = model, config.grad_clip, amp, cpu_bf16
        self.opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                    amsgrad=config.amsgrad)
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp)

    def __call__(self, loss_fn: Callable[[torch.nn.Module, tuple], torch.Tensor], net: torch.nn.Module,
                 batch: tuple) -> float:
        with torch.autocast("cuda", dtype=torch.float16, enabled=self.amp), \
                torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.cpu_bf16):
            loss = loss_fn(net, batch).float()
        self.opt.zero_grad()
        self.scaler.scale(loss).backward()
        if self.clip > 0:
            self.scaler.unscale_(self.opt)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        self.scaler.step(self.opt)
        self.scaler.update()
        return float(loss.detach())
