"""What the command modules share: the user-error convention, option types, the status line, and the
pipeline settings a command builds from its options."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from affectstream.pipelines.config import MontageConfig

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
                          profile: Path | None = None, options: argparse.Namespace | None = None):
    """The pipeline settings: ``path``'s TOML (or the defaults), then the command line's overrides, the channel
    naming (``--channels``/``--montage`` of ``options``) included."""
    import dataclasses

    from affectstream.pipelines.config import PipelineConfig, checked_face_model, load_config

    config = PipelineConfig() if path is None else load_config(path)
    if profile is None and config.profile is not None:  # a [pipeline] profile is checked as --subject's is
        from affectstream.calibration.profiles import load_profile

        folder = Path(config.profile)
        profile = load_profile(folder.parent, folder.name).folder
    if face_model is not None:  # refused before any stream is looked up, not once the face path starts
        checked_face_model(str(face_model), "--face-model")
    overrides = {"device": device, "face_model": None if face_model is None else str(face_model),
                 "profile": None if profile is None else str(profile),
                 "montage": None if options is None else montage_config(options, config.montage)}
    return dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})


def checked_video_file(path: Path | None) -> Path | None:
    """``--video-file``'s file (or None), opened once now: a file that is not a video is named before any stream is
    looked up (the session opens it beside the EEG lookup, whose "no stream" would be reported first)."""
    if path is None:
        return None
    from affectstream.pipelines.sources.video import VideoFileSource, VideoSourceError

    try:
        VideoFileSource(path).close()
    except (VideoSourceError, FileNotFoundError) as exc:
        raise UserError(f"--video-file: {exc}") from None
    return path


def dashboard_config(args: argparse.Namespace):
    """The dashboard's pipeline settings with the subject's profile and the channel naming, or None (the
    dashboard's defaults)."""
    from affectstream.pipelines.config import MontageConfig, PipelineConfig

    montage = montage_config(args)
    profile = subject_profile(args.subject, args.profiles)
    if profile is None and montage == MontageConfig():
        return None
    return PipelineConfig(saliency_every_hops=4, profile=None if profile is None else str(profile), montage=montage)


def add_montage_options(parser: argparse.ArgumentParser) -> None:
    """``--channels`` and ``--montage``, for every command that reads an EEG stream or a recording."""
    parser.add_argument("--channels", default=None, metavar="LABEL,...",
                        help="name the EEG stream's channels in stream order, e.g. Fp1,Fp2,C3,C4,P7,P8,O1,O2 (for "
                             "streams without labels, such as the OpenBCI GUI's, or with wrong ones); a channel "
                             "that is not EEG is named skip, AUX, EOG... and left out")
    parser.add_argument("--montage", default=None, metavar="PRESET",
                        help="name the channels with a headset's layout (muse, emotiv-epoc, openbci-cyton...; "
                             "`affectstream montages` lists them)")


def montage_config(args: argparse.Namespace, table: MontageConfig | None = None) -> MontageConfig:
    """The ``MontageConfig`` of ``--channels``/``--montage``, else of the config's ``[montage]`` table ``table``.

    Checked here, before any stream is opened, so that a typo ends as one line naming the option: an unknown preset,
    both options at once, a label that is neither a 10-05 position nor a non-EEG name (it would otherwise be left
    out silently), two labels for one position (T3 and T7). Whether the count fits the stream is checked when the
    stream is known (the pipeline's one-line refusal gives both counts).
    """
    from affectstream.pipelines.config import MontageConfig

    channels, preset = args.channels, args.montage
    if channels is not None and preset is not None:
        raise UserError("give the channel names (--channels) or a headset preset (--montage), not both")
    if channels is not None:
        return MontageConfig(channels=_checked_channels(channels.split(","), "--channels"))
    if preset is not None:
        return MontageConfig(preset=_checked_preset(preset, "--montage"))
    if table is None or table == MontageConfig():
        return MontageConfig()
    if table.channels is not None and table.preset is not None:
        raise UserError("the config's [montage] table gives both preset and channels: keep one")
    if table.channels is not None:
        return MontageConfig(channels=_checked_channels(table.channels, "[montage] channels"))
    return MontageConfig(preset=_checked_preset(table.preset, "[montage] preset"))


def _checked_preset(name: str, where: str) -> str:
    from affectstream.core.montage_presets import PresetError, get_preset

    try:
        return get_preset(name).name
    except PresetError as exc:
        raise UserError(f"{where}: {exc}") from None


def _checked_channels(labels: list[str] | tuple[str, ...], where: str) -> tuple[str, ...]:
    """The labels stripped, each a 10-05 position or a non-EEG name, no position twice, at least one electrode."""
    from affectstream.core.electrodes import is_non_eeg, template_name

    labels = tuple(str(label).strip() for label in labels)
    placed: dict[str, str] = {}
    for i, label in enumerate(labels, 1):
        if is_non_eeg(label):
            continue
        name = template_name(label)
        if name is None:
            what = f"{label!r} (channel {i}) is neither a 10-05 electrode position (Fp1, AF7, T7, ...) nor a " \
                   "non-EEG channel name (AUX, EOG, ...)" if label else f"channel {i} has no name"
            raise UserError(f"{where}: {what}; name a channel to leave out skip")
        if name in placed:
            raise UserError(f"{where}: {placed[name]!r} and {label!r} are the same position ({name}); each "
                            "electrode can be named once")
        placed[name] = label
    if not placed:
        raise UserError(f"{where} names no EEG electrode (every label is a non-EEG channel name)")
    return labels


def subject_profile(subject: str | None, profiles: Path | None) -> Path | None:
    """The subject's calibration profile folder, or None (with a notice) when the subject has none yet or its
    calibration kept no model better than chance (:func:`~affectstream.calibration.profiles.default_use`).

    A profile that exists but was made for another montage or model is refused (ProfileError, one line).
    """
    if subject is None:
        return None
    from affectstream.calibration.profiles import default_profiles_dir, default_use, load_profile, profile_dir

    root = profiles or default_profiles_dir()
    # lexists, not is_file: a profile.json that is a link to a device or a folder is a broken profile, refused by
    # load_profile in one line, not "no profile" (which would run on silently with the bundled student)
    if not os.path.lexists(profile_dir(root, subject) / "profile.json"):
        print(f"no calibration profile for subject {subject!r} in {root}: using the bundled EEG student "
              f"(`affectstream calibrate --subject {subject}` makes one)", file=sys.stderr)
        return None
    profile = load_profile(root, subject)
    unused = default_use(profile)
    if unused:
        print(unused, file=sys.stderr)
        return None
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


def face_summary(summary) -> str:
    """The face clause of the closing line, counted as the JSONL counts it (hops with a face), with the face path's
    frames, drops and lag."""
    f = getattr(summary, "face", None) or {}
    line = f"; face found in {getattr(summary, 'face_found_hops', 0)} of {summary.hops} hops"
    if f:
        line += (f" ({100 * summary.face_found_ratio:.0f} % of {f.get('frames_processed', 0)} frames processed, "
                 f"{f.get('dropped', 0)} dropped; face lag p50 {f.get('lag_p50_ms')} ms, p99 {f.get('lag_p99_ms')} ms)")
    return line


def print_summary(summary, out: Path | None, command: str = "run") -> None:
    """The closing lines of a live run: the model warning (when there is one), then the one-line summary."""
    lat = summary.latency_percentiles()
    stats = summary.stats
    face = "" if summary.face_found_ratio != summary.face_found_ratio else face_summary(summary)
    warning = getattr(summary, "model_warning", None)
    warn(command, warning)
    print(f"{summary.hops} hops from {summary.stream}"
          f"{trained_on_text(getattr(summary, 'eeg_model_trained_on', None))}; latency p50 {lat['p50_ms']:.2f} ms, "
          f"p99 {lat['p99_ms']:.2f} ms; skipped hops {stats.skipped_hops}, counter gaps {stats.counter_gaps}{face}"
          + (f"; wrote {out}" if out else "") + model_warning_tag(warning)
          + (" [SYNTHETIC input]" if summary.synthetic else ""), file=sys.stderr)


def add_recordings_option(parser: argparse.ArgumentParser) -> None:
    """``--recordings DIR``: where recordings without a file name go (the dashboard's Record button included)."""
    parser.add_argument("--recordings", type=Path, default=None, metavar="DIR",
                        help="folder for new recordings (default: $AFFECTSTREAM_RECORDINGS, else recordings/ in the "
                             "working directory)")


def record_path(record: str | None, subject: str, session: str, task: str,
                folder: str | Path | None = None) -> Path | None:
    """The XDF file of ``--record``: the name given, or with ``auto`` a new name in ``folder``
    (:func:`affectstream.core.paths.recordings_dir`: ``--recordings``, ``$AFFECTSTREAM_RECORDINGS`` or
    ``./recordings``)."""
    from affectstream.core.paths import recordings_dir
    from affectstream.core.xdf_writer import recording_path

    if record is None:
        return None
    if record == "auto":
        try:
            return recording_path(recordings_dir(folder), subject, session, task)
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
