"""``affectstream replay``: an XDF recording through the live pipeline, in the window, or re-published on LSL."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from affectstream.app.cli.common import (UserError, add_montage_options, dashboard_config, load_pipeline_config,
                                         model_warning_tag, positive, speed_factor, subject_profile, trained_on_text,
                                         warn, window_possible)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="replay an XDF recording through the live pipeline (or re-publish it on LSL)",
                       description="Replay any XDF file (affectstream's or another tool's) through exactly the "
                                   "pipeline used live. Outputs depend only on the recording: identical at every "
                                   "speed.")
    p.add_argument("file", type=Path, help="the .xdf recording")
    p.add_argument("--speed", type=speed_factor, default=None, metavar="1|K|max",
                   help="x real time; 'max' = as fast as the CPU allows (the default with --headless; "
                        "the window starts at 1x, and at its fastest speed with max)")
    p.add_argument("--headless", action="store_true",
                   help="no window: write JSONL (without it the dashboard plays the file, with play/pause, seek "
                        "and speed)")
    p.add_argument("--duration", type=positive, default=None,
                   help="window: seconds to play before closing (counted from the first estimate)")
    p.add_argument("--screenshot", type=Path, default=None, metavar="FILE.png",
                   help="window: save its picture after --duration seconds (default 5) and exit")
    p.add_argument("--out", type=Path, default=None, help="JSONL file, one object per hop")
    p.add_argument("--publish", action="store_true",
                   help="re-publish the recorded streams as LSL outlets at --speed (default 1x) instead")
    p.add_argument("--no-video", action="store_true", help="ignore the recording's video stream")
    p.add_argument("--allow-truncated", action="store_true",
                   help="replay the complete part of a file that was cut off (e.g. a crashed recording)")
    p.add_argument("--subject", default=None, help="use this subject's calibration profile (when there is one)")
    p.add_argument("--profiles", type=Path, default=None, metavar="DIR", help="calibration profile folder")
    add_montage_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from affectstream.core.files import regular_file
    from affectstream.pipelines.sessions.publish import publish_recording
    from affectstream.pipelines.sessions.replay import replay

    regular_file(args.file, "recording", UserError)  # before the window opens
    if args.publish:
        if args.channels is not None or args.montage is not None:
            raise UserError("--publish re-publishes the recording as it is; give --channels or --montage to the "
                            "command that reads the published stream (run, dashboard)")
        speed = args.speed or 1.0
        if math.isinf(speed):
            raise UserError("--publish paces the streams in time: give a speed factor (e.g. --speed 4), not max")
        print(f"re-publishing the streams of {args.file} at {speed:g}x; Ctrl-C stops", file=sys.stderr)
        publish_recording(args.file, speed)
        return 0
    if not args.headless:
        config = dashboard_config(args)  # a mistyped option is named before the display is looked for
        if not window_possible(args.screenshot):
            raise UserError("no display found (DISPLAY is not set): use --headless --out FILE.jsonl, or "
                            "--screenshot FILE.png to render the dashboard offscreen")
        from affectstream.app.dashboard import run_dashboard
        from affectstream.pipelines.sessions.replay_session import SPEEDS

        speed = 1.0 if args.speed is None else min(args.speed, max(SPEEDS))  # 'max': the fastest offered
        return run_dashboard(recording=args.file, replay_speed=speed, screenshot=args.screenshot,
                             duration=args.duration, config=config)
    speed = None if args.speed is None or math.isinf(args.speed) else args.speed
    summary = replay(args.file, speed=speed, out_jsonl=args.out, with_video=not args.no_video,
                     allow_truncated=args.allow_truncated,
                     config=load_pipeline_config(None, profile=subject_profile(args.subject, args.profiles),
                                                 options=args),
                     on_start=lambda started: warn("replay", started.model_warning))
    for note in summary.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"{summary.hops} hops over {summary.duration_s:.1f} s of recording in {summary.wall_s:.2f} s "
          f"({summary.x_realtime:.0f}x real time), estimator {summary.estimator}"
          f"{trained_on_text(summary.eeg_model_trained_on)}; {summary.mapping}; markers: {summary.markers_line()}"
          + (f"; wrote {args.out}" if args.out else "") + model_warning_tag(summary.model_warning)
          + (" [SYNTHETIC recording]" if summary.synthetic else ""), file=sys.stderr)
    return 0
