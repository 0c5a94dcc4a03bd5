"""``affectstream datasets check ROOT --kind K``: is a local copy of an emotion-EEG dataset complete and readable?

What it found goes to stdout; each problem is one line on stderr, and any problem makes the exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from affectstream.app.cli.common import USER_ERROR

#: ``models.datasets.check.DATASET_KINDS``, spelt out: importing that package here would load numpy on every
#: start of the command line (tests/app/cli/test_datasets_cli.py keeps the two equal).
KINDS = ("deap", "mahnob", "mahnob_continuous", "dreamer", "seed", "seed_iv", "seed_v")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("datasets", help="check a local copy of an emotion-EEG dataset (DEAP, MAHNOB-HCI, ...)",
                       description="Work with local copies of the emotion-EEG datasets the training reads.")
    p.set_defaults(func=lambda args: _help(p))
    commands = p.add_subparsers(title="subcommands", dest="datasets_command", metavar="SUBCOMMAND")
    c = commands.add_parser(
        "check", help="check that a copy is complete and readable in its distributed layout",
        description="Read every data file of the copy once, one file at a time, and check the layout, shapes, "
                    "sampling rates, channel labels and label ranges. Prints what it found; each problem is one "
                    "line on stderr and makes the exit code 2. A copy with fewer subjects or trials than the full "
                    "release is accepted and called a partial copy. None of these datasets publishes checksums.")
    c.add_argument("root", type=Path, metavar="ROOT",
                   help="the dataset's folder as distributed (for DREAMER also DREAMER.mat itself)")
    c.add_argument("--kind", required=True, choices=KINDS,
                   help="which dataset; mahnob_continuous is MAHNOB-HCI with its continuous valence file "
                        "lable_continous_Mahnob.mat")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=run_check)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return USER_ERROR


def run_check(args: argparse.Namespace) -> int:
    from affectstream.models.datasets.check import check_dataset

    report = check_dataset(args.kind, args.root, progress=not args.quiet)
    for line in report.found:
        print(line)
    for line in report.problems:
        print(f"affectstream datasets check: {line}", file=sys.stderr)
    if report.ok:
        print(f"{report.root}: a readable {args.kind} copy, no problems found")
        return 0
    print(f"{report.root}: {len(report.problems)} problem{'s' if len(report.problems) != 1 else ''} "
          "(listed on stderr)")
    return USER_ERROR
