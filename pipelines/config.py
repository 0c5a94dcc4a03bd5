"""Typed configuration of the live/replay pipeline, with every default in one place.

Each section is a frozen dataclass; :func:`load_config` reads a TOML file into them and refuses unknown keys and
wrong types with a message naming the key, because a misspelt option that is silently ignored is how a lab ends
up running a day of sessions with the wrong window length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from affectstream.core.typed_config import MAX_CONFIG_BYTES, ConfigError, load_toml

__all__ = ["MAX_CONFIG_BYTES", "BaselineConfig", "ConfigError", "PipelineConfig", "QualityConfig", "checked_face_model",
           "load_config"]


#: Inclusive ranges of the numeric keys whose extreme values would crash the pipeline, make it allocate without
#: bound (the window sets the buffer sizes) or silently flag every channel. Every float must also be finite (TOML
#: has ``nan`` and ``inf``).
_RANGES: dict[str, tuple[float, float]] = {
    "window_s": (1.0, 60.0),  # at least one 1 s Welch segment
    "hop_s": (0.01, 60.0),
    "max_backlog_hops": (1, 1000),  # 0 would drop every hop of a live run
    "saliency_every_hops": (0, math.inf),  # 0 = off; a negative period is a typo the engine took silently as off
    "quality.flat_std_uv": (0.0, math.inf),
    "quality.noisy_std_uv": (0.0, math.inf),
    "quality.rail_uv": (0.0, math.inf),
    "quality.rail_fraction": (0.0, 1.0),
    "baseline.warmup_s": (0.0, math.inf),
    "baseline.memory_s": (0.0, math.inf),
    "baseline.smoothing_s": (0.0, math.inf),
    "baseline.squash": (0.1, 100.0),  # the output is tanh(z / squash)
}


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
class MontageConfig:
    """How the EEG stream's channels are named when its own labels are missing or wrong (the ``[montage]`` table;
    ``--montage`` and ``--channels`` on the command line). Give at most one of the two.

    Attributes
    ----------
    preset : str | None
        A headset layout of :data:`affectstream.core.montage_presets.PRESETS` (``affectstream montages``).
    channels : tuple of str | None
        One label per stream channel, in stream order (non-EEG channels by a name such as ``AUX`` or ``-``).
    """

    preset: str | None = None
    channels: tuple[str, ...] | None = None


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
    saliency_kind : {"gradient_x_input", "prm", "mean_gradient"}
        Which map (:mod:`affectstream.pipelines.eeg.saliency`): gradient x input (default: the one that follows the
        brain state), the paper's peak-response map, or the mean gradient (nearly the student's fixed weights).
    montage : MontageConfig
        Channel names for streams that carry none (or wrong ones).
    """

    window_s: float = 2.0
    hop_s: float = 0.25
    reference: Literal["average", "none"] = "average"
    bandpass: tuple[float, float] | None = None
    max_backlog_hops: int = 4
    eeg_estimator: Literal["auto", "student", "baseline"] = "auto"
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    visual_precision: Literal["int8", "fp32"] = "int8"
    face_model: str | None = None
    saliency_every_hops: int = 0
    saliency_kind: Literal["gradient_x_input", "prm", "mean_gradient"] = "gradient_x_input"
    #: a subject's calibration profile folder (``--subject``; affectstream.calibration.profiles)
    profile: str | None = None
    quality: QualityConfig = field(default_factory=QualityConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    montage: MontageConfig = field(default_factory=MontageConfig)


def checked_face_model(path: str, key: str = "face_model") -> str:
    """``path`` when it is a YuNet model the face detector loads and runs, else a :class:`ConfigError` naming ``key``.

    Checked when the settings are read, so that a wrong file ends the command before any stream is looked up, not
    on the face thread once the session runs (:class:`affectstream.pipelines.face.detect.FaceDetector` says what it
    refuses: a device such as ``/dev/zero``, a folder, an oversized file, another network's ONNX model, ...).
    """
    from affectstream.pipelines.face.detect import FaceDetector, FaceModelError

    try:
        FaceDetector(path)
    except (FaceModelError, FileNotFoundError) as exc:
        raise ConfigError(f"{key}: {exc}") from None
    return path


def load_config(path: str | Path, cls: type = PipelineConfig) -> Any:
    """Read a TOML file into ``cls`` with the pipeline's value ranges; :func:`affectstream.core.typed_config.load_toml`
    says what it refuses (a :class:`ConfigError` naming the key), and a ``face_model`` must pass
    :func:`checked_face_model`."""
    config = load_toml(cls, path, _RANGES)
    if getattr(config, "face_model", None) is not None:
        checked_face_model(config.face_model)
    return config
