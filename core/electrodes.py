"""What a channel label says: which electrode it names (and where that electrode sits), or that it is no EEG at all.

Headsets label their channels in many spellings ("T3" or "T7", "EEG Fp1", "Fp1-REF") and mix non-EEG channels into
the EEG stream (a Muse's "Right AUX", an Emotiv's "COUNTER", accelerometers, triggers). This module is the one place
that reads labels: :func:`canonical_label` for matching, :func:`is_non_eeg` for leaving channels out by name, and
:func:`position` for the 3-D position of any standard 10-05 label (mne's 10-05 template, 343 positions),
which is what lets a channel that the model montage lacks still inform the channels it has
(:mod:`affectstream.core.interpolation`).
"""

from __future__ import annotations

import functools
import re

import numpy as np

#: Old (10-20 of Jasper) names -> the modified-combinatorial names of the 10-10 and 10-05 systems.
ALIASES: dict[str, str] = {"t3": "t7", "t4": "t8", "t5": "p7", "t6": "p8"}

#: Label prefixes some acquisition programs put in front of the electrode name ("EEG Fp1", "EEG-Fp1").
_PREFIXES: tuple[str, ...] = ("eeg ", "eeg-", "eeg_")

#: Suffixes that name the reference, not the electrode ("Fp1-REF", "Cz-AVG").
_SUFFIXES: tuple[str, ...] = ("-ref", "-avg", "-le", "-re")

#: Labels of channels that are not scalp EEG, matched on the canonical label (``-``, ``none`` and ``skip`` let a user
#: mark a channel as not EEG in ``--channels``). Why a list of names rather than a
#: signal test: an auxiliary channel can carry EEG-like noise, and a flat EEG channel is still an electrode. Ear and
#: mastoid sites (A1/A2, M1/M2) are references, not measurements of the scalp field, and are left out too.
_NON_EEG = re.compile(
    r"^(?:-+|none|skip|(?:left |right )?aux\d*|aux[ _-]?(?:left|right|\d+)|[hv]?eog\w*|ecg\w*|ekg\w*|emg\w*|"
    r"acc\w*|gyro\w*|mag[xyz]?|[xyz]|a[xyz]|g[xyz]|"
    r"counter|samplecounter|sample[ _]?(?:index|number)|timestamp|time|trigger|trig\w*|sti\s?\d*|status|"
    r"markers?\w*|hardware\s?marker\w*|battery\w*|interpolated?|raw[ _]?cq|cq[ _]\w+|eq[ _]\w+|"
    r"resp\w*|gsr|eda|ppg\w*|temp\w*|hr|spo2|photo\w*|light|digital\w*|analog\w*|"
    r"a1|a2|m1|m2|ref|gnd|ground|drl|bias|cms)$"
)


def canonical_label(label: str) -> str:
    """The lower-case, alias-resolved form of a channel label used for matching."""
    key = label.strip().lower()
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix):].strip()
    for suffix in _SUFFIXES:
        if key.endswith(suffix):
            key = key[: -len(suffix)]
    return ALIASES.get(key, key)


def is_non_eeg(label: str) -> bool:
    """Whether ``label`` names a channel that is not a scalp electrode (auxiliary, EOG/ECG/EMG, motion, counter,
    trigger, battery, reference...)."""
    return bool(_NON_EEG.match(canonical_label(label)))


def template_montage():
    """mne's 10-05 template montage: ``colin27_1005``, or ``standard_1005`` (the same positions) on mne versions
    that lack the new name."""
    import mne  # local: the light paths (a labelled 32-channel stream) never need it

    try:
        return mne.channels.make_standard_montage("colin27_1005")
    except ValueError:
        return mne.channels.make_standard_montage("standard_1005")


@functools.cache
def _template() -> dict[str, tuple[str, np.ndarray]]:
    """Canonical label -> (the template's own spelling, 3-D position in m, head coordinates)."""
    found: dict[str, tuple[str, np.ndarray]] = {}
    for name, xyz in template_montage().get_positions()["ch_pos"].items():
        key = canonical_label(name)
        if key not in found or key == name.lower():  # the template lists T3 and T7 both: keep the current name
            found[key] = (name, np.asarray(xyz, dtype=float))
    return found


def template_name(label: str) -> str | None:
    """The 10-05 template's spelling of ``label`` (e.g. ``"T3"`` -> ``"T7"``), or None when it names no standard
    position (or is not EEG)."""
    if is_non_eeg(label):
        return None
    found = _template().get(canonical_label(label))
    return found[0] if found is not None else None


def position(label: str) -> np.ndarray | None:
    """The 3-D position (m, mne head coordinates) of a standard 10-05 ``label``, or None."""
    if is_non_eeg(label):
        return None
    found = _template().get(canonical_label(label))
    return found[1].copy() if found is not None else None


@functools.cache
def head_origin() -> tuple[float, float, float]:
    """Centre (m) of the sphere fitted to the whole 10-05 template, the origin of the spherical splines.

    Fitted once to all 343 template positions rather than to the few electrodes of a headset: a sphere fitted to a
    Muse's four electrodes would be meaningless, and the template is what every position here comes from.
    """
    import mne

    names = [name for name, _ in _template().values()]
    info = mne.create_info(names, 100.0, "eeg")
    info.set_montage(template_montage(), verbose="error")
    _, origin, _ = mne.bem.fit_sphere_to_headshape(info, dig_kinds=("eeg",), units="m", verbose="error")
    return tuple(float(x) for x in origin)
