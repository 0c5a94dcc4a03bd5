"""The model montage and the mapping of a stream's channels onto it (part of the students' input contract, hence
in the bottom layer, ``core``: the live pipeline and the dataset loaders share it).

Every model in affectstream sees EEG in one fixed order: the 32-channel 10-20 list used by DEAP and MAHNOB-HCI
(``MONTAGE_32``). Headsets name and order their channels in many ways, so inputs are matched *by label*, never by
position: case-insensitive, with the aliases of the old and new 10-20 nomenclature (T3/T7, T4/T8, T5/P7, T6/P8).
A channel the model expects but the stream lacks is reported and masked; it is never filled by shifting the
remaining channels into its slot, which would silently feed one electrode's signal to another electrode's weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: The model montage, in the order every feature matrix uses (DEAP / MAHNOB-HCI order).
MONTAGE_32: tuple[str, ...] = (
    "Fp1", "AF3", "F3", "F7", "FC5", "FC1", "C3", "T7", "CP5", "CP1", "P3", "P7", "PO3", "O1", "Oz", "Pz",
    "Fp2", "AF4", "Fz", "F4", "F8", "FC6", "FC2", "Cz", "C4", "T8", "CP6", "CP2", "P4", "P8", "PO4", "O2",
)

#: Old (10-20 of Jasper) names -> the modified-combinatorial names the montage uses.
ALIASES: dict[str, str] = {"t3": "t7", "t4": "t8", "t5": "p7", "t6": "p8"}

#: Label prefixes some acquisition programs put in front of the electrode name ("EEG Fp1", "EEG-Fp1").
_PREFIXES: tuple[str, ...] = ("eeg ", "eeg-", "eeg_")


def canonical_label(label: str) -> str:
    """Return the lower-case, alias-resolved form of a channel label used for matching."""
    key = label.strip().lower()
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix):].strip()
    # "-REF"/"-AVG" style suffixes name the reference, not the electrode.
    for suffix in ("-ref", "-avg", "-le", "-re"):
        if key.endswith(suffix):
            key = key[: -len(suffix)]
    return ALIASES.get(key, key)


class ChannelMappingError(ValueError):
    """Raised when a stream's channels cannot be placed on the model montage."""


@dataclass(frozen=True)
class ChannelMapping:
    """Where each model channel comes from in the input stream.

    Attributes
    ----------
    source_index : ndarray of int, shape (n_model,)
        Column of the input for each model channel, ``-1`` where the input lacks it.
    missing : tuple of str
        Model channels absent from the input (masked downstream).
    unused : tuple of str
        Input channels that are not part of the model montage (counter, EOG, aux, ...).
    renamed : dict
        Input label -> model label for channels matched through an alias or a prefix.
    """

    source_index: np.ndarray
    missing: tuple[str, ...]
    unused: tuple[str, ...]
    renamed: dict[str, str] = field(default_factory=dict)
    model_labels: tuple[str, ...] = MONTAGE_32

    @property
    def present(self) -> np.ndarray:
        """Boolean mask over model channels, True where the input provides the channel."""
        return self.source_index >= 0

    def apply(self, data: np.ndarray) -> np.ndarray:
        """Reorder ``data`` (..., n_input_channels, n_times) onto the montage; missing rows are NaN.

        NaN (rather than zero) makes every downstream step see the gap: band power of a missing channel is NaN and
        the estimators' channel masks exclude it, instead of treating it as a flat, perfectly quiet electrode.
        """
        out = np.full((*data.shape[:-2], len(self.model_labels), data.shape[-1]), np.nan, dtype=data.dtype)
        present = self.present
        out[..., present, :] = data[..., self.source_index[present], :]
        return out

    def describe(self) -> str:
        """One line that says what was matched, renamed and missing."""
        n = int(self.present.sum())
        parts = [f"{n}/{len(self.model_labels)} montage channels matched"]
        if self.renamed:
            parts.append("renamed " + ", ".join(f"{a}->{b}" for a, b in self.renamed.items()))
        if self.missing:
            parts.append("missing " + ", ".join(self.missing))
        if self.unused:
            parts.append("ignored " + ", ".join(self.unused))
        return "; ".join(parts)


def map_channels(
    labels: list[str] | tuple[str, ...] | None,
    n_channels: int,
    model_labels: tuple[str, ...] = MONTAGE_32,
    min_present: int = 1,
) -> ChannelMapping:
    """Match input channel labels onto ``model_labels``.

    Parameters
    ----------
    labels : list of str | None
        The stream's channel labels, or None when the stream declares none.
    n_channels : int
        The stream's channel count (checked against ``labels``).
    model_labels : tuple of str
        The montage to map onto.
    min_present : int
        Fewest matched channels accepted; fewer raises :class:`ChannelMappingError`.

    Returns
    -------
    ChannelMapping

    Notes
    -----
    A stream without labels is accepted only when its channel count equals the montage size, in which case the
    channels are taken to be in montage order (the DEAP/MAHNOB convention); any other unlabeled layout is refused,
    because guessing positions is exactly the silent shift this module exists to prevent.
    """
    if n_channels <= 0:
        raise ChannelMappingError(f"the stream declares {n_channels} channels; an EEG stream needs at least one")
    if labels is None or all(not str(lab).strip() for lab in labels):
        if n_channels != len(model_labels):
            raise ChannelMappingError(
                f"the stream has {n_channels} channels and no channel labels; without labels only a "
                f"{len(model_labels)}-channel stream in montage order can be used"
            )
        return ChannelMapping(np.arange(len(model_labels)), (), (), {}, model_labels)
    labels = [str(lab) for lab in labels]
    if len(labels) != n_channels:
        raise ChannelMappingError(f"the stream declares {n_channels} channels but lists {len(labels)} labels")

    wanted = {canonical_label(m): i for i, m in enumerate(model_labels)}
    source_index = np.full(len(model_labels), -1, dtype=np.int64)
    unused: list[str] = []
    renamed: dict[str, str] = {}
    for col, lab in enumerate(labels):
        key = canonical_label(lab)
        slot = wanted.get(key)
        if slot is None:
            unused.append(lab)
            continue
        if source_index[slot] >= 0:
            raise ChannelMappingError(
                f"channels {labels[source_index[slot]]!r} and {lab!r} both map to {model_labels[slot]}"
            )
        source_index[slot] = col
        if lab != model_labels[slot]:
            renamed[lab] = model_labels[slot]
    missing = tuple(m for m, s in zip(model_labels, source_index) if s < 0)
    n_present = len(model_labels) - len(missing)
    if n_present < min_present:
        raise ChannelMappingError(
            f"only {n_present} of the stream's channels match the {len(model_labels)}-channel montage "
            f"(need {min_present}); stream labels: {', '.join(labels[:12])}{' ...' if len(labels) > 12 else ''}"
        )
    return ChannelMapping(source_index, missing, tuple(unused), renamed, model_labels)


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
