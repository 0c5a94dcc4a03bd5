"""Simulated sessions as other headsets would record them (SYNTHETIC data).

The simulator measures the 32 channels of the model montage (:data:`affectstream.core.montage.MONTAGE_32`); a lab's
headset measures 4 to 64 channels of its own (:data:`affectstream.core.montage_presets.PRESETS`). To measure what a
headset's layout costs the estimators, a simulated session is *rendered* to that layout:

* a label of the layout that is a montage channel is a copy of the simulated channel (bit for bit);
* any other standard 10-05 position (a Muse's TP9, AF7, AF8 and TP10) is estimated from the 32 simulated channels by
  spherical splines (:func:`affectstream.core.interpolation.spline_weights`). The simulator has no sources at those
  sites: its field exists only at the 32 montage positions, so these channels are a smooth blend of their
  neighbours, not an independent measurement (TP9/TP10 lie below the montage and are extrapolated);
* a non-EEG channel of the layout (:func:`affectstream.core.electrodes.is_non_eeg`: a Muse's ``Right AUX``) carries
  small white noise, as an unconnected auxiliary input does.

The result is the stream a replay of that headset would see: the layout's labels in its order, samples x channels.
"""

from __future__ import annotations

import numpy as np

from affectstream.core.electrodes import is_non_eeg
from affectstream.core.interpolation import spline_weights
from affectstream.core.montage import MONTAGE_32
from affectstream.core.montage_presets import get_preset

__all__ = ["AUX_NOISE_UV", "layout_weights", "render_layout", "render_preset"]

#: Standard deviation (µV) of the noise on a rendered non-EEG channel: an open auxiliary input's few microvolts.
AUX_NOISE_UV = 2.0


def layout_weights(labels: tuple[str, ...] | list[str]) -> np.ndarray:
    """(n_labels, 32) weights that give each channel of a layout from the 32 montage channels.

    A montage label gets an identity row (a copy); another 10-05 position a row of spherical-spline weights; a
    non-EEG label a row of zeros (:func:`render_layout` adds its noise).

    Raises
    ------
    affectstream.core.interpolation.InterpolationError
        A label that is neither non-EEG nor a standard 10-05 position.
    """
    weights = np.zeros((len(labels), len(MONTAGE_32)))
    scalp = [i for i, label in enumerate(labels) if not is_non_eeg(label)]
    if scalp:
        # a target that is a source gets an exact identity row: montage channels are copied bit for bit
        weights[scalp] = spline_weights(MONTAGE_32, [labels[i] for i in scalp])
    return weights


def render_layout(eeg: np.ndarray, labels: tuple[str, ...] | list[str], seed: int = 0,
                  aux_noise_uv: float = AUX_NOISE_UV) -> np.ndarray:
    """The samples a headset with channels ``labels`` would record of the simulated ``eeg``.

    Parameters
    ----------
    eeg : ndarray, shape (n_samples, 32)
        Simulated EEG in :data:`MONTAGE_32` order (µV), as :meth:`SessionSimulator.read_eeg` gives it.
    labels : sequence of str
        The layout's channels in stream order, non-EEG ones included.
    seed : int
        Seed of the non-EEG channels' noise.
    aux_noise_uv : float
        Its standard deviation.

    Returns
    -------
    ndarray, shape (n_samples, len(labels)), float32
    """
    eeg = np.asarray(eeg)
    if eeg.ndim != 2 or eeg.shape[1] != len(MONTAGE_32):
        raise ValueError(f"expected simulated EEG of shape (n_samples, {len(MONTAGE_32)}), got {eeg.shape}")
    out = eeg.astype(np.float64) @ layout_weights(labels).T
    aux = [i for i, label in enumerate(labels) if is_non_eeg(label)]
    if aux:
        out[:, aux] = np.random.default_rng(seed).normal(0.0, aux_noise_uv, size=(len(eeg), len(aux)))
    return out.astype(np.float32)


def render_preset(eeg: np.ndarray, preset: str, seed: int = 0) -> tuple[tuple[str, ...], np.ndarray]:
    """``(labels, samples)`` of the headset preset ``preset`` (a name of :data:`PRESETS`) rendered from ``eeg``."""
    labels = get_preset(preset).labels
    return labels, render_layout(eeg, labels, seed)
