"""``affectstream compare``: several training runs' summaries side by side."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from affectstream.app.cli.common import UserError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="several training runs' summaries side by side (an ablation table)",
                       description="Write one markdown table from the summary JSON files of `affectstream train "
                                   "--report`, in the order given, with each row's command.")
    p.add_argument("summaries", type=Path, nargs="+", help="summary JSON files")
    p.add_argument("--out", type=Path, required=True, help="markdown file to write")
    p.add_argument("--title", default="Comparison", help="the table's title")
    p.add_argument("--json", type=Path, default=None, metavar="FILE.json",
                   help="also write one entry per experiment: its runs with different run.seed grouped, per-seed "
                        "baseline and method, controls, teacher, recipe, the test over seeds x folds, commands")
    p.add_argument("--by-seed", action="store_true",
                   help="the markdown table groups the runs of one experiment over seeds (a method comparison); "
                        "without it, one row per run (an ablation)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from affectstream.models.training.compare import compare_markdown

    missing = [str(p) for p in args.summaries if not p.is_file()]
    if missing:
        raise UserError(f"no summary file at {', '.join(missing)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from affectstream.models.training.seed_comparison import seed_rows, seed_rows_markdown

    command = "affectstream " + shlex.join(args.argv)
    rows = seed_rows(args.summaries) if args.by_seed or args.json is not None else []
    args.out.write_text(seed_rows_markdown(rows, args.title, command) if args.by_seed else
                        compare_markdown(args.summaries, args.title, command))
    print(f"wrote {args.out}", file=sys.stderr)
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0
