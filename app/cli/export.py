"""``affectstream export``: eEG student weights -> streaming ONNX + manifest, with a parity check."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from affectstream.app.cli.common import UserError


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
    import torch

    from affectstream.models.nets.eeg_tcn import EEGTCN
    from affectstream.models.deploy.export import export_eeg_student
    from affectstream.models.deploy.manifest import save_entry
    from affectstream.pipelines.eeg.student import EEG_STUDENT, EEG_STUDENT_TORCH

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
    onnx_path, state_path, diff = export_eeg_student(model.eval(), args.out)
    common = {"data": args.data, "trained_on": args.trained_on or f"exported from {args.eeg_weights}",
              "command": "affectstream " + " ".join(sys.argv[1:]), "task": "eeg_valence_arousal"}
    save_entry(EEG_STUDENT, {**common, "file": onnx_path.name, "onnx_max_abs_diff": diff,
                             "input": {"name": "frames", "shape": [1, model.n_inputs, model.receptive_field],
                                       "frames": model.receptive_field, "norm_memory": 1200.0}},
               args.out / "manifest.json")
    save_entry(EEG_STUDENT_TORCH, {**common, "file": state_path.name,
                                   "architecture": {"channels": list(args.channels), "kernel_size": 3,
                                                    "dropout": 0.1}}, args.out / "manifest.json")
    print(f"wrote {onnx_path} and {state_path} (torch/onnxruntime max difference {diff:.1e})", file=sys.stderr)
    return 0
