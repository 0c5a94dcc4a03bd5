"""FER+ as the image loop sees it: the images in memory at the training size, the training targets, and the one
preprocessing (uint8 -> normalised float) that training, evaluation, export and the manifest's ``input`` block share.

Data: FER+ ``label.csv`` votes (read by :mod:`affectstream.models.datasets.ferplus`).
Targets are the 8 emotion-vote distributions (:func:`~affectstream.models.datasets.ferplus.vote_probabilities`,
images whose plain-argmax top is unknown/NF dropped) or, with ``targets = "hard"``, the majority-protocol labels.
Images stay in memory as uint8; decoded images are cached outside the repository
(:func:`~affectstream.models.datasets.ferplus.default_cache_dir`), never inside it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from affectstream.core.paths import SHARED_DATA
from affectstream.models.datasets.ferplus import (argmax_labels, default_cache_dir, load_split, majority_labels,
                                                  vote_probabilities)
from affectstream.models.nets.visual_student import FERPLUS_CLASSES

__all__ = ["DEFAULT_DATA", "FerData", "FerDataConfig", "SplitData", "data_root", "input_spec", "load_ferplus",
           "preprocess", "resize"]

#: FER+ as the shared data folder holds it (FER2013Train.zip, FER2013Valid/, ...).
DEFAULT_DATA = SHARED_DATA / "fer"
N_CLASSES = len(FERPLUS_CLASSES)


@dataclass(frozen=True)
class FerDataConfig:
    """Which FER+ images and targets a model trains on, and how an image becomes its input (part of
    :class:`~affectstream.models.training.image_loop.ImageTrainConfig`). The input is ``x = (uint8 / 255 - mean) /
    std``, grey repeated to ``in_channels``."""

    in_channels: Literal[1, 3] = 1  #: 1 = grey FER+ images; 3 = grey repeated to 3 channels (webcam-compatible input)
    image_size: int = 48  #: FER+ images are resized (cv2 bilinear) to this square size; 48 = native
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.5,)
    targets: Literal["soft", "hard"] = "soft"  #: FER+ vote distributions or majority-protocol labels
    limit_train: int = 0  #: use only the first N training images (0 = all); for smoke tests

    def check(self) -> None:
        """Refuse a normalisation that does not fit the channels."""
        if len(self.mean) not in (1, self.in_channels) or len(self.std) != len(self.mean):
            raise ValueError(f"mean/std need 1 or {self.in_channels} values, got {self.mean} / {self.std}")


@dataclass
class SplitData:
    """One split ready for training/evaluation: uint8 images at the training size, votes, targets."""

    images: np.ndarray  #: (N, S, S) uint8
    votes: np.ndarray  #: (N, 10)
    raw: np.ndarray  #: (N, 48, 48) uint8 as shipped (for pixel-twin checks)


@dataclass
class FerData:
    """FER+ in memory, as the image loop trains on it (:func:`load_ferplus`)."""

    train: SplitData
    valid: SplitData
    test: SplitData | None
    targets: np.ndarray  #: (N_train,) int64 hard labels or (N_train, 8) float32 vote distributions
    class_counts: np.ndarray  #: (8,) majority-protocol counts among the training images used
    train_raw_all: np.ndarray | None = None  #: every train image as shipped (pixel-twin checks), any label


def data_root(path: str = "") -> Path:
    """The FER+ folder a method's ``ferplus_root`` option names; "" = the shared data folder (:data:`DEFAULT_DATA`)."""
    return Path(path) if path else DEFAULT_DATA


def resize(images: np.ndarray, size: int) -> np.ndarray:
    """cv2 bilinear resize of (N, 48, 48) uint8 (a no-op at 48) -- the same call a deployed consumer makes."""
    if images.shape[1:] == (size, size):
        return images
    import cv2

    return np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_LINEAR) for im in images])


def load_ferplus(
    cfg: FerDataConfig,
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
        return SplitData(resize(raw, cfg.image_size), votes, raw)

    return FerData(split(tr, idx), split(va), split(te) if te is not None else None, targets, counts,
                   tr.images if with_test else None)


def preprocess(images: np.ndarray | torch.Tensor, cfg: FerDataConfig) -> torch.Tensor:
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


def input_spec(cfg: FerDataConfig) -> dict[str, Any]:
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
