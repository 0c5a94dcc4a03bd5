"""``affectstream channel-subsets``: the EEG estimators on headsets of 4 to 32 channels, on the planted benchmark's
held-out simulated subjects (SYNTHETIC), and the fair comparison of EEG-student recipes over seeds."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from affectstream.app.cli.common import UserError
from affectstream.app.cli.extras import require_training

#: The layouts measured unless --layouts says otherwise (kept here so that --help needs no import of the pipelines).
DEFAULT_LAYOUTS = "10-10-32,openbci-cyton-daisy,emotiv-epoc,openbci-cyton,emotiv-insight,muse"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("channel-subsets", help="measure the EEG estimators on headset layouts (SYNTHETIC benchmark)",
                       description="Render the held-out simulated sessions of a training config's planted benchmark "
                                   "to headset layouts (32, 16, 14, 8, 5 and 4 channels), replay each through the "
                                   "live pipeline with each estimator, and write the CCC of the EEG valence and "
                                   "arousal against the planted truth to FILE.json and FILE.md. With --recipe, train "
                                   "each recipe with --seeds seeds on the config's split and report mean ± sd.")
    p.add_argument("config", type=Path, help="the EEG student's training config (its data and test subjects), "
                                             "e.g. models/configs/planted_eeg_student.toml")
    p.add_argument("--out", type=Path, required=True, metavar="FILE.json",
                   help="the report to write (FILE.md beside it)")
    p.add_argument("--student", action="append", default=[], metavar="NAME=MANIFEST",
                   help="a student to measure, by its manifest (e.g. student-after=models/weights/manifest.json); "
                        "repeatable")
    p.add_argument("--baseline", action="store_true", help="measure the baseline estimator too")
    p.add_argument("--recipe", action="append", default=[], metavar="NAME=CONFIG",
                   help="a training config of the EEG student to train with --seeds seeds and measure; repeatable")
    p.add_argument("--seeds", type=int, default=3, help="seeds per recipe (default 3)")
    p.add_argument("--keep", type=Path, default=None, metavar="FILE.json",
                   help="carry over the estimators and comparison of an earlier report that this run does not "
                        "measure (how a student that has since been replaced keeps its numbers)")
    p.add_argument("--subjects", default=None, metavar="N,N,...",
                   help="the simulated subjects to measure on (default: the config's test subjects)")
    p.add_argument("--layouts", default=DEFAULT_LAYOUTS, metavar="PRESET,...",
                   help=f"headset presets to render (`affectstream montages`; default {DEFAULT_LAYOUTS})")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _named_paths(values: list[str], option: str) -> dict[str, Path]:
    """``NAME=PATH`` options as a mapping, with one clear line for a malformed or repeated one."""
    out: dict[str, Path] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise UserError(f"{option} takes NAME=PATH, got {value!r}")
        if name.strip() in out or name.strip() == "baseline":
            raise UserError(f"{option} {name.strip()!r}: the name is taken (names must differ, and 'baseline' is "
                            "the baseline estimator's)")
        out[name.strip()] = Path(path.strip())
    return out


def _options(args: argparse.Namespace) -> dict:
    """The checked options, as :func:`affectstream.pipelines.channel_subsets.measure.measure` takes them."""
    from affectstream.core.montage_presets import PresetError, get_preset

    students, recipes = _named_paths(args.student, "--student"), _named_paths(args.recipe, "--recipe")
    if set(students) & set(recipes):
        raise UserError(f"--student and --recipe both name {', '.join(sorted(set(students) & set(recipes)))}")
    if not (students or recipes or args.baseline):
        raise UserError("nothing to measure: give --student NAME=MANIFEST, --baseline or --recipe NAME=CONFIG")
    if args.seeds < 1:
        raise UserError(f"--seeds must be 1 or more, got {args.seeds}")
    if args.out.suffix != ".json":
        raise UserError(f"--out names the JSON report (FILE.json), got {args.out}")
    missing = [str(p) for p in (args.config, *students.values(), *recipes.values()) if not p.is_file()]
    if args.keep is not None and not args.keep.is_file():
        missing.append(str(args.keep))
    if missing:
        raise UserError(f"no file at {', '.join(missing)}")
    try:
        layouts = tuple(get_preset(name).name for name in args.layouts.split(",") if name.strip())
        subjects = None if args.subjects is None else tuple(int(s) for s in args.subjects.split(",") if s.strip())
    except PresetError as exc:
        raise UserError(str(exc)) from None
    except ValueError:
        raise UserError(f"--subjects takes subject numbers separated by commas, got {args.subjects!r}") from None
    if not layouts or subjects == ():
        raise UserError("--layouts and --subjects need at least one value each")
    keep = json.loads(args.keep.read_text()) if args.keep is not None else None
    return {"students": students, "recipes": recipes, "baseline": args.baseline, "seeds": args.seeds,
            "subjects": subjects, "layouts": layouts, "keep": keep}


def run(args: argparse.Namespace) -> int:
    require_training("affectstream channel-subsets")
    options = _options(args)
    from affectstream.pipelines.channel_subsets.measure import measure
    from affectstream.pipelines.channel_subsets.report import ReportError, report_markdown

    try:
        report = measure(args.config, command="affectstream " + shlex.join(args.argv), progress=not args.quiet,
                         **options)
    except ReportError as exc:  # no test subjects, a kept report of other data
        raise UserError(str(exc)) from None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(report_markdown(report), encoding="utf-8")
    print(f"wrote {args.out} and {args.out.with_suffix('.md')} ({report['data'].upper()} data)", file=sys.stderr)
    return 0
