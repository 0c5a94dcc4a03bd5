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
                   help="also write one entry per distillation run (method vs its baseline, p-value, command)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from affectstream.models.training.compare import compare_markdown

    missing = [str(p) for p in args.summaries if not p.is_file()]
    if missing:
        raise UserError(f"no summary file at {', '.join(missing)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(compare_markdown(args.summaries, args.title, "affectstream " + shlex.join(args.argv)))
    print(f"wrote {args.out}", file=sys.stderr)
    if args.json is not None:
        from affectstream.models.training.compare import comparison_entries

        args.json.write_text(json.dumps(comparison_entries(args.summaries), indent=1) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0
