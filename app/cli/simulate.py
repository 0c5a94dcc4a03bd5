"""``affectstream simulate``: publish the simulator (SYNTHETIC data) as LSL streams."""

from __future__ import annotations

import argparse
import sys

from affectstream.app.cli.common import UserError, positive


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="publish synthetic EEG, markers, face video and ground truth as LSL streams",
                       description="Publish the planted-truth simulator (SYNTHETIC data) as LSL streams.")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--subject", default="sim01", help="simulated subject id; subjects differ in gains and noise")
    p.add_argument("--sim-subject", default="typical", metavar="typical|atypical",
                   help="typical (default): the planted pattern the bundled EEG student was trained on; atypical: "
                        "affect on other bands and electrodes, with other signs (docs/calibration.md)")
    p.add_argument("--duration", type=positive, default=None, help="seconds to run (default: until Ctrl-C)")
    p.add_argument("--srate", type=positive, default=256.0, help="EEG sampling rate in Hz (default 256)")
    p.add_argument("--no-video", action="store_true", help="do not publish the synthetic face video stream")
    p.add_argument("--source-prefix", default=None, help="prefix of every stream's source_id (default: stable "
                                                         "from subject and seed)")
    p.set_defaults(func=run)


def checked_sim_subject(value: str) -> str:
    """``--sim-subject``'s value when it names a kind of simulated subject (checked when the command runs, so that
    the command line parser does not import the simulator)."""
    from affectstream.pipelines.synthetic.sim_config import SUBJECT_KINDS

    if value not in SUBJECT_KINDS:
        raise UserError(f"--sim-subject must be {' or '.join(SUBJECT_KINDS)}, not {value!r}")
    return value


def run(args: argparse.Namespace) -> int:
    from affectstream.pipelines.synthetic.publisher import run_simulator
    from affectstream.pipelines.synthetic.sim_config import SimulatorConfig

    checked_sim_subject(args.sim_subject)

    config = SimulatorConfig(seed=args.seed, subject=args.subject, srate=args.srate, subject_kind=args.sim_subject)
    print(f"publishing SYNTHETIC streams for {args.sim_subject} subject {args.subject} (seed {args.seed}); Ctrl-C "
          "stops",
          file=sys.stderr)
    try:
        run_simulator(config, args.duration, video=not args.no_video, source_prefix=args.source_prefix)
    except KeyboardInterrupt:
        pass
    return 0
