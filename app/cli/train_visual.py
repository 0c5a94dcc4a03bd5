"""``affectstream train-visual``: re-train the bundled visual student on FER+."""

from __future__ import annotations

import argparse



def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-visual", help="train, score and bundle the visual student on FER+ (real data)",
                       description="Train the visual student on the FER+ training split, select on valid, score "
                                   "test once through the exported ONNX and update the manifest. Options after "
                                   "the command go to the trainer (see `affectstream train-visual -- --help`).",
                       add_help=False)
    p.add_argument("trainer_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from affectstream.models.training.image_loop import main as train_main

    return train_main([a for a in args.trainer_args if a != "--"], prog="affectstream train-visual")
