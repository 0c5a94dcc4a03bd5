"""The ``affectstream`` command line.

Every subcommand imports what it needs when it runs, so ``affectstream --help`` is instant and a headless command
never loads Qt. User mistakes (no stream, bad file, bad option) end with one clear line on stderr and exit code 2;
tracebacks are kept for bugs.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shlex
import sys
import uuid
from pathlib import Path

#: Exit code for a user error (bad input, missing stream), as argparse uses for bad options.
USER_ERROR = 2


class UserError(Exception):
    """An error the user can fix; printed as one line without a traceback."""


def _positive(value: str) -> float:
    x = float(value)
    if not x > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return x


def _add_simulate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="publish synthetic EEG, markers, face video and ground truth as LSL streams",
                       description="Publish the planted-truth simulator (SYNTHETIC data) as LSL streams.")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--subject", default="sim01", help="simulated subject id; subjects differ in gains and noise")
    p.add_argument("--duration", type=_positive, default=None, help="seconds to run (default: until Ctrl-C)")
    p.add_argument("--srate", type=_positive, default=256.0, help="EEG sampling rate in Hz (default 256)")
    p.add_argument("--no-video", action="store_true", help="do not publish the synthetic face video stream")
    p.add_argument("--source-prefix", default=None, help="prefix of every stream's source_id (default: stable "
                                                         "from subject and seed)")
    p.set_defaults(func=cmd_simulate)


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="estimate valence/arousal from live LSL streams (headless: JSONL + Affect outlet)",
                       description="Read live LSL streams and estimate valence and arousal every hop.")
    p.add_argument("--headless", action="store_true", help="no window: write JSONL and publish the Affect outlet")
    p.add_argument("--eeg", default="EEG", help="name or type of the EEG stream (default: type EEG)")
    p.add_argument("--eeg-source-id", default=None, help="only use the EEG stream with this source_id")
    p.add_argument("--duration", type=_positive, default=None, help="seconds to run (default: until Ctrl-C)")
    p.add_argument("--out", type=Path, default=None, help="JSONL file, one object per hop")
    video = p.add_mutually_exclusive_group()
    video.add_argument("--video", default=None, metavar="NAME_OR_TYPE",
                       help="add the face path from an LSL Video stream (e.g. 'Video')")
    video.add_argument("--camera", type=int, default=None, metavar="N", help="add the face path from local camera N")
    video.add_argument("--video-file", type=Path, default=None, metavar="PATH",
                       help="add the face path from a video file played in real time (looped)")
    p.add_argument("--config", type=Path, default=None, help="pipeline config TOML (see README)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None,
                   help="where the students run (default: the config's, cpu); falls back to CPU with a notice")
    p.add_argument("--face-model", type=Path, default=None, metavar="YUNET.onnx",
                   help="detect faces with this YuNet ONNX model instead of the bundled Haar cascade")
    p.add_argument("--timeout", type=_positive, default=10.0, help="seconds to wait for the stream (default 10)")
    p.add_argument("--record", nargs="?", const="auto", default=None, metavar="FILE.xdf",
                   help="record every stream and the estimates to XDF (default name: recordings/sub-<subject>_ses-"
                        "<session>_task-<task>_<time>.xdf)")
    p.add_argument("--subject", dest="record_subject", default=None,
                   help="subject id: uses the subject's calibration profile when there is one, and names the "
                        "recording (default 01)")
    p.add_argument("--profiles", type=Path, default=None, metavar="DIR",
                   help="calibration profile folder (default: the per-user one, see `affectstream calibrate`)")
    p.add_argument("--session", dest="record_session", default="1", help="session number in the recording's name")
    p.add_argument("--task", dest="record_task", default="affect", help="task name in the recording's name")
    p.add_argument("--quiet", action="store_true", help="no per-second status line")
    p.set_defaults(func=cmd_run)


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the embedded default: start the simulator and estimate from it",
                       description="Start the simulator (SYNTHETIC data) in a child process and run the pipeline "
                                   "on it.")
    p.add_argument("--headless", action="store_true", help="no window (JSONL + Affect outlet)")
    p.add_argument("--duration", type=_positive, default=None, help="seconds to run (default: until Ctrl-C or "
                                                                     "the window is closed)")
    p.add_argument("--out", type=Path, default=None, help="JSONL file, one object per hop (headless)")
    p.add_argument("--screenshot", type=Path, default=None, metavar="FILE.png",
                   help="save the dashboard's picture after --duration seconds (default 10) and exit")
    p.add_argument("--seed", type=int, default=0, help="simulator seed")
    p.add_argument("--subject", default="sim01", help="simulated subject")
    p.add_argument("--no-video", action="store_true", help="EEG only (no synthetic face video)")
    p.add_argument("--record", nargs="?", const="auto", default=None, metavar="FILE.xdf",
                   help="record the session to XDF (default name under recordings/)")
    p.add_argument("--quiet", action="store_true", help="no per-second status line")
    p.set_defaults(func=cmd_demo)


def _add_dashboard(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dashboard", help="open the live dashboard on the LSL streams of this machine",
                       description="Open the dashboard; pick streams in its stream picker or name them here.")
    p.add_argument("--eeg", default="EEG", help="name or type of the EEG stream (default: type EEG)")
    p.add_argument("--eeg-source-id", default=None, help="only use the EEG stream with this source_id")
    p.add_argument("--video", default=None, metavar="NAME_OR_TYPE", help="LSL Video stream for the face path")
    p.add_argument("--duration", type=_positive, default=None, help="seconds to run")
    p.add_argument("--screenshot", type=Path, default=None, metavar="FILE.png",
                   help="save the window's picture after --duration seconds and exit")
    p.add_argument("--subject", default=None, help="use this subject's calibration profile (when there is one)")
    p.add_argument("--profiles", type=Path, default=None, metavar="DIR", help="calibration profile folder")
    p.set_defaults(func=cmd_dashboard)


def _add_webcam(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("webcam", help="publish a local camera or a video file as an LSL Video stream",
                       description="Publish frames as an LSL 'Video' stream (the project's video contract), so a "
                                   "camera can be recorded and shared like any LSL device.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--camera", type=int, default=None, metavar="N", help="camera index (OpenCV)")
    src.add_argument("--video-file", type=Path, default=None, metavar="PATH", help="video file, looped in real time")
    p.add_argument("--name", default="affectstream-webcam", help="stream name")
    p.add_argument("--size", type=int, nargs=2, default=None, metavar=("HEIGHT", "WIDTH"), help="resize frames")
    p.add_argument("--duration", type=_positive, default=None, help="seconds to publish (default: until Ctrl-C)")
    p.set_defaults(func=cmd_webcam)


def _speed(value: str) -> float:
    """A positive speed factor, or ``max`` (as fast as possible) as infinity."""
    if value == "max":
        return math.inf
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"speed must be a positive number or 'max', got {value!r}") from None
    if not x > 0:
        raise argparse.ArgumentTypeError(f"speed must be a positive number or 'max', got {value!r}")
    return x


def _add_replay(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="replay an XDF recording through the live pipeline (or re-publish it on LSL)",
                       description="Replay any XDF file (affectstream's or another tool's) through exactly the "
                                   "pipeline used live. Outputs depend only on the recording: identical at every "
                                   "speed.")
    p.add_argument("file", type=Path, help="the .xdf recording")
    p.add_argument("--speed", type=_speed, default=None, metavar="1|K|max",
                   help="x real time; 'max' = as fast as the CPU allows (the default with --headless; "
                        "the window starts at 1x, and at its fastest speed with max)")
    p.add_argument("--headless", action="store_true",
                   help="no window: write JSONL (without it the dashboard plays the file, with play/pause, seek "
                        "and speed)")
    p.add_argument("--duration", type=_positive, default=None,
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
    p.set_defaults(func=cmd_replay)


def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure band power, hop latency and more side by side; print a table or JSON",
                       description="Benchmarks (medians over many repetitions, side by side in one run).")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--hop-seconds", type=_positive, default=30.0,
                   help="seconds of live simulated input for the end-to-end hop figures (default 30)")
    p.add_argument("--repeats", type=int, default=2000, help="repetitions of the band-power microbenchmark")
    p.add_argument("--replay-minutes", type=_positive, default=10.0,
                   help="length of the simulated recording replayed as fast as possible (default 10)")
    p.add_argument("--gui-seconds", type=_positive, default=10.0, help="seconds of the offscreen dashboard bench")
    p.add_argument("--soak", type=_positive, default=None, metavar="MINUTES",
                   help="also run a live soak of this many minutes (simulator with video, face path, recorder): "
                        "memory growth, hop-interval jitter and sample gaps (default: off)")
    p.set_defaults(func=cmd_bench)


def _add_calibrate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="calibrate the EEG student to one subject and save the subject's profile",
                       description="Signal check, resting baseline, stimulus blocks with SAM self-reports, then the "
                                   "student's output heads fine-tuned on the subject and scored on held-out blocks "
                                   "before and after. Without --headless a wizard window walks through the steps; "
                                   "both run the protocol against the simulator for now (a SYNTHETIC dry run).")
    p.add_argument("--subject", required=True, help="subject id (letters, digits, - and _)")
    p.add_argument("--headless", action="store_true", help="no window: run the protocol against the simulator")
    p.add_argument("--fast", action="store_true", help="short signal check and baseline (tests, dry runs)")
    p.add_argument("--profiles", type=Path, default=None, metavar="DIR",
                   help="profile folder (default: $AFFECTSTREAM_PROFILES or the per-user data folder)")
    p.add_argument("--seed", type=int, default=1,
                   help="simulator seed of the simulated subject's individual gains (default 1; the planted "
                        "training set uses 0)")
    p.add_argument("--recording", type=Path, default=None, metavar="FILE.xdf",
                   help="calibrate from a recorded session instead (a real headset: the protocol's markers "
                        "baseline_start/baseline_end, block_start/<stim>, block_end/<stim> and "
                        "sam/<stim>/v=<1-9>/a=<1-9>, e.g. sent by PsychoPy and recorded with `run --record`)")
    p.set_defaults(func=cmd_calibrate)


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train students by cross-modal distillation from a TOML config",
                       description="Run a training config (models/configs/*.toml): the dataset, the protocol's "
                                   "folds, the method; writes a run folder with the config, per-fold results and "
                                   "checkpoints, metrics.json, report.md and plots. A killed run continues with "
                                   "--resume RUN_DIR.")
    p.add_argument("config", type=Path, nargs="?", help="the TOML config (not needed with --resume)")
    p.add_argument("--resume", type=Path, default=None, metavar="RUN_DIR", help="continue this run folder")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None,
                   help="override the config's run.device (auto: CUDA when available)")
    p.add_argument("--report", type=Path, default=None, metavar="FILE.json",
                   help="also write the run's summary to FILE.json and its report to FILE.md (e.g. under "
                        "models/reports/)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_train)


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="re-score a training run from its saved weights",
                       description="Load every fold's saved weights of a run folder, score them again on the "
                                   "fold's test trials and compare with the numbers the run recorded.")
    p.add_argument("run_dir", type=Path, help="a run folder written by `affectstream train`")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_evaluate)


def _add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="several training runs' summaries side by side (an ablation table)",
                       description="Write one markdown table from the summary JSON files of `affectstream train "
                                   "--report`, in the order given, with each row's command.")
    p.add_argument("summaries", type=Path, nargs="+", help="summary JSON files")
    p.add_argument("--out", type=Path, required=True, help="markdown file to write")
    p.add_argument("--title", default="Comparison", help="the table's title")
    p.add_argument("--json", type=Path, default=None, metavar="FILE.json",
                   help="also write one entry per distillation run (method vs its baseline, p-value, command)")
    p.set_defaults(func=cmd_compare)


def _add_train_visual(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-visual", help="train, score and bundle the visual student on FER+ (real data)",
                       description="Train the visual student on the FER+ training split, select on valid, score "
                                   "test once through the exported ONNX and update the manifest. Options after "
                                   "the command go to the trainer (see `affectstream train-visual -- --help`).",
                       add_help=False)
    p.add_argument("trainer_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_train_visual)


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export EEG student weights to ONNX (+ state dict) with a parity check",
                       description="Export an EEG student's weights-only state dict to the streaming ONNX graph the "
                                   "live path runs, check torch/onnxruntime parity (<= 1e-4) and record both files "
                                   "in the manifest of the output folder. (The visual student is exported by "
                                   "`affectstream train-visual`.)")
    p.add_argument("--eeg-weights", type=Path, required=True, help="weights-only state dict (.pt) of an EEG student")
    p.add_argument("--out", type=Path, required=True, help="output folder (ONNX, state dict, manifest.json)")
    p.add_argument("--channels", type=int, nargs="+", default=[128, 128], help="TCN level widths of the weights")
    p.add_argument("--data", choices=("real", "synthetic"), required=True,
                   help="what the weights were trained on, stated in the manifest")
    p.add_argument("--trained-on", default="", help="one line describing the training data")
    p.set_defaults(func=cmd_export)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="affectstream",
        description="Real-time EEG + face affect estimation: LSL in, valence/arousal out.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for add in (_add_demo, _add_dashboard, _add_run, _add_replay, _add_simulate, _add_webcam, _add_bench, _add_calibrate,
                _add_train,
                _add_evaluate, _add_compare, _add_train_visual, _add_export):
        add(sub)
    return parser


# --------------------------------------------------------------------------------------------------- commands


def cmd_simulate(args: argparse.Namespace) -> int:
    from pipelines.sim_publisher import run_simulator
    from pipelines.simulator import SimulatorConfig

    config = SimulatorConfig(seed=args.seed, subject=args.subject, srate=args.srate)
    print(f"publishing SYNTHETIC streams for subject {args.subject} (seed {args.seed}); Ctrl-C stops",
          file=sys.stderr)
    try:
        run_simulator(config, args.duration, video=not args.no_video, source_prefix=args.source_prefix)
    except KeyboardInterrupt:
        pass
    return 0


class _StatusLine:
    """Prints one status line per second of stream time to stderr."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self._next = None

    def __call__(self, result) -> None:
        if self.quiet:
            return
        if self._next is None or result.t >= self._next:
            self._next = result.t + 1.0
            fmt = lambda x: f"{x:+.2f}" if x == x else "  nan"  # noqa: E731 - NaN != NaN
            tag = " [SIMULATED]" if result.synthetic else ""
            print(f"t={result.t:10.2f}  valence {fmt(result.valence)}  arousal {fmt(result.arousal)}  "
                  f"EEG quality {result.quality_eeg:.2f} ({result.eeg.source})  latency {result.latency_ms:5.1f} ms"
                  f"{tag}", file=sys.stderr, flush=True)


def _load_pipeline_config(path: Path | None, device: str | None = None, face_model: Path | None = None,
                          profile: Path | None = None):
    import dataclasses

    from pipelines.config import PipelineConfig, load_config

    config = PipelineConfig() if path is None else load_config(path)
    overrides = {"device": device, "face_model": None if face_model is None else str(face_model),
                 "profile": None if profile is None else str(profile)}
    return dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})


def _dashboard_config(args: argparse.Namespace):
    """The dashboard's pipeline settings with the subject's profile, or None (the dashboard's defaults)."""
    from pipelines.config import PipelineConfig

    profile = _profile(args.subject, args.profiles)
    return None if profile is None else PipelineConfig(saliency_every_hops=4, profile=str(profile))


def _profile(subject: str | None, profiles: Path | None) -> Path | None:
    """The subject's calibration profile folder, or None (with a notice) when the subject has none yet.

    A profile that exists but was made for another montage or model is refused (ProfileError, one line).
    """
    if subject is None:
        return None
    from calibration.profiles import default_profiles_dir, load_profile, profile_dir

    root = profiles or default_profiles_dir()
    if not (profile_dir(root, subject) / "profile.json").is_file():
        print(f"no calibration profile for subject {subject!r} in {root}: using the bundled EEG student "
              f"(`affectstream calibrate --subject {subject}` makes one)", file=sys.stderr)
        return None
    profile = load_profile(root, subject)
    print(f"using the calibration profile of {subject!r} ({profile.meta['data']}, {profile.meta['created']})",
          file=sys.stderr)
    return profile.folder


def _finish(summary, out: Path | None) -> None:
    lat = summary.latency_percentiles()
    stats = summary.stats
    face = "" if summary.face_found_ratio != summary.face_found_ratio else \
        f"; face found in {100 * summary.face_found_ratio:.0f} % of frames"
    print(f"{summary.hops} hops from {summary.stream}; latency p50 {lat['p50_ms']:.2f} ms, p99 {lat['p99_ms']:.2f} ms;"
          f" skipped hops {stats.skipped_hops}, counter gaps {stats.counter_gaps}{face}"
          + (f"; wrote {out}" if out else "") + (" [SYNTHETIC input]" if summary.synthetic else ""), file=sys.stderr)


def _record_path(record: str | None, subject: str, session: str, task: str) -> Path | None:
    from pipelines.xdf_writer import recording_path

    if record is None:
        return None
    if record == "auto":
        try:
            return recording_path("recordings", subject, session, task)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    return Path(record)


def cmd_run(args: argparse.Namespace) -> int:
    from pipelines.live import open_video_source, run_headless

    if not args.headless:
        raise UserError("`run` is the headless command: add --headless, or use `affectstream dashboard` for the "
                        "window")
    config = _load_pipeline_config(args.config, args.device, args.face_model,
                                   _profile(args.record_subject, args.profiles))
    video = open_video_source(args.video, camera=args.camera, video_file=args.video_file, timeout=args.timeout)
    record = _record_path(args.record, args.record_subject or "01", args.record_session, args.record_task)
    summary = run_headless(args.eeg, source_id=args.eeg_source_id, duration=args.duration, out=args.out,
                           config=config, resolve_timeout=args.timeout, on_result=_StatusLine(args.quiet),
                           video_source=video, record=record)
    if record is not None:
        print(f"recorded to {record}", file=sys.stderr)
    _finish(summary, args.out)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pipelines.sim_publisher import start_simulator_process, stop_process

    if not args.headless and not _window_possible(args.screenshot):
        print("no display found: running the demo headless (--screenshot FILE.png renders the dashboard "
              "offscreen)", file=sys.stderr)
        args.headless = True
    if not args.headless:
        from app.dashboard import run_demo

        duration = args.duration if args.duration is not None or args.screenshot is None else 10.0
        code = run_demo(args.seed, args.subject, screenshot=args.screenshot, duration=duration,
                        video=not args.no_video)
        if args.screenshot is not None and code == 0:
            print(f"wrote {args.screenshot}", file=sys.stderr)
        return code
    from pipelines.live import open_video_source, run_headless

    prefix = f"affectstream-demo-{uuid.uuid4().hex[:8]}"
    sim_duration = None if args.duration is None else args.duration + 30.0
    sim = start_simulator_process(args.seed, args.subject, sim_duration, video=not args.no_video, prefix=prefix)
    try:
        video = None if args.no_video else open_video_source(video_source_id=f"{prefix}-video", timeout=20.0)
        record = _record_path(args.record, args.subject, "1", "demo")
        summary = run_headless("EEG", source_id=f"{prefix}-eeg", duration=args.duration, out=args.out,
                               on_result=_StatusLine(args.quiet), resolve_timeout=20.0, video_source=video,
                               record=record, markers=f"{prefix}-markers", ground_truth=f"{prefix}-truth")
        if record is not None:
            print(f"recorded to {record}", file=sys.stderr)
    except Exception:
        if sim.poll() is not None and sim.returncode not in (0, -15):
            err = sim.stderr.read().decode(errors="replace") if sim.stderr else ""
            raise UserError(f"the simulator exited with code {sim.returncode}: {err.strip()[-500:]}") from None
        raise
    finally:
        stop_process(sim)
    _finish(summary, args.out)
    return 0


def _window_possible(screenshot: Path | None) -> bool:
    """Whether Qt can show (or, for a screenshot, render) a window here; sets the offscreen platform for a
    screenshot on a machine without a display, where Qt would otherwise abort the process."""
    if os.environ.get("QT_QPA_PLATFORM") or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return True
    if screenshot is not None:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        return True
    return False


def cmd_dashboard(args: argparse.Namespace) -> int:
    from app.dashboard import run_dashboard

    if not _window_possible(args.screenshot):
        raise UserError("no display found (DISPLAY is not set): use `affectstream run --headless`, or --screenshot "
                        "to render the dashboard offscreen")
    return run_dashboard(args.eeg, eeg_source_id=args.eeg_source_id, video=args.video,
                         screenshot=args.screenshot, duration=args.duration, config=_dashboard_config(args))


def cmd_replay(args: argparse.Namespace) -> int:
    from pipelines.replay import publish_recording, replay

    if not args.file.is_file():
        raise UserError(f"no recording at {args.file}")
    if args.publish:
        speed = args.speed or 1.0
        if math.isinf(speed):
            raise UserError("--publish paces the streams in time: give a speed factor (e.g. --speed 4), not max")
        print(f"re-publishing the streams of {args.file} at {speed:g}x; Ctrl-C stops", file=sys.stderr)
        publish_recording(args.file, speed)
        return 0
    if not args.headless:
        if not _window_possible(args.screenshot):
            raise UserError("no display found (DISPLAY is not set): use --headless --out FILE.jsonl, or "
                            "--screenshot FILE.png to render the dashboard offscreen")
        from app.dashboard import run_dashboard
        from pipelines.replay_session import SPEEDS

        speed = 1.0 if args.speed is None else min(args.speed, max(SPEEDS))  # 'max': the fastest offered
        return run_dashboard(recording=args.file, replay_speed=speed, screenshot=args.screenshot,
                             duration=args.duration, config=_dashboard_config(args))
    speed = None if args.speed is None or math.isinf(args.speed) else args.speed
    summary = replay(args.file, speed=speed, out_jsonl=args.out, with_video=not args.no_video,
                     allow_truncated=args.allow_truncated,
                     config=_load_pipeline_config(None, profile=_profile(args.subject, args.profiles)))
    for note in summary.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"{summary.hops} hops over {summary.duration_s:.1f} s of recording in {summary.wall_s:.2f} s "
          f"({summary.x_realtime:.0f}x real time), estimator {summary.estimator}; {summary.mapping}; markers: "
          f"{summary.markers_line()}" + (f"; wrote {args.out}" if args.out else "")
          + (" [SYNTHETIC recording]" if summary.synthetic else ""), file=sys.stderr)
    return 0


def cmd_webcam(args: argparse.Namespace) -> int:
    from pipelines.video_source import CameraSource, VideoFileSource
    from pipelines.webcam_publisher import publish_video

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


def cmd_bench(args: argparse.Namespace) -> int:
    from pipelines.bench import format_table, run_bench

    results = run_bench(hop_seconds=args.hop_seconds, repeats=args.repeats, replay_minutes=args.replay_minutes,
                        soak_minutes=args.soak, progress=sys.stderr.isatty())
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from app.dashboard.bench_gui import bench_gui

    results["gui"] = bench_gui(args.gui_seconds)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(format_table(results))
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from calibration.profiles import default_profiles_dir
    from calibration.protocol import CalibrationConfig
    from calibration.session import calibrate

    if args.recording is not None:
        from calibration.recording import session_from_recording
        from calibration.session import calibrate_session

        if not args.recording.is_file():
            raise UserError(f"no recording at {args.recording}")
        session = session_from_recording(args.recording, args.subject)
        folder, report = calibrate_session(session, args.profiles or default_profiles_dir())
        _print_calibration(folder, report)
        return 0
    if not args.headless:
        if not _window_possible(None):
            raise UserError("no display found (DISPLAY is not set): use --headless")
        from app.calibration_wizard import run_wizard

        return run_wizard(args.subject, args.profiles, fast=args.fast)
    config = CalibrationConfig().fast() if args.fast else CalibrationConfig()
    folder, report = calibrate(args.subject, args.profiles or default_profiles_dir(), config, seed=args.seed)
    _print_calibration(folder, report)
    return 0


def _print_calibration(folder: Path, report: dict) -> None:
    b, a = report["before"], report["after"]
    print(f"profile {folder}: held-out CCC {b['ccc']:.3f} -> {a['ccc']:.3f}, RMSE {b['rmse']:.3f} -> {a['rmse']:.3f} "
          f"(against the {report['against']}; {report['data'].upper()} data) in {report['seconds']:.0f} s",
          file=sys.stderr)


def _prepare_trainer(config_path: Path | None, run_dir: Path | None, progress: bool) -> None:
    """What the trainer (``models``, which never imports ``pipelines``) takes from the layers above it: the
    ``eeg_student`` method, which computes the live path's features, and the planted benchmark's SYNTHETIC data,
    written by the simulator where a config asks for it (``generate_planted``; reused when it is there)."""
    from models.training.runner import load_config, register_method, run_folder_config
    from pipelines.eeg_student_training import METHOD

    register_method(METHOD)
    config = run_folder_config(run_dir) if run_dir is not None else load_config(config_path)
    data = config.data
    if data.kind == "xdf" and data.generate_planted:
        from pipelines.planted_dataset import build_planted_xdf_dataset

        pl = data.planted
        build_planted_xdf_dataset(config.resolve(data.path), n_subjects=pl.n_subjects, n_trials=pl.n_trials,
                                  trial_s=pl.trial_s, rest_s=pl.rest_s, seed=pl.seed, face_size=pl.face_size,
                                  progress=progress)


def cmd_train(args: argparse.Namespace) -> int:
    from models.training.runner import run_training

    if args.config is None and args.resume is None:
        raise UserError("give a config file (e.g. models/configs/planted_v2e_kd.toml) or --resume RUN_DIR")
    _prepare_trainer(args.config, args.resume, not args.quiet)
    command = "affectstream " + shlex.join(args.argv)
    folder = run_training(args.config, resume=args.resume, device=args.device, progress=not args.quiet,
                          command=command)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # under torchrun, rank 0 reports
    metrics = json.loads((folder / "metrics.json").read_text())
    if args.report is not None:  # the summary, the report and its figures, named after FILE (run folders are scratch)
        import shutil

        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(metrics["summary"], indent=1))
        report = (folder / "report.md").read_text()
        for png in sorted(folder.glob("*.png")):
            target = args.report.with_name(f"{args.report.stem}_{png.name}")
            shutil.copyfile(png, target)
            report = report.replace(f"]({png.name})", f"]({target.name})")
        args.report.with_suffix(".md").write_text(report)
    print(f"run folder {folder}; " + _headline(metrics["summary"]), file=sys.stderr)
    return 0


def _headline(summary: dict) -> str:
    parts = [f"{summary.get('folds')} folds ({summary.get('data', '?').upper()} data)"]
    c = summary.get("comparison")
    if c is not None:  # every distillation method declares its comparison with its in-run baseline
        parts.append(f"{c['metric']}: {c['baseline']} {c['baseline_mean']:.3f} ± {c['baseline_std']:.3f}, "
                     f"{c['method']} {c['method_mean']:.3f} ± {c['method_std']:.3f}, p = {c['p_value']:.4f}")
    return ", ".join(parts)


def cmd_compare(args: argparse.Namespace) -> int:
    from models.training.compare import compare_markdown

    missing = [str(p) for p in args.summaries if not p.is_file()]
    if missing:
        raise UserError(f"no summary file at {', '.join(missing)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(compare_markdown(args.summaries, args.title, "affectstream " + shlex.join(args.argv)))
    print(f"wrote {args.out}", file=sys.stderr)
    if args.json is not None:
        from models.training.compare import comparison_entries

        args.json.write_text(json.dumps(comparison_entries(args.summaries), indent=1) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from models.training.runner import rescore_run

    _prepare_trainer(None, args.run_dir, not args.quiet)
    diffs = rescore_run(args.run_dir, progress=not args.quiet)
    worst = max((abs(d) for d in diffs.values()), default=0.0)
    for name, d in sorted(diffs.items()):
        print(f"{name}: re-scored minus recorded = {d:+.2e}")
    print(f"{len(diffs)} scores re-computed from the saved weights; largest difference {worst:.2e}", file=sys.stderr)
    return 0 if worst <= 1e-5 else 1


def cmd_train_visual(args: argparse.Namespace) -> int:
    from models.train_visual_student import main as train_main

    return train_main([a for a in args.trainer_args if a != "--"], prog="affectstream train-visual")


def cmd_export(args: argparse.Namespace) -> int:
    import torch

    from models.eeg_tcn import EEGTCN
    from models.export import export_eeg_student
    from models.manifest import save_entry
    from pipelines.eeg_student import EEG_STUDENT, EEG_STUDENT_TORCH

    if not args.eeg_weights.is_file():
        raise UserError(f"no weights file at {args.eeg_weights}")
    import pickle

    try:
        state = torch.load(args.eeg_weights, map_location="cpu", weights_only=True)
        model = EEGTCN(channels=tuple(args.channels))
        model.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError, TypeError, EOFError, pickle.UnpicklingError) as exc:
        raise UserError(f"{args.eeg_weights} is not an EEG student state dict with channels {args.channels}: "
                        f"{str(exc).splitlines()[0]}") from None
    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path, state_path, diff = export_eeg_student(model.eval(), args.out)
    common = {"data": args.data, "trained_on": args.trained_on or f"exported from {args.eeg_weights}",
              "command": "affectstream " + " ".join(sys.argv[1:]), "task": "eeg_valence_arousal"}
    save_entry(EEG_STUDENT, {**common, "file": onnx_path.name, "onnx_max_abs_diff": diff,
                             "input": {"name": "frames", "shape": [1, model.n_inputs, model.receptive_field],
                                       "frames": model.receptive_field, "norm_memory": 1200.0}},
               args.out / "manifest.json")
    save_entry(EEG_STUDENT_TORCH, {**common, "file": state_path.name,
                                   "architecture": {"channels": list(args.channels), "kernel_size": 3,
                                                    "dropout": 0.1}}, args.out / "manifest.json")
    print(f"wrote {onnx_path} and {state_path} (torch/onnxruntime max difference {diff:.1e})", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    from pipelines.lsl_source import use_local_lsl_config

    use_local_lsl_config()
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["train-visual"]:
        # Everything after the command belongs to the trainer's own parser (argparse's REMAINDER cannot take
        # options that start with "--" as the first item of a sub-command).
        args = argparse.Namespace(command="train-visual", func=cmd_train_visual, verbose=False,
                                  trainer_args=argv[1:])
    else:
        args = parser.parse_args(argv)
    args.argv = argv  # the command as typed, recorded by the trainers
    if args.command != "train-visual":  # the trainer configures its own (INFO) progress logging
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                            format="%(levelname)s %(name)s: %(message)s")
    if args.command is None:
        parser.print_help()
        return USER_ERROR
    from pipelines.config import ConfigError
    from pipelines.engine import StreamFormatError
    from models.manifest import ModelIntegrityError
    from pipelines.live import NoDataError
    from pipelines.lsl_source import StreamNotFoundError
    from models.xdf_reader import XDFFormatError
    from pipelines.xdf_writer import XDFWriteError
    from models.datasets.common import DatasetLayoutError
    from calibration.profiles import ProfileError
    from calibration.recording import CalibrationRecordingError

    try:
        return args.func(args)
    except (UserError, ConfigError, StreamFormatError, StreamNotFoundError, NoDataError, FileNotFoundError,
            ModelIntegrityError, XDFWriteError, XDFFormatError, DatasetLayoutError, ProfileError,
            CalibrationRecordingError) as exc:
        print(f"affectstream {args.command}: {exc}", file=sys.stderr)
        return USER_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
