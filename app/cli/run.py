"""``affectstream run``: estimates from live LSL streams, headless (JSONL + the Affect outlet)."""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

from affectstream.app.cli.common import (StatusLine, UserError, add_montage_options, add_recordings_option,
                                         checked_video_file, load_pipeline_config, positive, print_summary,
                                         record_path, subject_profile)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="estimate valence/arousal from live LSL streams (headless: JSONL + Affect outlet)",
                       description="Read live LSL streams and estimate valence and arousal every hop.")
    p.add_argument("--headless", action="store_true", help="no window: write JSONL and publish the Affect outlet")
    p.add_argument("--eeg", default="EEG", help="name or type of the EEG stream (default: type EEG)")
    p.add_argument("--eeg-source-id", default=None, help="only use the EEG stream with this source_id")
    p.add_argument("--first-match", action="store_true",
                   help="when several streams match --eeg (or --video) equally, take the first listed instead of "
                        "stopping with the list")
    p.add_argument("--duration", type=positive, default=None, help="seconds to run (default: until Ctrl-C)")
    p.add_argument("--out", type=Path, default=None, help="JSONL file, one object per hop")
    video = p.add_mutually_exclusive_group()
    video.add_argument("--video", default=None, metavar="NAME_OR_TYPE",
                       help="add the face path from an LSL Video stream (e.g. 'Video')")
    video.add_argument("--video-source-id", default=None, metavar="ID",
                       help="add the face path from the LSL Video stream with this source_id")
    video.add_argument("--camera", type=int, default=None, metavar="N", help="add the face path from local camera N")
    video.add_argument("--video-file", type=Path, default=None, metavar="PATH",
                       help="add the face path from a video file played in real time (looped)")
    p.add_argument("--config", type=Path, default=None, help="pipeline config TOML (see README)")
    add_montage_options(p)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None,
                   help="where the students run (default: the config's, cpu); falls back to CPU with a notice")
    p.add_argument("--face-model", type=Path, default=None, metavar="YUNET.onnx",
                   help="detect faces with this YuNet ONNX model instead of the bundled Haar cascade")
    p.add_argument("--timeout", type=positive, default=10.0, help="seconds to wait for the stream (default 10)")
    p.add_argument("--record", nargs="?", const="auto", default=None, metavar="FILE.xdf",
                   help="record every stream of the session, every Markers stream on this machine and the "
                        "estimates to XDF (default name, in the recordings folder: "
                        "sub-<subject>_ses-<session>_task-<task>_<time>.xdf)")
    add_recordings_option(p)
    p.add_argument("--record-stream", action="append", default=[], metavar="NAME_OR_SOURCE_ID",
                   help="also record this LSL stream (repeatable; with --record)")
    p.add_argument("--subject", dest="record_subject", default=None,
                   help="subject id: uses the subject's calibration profile when there is one, and names the "
                        "recording (default 01)")
    p.add_argument("--profiles", type=Path, default=None, metavar="DIR",
                   help="calibration profile folder (default: the per-user one, see `affectstream calibrate`)")
    p.add_argument("--session", dest="record_session", default="1", help="session number in the recording's name")
    p.add_argument("--task", dest="record_task", default="affect", help="task name in the recording's name")
    p.add_argument("--quiet", action="store_true", help="no per-second status line")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from affectstream.pipelines.sessions.live import open_video_source, run_headless

    if not args.headless:
        raise UserError("`run` is the headless command: add --headless, or use `affectstream dashboard` for the "
                        "window")
    if args.record_stream and args.record is None:
        raise UserError("--record-stream names a stream to record: add --record [FILE.xdf]")
    config = load_pipeline_config(args.config, args.device, args.face_model,
                                   subject_profile(args.record_subject, args.profiles), options=args)
    # opened by the session on a thread beside the EEG lookup (None when no face source was asked for)
    video = functools.partial(open_video_source, args.video, video_source_id=args.video_source_id,
                              camera=args.camera, video_file=checked_video_file(args.video_file), timeout=args.timeout,
                              first_match=args.first_match)
    record = record_path(args.record, args.record_subject or "01", args.record_session, args.record_task,
                         args.recordings)
    summary = run_headless(args.eeg, source_id=args.eeg_source_id, duration=args.duration, out=args.out,
                           config=config, resolve_timeout=args.timeout, on_result=StatusLine(args.quiet),
                           open_video=video, record=record, first_match=args.first_match,
                           subject=args.record_subject, record_streams=args.record_stream)
    if record is not None:
        print(f"recorded to {record}", file=sys.stderr)
    print_summary(summary, args.out)
    return 0
