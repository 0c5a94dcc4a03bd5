"""What the command modules share: the user-error convention, option types, the status line, and the
pipeline settings a command builds from its options."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

#: Exit code for a user error (bad input, missing stream), as argparse uses for bad options.
USER_ERROR = 2


class UserError(Exception):
    """An error the user can fix; printed as one line without a traceback."""


def positive(value: str) -> float:
    x = float(value)
    if not x > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return x


def speed_factor(value: str) -> float:
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


class StatusLine:
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


def load_pipeline_config(path: Path | None, device: str | None = None, face_model: Path | None = None,
                          profile: Path | None = None):
    import dataclasses

    from affectstream.pipelines.config import PipelineConfig, load_config

    config = PipelineConfig() if path is None else load_config(path)
    overrides = {"device": device, "face_model": None if face_model is None else str(face_model),
                 "profile": None if profile is None else str(profile)}
    return dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})


def dashboard_config(args: argparse.Namespace):
    """The dashboard's pipeline settings with the subject's profile, or None (the dashboard's defaults)."""
    from affectstream.pipelines.config import PipelineConfig

    profile = subject_profile(args.subject, args.profiles)
    return None if profile is None else PipelineConfig(saliency_every_hops=4, profile=str(profile))


def subject_profile(subject: str | None, profiles: Path | None) -> Path | None:
    """The subject's calibration profile folder, or None (with a notice) when the subject has none yet.

    A profile that exists but was made for another montage or model is refused (ProfileError, one line).
    """
    if subject is None:
        return None
    from affectstream.calibration.profiles import default_profiles_dir, load_profile, profile_dir

    root = profiles or default_profiles_dir()
    if not (profile_dir(root, subject) / "profile.json").is_file():
        print(f"no calibration profile for subject {subject!r} in {root}: using the bundled EEG student "
              f"(`affectstream calibrate --subject {subject}` makes one)", file=sys.stderr)
        return None
    profile = load_profile(root, subject)
    print(f"using the calibration profile of {subject!r} ({profile.meta['data']}, {profile.meta['created']})",
          file=sys.stderr)
    return profile.folder


def warn(command: str, warning: str | None) -> None:
    """Print ``warning`` as one line on stderr (``affectstream COMMAND: warning: ...``); nothing when it is None."""
    if warning:
        print(f"affectstream {command}: warning: {warning}", file=sys.stderr, flush=True)


#: How the summary line names what the EEG model learnt from (``HopResult.eeg_model_trained_on``).
TRAINED_ON = {"synthetic": "trained on synthetic EEG", "real": "trained on real EEG",
              "subject": "calibrated on this subject"}


def trained_on_text(trained_on: str | None) -> str:
    """`` (trained on synthetic EEG)`` after the estimator's name; empty for the baseline, a formula, not a model."""
    return f" ({TRAINED_ON.get(trained_on, f'trained on {trained_on}')})" if trained_on else ""


def model_warning_tag(warning: str | None) -> str:
    """What a summary line adds when the EEG model is not validated on its input; the warning itself is printed
    once, by :func:`warn`."""
    return " [WARNING: EEG model not validated on this input, see the warning above]" if warning else ""


def print_summary(summary, out: Path | None, command: str = "run") -> None:
    """The closing lines of a live run: the model warning (when there is one), then the one-line summary."""
    lat = summary.latency_percentiles()
    stats = summary.stats
    face = "" if summary.face_found_ratio != summary.face_found_ratio else \
        f"; face found in {100 * summary.face_found_ratio:.0f} % of frames"
    warning = getattr(summary, "model_warning", None)
    warn(command, warning)
    print(f"{summary.hops} hops from {summary.stream}"
          f"{trained_on_text(getattr(summary, 'eeg_model_trained_on', None))}; latency p50 {lat['p50_ms']:.2f} ms, "
          f"p99 {lat['p99_ms']:.2f} ms; skipped hops {stats.skipped_hops}, counter gaps {stats.counter_gaps}{face}"
          + (f"; wrote {out}" if out else "") + model_warning_tag(warning)
          + (" [SYNTHETIC input]" if summary.synthetic else ""), file=sys.stderr)


def record_path(record: str | None, subject: str, session: str, task: str) -> Path | None:
    from affectstream.core.xdf_writer import recording_path

    if record is None:
        return None
    if record == "auto":
        try:
            return recording_path("recordings", subject, session, task)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    return Path(record)


def window_possible(screenshot: Path | None) -> bool:
    """Whether Qt can show (or, for a screenshot, render) a window here; sets the offscreen platform for a
    screenshot on a machine without a display, where Qt would otherwise abort the process."""
    if os.environ.get("QT_QPA_PLATFORM") or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return True
    if screenshot is not None:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        return True
    return False
