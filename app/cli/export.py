"""``affectstream export``: EEG student weights -> streaming ONNX + manifest, with a parity check."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from affectstream.app.cli.common import UserError
from affectstream.app.cli.extras import require_training


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export EEG student weights to ONNX (+ state dict) with a parity check",
                       description="Export an EEG student's weights-only state dict to the streaming ONNX graph the "
                                   "live path runs, check torch/onnxruntime parity (<= 1e-4) and record both files "
                                   "in the manifest of the output folder. (The visual student is exported by "
                                   "`affectstream train-visual`.)")
    p.add_argument("--eeg-weights", type=Path, required=True, help="weights-only state dict (.pt) of an EEG student")
    p.add_argument("--out", type=Path, required=True, help="output folder (ONNX, state dict, manifest.json)")
    p.add_argument("--channels", type=int, nargs="+", default=[128, 128], help="TCN level widths of the weights")
    p.add_argument("--data", choices=("real", "synthetic"), required=True,
                   help="what the weights were trained on, stated in the manifest")
    p.add_argument("--trained-on", default="", help="one line describing the training data")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    require_training("affectstream export")
    import torch

    from affectstream.models.nets.eeg_tcn import EEGTCN
    from affectstream.models.deploy.export import bundle_eeg_student

    if not args.eeg_weights.is_file():
        raise UserError(f"no weights file at {args.eeg_weights}")
    import pickle

    try:
        state = torch.load(args.eeg_weights, map_location="cpu", weights_only=True)
        model = EEGTCN(channels=tuple(args.channels))
        model.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError, TypeError, EOFError, pickle.UnpicklingError) as exc:
        raise UserError(f"{args.eeg_weights} is not an EEG student state dict with channels {args.channels}: "
                        f"{str(exc).splitlines()[0]}") from None
    args.out.mkdir(parents=True, exist_ok=True)
    shared = {"data": args.data, "trained_on": args.trained_on or f"exported from {args.eeg_weights}",
              "command": "affectstream " + " ".join(sys.argv[1:]), "task": "eeg_valence_arousal"}
    bundle = bundle_eeg_student(model.eval(), args.out, shared=shared,
                                architecture={"channels": list(args.channels), "kernel_size": 3, "dropout": 0.1})
    print(f"wrote {bundle.onnx} and {bundle.state_dict} (torch/onnxruntime max difference "
          f"{bundle.onnx_max_abs_diff:.1e})", file=sys.stderr)
    return 0
