"""``affectstream train-visual``: re-train the bundled visual student on FER+ -- an alias of
``affectstream train models/configs/ferplus_supervised.toml``."""

from __future__ import annotations

import argparse

from affectstream.app.cli import train
from affectstream.core.paths import REPO

#: The config ``train-visual`` runs: the bundled visual student's recipe.
CONFIG = REPO / "models" / "configs" / "ferplus_supervised.toml"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-visual", help="train, score and export the visual student on FER+ (real data)",
                       description="Train the visual student on the FER+ training split as the bundled one was "
                                   "trained, select on valid, export it to ONNX (and static int8), score test once "
                                   "through the exported file and write its manifest entry and report into the run "
                                   "folder: `affectstream train models/configs/ferplus_supervised.toml` (edit a copy "
                                   "of that config to change the recipe).")
    train.add_run_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    args.config = None if args.resume is not None else CONFIG
    return train.run(args)
