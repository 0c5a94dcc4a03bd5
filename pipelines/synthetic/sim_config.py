"""The definition of a simulated session, and the seeding that makes it reproducible (SYNTHETIC data).

The generative model is documented in :mod:`affectstream.pipelines.synthetic.simulator`. All randomness comes from
:func:`component_rng`: one generator per model component, keyed by (seed, subject, component), so switching one
component off leaves every other bit-identical.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

#: The kinds of simulated subject (:func:`affectstream.pipelines.synthetic.subject.planted_pattern`): ``typical`` is
#: the population the bundled EEG student was trained on; ``atypical`` expresses affect in other bands, at other
#: electrodes and with other signs (a subject calibration must learn from scratch).
SUBJECT_KINDS: tuple[str, ...] = ("typical", "atypical")

#: Random-stream tags: one independent generator per model component (the values are part of every seed).
TAG_SUBJECT, TAG_ORDER, TAG_TRAJ, TAG_STATE, TAG_BG, TAG_RHYTHM, TAG_BLINK, TAG_WHITE, TAG_FACE = range(9)


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything that defines a simulated session; every default lives here.

    Attributes
    ----------
    seed : int
        Master seed; with ``subject`` it determines every random draw.
    subject : str | int
        Subject id, e.g. ``"sim01"``; an int ``n`` means ``f"sim{n:02d}"``.
    srate : float
        EEG sampling rate in Hz (>= 100).
    trial_s, rest_s : float
        Stimulus trial and rest durations in seconds.
    line_freq : float
        Mains frequency in Hz (50 or 60).
    video_fps : float
        Frame rate of the synthetic face video.
    video_size : tuple of int
        Video frame size as (height, width).
    n_stimuli : int
        Size of the stimulus table.
    truth_rate : float
        Rate of the control grid that carries the hidden state (and of the GroundTruth stream), Hz.
    effect_scale : float
        Multiplies the planted gains (1 = nominal; smaller is a harder benchmark).
    blinks, line_noise : bool
        Switch those artefacts on or off (the other components stay bit-identical).
    subject_kind : {"typical", "atypical"}
        Which planted pattern the subject expresses (:data:`SUBJECT_KINDS`); every random draw is the same for both,
        so an atypical subject differs from its typical twin only in where and how affect shows in the EEG.
    """

    seed: int = 0
    subject: str | int = "sim01"
    srate: float = 256.0
    trial_s: float = 20.0
    rest_s: float = 5.0
    line_freq: float = 50.0
    video_fps: float = 15.0
    video_size: tuple[int, int] = (240, 320)
    n_stimuli: int = 40
    truth_rate: float = 32.0
    effect_scale: float = 1.0
    blinks: bool = True
    line_noise: bool = True
    subject_kind: str = "typical"

    def __post_init__(self) -> None:
        if self.srate < 100:
            raise ValueError(f"srate must be >= 100 Hz (gamma reaches 44 Hz); got {self.srate}")
        if self.trial_s <= 0 or self.rest_s < 0:
            raise ValueError(f"need trial_s > 0 and rest_s >= 0; got {self.trial_s}, {self.rest_s}")
        if self.n_stimuli < 1 or self.truth_rate <= 0 or self.video_fps <= 0 or self.line_freq <= 0:
            raise ValueError("n_stimuli, truth_rate, video_fps and line_freq must be positive")
        if len(self.video_size) != 2 or min(self.video_size) < 32:
            raise ValueError(f"video_size must be (height, width) of at least 32 px; got {self.video_size}")
        if self.subject_kind not in SUBJECT_KINDS:
            raise ValueError(f"subject_kind must be one of {', '.join(SUBJECT_KINDS)}; got {self.subject_kind!r}")

    @property
    def subject_name(self) -> str:
        """The normalised subject id (``3`` -> ``"sim03"``)."""
        return subject_name(self.subject)


def subject_name(subject: str | int) -> str:
    """Normalise a subject id: ints become ``simNN``, strings are stripped."""
    if isinstance(subject, (int, np.integer)):
        return f"sim{int(subject):02d}"
    name = str(subject).strip()
    if not name:
        raise ValueError("subject id is empty")
    return name


def component_rng(config: SimulatorConfig, tag: int) -> np.random.Generator:
    """The generator of one model component; crc32 keeps the subject key stable across Python runs."""
    key = zlib.crc32(subject_name(config.subject).encode("utf-8"))
    return np.random.default_rng([int(config.seed) & 0xFFFFFFFF, key, tag])
