"""The ``affectstream`` command line: the parser and the dispatch; each command is a module of this package.

Every command imports what it needs when it runs, so ``affectstream --help`` is instant and a headless command
never loads Qt. User mistakes (no stream, bad file, bad option) end with one clear line on stderr and exit code 2;
tracebacks are kept for bugs.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from affectstream.app.cli import (bench, calibrate, channel_subsets, compare, dashboard, demo, evaluate, export,
                                  datasets, montages, replay, run, simulate, train, train_visual, webcam)
from affectstream.app.cli.common import USER_ERROR, UserError

#: The commands, in the order ``--help`` lists them.
COMMANDS = (demo, dashboard, run, replay, montages, simulate, webcam, bench, calibrate, train, evaluate, compare,
            channel_subsets, train_visual, export, datasets)


def installed_version() -> str:
    """The version of the installed distribution, from its metadata (a wheel or an editable install alike).

    Run from a source tree that was never installed there is no metadata: the version the package declares is
    given instead, and says so.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("affectstream")
    except PackageNotFoundError:
        from affectstream import __version__

        return f"{__version__} (source tree, not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="affectstream",
        description="Real-time EEG + face affect estimation: LSL in, valence/arousal out.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {installed_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from affectstream.pipelines.sources.lsl import use_local_lsl_config

    use_local_lsl_config()
    # FFmpeg's own log lines (e.g. "moov atom not found" for a --video-file that is not a video) bypass OpenCV's
    # logging and would follow the one-line refusal; OpenCV reads this when its FFmpeg backend first starts. A user
    # who sets it keeps their level.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv  # the command as typed, recorded by the trainer
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.command is None:
        parser.print_help()
        return USER_ERROR
    from affectstream.pipelines.config import ConfigError
    from affectstream.pipelines.engine import StreamFormatError
    from affectstream.models.deploy.manifest import ModelIntegrityError
    from affectstream.pipelines.sessions.live import NoDataError
    from affectstream.pipelines.sources.lsl import StreamNotFoundError
    from affectstream.core.xdf_reader import XDFFormatError
    from affectstream.core.xdf_writer import XDFWriteError
    from affectstream.models.datasets.common import DatasetLayoutError
    from affectstream.calibration.profiles import ProfileError
    from affectstream.calibration.recording import CalibrationRecordingError
    from affectstream.pipelines.face.detect import FaceModelError
    from affectstream.pipelines.sources.video import VideoSourceError

    try:
        return args.func(args)
    except (UserError, ConfigError, StreamFormatError, StreamNotFoundError, NoDataError, FileNotFoundError,
            ModelIntegrityError, XDFWriteError, XDFFormatError, DatasetLayoutError, ProfileError,
            CalibrationRecordingError, FaceModelError, VideoSourceError) as exc:
        print(f"affectstream {args.command}: {exc}", file=sys.stderr)
        return USER_ERROR
    except KeyboardInterrupt:
        return 130
