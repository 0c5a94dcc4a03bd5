"""``affectstream webcam``: a local camera or a video file published as an LSL ``Video`` stream."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from affectstream.app.cli.common import positive


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("webcam", help="publish a local camera or a video file as an LSL Video stream",
                       description="Publish frames as an LSL 'Video' stream (the project's video contract), so a "
                                   "camera can be recorded and shared like any LSL device.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--camera", type=int, default=None, metavar="N", help="camera index (OpenCV)")
    src.add_argument("--video-file", type=Path, default=None, metavar="PATH", help="video file, looped in real time")
    p.add_argument("--name", default="affectstream-webcam", help="stream name")
    p.add_argument("--size", type=int, nargs=2, default=None, metavar=("HEIGHT", "WIDTH"), help="resize frames")
    p.add_argument("--duration", type=positive, default=None, help="seconds to publish (default: until Ctrl-C)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from affectstream.pipelines.sources.video import CameraSource, VideoFileSource
    from affectstream.pipelines.sources.webcam_publisher import publish_video

    source = CameraSource(args.camera) if args.camera is not None else \
        VideoFileSource(args.video_file, realtime=True, loop=True)
    print(f"publishing {source.label} as LSL stream {args.name!r}; Ctrl-C stops", file=sys.stderr)
    try:
        count = publish_video(source, name=args.name, size=tuple(args.size) if args.size else None,
                              duration=args.duration)
    except KeyboardInterrupt:
        count = None
    finally:
        source.close()
    if count is not None:
        print(f"published {count} frames", file=sys.stderr)
    return 0
