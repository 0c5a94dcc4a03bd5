"""Typed configuration of the live/replay pipeline, with every default in one place.

Each section is a frozen dataclass; :func:`load_config` reads a TOML file into them and refuses unknown keys and
wrong types with a message naming the key, because a misspelt option that is silently ignored is how a lab ends
up running a day of sessions with the wrong window length.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


class ConfigError(ValueError):
    """A configuration file or value that cannot be used; the message names the key."""


#: Largest config file read. A pipeline config is a few hundred bytes, and tomllib's time grows quickly on odd
#: input (a 400 kB array takes seconds), so a hostile or mistaken file cannot stall the start.
MAX_CONFIG_BYTES = 64 * 1024

#: Dotted keys with more parts than this are refused before parsing: tomllib keeps every prefix of a dotted key, so
#: its memory grows with the square of the key's length (a 20 kB key ``a.a.a...`` takes 400 MB), while the deepest
#: key here is ``quality.flat_std_uv``.
MAX_KEY_PARTS = 8

_KEY_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\\n]|\\.)*"|'[^'\n]*')"""
# A key starts a line (or a [table] header) or follows "{" or "," in an inline table; anchoring there keeps dotted
# values and comments out, and keeps the search linear (it cannot restart inside a run of key characters).
_DEEP_KEY = re.compile(rf"(?:^[ \t]*\[{{0,2}}|[{{,])[ \t]*{_KEY_PART}(?:[ \t]*\.[ \t]*{_KEY_PART}){{{MAX_KEY_PARTS},}}",
                       re.MULTILINE)

#: Inclusive ranges of the numeric keys whose extreme values would crash the pipeline, make it allocate without
#: bound (the window sets the buffer sizes) or silently flag every channel. Every float must also be finite (TOML
#: has ``nan`` and ``inf``).
_RANGES: dict[str, tuple[float, float]] = {
    "window_s": (1.0, 60.0),  # at least one 1 s Welch segment
    "hop_s": (0.01, 60.0),
    "max_backlog_hops": (1, 1000),  # 0 would drop every hop of a live run
    "quality.flat_std_uv": (0.0, math.inf),
    "quality.noisy_std_uv": (0.0, math.inf),
    "quality.rail_uv": (0.0, math.inf),
    "quality.rail_fraction": (0.0, 1.0),
    "baseline.warmup_s": (0.0, math.inf),
    "baseline.memory_s": (0.0, math.inf),
    "baseline.smoothing_s": (0.0, math.inf),
    "baseline.squash": (0.1, 100.0),  # the output is tanh(z / squash)
}


def _show(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, so that a message stays one short line whatever the file held."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _in_range(name: str, value: float) -> float:
    low, high = _RANGES.get(name, (-math.inf, math.inf))
    if not low <= value <= high:
        bounds = f">= {low:g}" if high == math.inf else f"in [{low:g}, {high:g}]"
        raise ConfigError(f"{name}: expected a number {bounds}, got {_show(value)}")
    return value


@dataclass(frozen=True)
class QualityConfig:
    """Per-channel signal-quality thresholds on one analysis window (µV).

    Attributes
    ----------
    flat_std_uv : float
        A channel whose standard deviation is below this is flat (disconnected, shorted or saturated amplifier).
    noisy_std_uv : float
        Above this the channel is noisy (loose electrode, movement, EMG); scalp EEG rarely exceeds ~100 µV s.d.
    rail_uv : float
        Absolute values at or beyond this are treated as railed (amplifier clipping).
    rail_fraction : float
        Fraction of railed samples in the window that marks the channel railed.
    """

    flat_std_uv: float = 0.5
    noisy_std_uv: float = 250.0
    rail_uv: float = 2000.0
    rail_fraction: float = 0.05


@dataclass(frozen=True)
class BaselineConfig:
    """The transparent baseline estimator (frontal alpha asymmetry / beta-alpha ratio).

    Attributes
    ----------
    warmup_s : float
        Stream time before the running per-subject statistics are trusted; confidence ramps up over it.
    memory_s : float
        Time constant of the running mean/variance that z-scores the raw indices (slow enough to keep the
        between-trial differences, fast enough to follow electrode drift over an hour).
    smoothing_s : float
        Time constant of the causal exponential smoothing of the output.
    squash : float
        The output is ``tanh(z / squash)``, which maps the z-score into (-1, 1).
    """

    warmup_s: float = 10.0
    memory_s: float = 300.0
    smoothing_s: float = 2.0
    squash: float = 2.0


@dataclass(frozen=True)
class PipelineConfig:
    """Windowing, preprocessing and features of the EEG path.

    Attributes
    ----------
    window_s, hop_s : float
        Analysis window and hop in seconds of stream time.
    reference : {"average", "none"}
        Re-reference each window to the average of its good channels.
    bandpass : tuple of float | None
        Zero-phase band-pass (low, high) Hz applied to each window, or None. Band integration already restricts
        the features to 0.3-45 Hz, so this mostly matters for strong drifts.
    band_kind : {"log", "relative", "absolute"}
        Band-power features given to the estimators.
    max_backlog_hops : int
        In live mode, when more hops than this are due at once (the consumer fell behind), the older ones are
        skipped and counted instead of processed late. Replay processes every hop.
    eeg_estimator : {"auto", "student", "baseline"}
        ``auto`` uses the bundled EEG student when its file verifies and falls back to the baseline otherwise;
        ``student`` makes a missing or corrupt student an error.
    device : {"cpu", "cuda", "auto"}
        Where the students run (onnxruntime provider; CPU fallback with a notice).
    face_model : str | None
        Path of a YuNet face-detector ONNX file (``cv2.FaceDetectorYN``); None uses OpenCV's bundled Haar cascade.
    visual_precision : {"int8", "fp32"}
        The visual student's bundled variant (int8 is used only where it is bundled, i.e. measured faster at equal
        accuracy).
    saliency_every_hops : int
        Compute the EEG student's saliency every this many hops (4 = 1 Hz); 0 turns it off (headless runs).
    """

    window_s: float = 2.0
    hop_s: float = 0.25
    reference: Literal["average", "none"] = "average"
    bandpass: tuple[float, float] | None = None
    band_kind: Literal["log", "relative", "absolute"] = "log"
    max_backlog_hops: int = 4
    eeg_estimator: Literal["auto", "student", "baseline"] = "auto"
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    visual_precision: Literal["int8", "fp32"] = "int8"
    face_model: str | None = None
    saliency_every_hops: int = 0
    profile: str | None = None  #: a subject's calibration profile folder (``--subject``; calibration.profiles)
    quality: QualityConfig = field(default_factory=QualityConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)


def _check_value(name: str, value: Any, annotation: Any) -> Any:
    """Validate ``value`` against a dataclass field annotation; returns the (possibly converted) value."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise ConfigError(f"{name}: expected a table, got {type(value).__name__}")
        return from_dict(annotation, value, prefix=f"{name}.")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{name}: expected one of {', '.join(map(repr, args))}, got {_show(value)}")
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arg in args:
            if arg is type(None):
                if value is None:
                    return None
                continue
            try:
                return _check_value(name, value, arg)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{name}: invalid value {_show(value)}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or (args and args[-1] is not Ellipsis and len(value) != len(args)):
            raise ConfigError(f"{name}: expected a list of {len(args)} values, got {_show(value)}")
        item_types = [args[0]] * len(value) if args and args[-1] is Ellipsis else list(args)
        return tuple(_check_value(f"{name}[{i}]", v, t) for i, (v, t) in enumerate(zip(value, item_types)))
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name}: expected a number, got {_show(value)}")
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any float
            number = math.inf
        if not math.isfinite(number):
            raise ConfigError(f"{name}: expected a finite number, got {_show(value)}")
        return _in_range(name, number)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name}: expected an integer, got {_show(value)}")
        return _in_range(name, value)
    if annotation in (str, bool):
        if not isinstance(value, annotation):
            raise ConfigError(f"{name}: expected {annotation.__name__}, got {_show(value)}")
        return value
    return value


def from_dict(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Build the dataclass ``cls`` from ``data``, refusing unknown keys and wrong types."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        # A TOML key can hold any text (newlines, megabytes): show odd ones quoted and cut, and at most five.
        shown = [key if key.isprintable() and len(key) <= 60 else _show(key) for key in (prefix + k for k in unknown)]
        listed = ", ".join(shown[:5]) + (", ..." if len(shown) > 5 else "")
        raise ConfigError(
            f"unknown key{'s' if len(unknown) > 1 else ''} {listed}; valid keys here: {', '.join(sorted(names))}"
        )
    kwargs = {k: _check_value(prefix + k, v, hints[k]) for k, v in data.items()}
    return cls(**kwargs)


def load_config(path: str | Path, cls: type = PipelineConfig) -> Any:
    """Read a TOML file into ``cls``; a clear :class:`ConfigError` on anything malformed.

    Raises
    ------
    ConfigError
        The file is missing, unreadable, larger than :data:`MAX_CONFIG_BYTES`, not UTF-8 TOML, nests keys or
        values absurdly deep, or holds an unknown key, a wrong type or an out-of-range value (the message names
        the key).
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:  # a directory, no permission, ...: a user mistake, not a bug
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is over {MAX_CONFIG_BYTES // 1024} KiB; a pipeline config is a few "
                          "hundred bytes")
    try:
        text = raw.decode("utf-8")
        deep = _DEEP_KEY.search(text)
        if deep is not None:
            line = text.count("\n", 0, deep.start()) + 1
            raise ConfigError(f"{path} line {line}: a dotted key of more than {MAX_KEY_PARTS} parts; no key here "
                              "has more than two")
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    except RecursionError:  # tomllib recurses into nested arrays and inline tables
        raise ConfigError(f"{path} is not a usable config: arrays or tables nested too deeply") from None
    return from_dict(cls, data)
