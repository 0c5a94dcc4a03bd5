"""``affectstream dashboard``: the live dashboard on the LSL streams of this machine."""

from __future__ import annotations

import argparse
from pathlib import Path

from affectstream.app.cli.common import (UserError, add_montage_options, add_recordings_option, dashboard_config,
                                         positive, window_possible)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dashboard", help="open the live dashboard on the LSL streams of this machine",
                       description="Open the dashboard; pick streams in its stream picker or name them here.")
    p.add_argument("--eeg", default="EEG", help="name or type of the EEG stream (default: type EEG)")
    p.add_argument("--eeg-source-id", default=None, help="only use the EEG stream with this source_id")
    p.add_argument("--video", default=None, metavar="NAME_OR_TYPE", help="LSL Video stream for the face path")
    p.add_argument("--video-source-id", default=None, metavar="ID",
                   help="only use the LSL Video stream with this source_id")
    p.add_argument("--first-match", action="store_true",
                   help="when several streams match --eeg (or --video) equally, take the first listed instead of "
                        "stopping with the list")
    p.add_argument("--duration", type=positive, default=None, help="seconds to run")
    p.add_argument("--screenshot", type=Path, default=None, metavar="FILE.png",
                   help="save the window's picture after --duration seconds and exit")
    p.add_argument("--subject", default=None, help="use this subject's calibration profile (when there is one)")
    p.add_argument("--profiles", type=Path, default=None, metavar="DIR", help="calibration profile folder")
    add_montage_options(p)
    add_recordings_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from affectstream.app.dashboard import run_dashboard

    config = dashboard_config(args)  # a mistyped option is named before the display is looked for
    if not window_possible(args.screenshot):
        raise UserError("no display found (DISPLAY is not set): use `affectstream run --headless`, or --screenshot "
                        "to render the dashboard offscreen")
    return run_dashboard(args.eeg, eeg_source_id=args.eeg_source_id, video=args.video,
                         video_source_id=args.video_source_id, screenshot=args.screenshot, duration=args.duration,
                         config=config, first_match=args.first_match, subject=args.subject,
                         recordings=args.recordings, profiles=args.profiles)
