"""One training loop for every image model of the trainer: FER+ images, epochs, best-on-valid selection, checkpoints.

The supervised FER+ recipe of the visual student (docs/methods.md §1.3-1.6 without the distillation terms), every
default in :class:`ImageTrainConfig`; the FER+ methods (``ferplus_supervised``, ``neurogaze``, ``crpn``) train with it
and add their own loss terms through :class:`ExtraLoss`.

- data: :mod:`affectstream.models.training.fer_data` (vote distributions or majority labels, uint8 images in memory);
  augmentation: :mod:`affectstream.models.training.augment`, drawn from one seeded :class:`torch.Generator`.
- optimisation: AdamW (no weight decay on norms and biases), linear warm-up then cosine decay per step, gradient
  clipping, soft-target cross-entropy with label smoothing; ``torch.autocast("cpu", bfloat16)`` where the CPU has
  native bfloat16 (:mod:`affectstream.models.training.precision`), and channels-last.
  Measured on a 2-core AMD EPYC with avx512_bf16, x0.5 student, batch 128, one thread, training img/s:
  fp32 28, fp32+channels_last 36, bf16 71, bf16+channels_last 77; with the 3x3/2 stem pool: bf16+channels_last
  270, bf16 189. Hence the defaults bf16 + channels-last + ``stem_pool = true``: at 48 px the pooled stem leaves
  24x24 maps before stage 1 (3x3 at the end) and makes an epoch of FER+ train ~3.5x cheaper; the trained graph is
  also ~3.5x cheaper at inference. ``stem_pool = false`` keeps full resolution.
- evaluation: horizontal-flip test-time augmentation lives *inside* the model (:class:`FlipTTA`, exported to ONNX),
  so a deployed image is run once. Per epoch: train loss and valid accuracy under the FER+ majority protocol;
  the weights with the best valid ``select_metric`` are kept.
- checkpoints (:mod:`affectstream.models.training.checkpoint`): after every epoch, the model, optimiser, generator
  and torch RNG states, history and best weights; a run continues from it after the last finished epoch and ends
  with the weights an uninterrupted run ends with. In a fast-dev run (:mod:`affectstream.models.training.fast_dev`)
  one epoch of a handful of batches.
"""

from __future__ import annotations

import logging
import math
import sys
import time
import typing
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from affectstream.models.nets.visual_student import VisualStudent
from affectstream.models.training import fast_dev
from affectstream.models.training.augment import AugmentConfig, augment
from affectstream.models.training.checkpoint import restore_checkpoint, save_checkpoint
from affectstream.models.training.fer_data import FerData, FerDataConfig, preprocess
from affectstream.models.training.fer_scores import fer_metrics
from affectstream.models.training.precision import native_bf16

log = logging.getLogger(__name__)

__all__ = ["ExtraLoss", "FlipTTA", "ImageTrainConfig", "LogitsOnly", "TrainResult", "build_model", "config_dict",
           "lr_at", "make_optimizer", "predict_logits", "scheduled_lr", "train", "train_step"]

#: Settings that may differ between a checkpoint and the run continuing it without changing what is trained.
_RESUME_FREE = {"epochs", "threads", "eval_batch_size"}


@dataclass(frozen=True)
class ImageTrainConfig(FerDataConfig, AugmentConfig):
    """Every default of the visual student's supervised FER+ training (the data and augmentation options are those
    of :class:`~affectstream.models.training.fer_data.FerDataConfig` and
    :class:`~affectstream.models.training.augment.AugmentConfig`). The seed is the run's (``[run] seed``)."""

    # model
    width_mult: float = 0.5  #: x0.5 = the "medium" student, ~2.8 M parameters
    stem_pool: bool = True  #: 3x3/2 max-pool after the stem (see the module docstring for the measurement)
    embedding_dim: int = 128
    # optimisation
    epochs: int = 15
    batch_size: int = 128
    lr: float = 2e-3  #: AdamW peak LR (from scratch; §1.5's 2e-4 is for 100 epochs from a pretrained backbone)
    lr_schedule: Literal["warmup_cosine", "cyclic_cosine"] = "warmup_cosine"  #: cyclic: CRPN's per-batch cosine
    final_lr_ratio: float = 0.01  #: warmup_cosine ends at lr * final_lr_ratio
    warmup_epochs: float = 1.0
    cosine_t_max: int = 5  #: cyclic_cosine: steps from the peak to 0 (CosineAnnealingLR(T_max) stepped per batch)
    adam_betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.05  #: docs/methods.md §1.5
    grad_clip: float = 1.0  #: docs/methods.md §1.5
    label_smoothing: float = 0.055  #: docs/methods.md §1.4
    ce_weight: float = 1.0  #: weight of the cross-entropy (CRPN's lambda_1 = 2; 0 when a method's own terms replace it)
    class_weights: Literal["none", "inverse_freq"] = "none"  #: docs/methods.md §1.4 / §8 #6: inverse frequency, mean 1
    # evaluation and arithmetic
    tta_flip: bool = True  #: evaluate (and export) the flip-averaging wrapper
    select_metric: Literal["accuracy", "macro_f1"] = "accuracy"  #: valid metric of the best-weights selection
    #: bfloat16 autocast where the CPU computes it natively; float32 elsewhere, where it would be emulated and slower
    #: (:mod:`affectstream.models.training.precision`); :attr:`bf16` is what a run uses
    amp_bf16: bool = True
    channels_last: bool = True
    threads: int = 1  #: torch intra-op threads while training (the team machines have 2 cores; leave one free)
    eval_batch_size: int = 256

    @property
    def bf16(self) -> bool:
        """Whether training and evaluation run under bfloat16 autocast on this machine."""
        return self.amp_bf16 and native_bf16()

    def check(self) -> None:
        """Refuse values outside their choices (also for a config built in code, not read by the typed loader)."""
        super().check()
        hints = typing.get_type_hints(type(self))
        for f in fields(self):
            choices = typing.get_args(hints[f.name]) if typing.get_origin(hints[f.name]) is Literal else ()
            if choices and getattr(self, f.name) not in choices:
                raise ValueError(f"{f.name} must be one of {', '.join(map(repr, choices))}, "
                                 f"got {getattr(self, f.name)!r}")


def config_dict(cfg: ImageTrainConfig) -> dict[str, Any]:
    """The config as plain JSON values (tuples as lists), e.g. for checkpoints and manifests, with the ``precision``
    it runs at on this machine (a checkpoint trained at another does not resume here)."""
    return {**{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()},
            "precision": "bfloat16" if cfg.bf16 else "float32"}


class ExtraLoss:
    """Terms a method adds to the (``ce_weight``-scaled) cross-entropy of :func:`train`.

    :meth:`loss` sees the model's output, the augmented batch, its targets, the fractional epoch and the batch's
    indices into the training split (for per-sample state such as CRPN's concept targets).
    """

    def check(self, cfg: ImageTrainConfig) -> None:
        """Refuse a config these terms cannot serve (before any training)."""

    def attach(self, model: nn.Module) -> None:
        """Give the freshly built model what it must carry (saved with it), e.g. a prototype bank."""

    def loss(self, out, x: torch.Tensor, target: torch.Tensor, epoch: float, cfg: ImageTrainConfig,
             idx: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


# ----------------------------------------------------------------------------------------------------------------
# model, optimiser, schedule, one step


class FlipTTA(nn.Module):
    """Eval wrapper: logits averaged over ``x`` and its left-right mirror, in one batched pass.

    ``(B, C, H, W) -> (B, 8)``. Exported as is, so the ONNX graph does the test-time augmentation and a deployed
    image is run once.
    """

    def __init__(self, model: VisualStudent):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(torch.cat([x, x.flip(3)], dim=0)).logits
        # (2B, K) -> (2, B, K): a reshape keeps the batch symbolic in the exported graph (a slice at x.shape[0]
        # would be traced as a constant)
        return logits.reshape(2, -1, logits.shape[-1]).mean(dim=0)


class LogitsOnly(nn.Module):
    """Eval wrapper without TTA: ``(B, C, H, W) -> (B, 8)`` logits."""

    def __init__(self, model: VisualStudent):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).logits


def build_model(cfg: ImageTrainConfig) -> VisualStudent:
    return VisualStudent(cfg.in_channels, cfg.width_mult, embedding_dim=cfg.embedding_dim, stem_pool=cfg.stem_pool)


def make_optimizer(model: nn.Module, cfg: ImageTrainConfig) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; weight decay only on conv/linear weights (not on norms and biases)."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in trainable if p.ndim > 1]
    no_decay = [p for p in trainable if p.ndim <= 1]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr, betas=tuple(cfg.adam_betas),
    )


def lr_at(step: int, total_steps: int, warmup_steps: int, base: float, final_ratio: float) -> float:
    """Linear warm-up to ``base`` over ``warmup_steps``, then cosine decay to ``base * final_ratio``."""
    if warmup_steps > 0 and step < warmup_steps:
        return base * (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    t = min(1.0, (step - warmup_steps) / span)
    return base * (final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


def scheduled_lr(step: int, total_steps: int, warmup_steps: int, cfg: ImageTrainConfig) -> float:
    """The learning rate of ``step`` under ``cfg.lr_schedule``: :func:`lr_at`, or CRPN's per-batch
    ``CosineAnnealingLR(T_max, eta_min=0)``, which keeps going past ``T_max`` and so oscillates between ``lr`` and 0
    with a period of ``2 * T_max`` steps (docs/methods.md §4.5, §8 #21)."""
    if cfg.lr_schedule == "cyclic_cosine":
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * step / cfg.cosine_t_max))
    return lr_at(step, total_steps, warmup_steps, cfg.lr, cfg.final_lr_ratio)


def _class_weight_tensor(cfg: ImageTrainConfig, counts: np.ndarray) -> torch.Tensor | None:
    if cfg.class_weights == "none":
        return None
    inv = 1.0 / np.maximum(counts, 1)
    return torch.tensor(inv / inv.mean(), dtype=torch.float32)


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    target: torch.Tensor,
    cfg: ImageTrainConfig,
    class_weight: torch.Tensor | None = None,
    distill: ExtraLoss | None = None,
    epoch: float = 0.0,
    idx: torch.Tensor | None = None,
) -> float:
    """One optimiser step on an (already augmented, normalised) batch; returns the loss.

    ``target`` is ``(B, 8)`` float (soft) or ``(B,)`` int64 (hard); the loss is ``cfg.ce_weight`` x cross-entropy
    with label smoothing, plus a method's terms when ``distill`` is given (``epoch``, fractional, drives e.g. the
    D-Geo ramp; ``idx`` are the batch's indices into the training split).
    """
    model.train()
    if cfg.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
        out = model(x)
    loss = cfg.ce_weight * F.cross_entropy(out.logits.float(), target, weight=class_weight,
                                           label_smoothing=cfg.label_smoothing)
    if distill is not None:
        loss = loss + distill.loss(out, x, target, epoch, cfg, idx)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    return float(loss.detach())


@torch.no_grad()
def predict_logits(model: VisualStudent, images: np.ndarray, cfg: ImageTrainConfig) -> np.ndarray:
    """Eval-mode logits for uint8 ``(N, S, S)`` images (with flip TTA when ``cfg.tta_flip``)."""
    model.eval()
    net = (FlipTTA(model) if cfg.tta_flip else LogitsOnly(model)).eval()  # export restores the mode it finds
    out = []
    for i in range(0, len(images), cfg.eval_batch_size):
        x = preprocess(images[i : i + cfg.eval_batch_size], cfg)
        if cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
            out.append(net(x).float())
    return torch.cat(out).numpy()


# ----------------------------------------------------------------------------------------------------------------
# training loop


@dataclass
class TrainResult:
    model: nn.Module  #: the best-on-valid weights
    history: list[dict[str, Any]]
    best: dict[str, Any]
    epochs_run: int


def train(cfg: ImageTrainConfig, data: FerData, seed: int, checkpoint: Path | None = None, progress: bool = True,
          distill: ExtraLoss | None = None, model: nn.Module | None = None) -> TrainResult:
    """Train with per-epoch valid evaluation, checkpointing and best-on-valid selection.

    ``checkpoint`` is written after every epoch; when it exists, training continues after its last epoch (and
    refuses a checkpoint trained with other settings). Runs on ``cfg.threads`` torch threads (restored
    afterwards). Seeding: the global torch RNG (initialisation, dropout, a method's own draws) and the augmentation's
    generator start from ``seed``, and the caller's global torch RNG state is restored afterwards -- so the weights
    depend only on ``(cfg, data, seed)``, and a method's arms (baseline, controls, the method) neither depend on nor
    disturb one another's random streams, whatever ran before or after. ``model`` is a freshly built network to
    train instead of the visual student (any module whose output has ``logits``), built *after* the seeding only if
    it is None -- so a method that brings its own builds it, seeded, itself. ``distill`` adds a method's terms
    (:class:`ExtraLoss`), e.g. NeuroGaze-Distill's, whose prototype bank is attached to the model (and so saved with
    it).
    """
    cfg.check()
    if distill is not None:
        distill.check(cfg)
    if cfg.amp_bf16 and not cfg.bf16:
        log.warning("this CPU has no native bfloat16 (AVX-512 BF16 or AMX): training in float32, which is faster "
                    "here than emulated bfloat16")
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        with torch.random.fork_rng(devices=[]):  # the caller's global RNG state comes back unchanged
            torch.manual_seed(seed)
            model = build_model(cfg) if model is None else model
            if distill is not None:
                distill.attach(model)
            if cfg.channels_last:
                model = model.to(memory_format=torch.channels_last)
            return _Training(cfg, data, seed, model, distill).run(checkpoint, progress)
    finally:
        torch.set_num_threads(previous_threads)


class _Training:
    """The state of one :func:`train` call: model, optimiser, augmentation generator, schedule and data."""

    def __init__(self, cfg: ImageTrainConfig, data: FerData, seed: int, model: nn.Module,
                 distill: ExtraLoss | None) -> None:
        self.cfg, self.data, self.model, self.distill = cfg, data, model, distill
        self.optimizer = make_optimizer(model, cfg)
        self.gen = torch.Generator().manual_seed(seed)
        self.settings = {**config_dict(cfg), "seed": seed}
        self.n = len(data.train.images)
        self.steps = self.n // cfg.batch_size
        if self.steps < 1:
            raise ValueError(f"{self.n} training images < batch size {cfg.batch_size}")
        self.total, self.warmup = self.steps * cfg.epochs, int(round(cfg.warmup_epochs * self.steps))
        self.class_weight = _class_weight_tensor(cfg, data.class_counts)
        self.targets, self.images = torch.as_tensor(data.targets), torch.as_tensor(data.train.images)

    def run(self, checkpoint: Path | None, progress: bool) -> TrainResult:
        cfg, model = self.cfg, self.model
        s = self._resume(checkpoint) or {"epoch": 0, "history": [], "best": {"epoch": -1, "metric": -math.inf},
                                         "best_model": None}
        for epoch in range(s["epoch"], fast_dev.epochs(cfg.epochs)):
            losses, lr, train_s = self._epoch(epoch, progress)
            t1 = time.perf_counter()
            vm = fer_metrics(predict_logits(model, self.data.valid.images, cfg), self.data.valid.votes)
            row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)), "valid_accuracy": vm["accuracy"],
                   "valid_accuracy_plain_argmax": vm["accuracy_plain_argmax"], "valid_macro_f1": vm["macro_f1"],
                   "valid_balanced_accuracy": vm["balanced_accuracy"], "lr_end": lr, "train_s": round(train_s, 1),
                   "eval_s": round(time.perf_counter() - t1, 1),
                   "train_img_per_s": round(len(losses) * cfg.batch_size / train_s, 1)}
            s["history"].append(row)
            metric = vm[cfg.select_metric]
            if metric > s["best"]["metric"]:
                s["best"] = {"epoch": epoch + 1, "metric": metric, "name": f"valid_{cfg.select_metric}"}
                s["best_model"] = {k: v.clone() for k, v in model.state_dict().items()}
            s["epoch"] = epoch + 1
            if checkpoint is not None:
                save_checkpoint(checkpoint, model, self.optimizer, generator=self.gen.get_state(),
                                config=self.settings, **s)
            log.info("epoch %d/%d loss %.4f valid acc %.4f (plain %.4f, macro-F1 %.4f) train %.0fs (%s img/s) "
                     "eval %.0fs%s", epoch + 1, cfg.epochs, row["train_loss"], vm["accuracy"],
                     vm["accuracy_plain_argmax"], vm["macro_f1"], train_s, row["train_img_per_s"], row["eval_s"],
                     "  *best*" if s["best"]["epoch"] == epoch + 1 else "")
        if s["best_model"] is not None:
            model.load_state_dict(s["best_model"])
        model.eval()
        return TrainResult(model, s["history"], s["best"], len(s["history"]))

    def _resume(self, checkpoint: Path | None) -> dict[str, Any] | None:
        """The loop's state from ``checkpoint`` (model, optimiser and RNG states restored), or None."""
        state = restore_checkpoint(checkpoint, self.model, self.optimizer)
        if state is None:
            return None
        old = state.pop("config")
        keys = (set(old) | set(self.settings)) - _RESUME_FREE
        diff = sorted(k for k in keys if old.get(k) != self.settings.get(k))
        if diff:
            raise ValueError(f"{checkpoint} was trained with different settings {diff}; start a new run")
        if old["epochs"] != self.cfg.epochs:
            log.warning("resuming a %d-epoch schedule with epochs=%d: the cosine schedule changes", old["epochs"],
                        self.cfg.epochs)
        self.gen.set_state(state.pop("generator"))
        log.info("resumed from %s after epoch %d", checkpoint, state["epoch"])
        return state

    def _epoch(self, epoch: int, progress: bool) -> tuple[list[float], float, float]:
        """One epoch of training: the batch losses, the last learning rate and the wall time."""
        cfg, bs = self.cfg, self.cfg.batch_size
        t0 = time.perf_counter()
        order = torch.randperm(self.n, generator=self.gen)
        losses, lr = [], cfg.lr
        bar = tqdm(list(fast_dev.limit_batches(range(self.steps), epoch)), desc=f"epoch {epoch + 1}/{cfg.epochs}",
                   disable=not progress, mininterval=5.0, file=sys.stderr, dynamic_ncols=False, ncols=100)
        for i in bar:
            lr = scheduled_lr(epoch * self.steps + i, self.total, self.warmup, cfg)
            for g in self.optimizer.param_groups:
                g["lr"] = lr
            idx = order[i * bs : (i + 1) * bs]
            x = augment(preprocess(self.images[idx], cfg), cfg, self.gen)
            losses.append(train_step(self.model, self.optimizer, x, self.targets[idx], cfg, self.class_weight,
                                     self.distill, epoch + i / self.steps, idx))
            if i % 20 == 0:
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}", lr=f"{lr:.2e}")
        bar.close()
        return losses, lr, time.perf_counter() - t0
