"""Which band and electrode drive the EEG student's valence right now (docs/methods.md §2.7, made live).

Every ``every`` hops the student (torch, for its gradients) is run on the recent band-power frames; the gradient of
the newest valence with respect to the input frames is averaged over the frames, giving one value per (band,
channel). Maps from the last ``average`` computations are averaged and then normalised *jointly* over the six
bands, so the six topomaps share one colour scale and a band that matters little looks pale next to one that
matters a lot.

Normalisation modes:

* ``magnitude`` (default): ``|g| / max |g|`` in [0, 1] - how strongly each input drives valence, either way;
* ``signed``: ``g / max |g|`` in [-1, 1] - the direction (diverging colour map);
* ``minmax``: ``(g - min g) / (max g - min g)`` - the reading in Zhang et al.'s figures.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

import numpy as np
import torch

Mode = Literal["magnitude", "signed", "minmax"]


def valence_gradient(model: torch.nn.Module, frames: np.ndarray, n_bands: int = 6) -> np.ndarray:
    """Gradient of the newest valence w.r.t. ``frames`` (n_bands * n_channels, T), averaged over T: (n_bands, C).

    ``model`` maps (1, n_features, T) to an output whose ``valence`` is (1, T) (an
    :class:`~affectstream.models.nets.eeg_tcn.EEGTCN`).
    """
    x = torch.as_tensor(np.ascontiguousarray(frames, dtype=np.float32))[None].requires_grad_(True)
    was_training = model.training
    model.eval()
    try:
        out = model(x)
        out.valence[0, -1].backward()
    finally:
        model.train(was_training)
    grad = x.grad[0].mean(dim=-1).numpy()
    return grad.reshape(n_bands, -1)


def normalise_jointly(saliency: np.ndarray, mode: Mode = "magnitude") -> np.ndarray:
    """Normalise a (n_bands, n_channels) map over all bands at once (see the module docstring)."""
    s = np.asarray(saliency, dtype=np.float64)
    if mode == "magnitude":
        peak = np.abs(s).max()
        return np.abs(s) / peak if peak > 0 else np.zeros_like(s)
    if mode == "signed":
        peak = np.abs(s).max()
        return s / peak if peak > 0 else np.zeros_like(s)
    if mode == "minmax":
        span = s.max() - s.min()
        return (s - s.min()) / span if span > 0 else np.zeros_like(s)
    raise ValueError(f"unknown saliency mode {mode!r}; use 'magnitude', 'signed' or 'minmax'")


class SaliencyTracker:
    """Computes saliency every ``every`` hops and keeps the average of the last ``average`` computations.

    Parameters
    ----------
    model : torch.nn.Module
        The EEG student in torch (inference runs on onnxruntime; only gradients need torch).
    every : int
        Hops between computations (4 hops = 1 Hz at the 0.25 s hop).
    average : int
        Computations averaged (8 at 1 Hz = the last 8 s).
    mode : {"magnitude", "signed", "minmax"}
        Joint normalisation.
    """

    def __init__(self, model: torch.nn.Module, every: int = 4, average: int = 8, mode: Mode = "magnitude") -> None:
        self.model = model
        self.every = max(1, every)
        self.mode = mode
        self._recent: deque[np.ndarray] = deque(maxlen=max(1, average))
        self._hops = 0
        self.latest: np.ndarray | None = None  #: the newest normalised (6, 32) map

    def update(self, frames: np.ndarray) -> np.ndarray | None:
        """Call once per hop with the student's input frames; returns a new normalised map when one was computed."""
        self._hops += 1
        if (self._hops - 1) % self.every:
            return None
        self._recent.append(valence_gradient(self.model, frames))
        self.latest = normalise_jointly(np.mean(self._recent, axis=0), self.mode)
        return self.latest
