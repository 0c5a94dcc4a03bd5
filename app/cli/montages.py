"""``affectstream montages``: the headset presets ``--montage`` takes, and how streams are read without one."""

from __future__ import annotations

import argparse
import functools
import json

#: How channels are found, in the order a user needs it: most streams need no option at all.
EXPLANATION = (
    "A stream whose channels carry standard 10-05 labels (Fp1, AF7, TP9, T3 or T7, 'EEG Fz', 'Cz-REF', ...) needs no "
    "preset: its electrodes are found by their labels, in any order.",
    "Non-EEG channels (AUX, EOG/ECG/EMG, accelerometer and gyroscope, counters, battery, triggers and markers, "
    "references such as A1/M1) are recognised by their labels and left out.",
    "Channels of the model's 32-channel montage that the headset lacks are interpolated from its electrodes "
    "(spherical splines) and flagged 'interpolated' in the JSONL's bad_channels.",
    "A stream without labels (the OpenBCI GUI's LSL stream), or with wrong ones, needs --channels LABEL,... (one "
    "label per channel, in stream order; skip for a channel to leave out) or --montage PRESET.",
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("montages", help="list the headset presets of --montage and how channels are named",
                       description="List the headset layouts that --montage PRESET applies (run, replay, dashboard) "
                                   "and explain how a stream's channels are found without one.")
    p.add_argument("--json", action="store_true", help="print the presets as JSON instead")
    p.set_defaults(func=run)


def presets_json() -> dict:
    """Every preset as plain data: its channels in stream order, each marked EEG or not, and the model montage."""
    from affectstream.core.electrodes import canonical_label, is_non_eeg
    from affectstream.core.montage import MONTAGE_32
    from affectstream.core.montage_presets import PRESETS

    model = {canonical_label(label) for label in MONTAGE_32}
    return {
        "presets": [{"name": p.name, "title": p.title, "n_channels": len(p.labels), "n_electrodes": len(p.electrodes),
                     "model_channels_measured": sum(canonical_label(label) in model for label in p.electrodes),
                     "channels": [{"label": label, "eeg": not is_non_eeg(label)} for label in p.labels],
                     "note": p.note} for p in PRESETS.values()],
        "model_montage": list(MONTAGE_32),
        "notes": list(EXPLANATION),
    }


def run(args: argparse.Namespace) -> int:
    import textwrap

    listing = presets_json()
    if args.json:
        print(json.dumps(listing, indent=1))
        return 0
    n_model = len(listing["model_montage"])
    wrap = functools.partial(textwrap.fill, width=100, initial_indent="  ", subsequent_indent="    ")
    print("Headset presets (--montage PRESET), channels in stream order ([not EEG]: left out):\n")
    for preset in listing["presets"]:
        labels = ", ".join(c["label"] + ("" if c["eeg"] else " [not EEG]") for c in preset["channels"])
        print(f"{preset['name']}: {preset['title']}")
        print(wrap(f"{preset['n_channels']} channels: {labels}"))
        print(wrap(f"measures {preset['model_channels_measured']} of the {n_model} model channels"
                   + (f"; {preset['note']}" if preset["note"] else "")))
    print()
    for line in listing["notes"]:
        print(textwrap.fill(line, width=100, initial_indent="* ", subsequent_indent="  "))
    return 0
