"""Which band and electrode drive the EEG student's valence right now (docs/methods.md §2.7, made live).

Every ``every`` hops the derivative of the student's newest valence with respect to its input frames (N_FEATURES, T)
is taken, one value per (band, channel). It is computed on onnxruntime, with the very session that produces the
estimates, so no PyTorch is needed and a subject's calibrated student is explained by its own weights
(:func:`valence_gradient`). Three maps (``kind``):

* ``gradient_x_input`` (default) -- the gradient times the input, summed over the frames and averaged over the last
  ``average`` computations: how much each (band, channel) *as it is now* moves valence, not how much it would if it
  changed. Scaled by the input, it follows the brain state.
* ``prm`` -- the peak-response map of Zhang et al. (docs/methods.md §2.7: the gradient of the *peak* prediction with
  respect to the input, averaged over time), made live: of the last ``average`` computations, the gradient of the one
  whose valence was highest.
* ``mean_gradient`` -- the gradient averaged over the frames and over the last ``average`` computations (the map the
  dashboard drew before, under the name "saliency"). The student is nearly piecewise linear, so this is close to its
  fixed weights and barely depends on the state.

Measured by ``affectstream bench`` (``saliency_variation``: the median correlation between maps of a simulated
subject and of the real EEGLAB sample; 1 = the same picture whatever the EEG): gradient x input 0.42, PRM 0.89, mean
gradient 0.94. Hence the default. Maps are normalised *jointly* over the six bands, so the six topomaps share one
colour scale and a band that matters little looks pale next to one that matters a lot.

Normalisation modes:

* ``magnitude`` (default): ``|g| / max |g|`` in [0, 1] - how strongly each input drives valence, either way;
* ``signed``: ``g / max |g|`` in [-1, 1] - the direction (diverging colour map);
* ``minmax``: ``(g - min g) / (max g - min g)`` - the reading in Zhang et al.'s figures.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Literal

import numpy as np

from affectstream.core.feature_layout import N_BANDS

if TYPE_CHECKING:
    import onnxruntime as ort

Mode = Literal["magnitude", "signed", "minmax"]
Kind = Literal["prm", "gradient_x_input", "mean_gradient"]
KINDS: tuple[str, ...] = ("prm", "gradient_x_input", "mean_gradient")

#: Finite-difference step in the student's input units (z-scores, clipped at +-5). The student is piecewise linear
#: (convolutions, PReLU, linear heads), so the error has two sources: float32 rounding of the outputs, which shrinks
#: as the step grows, and PReLU kinks inside the step, which grow with it. Measured against the float64 autograd
#: gradient on simulated and real EEG, 2**-10 gave the smallest worst case over the step sizes 2**-11 ... 2**-5
#: (tests/pipelines/eeg/test_saliency_onnx.py holds the comparison).
STEP = 2.0 ** -10


def valence_gradient(session: ort.InferenceSession, frames: np.ndarray, step: float = STEP,
                     n_bands: int = N_BANDS) -> np.ndarray:
    """Gradient of the newest valence w.r.t. ``frames`` (n_bands * n_channels, T), averaged over T: (n_bands, C).

    :func:`valence_response` with ``along_input=False``; see there.
    """
    return valence_response(session, frames, step, n_bands)[1]


def valence_response(session: ort.InferenceSession, frames: np.ndarray, step: float = STEP,
                     n_bands: int = N_BANDS, along_input: bool = False) -> tuple[float, np.ndarray]:
    """The newest valence and its derivative per feature: (valence, (n_bands, C)).

    ``along_input=False``: the gradient averaged over the T frames. ``along_input=True``: gradient x input summed over
    the frames and divided by T (the derivative along the input's own direction: moving feature ``f`` by ``step``
    times its value in each frame changes the output by ``step * sum_t g_ft x_ft``), at the same cost.

    Moving feature ``f`` by ``step`` in every frame at once changes the output by ``step`` times the *sum* over the
    frames of its gradient, so one central difference per feature gives T times the wanted mean. The 2 x n_features
    moved inputs go through ``session`` in one batched call (the streaming graph's batch axis is dynamic), which
    costs about what a replay batch of that size costs (``affectstream bench``, ``[saliency]``).

    Parameters
    ----------
    session : onnxruntime.InferenceSession
        The student's streaming graph: (B, n_features, T) in, (B, 2) ``[valence, arousal]`` out.
    frames : numpy.ndarray
        (n_features, T) normalised band-power frames, oldest first, as the student was given them.
    step : float
        Finite-difference step (:data:`STEP`).
    n_bands : int
        Bands per frame; features are band-major.
    """
    x = np.ascontiguousarray(frames, dtype=np.float32)
    n_features, n_frames = x.shape
    moved = np.repeat(x[None], 2 * n_features + 1, axis=0)  # the last row stays the input itself
    index = np.arange(n_features)
    delta = step * x if along_input else np.float32(step)
    moved[index, index, :] += delta
    moved[n_features + index, index, :] -= delta
    valence = session.run(None, {session.get_inputs()[0].name: moved})[0][:, 0].astype(np.float64)
    grad = (valence[:n_features] - valence[n_features:2 * n_features]) / (2.0 * step * n_frames)
    return float(valence[-1]), grad.reshape(n_bands, -1)


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
    session : onnxruntime.InferenceSession
        The EEG student's own session (:attr:`EEGStudentEstimator.session`), so the map explains the weights that
        made the estimate: the bundled student's or a subject's calibrated one.
    every : int
        Hops between computations (4 hops = 1 Hz at the 0.25 s hop).
    average : int
        Computations averaged (8 at 1 Hz = the last 8 s).
    mode : {"magnitude", "signed", "minmax"}
        Joint normalisation.
    kind : {"prm", "gradient_x_input", "mean_gradient"}
        Which map (module docstring).
    """

    def __init__(self, session: ort.InferenceSession, every: int = 4, average: int = 8,
                 mode: Mode = "magnitude", kind: Kind = "gradient_x_input") -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown saliency kind {kind!r}; use one of {', '.join(KINDS)}")
        self.session = session
        self.every = max(1, every)
        self.mode = mode
        self.kind = kind
        self._recent: deque[tuple[float, np.ndarray]] = deque(maxlen=max(1, average))
        self._hops = 0
        self.latest: np.ndarray | None = None  #: the newest normalised (6, 32) map

    def update(self, frames: np.ndarray) -> np.ndarray | None:
        """Call once per hop with the student's input frames; returns a new normalised map when one was computed
        (none while the map is zero everywhere: there is nothing to draw)."""
        self._hops += 1
        if (self._hops - 1) % self.every:
            return None
        self._recent.append(valence_response(self.session, frames, along_input=self.kind == "gradient_x_input"))
        if self.kind == "prm":  # the gradient at the peak response of the last computations
            raw = max(self._recent, key=lambda pair: pair[0])[1]
        else:
            raw = np.mean([g for _, g in self._recent], axis=0)
        if not np.any(raw):  # e.g. gradient x input while the student's frames are still the zeros before the stream
            return None
        self.latest = normalise_jointly(raw, self.mode)
        return self.latest
