"""``affectstream train``: the trainer: one TOML config, one run folder."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

from affectstream.app.cli.common import UserError
from affectstream.app.cli.extras import require_training


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train students by cross-modal distillation from a TOML config",
                       description="Run a training config (models/configs/*.toml): the dataset, the protocol's "
                                   "folds, the method; writes a run folder with the config, per-fold results and "
                                   "checkpoints, metrics.json, report.md and plots. A killed run continues with "
                                   "--resume RUN_DIR.")
    p.add_argument("config", type=Path, nargs="?", help="the TOML config (not needed with --resume)")
    add_run_options(p)
    p.set_defaults(func=run)


def add_run_options(p: argparse.ArgumentParser) -> None:
    """The options of a training run (``train`` and its alias ``train-visual``)."""
    p.add_argument("--resume", type=Path, default=None, metavar="RUN_DIR", help="continue this run folder")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None,
                   help="override the config's run.device (auto: CUDA when available)")
    p.add_argument("--report", type=Path, default=None, metavar="FILE.json",
                   help="also write the run's summary to FILE.json and its report to FILE.md (e.g. under "
                        "models/reports/)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="change one key of the config, checked as the file's keys are (repeatable), e.g. "
                        "--set data.root=/data/DEAP --set protocol.max_folds=2; paths are relative to the working "
                        "folder")
    p.add_argument("--fast-dev-run", action="store_true",
                   help="a smoke test of every step: one fold, one epoch, a handful of batches; the run folder is "
                        "marked as such and no model is exported outside it")


#: Config keys that hold paths: given with --set they are relative to the working folder, as a path typed on a
#: command line is (in the file they are relative to the file's folder).
PATH_KEYS = frozenset({"data.root", "data.path", "data.cache_dir", "run.out_dir"})


def absolute_path_overrides(overrides: list[str]) -> list[str]:
    """``--set`` values of :data:`PATH_KEYS` made absolute against the working folder."""
    out = []
    for text in overrides:
        key, sep, value = text.partition("=")
        if sep and key.strip() in PATH_KEYS and value.strip() and not value.strip().startswith(("[", '"', "'")):
            text = f"{key.strip()}={json.dumps(str(Path(value.strip()).expanduser().resolve()))}"
        out.append(text)
    return out


def run(args: argparse.Namespace) -> int:
    require_training(f"affectstream {args.command}")  # train or its alias train-visual
    from affectstream.models.training.reports import headline, write_report
    from affectstream.models.training.runner import load_config, run_folder_config, run_training
    from affectstream.pipelines.eeg_student_training import training_methods
    from affectstream.pipelines.synthetic.planted_dataset import ensure_planted_data

    if args.config is None and args.resume is None:
        raise UserError("give a config file (e.g. models/configs/planted_v2e_kd.toml) or --resume RUN_DIR")
    if args.fast_dev_run and args.report is not None:
        raise UserError("--fast-dev-run writes no --report: its numbers are not a result")
    from affectstream.pipelines.face.video_crops import face_crops_at

    methods = training_methods()
    overrides = absolute_path_overrides(args.overrides)
    if args.resume is not None and overrides:
        raise UserError("--set cannot change a run that has started: its config.toml is what it continues with")
    config = run_folder_config(args.resume, methods) if args.resume is not None else \
        load_config(args.config, methods, overrides)
    ensure_planted_data(config, progress=not args.quiet)
    folder = run_training(args.config, methods, resume=args.resume, device=args.device, progress=not args.quiet,
                          command="affectstream " + shlex.join(args.argv), fast_dev_run=args.fast_dev_run,
                          overrides=overrides, face_frames=face_crops_at)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # under torchrun, rank 0 reports
    if args.report is not None:
        metrics = write_report(folder, args.report)
    else:
        metrics = json.loads((folder / "metrics.json").read_text())
    print(f"run folder {folder}; " + headline(metrics["summary"]), file=sys.stderr)
    return 0
