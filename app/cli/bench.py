"""``affectstream bench``: measured figures, side by side in one run."""

from __future__ import annotations

import argparse
import json
import os
import sys

from affectstream.app.cli.common import positive


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure band power, hop latency and more side by side; print a table or JSON",
                       description="Benchmarks (medians over many repetitions, side by side in one run).")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--hop-seconds", type=positive, default=30.0,
                   help="seconds of live simulated input for the end-to-end hop figures (default 30)")
    p.add_argument("--repeats", type=int, default=2000, help="repetitions of the band-power microbenchmark")
    p.add_argument("--replay-minutes", type=positive, default=10.0,
                   help="length of the simulated recording replayed as fast as possible (default 10)")
    p.add_argument("--gui-seconds", type=positive, default=10.0, help="seconds of the offscreen dashboard bench")
    p.add_argument("--soak", type=positive, default=None, metavar="MINUTES",
                   help="also run a live soak of this many minutes (simulator with video, face path, recorder): "
                        "memory growth, hop-interval jitter and sample gaps (default: off)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from affectstream.pipelines.bench.suite import format_table, run_bench

    results = run_bench(hop_seconds=args.hop_seconds, repeats=args.repeats, replay_minutes=args.replay_minutes,
                        soak_minutes=args.soak, progress=sys.stderr.isatty())
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from affectstream.app.dashboard.bench_gui import bench_gui

    results["gui"] = bench_gui(args.gui_seconds)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(format_table(results))
    return 0
