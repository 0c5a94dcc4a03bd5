"""Training augmentation of the image loop: batched in plain torch, every draw from one seeded
:class:`torch.Generator`.

Each function maps ``(B, C, H, W)`` float to the same shape and dtype: random crop with (replicate) padding or random
resized crop, horizontal flip, small rotation + scale via ``affine_grid``, random erasing. :func:`augment` chains them
as :class:`AugmentConfig` says, drawing in a fixed order, so a generator in the same state gives the same batch (what
makes a resumed run equal an uninterrupted one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

__all__ = ["AugmentConfig", "augment", "random_affine", "random_erasing", "random_flip", "random_pad_crop",
           "random_resized_crop"]


@dataclass(frozen=True)
class AugmentConfig:
    """The augmentation's options (part of :class:`~affectstream.models.training.image_loop.ImageTrainConfig`)."""

    crop_mode: Literal["pad", "resized", "none"] = "pad"  #: random crop with replicate padding, random resized crop
    crop_pad: int = 4  #: pad mode: shift by up to this many pixels
    rrc_scale: tuple[float, float] = (0.75, 1.0)  #: area fraction of the random resized crop
    rrc_ratio: tuple[float, float] = (0.85, 1.18)  #: aspect-ratio range of the random resized crop
    flip_p: float = 0.5
    affine_p: float = 0.5  #: probability of the rotation + scale warp
    rotate_deg: float = 10.0
    scale_range: tuple[float, float] = (0.9, 1.1)
    erase_p: float = 0.25
    erase_area: tuple[float, float] = (0.02, 0.15)


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


def augment(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """The training augmentation: crop, flip, rotation+scale, erasing (each skipped when its strength is 0)."""
    if cfg.crop_mode == "pad":
        x = random_pad_crop(x, cfg.crop_pad, gen)
    elif cfg.crop_mode == "resized":
        x = random_resized_crop(x, cfg.rrc_scale, cfg.rrc_ratio, gen)
    x = random_flip(x, cfg.flip_p, gen)
    x = random_affine(x, cfg.affine_p, cfg.rotate_deg, cfg.scale_range, gen)
    return random_erasing(x, cfg.erase_p, cfg.erase_area, gen)
