"""Named channel layouts of common headsets, for streams that carry no labels (or other ones).

A preset is the list of labels a headset's stream carries, in stream order, non-EEG channels included (those are
recognised by :func:`affectstream.core.electrodes.is_non_eeg` and left out). ``--montage NAME`` applies one, as if
the stream had carried those labels; ``affectstream montages`` lists them. The positions come from the 10-05
template (:mod:`affectstream.core.electrodes`); channels of the model montage that a headset lacks are interpolated.

Sources of the layouts: the manufacturers' documentation of each device (facts: which sites, in which order).
"""

from __future__ import annotations

from dataclasses import dataclass

from affectstream.core.electrodes import is_non_eeg

#: Labels of the 64-channel 10-10 cap (BioSemi/actiCAP 64 layout, in mne's ``biosemi64`` order).
_CAP_64: tuple[str, ...] = (
    "Fp1", "AF7", "AF3", "F1", "F3", "F5", "F7", "FT7", "FC5", "FC3", "FC1", "C1", "C3", "C5", "T7", "TP7",
    "CP5", "CP3", "CP1", "P1", "P3", "P5", "P7", "P9", "PO7", "PO3", "O1", "Iz", "Oz", "POz", "Pz", "CPz",
    "Fpz", "Fp2", "AF8", "AF4", "AFz", "Fz", "F2", "F4", "F6", "F8", "FT8", "FC6", "FC4", "FC2", "FCz", "Cz",
    "C2", "C4", "C6", "T8", "TP8", "CP6", "CP4", "CP2", "P2", "P4", "P6", "P8", "P10", "PO8", "PO4", "O2",
)


@dataclass(frozen=True)
class MontagePreset:
    """One headset's channels, in the order its stream sends them."""

    name: str
    title: str
    labels: tuple[str, ...]
    note: str = ""

    @property
    def electrodes(self) -> tuple[str, ...]:
        """The scalp electrodes (the labels that are not recognised as non-EEG)."""
        return tuple(label for label in self.labels if not is_non_eeg(label))


PRESETS: dict[str, MontagePreset] = {p.name: p for p in (
    MontagePreset("muse", "Interaxon Muse (2016, 2, S), 4 electrodes + AUX",
                  ("TP9", "AF7", "AF8", "TP10", "Right AUX"),
                  "as muse-lsl, BlueMuse and Mind Monitor send it (4-channel streams are accepted too); reference Fpz"),
    MontagePreset("emotiv-epoc", "Emotiv EPOC, EPOC+ and EPOC X, 14 electrodes",
                  ("AF3", "F7", "F3", "FC5", "T7", "P7", "O1", "O2", "P8", "T8", "FC6", "F4", "F8", "AF4"),
                  "EmotivPRO's EEG order; references CMS/DRL at P3/P4"),
    MontagePreset("emotiv-insight", "Emotiv Insight, 5 electrodes", ("AF3", "T7", "Pz", "T8", "AF4"),
                  "EmotivPRO's EEG order; reference at the left mastoid"),
    MontagePreset("openbci-cyton", "OpenBCI Cyton, 8 channels at the OpenBCI GUI's default positions",
                  ("Fp1", "Fp2", "C3", "C4", "P7", "P8", "O1", "O2")),
    MontagePreset("openbci-cyton-daisy", "OpenBCI Cyton + Daisy, 16 channels at the OpenBCI GUI's default positions",
                  ("Fp1", "Fp2", "C3", "C4", "P7", "P8", "O1", "O2", "F7", "F8", "F3", "F4", "T7", "T8", "P3", "P4")),
    MontagePreset("10-20", "generic 10-20 cap, 19 electrodes",
                  ("Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz", "C4", "T8", "P7", "P3", "Pz", "P4",
                   "P8", "O1", "O2")),
    MontagePreset("10-10-32", "generic 32-channel 10-10 cap in DEAP / MAHNOB-HCI order (the model montage)",
                  ("Fp1", "AF3", "F3", "F7", "FC5", "FC1", "C3", "T7", "CP5", "CP1", "P3", "P7", "PO3", "O1", "Oz",
                   "Pz", "Fp2", "AF4", "Fz", "F4", "F8", "FC6", "FC2", "Cz", "C4", "T8", "CP6", "CP2", "P4", "P8",
                   "PO4", "O2")),
    MontagePreset("10-10-64", "generic 64-channel 10-10 cap (BioSemi / actiCAP 64 order)", _CAP_64),
)}


class PresetError(ValueError):
    """An unknown preset, or one that does not fit the stream."""


def get_preset(name: str) -> MontagePreset:
    """The preset called ``name`` (case-insensitive); the error lists the known ones."""
    found = PRESETS.get(name.strip().lower())
    if found is None:
        raise PresetError(f"unknown montage preset {name!r}; known: {', '.join(PRESETS)} (`affectstream montages` "
                          "describes them)")
    return found


def preset_labels(preset: MontagePreset, n_channels: int) -> tuple[str, ...]:
    """The labels ``preset`` gives a stream of ``n_channels``: all of them, or the leading ones when the stream
    leaves out trailing non-EEG channels (a 4-channel Muse stream without its AUX channel)."""
    n_required = max(i for i, label in enumerate(preset.labels) if not is_non_eeg(label)) + 1
    if not n_required <= n_channels <= len(preset.labels):
        span = f"{len(preset.labels)}" if n_required == len(preset.labels) else f"{n_required} to {len(preset.labels)}"
        raise PresetError(f"the montage preset {preset.name!r} (--montage, or preset in [montage]) names {span} "
                          f"channels but the stream has {n_channels}; name them with --channels LABEL,... instead")
    return preset.labels[:n_channels]
