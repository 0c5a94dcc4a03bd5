"""Supervised FER+ training of the visual student (docs/methods.md §1.3-1.6, without the distillation terms).

Recipe (every default in :class:`VisualTrainConfig`):

- data: FER+ ``label.csv`` votes (shared/data/MANIFEST.md §3). Targets are the 8 emotion-vote distributions
  (:func:`~affectstream.models.datasets.ferplus.vote_probabilities`, images whose plain-argmax top is unknown/NF dropped) or,
  with ``targets="hard"``, the majority-protocol labels. Images stay in memory as uint8; decoded images are cached
  outside the repository (:func:`~affectstream.models.datasets.ferplus.default_cache_dir`), never inside it.
- augmentation, batched in plain torch and drawn from one seeded :class:`torch.Generator`: random crop with
  (replicate) padding or random resized crop, horizontal flip, small rotation + scale via ``affine_grid``, random
  erasing.
- optimisation: AdamW (no weight decay on norms and biases), linear warm-up then cosine decay per step, gradient
  clipping, soft-target cross-entropy with label smoothing; ``torch.autocast("cpu", bfloat16)`` and channels-last.
  Measured on this 2-core AMD EPYC (avx512_bf16), x0.5 student, batch 128, one thread, training img/s:
  fp32 28, fp32+channels_last 36, bf16 71, bf16+channels_last 77; with the 3x3/2 stem pool: bf16+channels_last
  270, bf16 189. Hence the defaults bf16 + channels-last + ``stem_pool=True``: at 48 px the pooled stem leaves
  24x24 maps before stage 1 (3x3 at the end) and makes an epoch of FER+ train ~3.5x cheaper; the trained graph is
  also ~3.5x cheaper at inference. ``--no-stem-pool`` keeps full resolution.
- evaluation: horizontal-flip test-time augmentation lives *inside* the model (:class:`FlipTTA`, exported to ONNX),
  so a deployed image is run once. Per epoch: train loss and valid accuracy under the FER+ majority protocol;
  the checkpoint with the best valid ``select_metric`` is kept. The test split is scored once, at the end, through
  the exported ONNX file.
- checkpoints: ``last.pt`` (model, optimiser, RNG states, history) after every epoch and ``best.pt``; plain
  tensors/dicts written with ``torch.save`` and read with ``torch.load(..., weights_only=True)``. Re-running the
  same command resumes where it stopped; after the last epoch it only exports and reports.

Command line (the lead wires ``affectstream train-visual`` to :func:`main`)::

    python -m affectstream.models.training.image_loop --epochs 15 --out models/weights --ckpt-dir /tmp/fer_ckpt
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from affectstream.models.datasets.ferplus import (
    argmax_labels,
    default_cache_dir,
    find_pixel_twins,
    load_split,
    majority_labels,
    vote_probabilities,
)
from affectstream.core.paths import REPO, SHARED_DATA
from affectstream.models.training import evaluation
from affectstream.models.methods.neurogaze.losses import METHODS_ANCHORS, dgeo_loss, dgeo_ramp, kd_loss, proto_kd_loss, proto_targets
from affectstream.models.nets.prototypes import PrototypeBank
from affectstream.models.nets.visual_student import FERPLUS_CLASSES, VisualStudent, count_parameters

log = logging.getLogger(__name__)

__all__ = [
    "VisualTrainConfig",
    "FerData",
    "SplitData",
    "TrainResult",
    "FlipTTA",
    "load_ferplus",
    "preprocess",
    "input_spec",
    "augment",
    "random_pad_crop",
    "random_resized_crop",
    "random_flip",
    "random_affine",
    "random_erasing",
    "lr_at",
    "scheduled_lr",
    "ExtraLoss",
    "build_model",
    "make_optimizer",
    "train_step",
    "save_checkpoint",
    "load_checkpoint",
    "classification_metrics",
    "fer_metrics",
    "fer_split_scores",
    "train",
    "export_and_report",
    "main",
]

ROOT = REPO
DEFAULT_DATA = SHARED_DATA / "fer"
DEFAULT_REPORTS = ROOT / "models" / "reports"
CHECKPOINT_FORMAT = 1
N_CLASSES = len(FERPLUS_CLASSES)


# ----------------------------------------------------------------------------------------------------------------
# configuration


@dataclass(frozen=True)
class VisualTrainConfig:
    """Every default of the visual student's supervised FER+ training."""

    # model
    width_mult: float = 0.5  #: x0.5 = the "medium" student, ~2.8 M parameters
    in_channels: int = 1  #: 1 = grey FER+ images; 3 = grey repeated to 3 channels (webcam-compatible input)
    image_size: int = 48  #: FER+ images are resized (cv2 bilinear) to this square size; 48 = native
    stem_pool: bool = True  #: 3x3/2 max-pool after the stem (see the module docstring for the measurement)
    embedding_dim: int = 128
    # normalisation: x = (uint8 * scale - mean) / std
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.5,)
    # optimisation
    epochs: int = 15
    batch_size: int = 128
    lr: float = 2e-3  #: AdamW peak LR (from scratch; docs/methods.md §1.5's 2e-4 is for 100 epochs from a pretrained backbone)
    lr_schedule: str = "warmup_cosine"  #: or "cyclic_cosine": CRPN's code, cosine of period 2 * cosine_t_max steps
    final_lr_ratio: float = 0.01  #: warmup_cosine ends at lr * final_lr_ratio
    warmup_epochs: float = 1.0
    cosine_t_max: int = 5  #: cyclic_cosine: steps from the peak to 0 (CosineAnnealingLR(T_max) stepped per batch)
    adam_betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.05  #: docs/methods.md §1.5
    grad_clip: float = 1.0  #: docs/methods.md §1.5
    label_smoothing: float = 0.055  #: docs/methods.md §1.4
    ce_weight: float = 1.0  #: weight of the cross-entropy (CRPN's lambda_1 = 2; 0 when a method's own terms replace it)
    targets: str = "soft"  #: "soft" = FER+ vote distributions, "hard" = majority-protocol labels
    class_weights: str = "none"  #: "none" or "inverse_freq" (docs/methods.md §1.4 / §8 #6: inverse frequency, mean 1)
    # augmentation
    crop_mode: str = "pad"  #: "pad" = random crop with replicate padding, "resized" = random resized crop, "none"
    crop_pad: int = 4
    rrc_scale: tuple[float, float] = (0.75, 1.0)  #: area fraction of the random resized crop
    rrc_ratio: tuple[float, float] = (0.85, 1.18)  #: aspect-ratio range of the random resized crop
    flip_p: float = 0.5
    affine_p: float = 0.5  #: probability of the rotation + scale warp
    rotate_deg: float = 10.0
    scale_range: tuple[float, float] = (0.9, 1.1)
    erase_p: float = 0.25
    erase_area: tuple[float, float] = (0.02, 0.15)
    # run
    tta_flip: bool = True  #: evaluate (and export) the flip-averaging wrapper
    select_metric: str = "accuracy"  #: valid metric for best-checkpoint selection: "accuracy" (majority) or "macro_f1"
    amp_bf16: bool = True
    channels_last: bool = True
    seed: int = 0
    threads: int = 1  #: torch intra-op threads (the team machines have 2 cores; leave one free)
    eval_batch_size: int = 256
    limit_train: int = 0  #: use only the first N training images (0 = all); for smoke tests
    # distillation terms of NeuroGaze-Distill (docs/methods.md §1.4, models/methods/neurogaze/losses.py); weight 0 = off
    kd_weight: float = 0.0  #: lambda_kd (NeuroGaze: 0.30); needs a frozen FER teacher
    kd_mode: str = "mse_prob"  #: "mse_prob", "mse_logit" or "kl"
    kd_temperature: float = 5.0
    proto_weight: float = 0.0  #: lambda_proto (NeuroGaze: 0.12); needs a prototype bank
    proto_tau: float = 0.9  #: temperature of q_stu
    proto_target: str = "class_anchor"  #: q_pro: "class_anchor", "gaussian_grid" or "teacher_mix"
    proto_target_tau: float = 0.9  #: temperature of the class-anchor q_pro
    proto_sigma: float = 0.4  #: width of the gaussian_grid q_pro
    dgeo_weight: float = 0.0  #: lambda_geo (NeuroGaze: 0.012)
    dgeo_kappa: float = 0.2
    dgeo_margin: float = 0.2
    dgeo_start: float = 20.0  #: ramp start epoch ("late cosine")
    dgeo_end: float = 60.0
    dgeo_hard_gate: float = 0.0
    dgeo_positive: tuple[str, ...] = ("happiness", "surprise")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "VisualTrainConfig":
        names = {f.name: f for f in fields(cls)}
        kw = {k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in d.items() if k in names}
        return cls(**kw)

    def check(self) -> None:
        if self.in_channels not in (1, 3):
            raise ValueError(f"in_channels must be 1 or 3, got {self.in_channels}")
        if len(self.mean) not in (1, self.in_channels) or len(self.std) != len(self.mean):
            raise ValueError(f"mean/std need 1 or {self.in_channels} values, got {self.mean} / {self.std}")
        if self.targets not in ("soft", "hard"):
            raise ValueError(f"targets must be 'soft' or 'hard', got {self.targets!r}")
        if self.class_weights not in ("none", "inverse_freq"):
            raise ValueError(f"class_weights must be 'none' or 'inverse_freq', got {self.class_weights!r}")
        if self.crop_mode not in ("pad", "resized", "none"):
            raise ValueError(f"crop_mode must be 'pad', 'resized' or 'none', got {self.crop_mode!r}")
        if self.lr_schedule not in ("warmup_cosine", "cyclic_cosine"):
            raise ValueError(f"lr_schedule must be 'warmup_cosine' or 'cyclic_cosine', got {self.lr_schedule!r}")
        if self.select_metric not in ("accuracy", "macro_f1"):
            raise ValueError(f"select_metric must be 'accuracy' or 'macro_f1', got {self.select_metric!r}")
        unknown = set(self.dgeo_positive) - set(FERPLUS_CLASSES)
        if unknown:
            raise ValueError(f"dgeo_positive names unknown classes {sorted(unknown)}; classes: {list(FERPLUS_CLASSES)}")


class ExtraLoss:
    """Terms a method adds to the (``ce_weight``-scaled) cross-entropy of :func:`train`.

    :meth:`loss` sees the model's output, the augmented batch, its targets, the fractional epoch and the batch's
    indices into the training split (for per-sample state such as CRPN's concept targets).
    """

    def check(self, cfg: VisualTrainConfig) -> None:
        """Refuse a config these terms cannot serve (before any training)."""

    def attach(self, model: nn.Module) -> None:
        """Give the freshly built model what it must carry (saved with it), e.g. a prototype bank."""

    def loss(self, out, x: torch.Tensor, target: torch.Tensor, epoch: float, cfg: VisualTrainConfig,
             idx: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


@dataclass
class Distillation(ExtraLoss):
    """NeuroGaze-Distill's terms and what they need besides the config: the frozen FER teacher (normalised batch ->
    logits), the frozen prototype bank, and the classes' (valence, arousal) anchors for Proto-KD's target."""

    teacher: Callable[[torch.Tensor], torch.Tensor] | None = None
    bank: PrototypeBank | None = None
    anchors: tuple[tuple[float, float], ...] = METHODS_ANCHORS

    def check(self, cfg: VisualTrainConfig) -> None:
        if (cfg.kd_weight > 0 or cfg.proto_target == "teacher_mix" and cfg.proto_weight > 0) and self.teacher is None:
            raise ValueError("kd_weight > 0 (or the teacher_mix Proto-KD target) needs a KD teacher")
        if cfg.proto_weight > 0 and self.bank is None:
            raise ValueError("proto_weight > 0 needs a prototype bank")

    def attach(self, model: nn.Module) -> None:
        if self.bank is not None:
            model.set_prototypes(self.bank)

    def loss(self, out, x: torch.Tensor, target: torch.Tensor, epoch: float, cfg: VisualTrainConfig,
             idx: torch.Tensor | None = None) -> torch.Tensor:
        """lambda_kd L_KD + lambda_proto KL(q_pro || q_stu) + lambda_geo w(e) L_DGeo for one batch."""
        labels = target.argmax(dim=1) if target.ndim == 2 else target  # soft vote targets: their top class
        logits, emb = out.logits.float(), out.embedding.float()
        total = logits.sum() * 0.0
        teacher_logits = None
        if self.teacher is not None and (cfg.kd_weight > 0 or cfg.proto_target == "teacher_mix"):
            with torch.no_grad():
                teacher_logits = self.teacher(x).float()
        if cfg.kd_weight > 0:
            total = total + cfg.kd_weight * kd_loss(logits, teacher_logits, cfg.kd_mode, cfg.kd_temperature)
        if cfg.proto_weight > 0:
            probs = torch.softmax(teacher_logits, dim=1) if teacher_logits is not None else None
            q_pro = proto_targets(labels, self.bank, self.anchors, cfg.proto_target, cfg.proto_target_tau,
                                  cfg.proto_sigma, probs)
            total = total + cfg.proto_weight * proto_kd_loss(emb, self.bank, q_pro, cfg.proto_tau)
        ramp = dgeo_ramp(epoch, cfg.dgeo_start, cfg.dgeo_end, cfg.dgeo_hard_gate) if cfg.dgeo_weight > 0 else 0.0
        if ramp > 0:
            positive = [FERPLUS_CLASSES.index(c) for c in cfg.dgeo_positive]
            total = total + cfg.dgeo_weight * ramp * dgeo_loss(emb, labels, positive, cfg.dgeo_kappa,
                                                               cfg.dgeo_margin)
        return total


# fields that may differ between a checkpoint and a resumed run without changing what is trained
_RESUME_FREE = {"epochs", "threads", "eval_batch_size"}


# ----------------------------------------------------------------------------------------------------------------
# data


@dataclass
class SplitData:
    """One split ready for training/evaluation: uint8 images at the training size, votes, targets."""

    images: np.ndarray  #: (N, S, S) uint8
    votes: np.ndarray  #: (N, 10)
    raw: np.ndarray  #: (N, 48, 48) uint8 as shipped (for pixel-twin checks)


@dataclass
class FerData:
    train: SplitData
    valid: SplitData
    test: SplitData | None
    targets: np.ndarray  #: (N_train,) int64 hard labels or (N_train, 8) float32 vote distributions
    class_counts: np.ndarray  #: (8,) majority-protocol counts among the training images used
    train_raw_all: np.ndarray | None = None  #: every train image as shipped (pixel-twin checks), any label


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    """cv2 bilinear resize of (N, 48, 48) uint8 (a no-op at 48) -- the same call a deployed consumer makes."""
    if images.shape[1:] == (size, size):
        return images
    import cv2

    return np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_LINEAR) for im in images])


def load_ferplus(
    cfg: VisualTrainConfig,
    root: str | os.PathLike[str] = DEFAULT_DATA,
    cache_dir: str | os.PathLike[str] | None = None,
    with_test: bool = False,
) -> FerData:
    """Load FER+ train/valid (and test only when asked) into memory.

    Training images: those :func:`argmax_labels` keeps (soft targets) or :func:`majority_labels` keeps (hard).
    Decoded images are cached in ``cache_dir`` (default: the user cache dir, outside the repository).
    """
    cache_dir = default_cache_dir() if cache_dir is None else cache_dir
    tr = load_split(root, "train", cache_dir=cache_dir)
    va = load_split(root, "valid", cache_dir=cache_dir)
    te = load_split(root, "test", cache_dir=cache_dir) if with_test else None
    if cfg.targets == "soft":
        keep = argmax_labels(tr.votes) >= 0
        targets = vote_probabilities(tr.votes)[keep]
    else:
        keep = majority_labels(tr.votes) >= 0
        targets = majority_labels(tr.votes)[keep]
    idx = np.flatnonzero(keep)
    if cfg.limit_train:
        idx, targets = idx[: cfg.limit_train], targets[: cfg.limit_train]
    maj = majority_labels(tr.votes[idx])
    counts = np.bincount(maj[maj >= 0], minlength=N_CLASSES)

    def split(s, sel=None):
        raw = s.images if sel is None else s.images[sel]
        votes = s.votes if sel is None else s.votes[sel]
        return SplitData(_resize(raw, cfg.image_size), votes, raw)

    return FerData(split(tr, idx), split(va), split(te) if te is not None else None, targets, counts,
                   tr.images if with_test else None)


def preprocess(images: np.ndarray | torch.Tensor, cfg: VisualTrainConfig) -> torch.Tensor:
    """uint8 ``(N, S, S)`` at the training size -> normalised float32 ``(N, C, S, S)``.

    Exactly the manifest's ``input`` block (:func:`input_spec`): repeat grey to C channels, multiply by
    ``1/255``, subtract ``mean``, divide by ``std``.
    """
    x = torch.as_tensor(images)
    x = x.to(torch.float32).unsqueeze(1) * np.float32(1 / 255)
    if cfg.in_channels == 3:
        x = x.expand(-1, 3, -1, -1)
    c = len(cfg.mean)
    mean = torch.tensor(cfg.mean, dtype=torch.float32).view(1, c, 1, 1)
    std = torch.tensor(cfg.std, dtype=torch.float32).view(1, c, 1, 1)
    return ((x - mean) / std).contiguous()


def input_spec(cfg: VisualTrainConfig) -> dict[str, Any]:
    """The manifest ``input`` block: how to turn a 48x48 grey uint8 image into the model input."""
    c = cfg.in_channels
    return {
        "name": "image",
        "layout": "NCHW",
        "dtype": "float32",
        "channels": c,
        "size": [cfg.image_size, cfg.image_size],
        "resize": "cv2.INTER_LINEAR (only when size != 48)",
        "color": "grayscale" if c == 1 else "grayscale repeated to 3 channels",
        "scale": 1 / 255,
        "mean": list(cfg.mean) * (c if len(cfg.mean) == 1 else 1),
        "std": list(cfg.std) * (c if len(cfg.std) == 1 else 1),
        "formula": "x = (resize(gray_uint8) * scale - mean[c]) / std[c]",
    }


# ----------------------------------------------------------------------------------------------------------------
# augmentation: batched, (B, C, H, W) float -> same shape and dtype; all randomness from ``gen``


def _uniform(n: int, lo: float, hi: float, gen: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=gen)


def random_pad_crop(x: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """Random crop of the original size from the image padded by ``pad`` (replicate), i.e. a +-pad px shift."""
    if pad <= 0:
        return x
    b, c, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    rows = (oy[:, None] + torch.arange(h))[:, None, :, None].expand(b, c, h, w + 2 * pad)
    cols = (ox[:, None] + torch.arange(w))[:, None, None, :].expand(b, c, h, w)
    return xp.gather(2, rows).gather(3, cols)


def _warp(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_resized_crop(
    x: torch.Tensor, scale: tuple[float, float], ratio: tuple[float, float], gen: torch.Generator
) -> torch.Tensor:
    """Crop a random box of area fraction ``scale`` and aspect ``ratio`` and resize it back (bilinear)."""
    b = x.shape[0]
    area = _uniform(b, *scale, gen)
    logr = _uniform(b, math.log(ratio[0]), math.log(ratio[1]), gen)
    sw = torch.sqrt(area * torch.exp(logr)).clamp(max=1.0)
    sh = torch.sqrt(area / torch.exp(logr)).clamp(max=1.0)
    tx = (1 - sw) * (2 * torch.rand(b, generator=gen) - 1)
    ty = (1 - sh) * (2 * torch.rand(b, generator=gen) - 1)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sw, tx, sh, ty
    return _warp(x, theta)


def random_flip(x: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability ``p``."""
    if p <= 0:
        return x
    flip = (torch.rand(x.shape[0], generator=gen) < p).view(-1, 1, 1, 1)
    return torch.where(flip, x.flip(3), x)


def random_affine(
    x: torch.Tensor, p: float, degrees: float, scale: tuple[float, float], gen: torch.Generator
) -> torch.Tensor:
    """With probability ``p`` per image: rotate by U(-degrees, degrees) and zoom by U(scale) about the centre."""
    if p <= 0:
        return x
    b = x.shape[0]
    angle = torch.deg2rad(_uniform(b, -degrees, degrees, gen))
    s = _uniform(b, *scale, gen)
    apply = torch.rand(b, generator=gen) < p
    angle, s = torch.where(apply, angle, 0.0), torch.where(apply, s, 1.0)
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s  # output -> input sampling map (zoom in for s > 1)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
    out = _warp(x, theta)
    return torch.where(apply.view(-1, 1, 1, 1), out, x)  # untouched images stay bit-exact


def random_erasing(
    x: torch.Tensor, p: float, area: tuple[float, float], gen: torch.Generator, value: float = 0.0
) -> torch.Tensor:
    """With probability ``p`` per image, set a random rectangle (area fraction ``area``, aspect 0.3..3.3) to
    ``value`` (0 = the normalised mean grey)."""
    if p <= 0:
        return x
    b, _, h, w = x.shape
    a = _uniform(b, *area, gen) * h * w
    r = torch.exp(_uniform(b, math.log(0.3), math.log(3.3), gen))
    eh = torch.sqrt(a * r).round().clamp(1, h).long()
    ew = torch.sqrt(a / r).round().clamp(1, w).long()
    top = (torch.rand(b, generator=gen) * (h - eh + 1)).long()
    left = (torch.rand(b, generator=gen) * (w - ew + 1)).long()
    apply = torch.rand(b, generator=gen) < p
    ys, xs = torch.arange(h).view(1, h, 1), torch.arange(w).view(1, 1, w)
    mask = (
        (ys >= top.view(-1, 1, 1)) & (ys < (top + eh).view(-1, 1, 1))
        & (xs >= left.view(-1, 1, 1)) & (xs < (left + ew).view(-1, 1, 1))
        & apply.view(-1, 1, 1)
    )
    return x.masked_fill(mask.unsqueeze(1), value)


def augment(x: torch.Tensor, cfg: VisualTrainConfig, gen: torch.Generator) -> torch.Tensor:
    """The training augmentation: crop, flip, rotation+scale, erasing (each skipped when its strength is 0)."""
    if cfg.crop_mode == "pad":
        x = random_pad_crop(x, cfg.crop_pad, gen)
    elif cfg.crop_mode == "resized":
        x = random_resized_crop(x, cfg.rrc_scale, cfg.rrc_ratio, gen)
    x = random_flip(x, cfg.flip_p, gen)
    x = random_affine(x, cfg.affine_p, cfg.rotate_deg, cfg.scale_range, gen)
    return random_erasing(x, cfg.erase_p, cfg.erase_area, gen)


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


def build_model(cfg: VisualTrainConfig) -> VisualStudent:
    return VisualStudent(cfg.in_channels, cfg.width_mult, embedding_dim=cfg.embedding_dim, stem_pool=cfg.stem_pool)


def make_optimizer(model: nn.Module, cfg: VisualTrainConfig) -> torch.optim.AdamW:
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


def scheduled_lr(step: int, total_steps: int, warmup_steps: int, cfg: VisualTrainConfig) -> float:
    """The learning rate of ``step`` under ``cfg.lr_schedule``: :func:`lr_at`, or CRPN's per-batch
    ``CosineAnnealingLR(T_max, eta_min=0)``, which keeps going past ``T_max`` and so oscillates between ``lr`` and 0
    with a period of ``2 * T_max`` steps (docs/methods.md §4.5, §8 #21)."""
    if cfg.lr_schedule == "cyclic_cosine":
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * step / cfg.cosine_t_max))
    return lr_at(step, total_steps, warmup_steps, cfg.lr, cfg.final_lr_ratio)


def _class_weight_tensor(cfg: VisualTrainConfig, counts: np.ndarray) -> torch.Tensor | None:
    if cfg.class_weights == "none":
        return None
    inv = 1.0 / np.maximum(counts, 1)
    return torch.tensor(inv / inv.mean(), dtype=torch.float32)


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    target: torch.Tensor,
    cfg: VisualTrainConfig,
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
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.amp_bf16):
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
def predict_logits(model: VisualStudent, images: np.ndarray, cfg: VisualTrainConfig) -> np.ndarray:
    """Eval-mode logits for uint8 ``(N, S, S)`` images (with flip TTA when ``cfg.tta_flip``)."""
    model.eval()
    net = (FlipTTA(model) if cfg.tta_flip else LogitsOnly(model)).eval()  # export restores the mode it finds
    out = []
    for i in range(0, len(images), cfg.eval_batch_size):
        x = preprocess(images[i : i + cfg.eval_batch_size], cfg)
        if cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.amp_bf16):
            out.append(net(x).float())
    return torch.cat(out).numpy()


# ----------------------------------------------------------------------------------------------------------------
# checkpoints (weights-only: plain tensors, dicts, lists, numbers, strings)


def _atomic_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    gen: torch.Generator,
    epoch: int,
    history: list[dict[str, Any]],
    best: dict[str, Any],
    cfg: VisualTrainConfig,
) -> None:
    """Everything needed to continue exactly: weights, optimiser moments, RNG states, epochs done, history."""
    _atomic_save(
        {
            "format": CHECKPOINT_FORMAT,
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "generator": gen.get_state(),
            "torch_rng": torch.get_rng_state(),
            "history": history,
            "best": best,
            "config": cfg.to_dict(),
        },
        Path(path),
    )


def load_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    gen: torch.Generator | None = None,
) -> dict[str, Any]:
    """Restore what :func:`save_checkpoint` wrote (``weights_only=True``); returns the checkpoint dict."""
    ckpt = torch.load(Path(path), map_location="cpu", weights_only=True)
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: unknown checkpoint format {ckpt.get('format')!r}")
    model.load_state_dict(ckpt["model"])
    if optimizer is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
    if gen is not None:
        gen.set_state(ckpt["generator"])
    torch.set_rng_state(ckpt["torch_rng"])
    return ckpt


# ----------------------------------------------------------------------------------------------------------------
# metrics


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = N_CLASSES) -> dict[str, Any]:
    """Accuracy, macro-F1 (all ``n_classes``, zero_division 0), balanced accuracy and the confusion matrix
    (rows = true class), computed by :mod:`affectstream.models.training.evaluation` - the project's one implementation of each."""
    cm = evaluation.confusion_matrix(y_true, y_pred, n_classes)
    f1 = evaluation.per_class_f1(y_true, y_pred, n_classes)
    support = cm.sum(1)
    recall = np.divide(np.diag(cm), support, out=np.zeros(n_classes), where=support > 0)
    return {
        "n": int(len(y_true)),
        "accuracy": evaluation.accuracy(y_true, y_pred),
        "macro_f1": evaluation.macro_f1(y_true, y_pred, n_classes),
        "balanced_accuracy": evaluation.balanced_accuracy(y_true, y_pred, n_classes),
        "per_class_f1": {c: float(v) for c, v in zip(FERPLUS_CLASSES, f1)},
        "per_class_recall": {c: float(v) for c, v in zip(FERPLUS_CLASSES, recall)},
        "confusion_matrix": cm.tolist(),
    }


def fer_metrics(logits: np.ndarray, votes: np.ndarray, twin: np.ndarray | None = None) -> dict[str, Any]:
    """FER+ metrics of ``(N, 8)`` logits against ``(N, 10)`` votes.

    ``accuracy`` (and macro-F1, balanced accuracy, confusion matrix) use the majority protocol; also the plain-argmax
    accuracy. ``twin``: ``(N,)`` bool, images with a pixel-identical training image; adds the majority-protocol
    accuracy on the images without one.
    """
    pred = np.asarray(logits).argmax(1)
    maj, arg = majority_labels(votes), argmax_labels(votes)
    km, ka = maj >= 0, arg >= 0
    m = classification_metrics(maj[km], pred[km])
    out: dict[str, Any] = {
        "protocol": "FER+ majority (votes of 1 dropped, top > half of the remaining 10-column votes)",
        "accuracy": m["accuracy"],
        "accuracy_plain_argmax": float((pred[ka] == arg[ka]).mean()),
        "macro_f1": m["macro_f1"],
        "balanced_accuracy": m["balanced_accuracy"],
        "n_majority": int(km.sum()),
        "n_plain_argmax": int(ka.sum()),
        "per_class_f1": m["per_class_f1"],
        "per_class_recall": m["per_class_recall"],
        "confusion_matrix": m["confusion_matrix"],
        "confusion_matrix_axes": "rows = majority label, columns = prediction, order = classes",
    }
    if twin is not None:
        clean = km & ~twin
        out["accuracy_no_train_twin"] = float((pred[clean] == maj[clean]).mean())
        out["n_no_train_twin"] = int(clean.sum())
        out["n_with_train_twin"] = int((km & twin).sum())
        if (km & twin).any():
            out["accuracy_with_train_twin"] = float((pred[km & twin] == maj[km & twin]).mean())
    return out


def fer_split_scores(logits: np.ndarray, votes: np.ndarray) -> dict[str, Any]:
    """A split's scores as the trainer's FER+ methods report them: the 8-way metrics (majority protocol), the
    present-only ones (docs/methods.md §1.6; on FER+ all 8 are present), and the per-image majority labels and predictions
    (``labels``, ``predictions``; images without a majority dropped) for paired tests between two models."""
    m = fer_metrics(logits, votes)
    labels = majority_labels(votes)
    keep = labels >= 0
    p = evaluation.present_only(labels[keep], logits[keep])
    return {"8way": {k: m[k] for k in ("accuracy", "macro_f1", "balanced_accuracy", "n_majority", "confusion_matrix")},
            "present_only": {k: p[k] for k in ("accuracy", "macro_f1", "balanced_accuracy")},
            "labels": labels[keep].tolist(), "predictions": np.asarray(logits)[keep].argmax(1).tolist()}


# ----------------------------------------------------------------------------------------------------------------
# training loop


@dataclass
class TrainResult:
    model: VisualStudent  #: the best-on-valid weights
    history: list[dict[str, Any]]
    best: dict[str, Any]
    epochs_run: int


def train(
    cfg: VisualTrainConfig,
    data: FerData,
    ckpt_dir: str | os.PathLike[str] | None = None,
    resume: bool = True,
    progress: bool = True,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    max_epochs: int | None = None,
    distill: ExtraLoss | None = None,
    model: nn.Module | None = None,
) -> TrainResult:
    """Train with per-epoch valid evaluation, checkpointing and best-on-valid selection.

    ``ckpt_dir/last.pt`` is written after every epoch and ``ckpt_dir/best.pt`` whenever the valid
    ``select_metric`` improves. With ``resume`` and an existing ``last.pt`` training continues after its epoch.
    ``max_epochs`` stops this call after that many epochs (the schedule stays the ``cfg.epochs`` one), e.g. to
    time-box a run and resume it later. Runs on ``cfg.threads`` torch threads (restored afterwards); seeds the
    global torch RNG with ``cfg.seed``. ``model`` is a freshly built network to train instead of the visual student
    (any module whose output has ``logits``), built *after* the seeding only if it is None -- so a method that brings
    its own builds it, seeded, itself. ``distill`` adds a method's terms (:class:`ExtraLoss`, e.g. NeuroGaze-Distill's
    :class:`Distillation`, whose
    prototype bank is attached to the model (and so saved with it).
    """
    cfg.check()
    if distill is not None:
        distill.check(cfg)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return _train(cfg, data, ckpt_dir, resume, progress, on_epoch, max_epochs, distill, model)
    finally:
        torch.set_num_threads(previous_threads)


def _train(cfg, data, ckpt_dir, resume, progress, on_epoch, max_epochs, distill, model) -> TrainResult:
    torch.manual_seed(cfg.seed)
    model = build_model(cfg) if model is None else model
    if distill is not None:
        distill.attach(model)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, cfg)
    gen = torch.Generator().manual_seed(cfg.seed)
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"epoch": -1, "metric": -math.inf}
    start = 0
    ckpt = Path(ckpt_dir) if ckpt_dir is not None else None
    if ckpt is not None and resume and (ckpt / "last.pt").is_file():
        state = load_checkpoint(ckpt / "last.pt", model, optimizer, gen)
        old = VisualTrainConfig.from_dict(state["config"])
        diff = {f.name for f in fields(cfg) if getattr(old, f.name) != getattr(cfg, f.name)} - _RESUME_FREE
        if diff:
            raise ValueError(f"{ckpt / 'last.pt'} was trained with different settings {sorted(diff)}; "
                             "use another --ckpt-dir or --fresh")
        if old.epochs != cfg.epochs:
            log.warning("resuming a %d-epoch schedule with epochs=%d: the cosine schedule changes", old.epochs,
                        cfg.epochs)
        start, history, best = int(state["epoch"]), list(state["history"]), dict(state["best"])
        log.info("resumed from %s after epoch %d", ckpt / "last.pt", start)

    n = len(data.train.images)
    steps_per_epoch = n // cfg.batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"{n} training images < batch size {cfg.batch_size}")
    total = steps_per_epoch * cfg.epochs
    warmup = int(round(cfg.warmup_epochs * steps_per_epoch))
    class_weight = _class_weight_tensor(cfg, data.class_counts)
    targets = torch.as_tensor(data.targets)
    images = torch.as_tensor(data.train.images)

    stop = cfg.epochs if max_epochs is None else min(cfg.epochs, start + max_epochs)
    for epoch in range(start, stop):
        t0 = time.perf_counter()
        order = torch.randperm(n, generator=gen)
        losses = []
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress,
                   mininterval=5.0, file=sys.stderr, dynamic_ncols=False, ncols=100)
        for i in bar:
            step = epoch * steps_per_epoch + i
            lr = scheduled_lr(step, total, warmup, cfg)
            for g in optimizer.param_groups:
                g["lr"] = lr
            idx = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            x = augment(preprocess(images[idx], cfg), cfg, gen)
            losses.append(train_step(model, optimizer, x, targets[idx], cfg, class_weight, distill,
                                     epoch + i / steps_per_epoch, idx))
            if i % 20 == 0:
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}", lr=f"{lr:.2e}")
        bar.close()
        train_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        vm = fer_metrics(predict_logits(model, data.valid.images, cfg), data.valid.votes)
        eval_s = time.perf_counter() - t1
        row = {
            "epoch": epoch + 1,
            "train_loss": float(np.mean(losses)),
            "valid_accuracy": vm["accuracy"],
            "valid_accuracy_plain_argmax": vm["accuracy_plain_argmax"],
            "valid_macro_f1": vm["macro_f1"],
            "valid_balanced_accuracy": vm["balanced_accuracy"],
            "lr_end": lr,
            "train_s": round(train_s, 1),
            "eval_s": round(eval_s, 1),
            "train_img_per_s": round(steps_per_epoch * cfg.batch_size / train_s, 1),
        }
        history.append(row)
        metric = vm[cfg.select_metric]
        if metric > best["metric"]:
            best = {"epoch": epoch + 1, "metric": metric, "name": f"valid_{cfg.select_metric}"}
            if ckpt is not None:
                _atomic_save({"format": CHECKPOINT_FORMAT, "epoch": epoch + 1, "model": model.state_dict(),
                              "config": cfg.to_dict(), "metric": metric}, ckpt / "best.pt")
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        if ckpt is not None:
            save_checkpoint(ckpt / "last.pt", model, optimizer, gen, epoch + 1, history, best, cfg)
        msg = (f"epoch {epoch + 1}/{cfg.epochs} loss {row['train_loss']:.4f} valid acc {vm['accuracy']:.4f} "
               f"(plain {vm['accuracy_plain_argmax']:.4f}, macro-F1 {vm['macro_f1']:.4f}) "
               f"train {train_s:.0f}s ({row['train_img_per_s']} img/s) eval {eval_s:.0f}s"
               f"{'  *best*' if best['epoch'] == epoch + 1 else ''}")
        log.info(msg)
        if on_epoch is not None:
            on_epoch(row)

    # best weights: this run's copy, or best.pt when the best epoch was before a resume
    if best["epoch"] > start:
        model.load_state_dict(best_state)
    elif ckpt is not None and (ckpt / "best.pt").is_file():
        model.load_state_dict(torch.load(ckpt / "best.pt", map_location="cpu", weights_only=True)["model"])
    model.eval()
    return TrainResult(model, history, best, len(history))


# ----------------------------------------------------------------------------------------------------------------
# export, test evaluation, manifest, report


def onnx_logits(session, images: np.ndarray, cfg: VisualTrainConfig, batch: int = 256) -> np.ndarray:
    """Logits of uint8 ``(N, S, S)`` images through an onnxruntime session (input ``image``)."""
    name = session.get_inputs()[0].name
    out = [session.run(None, {name: preprocess(images[i : i + batch], cfg).numpy()})[0]
           for i in range(0, len(images), batch)]
    return np.concatenate(out)


def median_latency_ms(session, x: np.ndarray, runs: int = 300, warmup: int = 30) -> float:
    """Median wall time of ``session.run`` on one input, in ms."""
    name = session.get_inputs()[0].name
    for _ in range(warmup):
        session.run(None, {name: x})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        session.run(None, {name: x})
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e3)


def _git_commit() -> str | None:
    try:
        import subprocess

        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip() or None
    except Exception:  # noqa: BLE001 - provenance only
        return None


def export_and_report(
    cfg: VisualTrainConfig,
    result: TrainResult,
    data: FerData,
    out_dir: str | os.PathLike[str],
    report_dir: str | os.PathLike[str] | None,
    command: str,
    try_int8: bool = True,
    latency_threads: int = 1,
) -> dict[str, Any]:
    """Export the best model (with flip TTA inside the graph), score valid and -- once -- test through the ONNX
    file, optionally quantise to int8 (kept only if within 0.5 pp of fp32 on test and faster), write the manifest
    entry and the short-run report. Returns the manifest entry."""
    from affectstream.models.deploy.export import export_onnx, quantize_static_int8
    from affectstream.models.deploy.runtime import make_session
    from affectstream.models.deploy.manifest import save_entry

    if data.test is None:
        raise ValueError("export_and_report needs the test split (load_ferplus(..., with_test=True))")
    out_dir = Path(out_dir)
    model = result.model.to(memory_format=torch.contiguous_format).float().eval()
    net = (FlipTTA(model) if cfg.tta_flip else LogitsOnly(model)).eval()  # export restores the mode it finds
    fp32_path = out_dir / "visual_student.onnx"
    example = preprocess(data.valid.images[:2], cfg)
    export_onnx(net, example, fp32_path, ["image"], ["logits"])

    # parity of the exported graph against torch fp32 on real valid images
    sess = make_session(fp32_path, threads=cfg.threads)
    xs = preprocess(data.valid.images[:64], cfg)
    with torch.no_grad():
        ref = net(xs).numpy()
    parity = float(np.abs(sess.run(None, {"image": xs.numpy()})[0] - ref).max())
    if parity > 1e-3:
        raise RuntimeError(f"ONNX/torch parity {parity:.2e} > 1e-3")

    def twins(raw: np.ndarray) -> np.ndarray:
        mask = np.zeros(len(raw), bool)
        if data.train_raw_all is not None:
            pairs = find_pixel_twins(raw, data.train_raw_all)
            mask[np.unique(pairs[:, 0])] = True
        return mask

    twin_valid, twin_test = twins(data.valid.raw), twins(data.test.raw)
    valid_m = fer_metrics(onnx_logits(sess, data.valid.images, cfg), data.valid.votes, twin_valid)
    test_m = fer_metrics(onnx_logits(sess, data.test.images, cfg), data.test.votes, twin_test)  # the one test pass
    one = preprocess(data.test.images[:1], cfg).numpy()
    lat_sess = make_session(fp32_path, threads=latency_threads)
    lat_fp32 = median_latency_ms(lat_sess, one)

    quant: dict[str, Any] = {"tried": bool(try_int8)}
    int8_path = out_dir / "visual_student_int8.onnx"
    if try_int8:
        rng = np.random.default_rng(cfg.seed)
        calib_idx = rng.permutation(len(data.valid.images))[:500]
        calib = [preprocess(data.valid.images[calib_idx[i : i + 50]], cfg).numpy() for i in range(0, 500, 50)]
        quantize_static_int8(fp32_path, int8_path, calib)
        qs = make_session(int8_path, threads=cfg.threads)
        q_test = fer_metrics(onnx_logits(qs, data.test.images, cfg), data.test.votes, twin_test)
        lat_int8 = median_latency_ms(make_session(int8_path, threads=latency_threads), one)
        keep = (q_test["accuracy"] >= test_m["accuracy"] - 0.005) and (lat_int8 < 0.9 * lat_fp32)
        quant.update({
            "calibration": "500 FER+ valid images (seeded sample), static QDQ, MinMax, per-channel int8 weights",
            "test_accuracy_int8": q_test["accuracy"],
            "test_accuracy_fp32": test_m["accuracy"],
            "test_macro_f1_int8": q_test["macro_f1"],
            "latency_ms_batch1_int8": lat_int8,
            "latency_ms_batch1_fp32": lat_fp32,
            "rule": "kept only if test accuracy within 0.5 pp of fp32 and median batch-1 latency < 0.9x fp32",
            "kept": bool(keep),
        })
        if not keep:
            int8_path.unlink(missing_ok=True)

    classes = list(FERPLUS_CLASSES)
    params = count_parameters(model)
    drop = ("per_class_recall",)
    entry: dict[str, Any] = {
        "file": fp32_path.name,
        "task": "fer_plus_8class",
        "classes": classes,
        "params": params,
        "architecture": (f"VisualStudent(in_channels={cfg.in_channels}, width_mult={cfg.width_mult}, "
                         f"stem_pool={cfg.stem_pool}) wrapped in "
                         + ("FlipTTA (logits averaged over x and its left-right mirror, inside the graph)"
                            if cfg.tta_flip else "a logits-only wrapper")),
        "input": input_spec(cfg),
        "outputs": {"logits": "logits"},
        "outputs_note": ("only the FER+ classifier is trained by this supervised run; the embedding and "
                         "valence/arousal heads are untrained and not exported. Class probabilities = "
                         "softmax(logits)."),
        "trained_on": "FER+ train split (real data, ../shared/data/fer)",
        "data": "real",
        "metrics": {
            "fer_plus_test": {k: v for k, v in test_m.items() if k not in drop},
            "fer_plus_valid": {**{k: v for k, v in valid_m.items() if k not in drop},
                               "note": "valid selected the checkpoint (optimistic)"},
            "latency_ms_batch1_median": {"onnxruntime_fp32": lat_fp32, "threads": latency_threads},
            "onnx_torch_max_abs_diff": parity,
        },
        "quantization": quant,
        "command": command,
        "training": {
            "config": cfg.to_dict(),
            "epochs_run": len(result.history),
            "best_epoch": result.best["epoch"],
            "selection": result.best.get("name"),
            "history": result.history,
            "train_images": int(len(data.train.images)),
            "git_commit": _git_commit(),
        },
        "short_run": True,
    }
    manifest_path = out_dir / "manifest.json"
    save_entry("visual_student", entry, path=manifest_path)
    if quant.get("kept"):
        int8_metrics = {
            "fer_plus_test": {k: v for k, v in q_test.items() if k not in drop},
            "latency_ms_batch1_median": {"onnxruntime_int8": quant["latency_ms_batch1_int8"],
                                         "threads": latency_threads},
        }
        save_entry("visual_student_int8", {**entry, "file": int8_path.name, "metrics": int8_metrics,
                                           "quantized_from": fp32_path.name}, path=manifest_path)
    if report_dir is not None:
        write_report(entry, Path(report_dir))
    return entry


def write_report(entry: dict[str, Any], report_dir: Path, stem: str = "visual_student_short") -> tuple[Path, Path]:
    """``<stem>.json`` (the manifest entry plus wall times) and a short human-readable ``<stem>.md``."""
    report_dir.mkdir(parents=True, exist_ok=True)
    tr = entry["training"]
    hist = tr["history"]
    te, va = entry["metrics"]["fer_plus_test"], entry["metrics"]["fer_plus_valid"]
    cfg = tr["config"]
    train_wall = sum(h["train_s"] + h["eval_s"] for h in hist)
    report = {"model": "visual_student", "short_run": True, **entry,
              "wall_time_s": {"training_and_valid_eval": round(train_wall, 1),
                              "mean_epoch_train_s": round(float(np.mean([h["train_s"] for h in hist])), 1)}}
    jpath = report_dir / f"{stem}.json"
    jpath.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    pct = lambda v: f"{100 * v:.2f}"  # noqa: E731
    L = [
        "# Visual student on FER+ — short supervised run",
        "",
        f"**This is a short run**: {tr['epochs_run']} epochs on {cfg['threads']} CPU thread(s) "
        f"(~{np.mean([h['train_img_per_s'] for h in hist]):.0f} training img/s), while docs/methods.md §1.5 trains 100 "
        "epochs from a pretrained backbone with distillation. Supervised only ("
        + ("FER+ vote distributions" if cfg["targets"] == "soft" else "FER+ majority labels")
        + f", cross-entropy with label smoothing {cfg['label_smoothing']}); no KD / Proto-KD / D-Geo.",
        "",
        f"- model: {entry['architecture']}, {entry['params']:,} parameters",
        f"- data: FER+ train ({tr['train_images']:,} images, {cfg['targets']} targets), "
        f"selection on FER+ valid ({tr['selection']}, best epoch {tr['best_epoch']}), test scored once through "
        f"the exported ONNX file (`{entry['file']}`)",
        f"- input: {entry['input']['formula']}, size {entry['input']['size']}, mean {entry['input']['mean']}, "
        f"std {entry['input']['std']}",
        f"- command: `{entry['command']}`",
        f"- wall time: {train_wall / 60:.1f} min training + per-epoch valid evaluation "
        f"(mean epoch {report['wall_time_s']['mean_epoch_train_s']:.0f} s train)",
        "",
        "## Final metrics (ONNX fp32, flip TTA inside the graph)",
        "",
        "| split | majority acc | n | plain-argmax acc | n | macro-F1 | balanced acc | acc w/o train twin | n |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in (("test", te), ("valid (selection split)", va)):
        L.append(f"| {name} | {pct(m['accuracy'])} | {m['n_majority']} | {pct(m['accuracy_plain_argmax'])} | "
                 f"{m['n_plain_argmax']} | {pct(m['macro_f1'])} | {pct(m['balanced_accuracy'])} | "
                 f"{pct(m['accuracy_no_train_twin'])} | {m['n_no_train_twin']} |")
    lat = entry["metrics"]["latency_ms_batch1_median"]
    L += ["", f"ONNX latency, batch 1, median: {lat['onnxruntime_fp32']:.2f} ms (onnxruntime, "
          f"{lat['threads']} thread, both flip passes included)."]
    q = entry.get("quantization", {})
    if q.get("tried"):
        L.append(f"Static int8 (QDQ): test accuracy {pct(q['test_accuracy_int8'])} vs fp32 "
                 f"{pct(q['test_accuracy_fp32'])}, latency {q['latency_ms_batch1_int8']:.2f} ms vs "
                 f"{q['latency_ms_batch1_fp32']:.2f} ms -> {'kept' if q['kept'] else 'not kept'} ({q['rule']}).")
    L += ["", "## Learning curve", "", "| epoch | train loss | valid acc (majority) | valid plain-argmax | "
          "valid macro-F1 | lr at end | train s | img/s |", "|---|---|---|---|---|---|---|---|"]
    for h in hist:
        L.append(f"| {h['epoch']} | {h['train_loss']:.4f} | {pct(h['valid_accuracy'])} | "
                 f"{pct(h['valid_accuracy_plain_argmax'])} | {pct(h['valid_macro_f1'])} | {h['lr_end']:.2e} | "
                 f"{h['train_s']:.0f} | {h['train_img_per_s']} |")
    L += ["", "Valid metrics in the curve are torch (bf16 autocast when enabled); the table above is the fp32 ONNX.",
          "", "## Test confusion matrix (majority protocol; rows = label, columns = prediction)", ""]
    classes = entry["classes"]
    L.append("| | " + " | ".join(classes) + " | recall |")
    L.append("|---" * (len(classes) + 2) + "|")
    for c, row in zip(classes, te["confusion_matrix"]):
        s = sum(row)
        L.append(f"| **{c}** | " + " | ".join(str(v) for v in row) + f" | {pct(row[classes.index(c)] / s) if s else '-'} |")
    L += ["", "Per-class F1 (test): " + ", ".join(f"{c} {pct(v)}" for c, v in te["per_class_f1"].items()), ""]
    mpath = report_dir / f"{stem}.md"
    mpath.write_text("\n".join(L) + "\n", encoding="utf-8")
    return mpath, jpath


# ----------------------------------------------------------------------------------------------------------------
# command line


def _parser(prog: str = "python -m affectstream.models.training.image_loop") -> argparse.ArgumentParser:
    d = VisualTrainConfig()
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", default=str(DEFAULT_DATA), help="FER+ root (FER2013Train.zip, FER2013Valid/, ...)")
    p.add_argument("--out", default=str(ROOT / "models" / "weights"), help="folder of the ONNX files + manifest")
    p.add_argument("--ckpt-dir", default=None, help="checkpoint folder (resumable); none = no checkpoints")
    p.add_argument("--report-dir", default=str(DEFAULT_REPORTS), help="where the short-run report goes")
    p.add_argument("--cache-dir", default=None, help="decoded-image cache (default: user cache dir, outside the repo)")
    p.add_argument("--fresh", action="store_true", help="ignore an existing last.pt in --ckpt-dir")
    p.add_argument("--no-export", action="store_true", help="train only")
    p.add_argument("--no-int8", action="store_true", help="skip the static int8 attempt")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--warmup-epochs", type=float, default=d.warmup_epochs)
    p.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    p.add_argument("--targets", choices=("soft", "hard"), default=d.targets)
    p.add_argument("--class-weights", choices=("none", "inverse_freq"), default=d.class_weights)
    p.add_argument("--width-mult", type=float, default=d.width_mult)
    p.add_argument("--channels", type=int, choices=(1, 3), default=d.in_channels)
    p.add_argument("--image-size", type=int, default=d.image_size)
    p.add_argument("--stem-pool", action=argparse.BooleanOptionalAction, default=d.stem_pool)
    p.add_argument("--crop-mode", choices=("pad", "resized", "none"), default=d.crop_mode)
    p.add_argument("--erase-p", type=float, default=d.erase_p)
    p.add_argument("--rotate-deg", type=float, default=d.rotate_deg)
    p.add_argument("--tta-flip", action=argparse.BooleanOptionalAction, default=d.tta_flip)
    p.add_argument("--select-metric", choices=("accuracy", "macro_f1"), default=d.select_metric)
    p.add_argument("--amp-bf16", action=argparse.BooleanOptionalAction, default=d.amp_bf16)
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=d.channels_last)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--limit-train", type=int, default=d.limit_train, help="first N training images only (smoke)")
    return p


def config_from_args(args: argparse.Namespace) -> VisualTrainConfig:
    d = VisualTrainConfig()
    mean, std = d.mean, d.std
    return replace(
        d, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
        warmup_epochs=args.warmup_epochs, label_smoothing=args.label_smoothing, targets=args.targets,
        class_weights=args.class_weights, width_mult=args.width_mult, in_channels=args.channels,
        image_size=args.image_size, stem_pool=args.stem_pool, crop_mode=args.crop_mode, erase_p=args.erase_p,
        rotate_deg=args.rotate_deg, tta_flip=args.tta_flip, select_metric=args.select_metric,
        amp_bf16=args.amp_bf16, channels_last=args.channels_last, seed=args.seed, threads=args.threads,
        limit_train=args.limit_train, mean=mean, std=std,
    )


def main(argv: Sequence[str] | None = None, prog: str = "python -m affectstream.models.training.image_loop") -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    cfg = config_from_args(args)
    cfg.check()
    torch.set_num_threads(cfg.threads)
    command = f"{prog} {shlex.join(argv)}".strip()
    log.info("config %s", json.dumps(cfg.to_dict()))
    t0 = time.perf_counter()
    data = load_ferplus(cfg, args.data, args.cache_dir, with_test=not args.no_export)
    log.info("FER+ loaded in %.1f s: %d train images (%s targets), %d valid", time.perf_counter() - t0,
             len(data.train.images), cfg.targets, len(data.valid.images))
    result = train(cfg, data, args.ckpt_dir, resume=not args.fresh, progress=not args.no_progress)
    log.info("best %s %.4f at epoch %d", result.best.get("name"), result.best["metric"], result.best["epoch"])
    if args.no_export:
        return 0
    entry = export_and_report(cfg, result, data, args.out, args.report_dir, command,
                              try_int8=not args.no_int8, latency_threads=1)
    te = entry["metrics"]["fer_plus_test"]
    log.info("FER+ test (ONNX): majority acc %.4f (n=%d), plain-argmax %.4f (n=%d), macro-F1 %.4f, bACC %.4f, "
             "no-train-twin acc %.4f (n=%d); latency %.2f ms", te["accuracy"], te["n_majority"],
             te["accuracy_plain_argmax"], te["n_plain_argmax"], te["macro_f1"], te["balanced_accuracy"],
             te["accuracy_no_train_twin"], te["n_no_train_twin"],
             entry["metrics"]["latency_ms_batch1_median"]["onnxruntime_fp32"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
