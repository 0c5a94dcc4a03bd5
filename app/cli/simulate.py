"""``affectstream simulate``: publish the simulator (SYNTHETIC data) as LSL streams."""

from __future__ import annotations

import argparse
import sys

from affectstream.app.cli.common import positive


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="publish synthetic EEG, markers, face video and ground truth as LSL streams",
                       description="Publish the planted-truth simulator (SYNTHETIC data) as LSL streams.")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--subject", default="sim01", help="simulated subject id; subjects differ in gains and noise")
    p.add_argument("--duration", type=positive, default=None, help="seconds to run (default: until Ctrl-C)")
    p.add_argument("--srate", type=positive, default=256.0, help="EEG sampling rate in Hz (default 256)")
    p.add_argument("--no-video", action="store_true", help="do not publish the synthetic face video stream")
    p.add_argument("--source-prefix", default=None, help="prefix of every stream's source_id (default: stable "
                                                         "from subject and seed)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from affectstream.pipelines.synthetic.publisher import run_simulator
    from affectstream.pipelines.synthetic.sim_config import SimulatorConfig

    config = SimulatorConfig(seed=args.seed, subject=args.subject, srate=args.srate)
    print(f"publishing SYNTHETIC streams for subject {args.subject} (seed {args.seed}); Ctrl-C stops",
          file=sys.stderr)
    try:
        run_simulator(config, args.duration, video=not args.no_video, source_prefix=args.source_prefix)
    except KeyboardInterrupt:
        pass
    return 0
