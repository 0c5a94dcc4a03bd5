"""``affectstream calibrate``: calibrate the EEG student to one subject and save the subject's profile."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from affectstream.app.cli.common import UserError, add_montage_options, montage_config, window_possible
from affectstream.app.cli.extras import require_training
from affectstream.app.cli.simulate import checked_sim_subject


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="calibrate the EEG model to one subject and save the subject's profile",
                       description="Signal check, resting baseline, stimulus blocks with SAM self-reports; then "
                                   "per-subject models (new heads on the bundled student, a ridge on the subject's "
                                   "own band power) are fitted on the training blocks, the best of them, the "
                                   "uncalibrated student and the baseline estimator is kept by cross-validation on "
                                   "the training blocks, a block-permutation test says whether it beats chance, "
                                   "and the held-out blocks score every candidate (docs/calibration.md). Without "
                                   "--headless a wizard window walks through the steps: it records a live headset "
                                   "(an LSL EEG stream picked from those on this machine) while it shows the "
                                   "stimuli and asks the ratings (about 12 min plus 24 ratings), or, chosen on its "
                                   "first page, runs a SYNTHETIC dry run against the simulator; --headless runs "
                                   "the protocol against the simulator without a window (a SYNTHETIC dry run, no "
                                   "headset); --recording calibrates from a recorded real session.")
    p.add_argument("--subject", required=True, help="subject id (letters, digits, - and _)")
    p.add_argument("--headless", action="store_true",
                   help="no window: a SYNTHETIC dry run of the protocol against the simulator")
    p.add_argument("--fast", action="store_true", help="short signal check and baseline (tests, dry runs)")
    p.add_argument("--profiles", type=Path, default=None, metavar="DIR",
                   help="profile folder (default: $AFFECTSTREAM_PROFILES or the per-user data folder)")
    p.add_argument("--seed", type=int, default=1,
                   help="simulator seed of the simulated subject's individual gains (default 1; the planted "
                        "training set uses 0)")
    p.add_argument("--sim-subject", default=None, metavar="typical|atypical",
                   help="with --headless: a simulated subject like the bundled student's training population "
                        "(typical, the default) or unlike it (atypical: affect on other bands and electrodes, "
                        "with other signs)")
    p.add_argument("--recording", type=Path, default=None, metavar="FILE.xdf",
                   help="calibrate from a recorded session instead (a real headset: the protocol's markers "
                        "baseline_start/baseline_end, block_start/<stim>, block_end/<stim> and "
                        "sam/<stim>/v=<1-9>/a=<1-9>, e.g. sent by PsychoPy and recorded with `run --record`)")
    add_montage_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    require_training("affectstream calibrate")  # every mode runs the student in PyTorch and exports ONNX
    from affectstream.calibration.profiles import default_profiles_dir
    from affectstream.calibration.protocol import CalibrationConfig
    from affectstream.calibration.session import calibrate

    montage = montage_config(args)
    if args.sim_subject is not None:
        checked_sim_subject(args.sim_subject)
    if args.sim_subject is not None and not args.headless:
        raise UserError("--sim-subject picks the simulated subject of --headless (the wizard records a live headset, "
                        "--recording a recorded session)")
    if args.recording is None and (args.channels is not None or args.montage is not None):
        raise UserError("--channels and --montage name the channels of a --recording (the wizard's live headset "
                        "must carry channel labels)")
    if args.recording is not None:
        from affectstream.calibration.recording import session_from_recording
        from affectstream.calibration.session import calibrate_session

        if not args.recording.is_file():
            raise UserError(f"no recording at {args.recording}")
        session = session_from_recording(args.recording, args.subject, montage=montage)
        folder, report = calibrate_session(session, args.profiles or default_profiles_dir())
        _print_calibration(folder, report)
        return 0
    if not args.headless:
        if not window_possible(None):
            raise UserError("no display found (DISPLAY is not set): use --headless")
        from affectstream.app.calibration_wizard import run_wizard

        return run_wizard(args.subject, args.profiles, fast=args.fast)
    config = CalibrationConfig().fast() if args.fast else CalibrationConfig()
    folder, report = calibrate(args.subject, args.profiles or default_profiles_dir(), config, seed=args.seed,
                               subject_kind=args.sim_subject or "typical")
    _print_calibration(folder, report)
    return 0


def _print_calibration(folder: Path, report: dict) -> None:
    b, a = report["before"], report["after"]
    print(f"profile {folder}: held-out CCC {b['ccc']:.3f} -> {a['ccc']:.3f}, RMSE {b['rmse']:.3f} -> {a['rmse']:.3f} "
          f"(against the {report['against']}; {report['data'].upper()} data) in {report['seconds']:.0f} s\n"
          f"{report['kept_line']}\n{report['chance_line']}", file=sys.stderr)
    if report["default_use_notice"]:
        print(report["default_use_notice"], file=sys.stderr)
