"""From a headset's channels to the model montage, per hop: naming, electrode quality, interpolation.

The pipeline's input contract is 32 channels in the model montage (:data:`affectstream.core.montage.MONTAGE_32`);
a headset gives 4 to 64 channels of its own. :func:`stream_mapping` names the stream's channels (its own labels,
or ``--channels`` / ``--montage``) and finds the electrodes among them; :class:`MontageProjector` then turns each
window of electrodes into the 32 model channels: a good electrode that is a model channel passes through, every
other model channel (one the headset lacks, or a measured one that is bad in this window) is estimated from the good
electrodes by spherical splines. The weights depend only on which electrodes are good, so they are computed once per
electrode set and kept (a stream costs one computation; a channel that goes bad costs one more, about 0.3 s).
"""

from __future__ import annotations

import logging

import numpy as np

from affectstream.core.montage import ChannelMapping, map_channels
from affectstream.core.montage_presets import get_preset, preset_labels
from affectstream.pipelines.config import MontageConfig

log = logging.getLogger(__name__)

#: Flag of a model channel whose values were estimated from other electrodes (``bad_channels``).
INTERPOLATED = "interpolated"


def stream_labels(declared: tuple[str, ...] | None, n_channels: int, montage: MontageConfig = MontageConfig()
                  ) -> tuple[str, ...] | None:
    """The labels to read the stream by: ``montage.channels``, else the preset's, else the stream's own.

    Raises
    ------
    ValueError
        Both options given, a channel list of the wrong length, or an unknown or unfitting preset (the message
        says which).
    """
    if montage.channels is not None and montage.preset is not None:
        raise ValueError("give the channel names (--channels) or a montage preset (--montage), not both")
    if montage.channels is not None:
        channels = tuple(str(c).strip() for c in montage.channels)
        if len(channels) != n_channels:
            raise ValueError(f"the channel list (--channels, or channels in [montage]) names {len(channels)} channels "
                             f"but the stream has {n_channels}")
        return channels
    if montage.preset is not None:
        return preset_labels(get_preset(montage.preset), n_channels)
    return declared


def stream_mapping(declared: tuple[str, ...] | None, n_channels: int, montage: MontageConfig = MontageConfig()
                   ) -> ChannelMapping:
    """:func:`stream_labels` matched onto the model montage (raises ValueError with the reason)."""
    labels = stream_labels(declared, n_channels, montage)
    if labels is not declared and declared is not None and any(lab.strip() for lab in declared):
        log.info("channel labels %s replaced by %s", ", ".join(declared), ", ".join(labels))
    return map_channels(labels, n_channels)


class MontageProjector:
    """Windows of electrodes -> windows of model channels, batched, with the interpolation weights cached.

    Parameters
    ----------
    mapping : ChannelMapping
        The stream's electrodes and their model channels.
    """

    def __init__(self, mapping: ChannelMapping) -> None:
        self.mapping = mapping
        self._direct = mapping.direct
        #: every model channel is an electrode of the stream: while all are good, no arithmetic is needed
        self._pass_through = bool((self._direct >= 0).all())
        self._weights: dict[bytes, np.ndarray] = {}
        if not self._pass_through:  # the stream's own electrode set: computed at start, not in the first hop
            self.weights(np.ones(len(mapping.electrodes), dtype=bool))

    def weights(self, good: np.ndarray) -> np.ndarray:
        """(n_model, n_electrodes) for this set of good electrodes (NaN rows: not estimable)."""
        key = np.asarray(good, dtype=bool).tobytes()
        found = self._weights.get(key)
        if found is None:
            found = self._weights[key] = self.mapping.interpolation(good)
        return found

    def project(self, electrodes: np.ndarray, good: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Model-channel windows from electrode windows.

        Parameters
        ----------
        electrodes : ndarray, shape (k, n_electrodes, n_times)
        good : ndarray of bool, shape (k, n_electrodes)

        Returns
        -------
        windows : ndarray, shape (k, n_model, n_times)
            NaN rows where a channel could not be estimated.
        valued : ndarray of bool, shape (k, n_model)
            The channels with values (measured and good, or interpolated).
        """
        k, n_times = electrodes.shape[0], electrodes.shape[-1]
        n_model = len(self.mapping.model_labels)
        windows = np.empty((k, n_model, n_times))
        valued = np.zeros((k, n_model), dtype=bool)
        clean = np.where(good[..., None], electrodes, 0.0)  # a bad electrode's NaNs must not reach 0-weight sums
        for mask in np.unique(good, axis=0):
            rows = (good == mask).all(axis=1)
            if self._pass_through and mask.all():
                windows[rows] = clean[rows][:, self._direct]
                valued[rows] = True
                continue
            w = self.weights(mask)
            ok = np.isfinite(w).all(axis=1)
            windows[rows] = np.einsum("me,ken->kmn", np.where(ok[:, None], w, 0.0), clean[rows])
            windows[np.ix_(rows, ~ok)] = np.nan
            valued[rows] = ok
        return windows, valued

    def measured(self, good: np.ndarray) -> np.ndarray:
        """(k, n_model) True where the model channel is an electrode of the stream and good in that window."""
        direct = self._direct
        out = np.zeros((good.shape[0], len(direct)), dtype=bool)
        out[:, direct >= 0] = good[:, direct[direct >= 0]]
        return out

    def bad_channels(self, reasons: tuple[str, ...], valued: np.ndarray) -> dict[str, str]:
        """Label -> flag for one window: model channels in montage order (a bad electrode's reason,
        :data:`INTERPOLATED` for an estimated channel the headset lacks, ``missing`` for one that could not be
        estimated), then the headset's other electrodes that are bad."""
        out: dict[str, str] = {}
        for label, j, has_value in zip(self.mapping.model_labels, self._direct, valued):
            if j >= 0:
                if reasons[j]:
                    out[label] = reasons[j]
            else:
                out[label] = INTERPOLATED if has_value else "missing"
        model = set(self._direct[self._direct >= 0].tolist())
        for j, (label, reason) in enumerate(zip(self.mapping.electrodes, reasons)):
            if reason and j not in model:
                out[label] = reason
        return out
