"""The model montage and the mapping of a stream's channels onto it (part of the students' input contract, hence
in the bottom layer, ``core``: the live pipeline and the dataset loaders share it).

Every model in affectstream sees EEG in one fixed order: the 32-channel 10-20 list used by DEAP and MAHNOB-HCI
(``MONTAGE_32``). Headsets name and order their channels in many ways, so inputs are matched *by label*, never by
position in the stream (:mod:`affectstream.core.electrodes` reads the labels). A model channel the stream lacks is
estimated from the electrodes it has, by their positions on the head (spherical splines,
:meth:`ChannelMapping.interpolation`), and flagged as interpolated; it is never filled by shifting the remaining
channels into its slot, which would silently feed one electrode's signal to another electrode's weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from affectstream.core.electrodes import canonical_label, is_non_eeg, template_name

#: The model montage, in the order every feature matrix uses (DEAP / MAHNOB-HCI order).
MONTAGE_32: tuple[str, ...] = (
    "Fp1", "AF3", "F3", "F7", "FC5", "FC1", "C3", "T7", "CP5", "CP1", "P3", "P7", "PO3", "O1", "Oz", "Pz",
    "Fp2", "AF4", "Fz", "F4", "F8", "FC6", "FC2", "Cz", "C4", "T8", "CP6", "CP2", "P4", "P8", "PO4", "O2",
)

#: Fewest good electrodes a channel is interpolated from. Two points make no field on the sphere (every estimate
#: is a blend of the same two signals, which the average reference then cancels); three is the least that does.
MIN_SOURCES = 3


class ChannelMappingError(ValueError):
    """Raised when a stream's channels cannot be placed on the model montage."""


@dataclass(frozen=True)
class ChannelMapping:
    """Which input channels are electrodes, and where each model channel comes from.

    Attributes
    ----------
    source_index : ndarray of int, shape (n_model,)
        Column of the input for each model channel it measures directly, ``-1`` where it does not.
    missing : tuple of str
        Model channels the input does not measure (interpolated downstream from the electrodes when there are
        enough of them, see :meth:`interpolation`).
    unused : tuple of str
        Input channels left out: not EEG (AUX, EOG, counter...) or no standard electrode position.
    renamed : dict
        Input label -> model label for channels matched through an alias or a prefix.
    model_labels : tuple of str
        The montage mapped onto.
    electrodes : tuple of str
        Input labels of every scalp electrode used, model channels or not (a Muse's TP9 is one).
    electrode_index : ndarray of int, shape (n_electrodes,)
        Their input columns.
    """

    source_index: np.ndarray
    missing: tuple[str, ...]
    unused: tuple[str, ...]
    renamed: dict[str, str] = field(default_factory=dict)
    model_labels: tuple[str, ...] = MONTAGE_32
    electrodes: tuple[str, ...] = ()
    electrode_index: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    @property
    def present(self) -> np.ndarray:
        """Boolean mask over model channels, True where the input measures the channel itself."""
        return self.source_index >= 0

    @property
    def direct(self) -> np.ndarray:
        """(n_model,) position of each model channel in :attr:`electrodes`, ``-1`` where it is not measured."""
        where = {int(col): j for j, col in enumerate(self.electrode_index)}
        return np.array([where.get(int(col), -1) for col in self.source_index], dtype=np.int64)

    def apply(self, data: np.ndarray) -> np.ndarray:
        """Reorder ``data`` (..., n_input_channels, n_times) onto the montage; missing rows are NaN.

        NaN (rather than zero) makes every downstream step see the gap: band power of a missing channel is NaN and
        the estimators' channel masks exclude it, instead of treating it as a flat, perfectly quiet electrode.
        """
        out = np.full((*data.shape[:-2], len(self.model_labels), data.shape[-1]), np.nan, dtype=data.dtype)
        present = self.present
        out[..., present, :] = data[..., self.source_index[present], :]
        return out

    def measure(self, data: np.ndarray) -> np.ndarray:
        """The electrodes' rows of ``data`` (..., n_input_channels, n_times), in :attr:`electrodes` order."""
        return data[..., self.electrode_index, :]

    def interpolation(self, good: np.ndarray) -> np.ndarray:
        """Weights (n_model, n_electrodes) giving every model channel from the ``good`` electrodes.

        A good electrode that is a model channel passes through (an identity row); every other model channel is
        estimated by spherical splines from the good electrodes (:func:`affectstream.core.interpolation
        .spline_weights`, cached per electrode set, so a stream costs one computation however long it runs). With
        fewer than :data:`MIN_SOURCES` good electrodes nothing is estimated: those rows are NaN.
        """
        from affectstream.core.interpolation import spline_weights

        good = np.asarray(good, dtype=bool)
        n_model, n_el = len(self.model_labels), len(self.electrodes)
        if good.sum() < MIN_SOURCES:
            weights = np.full((n_model, n_el), np.nan)
            for i, j in enumerate(self.direct):
                if j >= 0 and good[j]:
                    weights[i] = 0.0
                    weights[i, j] = 1.0
            return weights
        sources = [label for label, ok in zip(self.electrodes, good) if ok]
        weights = np.zeros((n_model, n_el))
        weights[:, good] = spline_weights(sources, self.model_labels)
        return weights

    def describe(self) -> str:
        """One line that says what was matched, renamed, interpolated and left out."""
        n = int(self.present.sum())
        parts = [f"{n}/{len(self.model_labels)} montage channels measured"]
        others = [label for label in self.electrodes if canonical_label(label) not in
                  {canonical_label(m) for m in self.model_labels}]
        if others:
            parts.append("other electrodes " + ", ".join(others))
        if self.renamed:
            parts.append("renamed " + ", ".join(f"{a}->{b}" for a, b in self.renamed.items()))
        if self.missing:
            parts.append(("interpolated " if len(self.electrodes) >= MIN_SOURCES else "missing ")
                         + ", ".join(self.missing))
        if self.unused:
            parts.append("ignored " + ", ".join(self.unused))
        return "; ".join(parts)


#: What to say when a stream's channels cannot be named from its own labels.
NAME_THEM = ("name them in order with --channels LABEL,... (e.g. --channels Fp1,Fp2,C3,C4,P7,P8,O1,O2) or with a "
             "headset preset, --montage NAME (`affectstream montages` lists them)")


def map_channels(
    labels: list[str] | tuple[str, ...] | None,
    n_channels: int,
    model_labels: tuple[str, ...] = MONTAGE_32,
    min_present: int = 1,
) -> ChannelMapping:
    """Find the electrodes among a stream's channels and match them onto ``model_labels``.

    Parameters
    ----------
    labels : list of str | None
        The stream's channel labels, or None when the stream declares none.
    n_channels : int
        The stream's channel count (checked against ``labels``).
    model_labels : tuple of str
        The montage to map onto.
    min_present : int
        Fewest electrodes accepted; fewer raises :class:`ChannelMappingError`.

    Returns
    -------
    ChannelMapping

    Notes
    -----
    A channel is an electrode when its label is not a non-EEG name (:func:`affectstream.core.electrodes
    .is_non_eeg`) and is either a model channel or any standard 10-05 position; the others are left out and
    listed. A stream without labels is accepted only when its channel count equals the montage size, in which case
    the channels are taken to be in montage order (the DEAP/MAHNOB convention); any other unlabelled layout is
    refused with the options that name it, because guessing positions is exactly the silent shift this module
    exists to prevent.
    """
    if n_channels <= 0:
        raise ChannelMappingError(f"the stream declares {n_channels} channels; an EEG stream needs at least one")
    if labels is None or all(not str(lab).strip() for lab in labels):
        if n_channels != len(model_labels):
            raise ChannelMappingError(f"the stream has {n_channels} channels and no channel labels: {NAME_THEM}")
        index = np.arange(len(model_labels))
        return ChannelMapping(index, (), (), {}, model_labels, tuple(model_labels), index)
    labels = [str(lab) for lab in labels]
    if len(labels) != n_channels:
        raise ChannelMappingError(f"the stream declares {n_channels} channels but lists {len(labels)} labels")

    wanted = {canonical_label(m): i for i, m in enumerate(model_labels)}
    source_index = np.full(len(model_labels), -1, dtype=np.int64)
    unused: list[str] = []
    renamed: dict[str, str] = {}
    electrodes: list[int] = []
    seen: dict[str, int] = {}
    for col, lab in enumerate(labels):
        key = canonical_label(lab)
        slot = wanted.get(key)
        if is_non_eeg(lab) or (slot is None and template_name(lab) is None):
            unused.append(lab)
            continue
        position = template_name(lab) if slot is None else model_labels[slot]
        if position in seen:
            raise ChannelMappingError(f"channels {labels[seen[position]]!r} and {lab!r} both map to {position}")
        seen[position] = col
        electrodes.append(col)
        if slot is not None:
            source_index[slot] = col
            if lab != model_labels[slot]:
                renamed[lab] = model_labels[slot]
    if len(electrodes) < min_present:
        raise ChannelMappingError(
            f"only {len(electrodes)} of the stream's channels are EEG electrodes at standard positions (need "
            f"{min_present}); stream labels: {', '.join(labels[:12])}{' ...' if len(labels) > 12 else ''}: "
            f"{NAME_THEM}")
    missing = tuple(m for m, s in zip(model_labels, source_index) if s < 0)
    return ChannelMapping(source_index, missing, tuple(unused), renamed, model_labels,
                          tuple(labels[c] for c in electrodes), np.array(electrodes, dtype=np.int64))


_EQUATOR = frozenset(canonical_label(x) for x in ("Fp1", "Fp2", "F7", "F8", "T7", "T8", "P7", "P8", "O1", "O2"))


def electrode_positions_2d(labels: tuple[str, ...] = MONTAGE_32) -> np.ndarray:
    """Azimuthal-equidistant 2-D positions (n, 2) of ``labels`` on a unit head circle.

    Uses MNE's ``colin27_1020`` montage (``standard_1020`` on MNE versions that lack it; the positions are the
    same). The head circle has radius 1 at the level of Fp1/T7/O1/T8, so every other 10-20 electrode of the
    montage lies inside it.
    """
    import mne  # local: only topomap code needs mne's montage

    try:
        montage = mne.channels.make_standard_montage("colin27_1020")
    except ValueError:
        montage = mne.channels.make_standard_montage("standard_1020")
    pos = montage.get_positions()["ch_pos"]
    lookup = {canonical_label(k): v for k, v in pos.items()}
    xyz = np.array([lookup[canonical_label(lab)] for lab in labels], dtype=float)
    # Centre between the ears and the nasion-inion line, then project: polar angle from the vertex -> radius.
    xyz = xyz - np.array([0.0, xyz[:, 1].mean(), np.median(xyz[:, 2])])
    r = np.linalg.norm(xyz, axis=1)
    theta = np.arccos(np.clip(xyz[:, 2] / r, -1, 1))  # 0 at the vertex
    phi = np.arctan2(xyz[:, 1], xyz[:, 0])
    # Scale so that the 10-20 "equator" (Fp1/Fp2/F7/F8/T7/T8/P7/P8/O1/O2) lies on the unit circle.
    equator = [i for i, lab in enumerate(labels) if canonical_label(lab) in _EQUATOR]
    rho = theta / (np.median(theta[equator]) if equator else np.pi / 2)
    return np.column_stack([rho * np.cos(phi), rho * np.sin(phi)])
