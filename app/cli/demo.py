"""``affectstream demo``: the embedded default: the simulator in a child process and the pipeline on it."""

from __future__ import annotations

import argparse
import functools
import sys
import uuid
from pathlib import Path

from affectstream.app.cli.common import (StatusLine, UserError, add_recordings_option, positive, print_summary,
                                         record_path, window_possible)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the embedded default: start the simulator and estimate from it",
                       description="Start the simulator (SYNTHETIC data) in a child process and run the pipeline "
                                   "on it.")
    p.add_argument("--headless", action="store_true", help="no window (JSONL + Affect outlet)")
    p.add_argument("--duration", type=positive, default=None, help="seconds to run (default: until Ctrl-C or "
                                                                     "the window is closed)")
    p.add_argument("--out", type=Path, default=None, help="JSONL file, one object per hop (headless)")
    p.add_argument("--screenshot", type=Path, default=None, metavar="FILE.png",
                   help="save the dashboard's picture after --duration seconds (default 10) and exit")
    p.add_argument("--seed", type=int, default=0, help="simulator seed")
    p.add_argument("--subject", default="sim01", help="simulated subject")
    p.add_argument("--no-video", action="store_true", help="EEG only (no synthetic face video)")
    p.add_argument("--record", nargs="?", const="auto", default=None, metavar="FILE.xdf",
                   help="record the session (and every Markers stream on this machine) to XDF (default: a new name "
                        "in the recordings folder)")
    add_recordings_option(p)
    p.add_argument("--quiet", action="store_true", help="no per-second status line")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from affectstream.pipelines.synthetic.publisher import start_simulator_process, stop_process

    if not args.headless and not window_possible(args.screenshot):
        print("no display found: running the demo headless (--screenshot FILE.png renders the dashboard "
              "offscreen)", file=sys.stderr)
        args.headless = True
    if not args.headless:
        from affectstream.app.dashboard import run_demo

        duration = args.duration if args.duration is not None or args.screenshot is None else 10.0
        code = run_demo(args.seed, args.subject, screenshot=args.screenshot, duration=duration,
                        video=not args.no_video, recordings=args.recordings,
                        record=record_path(args.record, args.subject, "1", "demo", args.recordings))
        if args.screenshot is not None and code == 0:
            print(f"wrote {args.screenshot}", file=sys.stderr)
        return code
    from affectstream.pipelines.sessions.live import open_video_source, run_headless

    prefix = f"affectstream-demo-{uuid.uuid4().hex[:8]}"
    sim_duration = None if args.duration is None else args.duration + 30.0
    sim = start_simulator_process(args.seed, args.subject, sim_duration, video=not args.no_video, prefix=prefix)
    try:
        video = None if args.no_video else functools.partial(open_video_source, video_source_id=f"{prefix}-video",
                                                              timeout=20.0)
        record = record_path(args.record, args.subject, "1", "demo", args.recordings)
        summary = run_headless("EEG", source_id=f"{prefix}-eeg", duration=args.duration, out=args.out,
                               on_result=StatusLine(args.quiet), resolve_timeout=20.0, open_video=video,
                               record=record, markers=f"{prefix}-markers", ground_truth=f"{prefix}-truth",
                               subject=args.subject)
        if record is not None:
            print(f"recorded to {record}", file=sys.stderr)
    except Exception:
        if sim.poll() is not None and sim.returncode not in (0, -15):
            err = sim.stderr.read().decode(errors="replace") if sim.stderr else ""
            raise UserError(f"the simulator exited with code {sim.returncode}: {err.strip()[-500:]}") from None
        raise
    finally:
        stop_process(sim)
    print_summary(summary, args.out, "demo")
    return 0
