"""Typed configuration of the live/replay pipeline, with every default in one place.

Each section is a frozen dataclass; :func:`load_config` reads a TOML file into them and refuses unknown keys and
wrong types with a message naming the key, because a misspelt option that is silently ignored is how a lab ends
up running a day of sessions with the wrong window length.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


class ConfigError(ValueError):
    """A configuration file or value that cannot be used; the message names the key."""


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
            raise ConfigError(f"{name}: expected one of {', '.join(map(repr, args))}, got {value!r}")
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
        raise ConfigError(errors[0] if errors else f"{name}: invalid value {value!r}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or (args and args[-1] is not Ellipsis and len(value) != len(args)):
            raise ConfigError(f"{name}: expected a list of {len(args)} values, got {value!r}")
        item_types = [args[0]] * len(value) if args and args[-1] is Ellipsis else list(args)
        return tuple(_check_value(f"{name}[{i}]", v, t) for i, (v, t) in enumerate(zip(value, item_types)))
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name}: expected a number, got {value!r}")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name}: expected an integer, got {value!r}")
        return value
    if annotation in (str, bool):
        if not isinstance(value, annotation):
            raise ConfigError(f"{name}: expected {annotation.__name__}, got {value!r}")
        return value
    return value


def from_dict(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Build the dataclass ``cls`` from ``data``, refusing unknown keys and wrong types."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(prefix + k for k in unknown)}; "
            f"valid keys here: {', '.join(sorted(names))}"
        )
    kwargs = {k: _check_value(prefix + k, v, hints[k]) for k, v in data.items()}
    return cls(**kwargs)


def load_config(path: str | Path, cls: type = PipelineConfig) -> Any:
    """Read a TOML file into ``cls``; a clear :class:`ConfigError` on anything malformed."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return from_dict(cls, data)
