"""Planted-truth session simulator: SYNTHETIC 32-channel EEG, face video and valence/arousal ground truth.

Everything this module produces is SYNTHETIC. It is not recorded from any person and carries no physiological
claim beyond the generative model written down here. It exists so that every stage of affectstream (band power,
students, fusion, saliency, calibration) can be tested against a truth that is known exactly: the hidden
valence/arousal trajectory and the band-power pattern that encodes it are planted, so a model that works must
recover them and a saliency map must point at them.

Generative model
----------------
Time ``t`` is in seconds from session start; EEG sample ``i`` is at ``t_i = i / srate``. Slow hidden variables
live on a *control grid* at ``truth_rate`` (32 Hz, step ``dt``); EEG-rate quantities are linear interpolations of
that grid, so the planted truth is the same at every EEG sampling rate.

1. **Schedule.** Rest and stimulus trials alternate: ``rest [0, R) | trial 0 [R, P) | rest [P, P+R) | trial 1 ...``
   with ``R = rest_s``, ``T = trial_s``, ``P = R + T``; trial ``k`` spans ``[R + kP, (k+1)P)``. Trial ``k`` shows
   stimulus ``s_k`` from a fixed table of ``n_stimuli`` stimuli (``stim_01`` ...) whose targets ``(v*, a*)`` lie on
   a golden-angle (Vogel) spiral filling the disc of radius 0.9: the spiral covers the plane evenly without a
   visible grid, and every subject sees the same stimulus set, as in a real experiment. The presentation order is
   a per-subject random permutation, reshuffled whenever the table is used up.

2. **Hidden trajectory** (each axis ``x`` in {valence v, arousal a}, independently, on the control grid)::

       target[k] = x*(s_j) while trial j runs, 0 during rest
       m[k] = alpha * m[k-1] + (1 - alpha) * target[k]              alpha = exp(-dt / tau_lag)   first-order lag
       w[k] = rho * w[k-1] + sd_w * sqrt(1 - rho^2) * eps[k]        rho = exp(-dt / 8 s)         Ornstein-Uhlenbeck
       x[k] = clip(m[k] + w[k], -1, 1)

   The lag (``tau_lag`` 2-4 s) is the sluggish build-up and decay of an emotional response to a film clip; the OU
   wander (sd ``sd_w`` 0.08-0.15, 8 s correlation time) is the mood drift no stimulus explains; during rest the
   target is 0, so the state relaxes towards neutral.

3. **Planted relation** (natural-log band power of the *rhythm* component, µV², per band ``b`` and channel ``c``)::

       L[b, c](t) = offset[b, c] + Gv[b, c] * v(t) + Ga[b, c] * a(t) + s[b, c](t)
       Gv = effect_scale * g_v * Jv * P_v,   Ga = effect_scale * g_a * Ja * P_a
       s[b, c](t) = sd_s * (sqrt(1/2) * u_b(t) + sqrt(1/2) * e_bc(t))    u, e: unit-variance OU, 3 s

   ``P_v, P_a = planted_pattern()`` are the nominal gains (band order delta..gamma x ``MONTAGE_32``):

   * valence: frontal alpha asymmetry (Davidson's approach/withdrawal model): alpha -0.5 at Fp1 AF3 F3 F7 FC5 FC1
     and +0.5 at Fp2 AF4 F4 F8 FC6 FC2 (less left-frontal alpha = more left activation = more positive affect);
     beta2 and gamma +0.5 at F7 F8 FC5 FC6 T7 T8 F3 F4 and +0.25 at the neighbours AF3 AF4 FC1 FC2 C3 C4 CP5 CP6
     (the lateral-frontal/temporal high-frequency finding of Zhang et al. 2022, and of Zheng & Lu's SEED work).
   * arousal: alpha -0.4 on every channel (alpha desynchronisation with activation); beta1 and beta2 +0.4 at
     C3 Cz C4 CP1 CP2 CP5 CP6 P3 Pz P4 and +0.2 at FC1 FC2 P7 P8 PO3 PO4; theta +0.5 at Fz Cz FC1 FC2
     (frontal-midline theta). Delta carries no planted effect: it is background only.

   One caveat an analyst will meet, as with real EEG: the project's Welch (1 s Hann segments, 1 Hz bins) smears
   the alpha rhythm into the 12 Hz bin, which the beta1 band shares (edges are inclusive). In a subject with a
   high IAF and strong central alpha, measured 12-18 Hz power therefore inherits part of the alpha *decrease*
   with arousal and can hide the planted beta1 increase; 13-18 Hz shows it cleanly.

   The gains are several times larger than published effect sizes on purpose: the benchmark must be learnable
   from minutes of data; ``effect_scale`` shrinks them to probe harder regimes. ``g_v, g_a`` (one per subject,
   lognormal sigma 0.3: 95 % of subjects within 0.55-1.8) and ``Jv, Ja`` (per band and channel, lognormal
   sigma 0.2) make subjects differ in how strongly and where exactly they express the pattern. ``s`` is the state
   noise (``sd_s`` 0.15-0.35 per subject): band-wide and channel-specific power fluctuations unrelated to affect.
   Because the rhythm shares each band with the background, the *measured* change of band log-power is the planted
   gain times the rhythm's share of the band (roughly 0.4-0.95): the sign and the topography survive, the size
   shrinks, as with real EEG.

4. **EEG** (µV, channel ``c``)::

       x_c(t) = bg_c(t) + sum_b exp(L[b, c](t) / 2) * carrier_bc(t) + B(t) * wb_c + A_c sin(2 pi f_line t + phi_c)
                + n_c(t)

   * ``bg``: aperiodic 1/f^beta background. White noise passes a cascade of first-order pole-zero pairs
     spaced four per decade from 0.3 Hz to 0.45 ``srate`` (a standard rational approximation of a fractional
     power law; it is stateful and chunk-exact), then is spatially correlated by the symmetric square root of
     ``C_ij = exp(-d_ij^2 / (2 * 0.35^2))`` (``d`` on the unit head circle of ``electrode_positions_2d``),
     which keeps each channel's spectrum and models volume conduction. PSD at 10 Hz 0.5 µV²/Hz (lognormal
     sigma 0.3 per subject, 0.15 per channel), exponent ``beta`` 1.4-2.0 per subject, flat below 0.3 Hz.
   * ``carrier_bc``: unit-variance band-pass-filtered noise (6th-order Butterworth, stateful ``sosfilt``),
     spatially correlated like the background, one per band: theta 4.5-7.5, alpha IAF +/- 1 clipped to
     8.25-11.5, beta1 13.5-17.5, beta2 18.5-29, gamma 31-44 Hz (edges kept inside the analysis bands so each
     rhythm lands in its own band). The individual alpha frequency ``IAF`` is 9-11 Hz per subject. Multiplying
     a unit-variance carrier by ``exp(L / 2)`` makes the rhythm's band power exactly ``exp(L)`` µV² on average.
     Baseline band powers (before the subject spread of N(0, 0.3) per band -- 0.5 for alpha, whose power differs
     most between people -- and N(0, 0.15) per channel): theta 3 µV² (x1.8 at frontal midline), alpha 6 µV²
     frontally rising to about 45 µV² at occipital sites (posterior-dominant alpha), beta1 2.5 (x1.6 over the
     sensorimotor strip, the Rolandic beta rhythm), beta2 2, gamma 0.8 µV².
   * ``B``: eye blinks, a Poisson process (10-20 per minute per subject), each a positive Hann-shaped deflection
     of 0.25-0.4 s and amplitude ~100 µV (70-140 µV per subject, x lognormal sigma 0.2 per blink); spatial weight
     ``wb_c = exp(-d_c / 0.35)`` with ``d_c`` the distance to the nearer of Fp1/Fp2 (Fp 1.0, AF3/AF4 ~0.67,
     F3/F4 ~0.33, Fz ~0.27, F7/F8 ~0.18, posterior ~0).
   * line noise at ``line_freq`` (50 or 60 Hz) with amplitude 0.5-5 µV per subject x lognormal sigma 0.5 per
     channel and a phase common to all channels +/- 0.3 rad; omitted when ``line_freq >= srate / 2``, where an
     amplifier's anti-alias filter would remove it.
   * ``n``: white sensor noise of density 0.002-0.02 µV²/Hz per subject (about 0.5-1.6 µV rms at 256 Hz).

   With these numbers a channel has about 10-15 µV rms (peaks of +/- 40 µV), a frontal one more during blinks:
   the tens of µV of scalp EEG, with a 1/f spectrum, an alpha peak at posterior sites, a mains line and frontal
   blinks.

Determinism
-----------
All randomness comes from ``numpy.random.default_rng([seed, crc32(subject), component])`` with one generator
per component (subject parameters, stimulus order, trajectory, state noise, background, rhythms, blinks, white
noise, face jitter). Each generator is drawn *time-major*, and every filter carries its state, so the output
depends only on (seed, subject, config): not on how a caller chunks ``read_eeg`` and not on the internal block
size. Switching one component off (``blinks=False``) leaves every other component bit-identical.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import scipy.signal

from affectstream.core.bandpower import BAND_NAMES
from affectstream.core.montage import MONTAGE_32, electrode_positions_2d
from affectstream.pipelines.synthetic.face_render import render_face

#: The bands that carry a band-limited rhythm (delta is background only), with the filter edges in Hz.
RHYTHM_BANDS: tuple[str, ...] = ("theta", "alpha", "beta1", "beta2", "gamma")
_RHYTHM_EDGES: dict[str, tuple[float, float]] = {
    "theta": (4.5, 7.5), "beta1": (13.5, 17.5), "beta2": (18.5, 29.0), "gamma": (31.0, 44.0),
}
_ALPHA_HALF_WIDTH = 1.0
_ALPHA_LIMITS = (8.25, 11.5)   # the alpha rhythm stays inside the 8-12 Hz analysis band
_RHYTHM_FILTER_ORDER = 3        # Butterworth prototype order (band-pass order 6)

#: Marker strings the simulator emits (``XX`` = stimulus number, zero-padded to at least two digits).
MARKER_VOCABULARY: tuple[str, ...] = ("rest_start", "trial_start/stim_XX", "trial_end/stim_XX")

# Random-stream tags: one independent generator per model component.
_TAG_SUBJECT, _TAG_ORDER, _TAG_TRAJ, _TAG_STATE, _TAG_BG, _TAG_RHYTHM, _TAG_BLINK, _TAG_WHITE, _TAG_FACE = range(9)

_BLOCK_S = 0.5           # internal generation block (performance only: the output does not depend on it)
_WANDER_TAU_S = 8.0      # OU correlation time of the mood wander
_STATE_TAU_S = 3.0       # OU correlation time of the band-power state noise
_SPATIAL_SCALE = 0.35    # correlation length of volume conduction on the unit head circle
_BLINK_SCALE = 0.35      # decay length of the blink field from Fp1/Fp2
_PINK_F_LO = 0.3         # below this the background spectrum is flat
_PINK_PAIRS_PER_DECADE = 4


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

    def __post_init__(self) -> None:
        if self.srate < 100:
            raise ValueError(f"srate must be >= 100 Hz (gamma reaches 44 Hz); got {self.srate}")
        if self.trial_s <= 0 or self.rest_s < 0:
            raise ValueError(f"need trial_s > 0 and rest_s >= 0; got {self.trial_s}, {self.rest_s}")
        if self.n_stimuli < 1 or self.truth_rate <= 0 or self.video_fps <= 0 or self.line_freq <= 0:
            raise ValueError("n_stimuli, truth_rate, video_fps and line_freq must be positive")
        if len(self.video_size) != 2 or min(self.video_size) < 32:
            raise ValueError(f"video_size must be (height, width) of at least 32 px; got {self.video_size}")

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


def _rng(config: SimulatorConfig, tag: int) -> np.random.Generator:
    """The generator of one model component; crc32 keeps the subject key stable across Python runs."""
    key = zlib.crc32(subject_name(config.subject).encode("utf-8"))
    return np.random.default_rng([int(config.seed) & 0xFFFFFFFF, key, tag])


# ---------------------------------------------------------------------------------------------------------------
# Planted pattern and subject parameters
# ---------------------------------------------------------------------------------------------------------------

def _sites(*labels: str) -> np.ndarray:
    """Indices of ``labels`` in MONTAGE_32."""
    return np.array([MONTAGE_32.index(lab) for lab in labels])


def planted_pattern() -> dict[str, np.ndarray]:
    """Nominal planted log-power gains, before subject scaling.

    Returns
    -------
    dict
        ``"valence"`` and ``"arousal"``: float arrays (6, 32) in band order ``BAND_NAMES`` (delta, theta, alpha,
        beta1, beta2, gamma) x ``MONTAGE_32``; entry ``[b, c]`` is the change of natural-log rhythm power
        (ln µV²) in band ``b`` at channel ``c`` per unit of valence (or arousal). A fresh copy on every call.
    """
    band = {name: i for i, name in enumerate(BAND_NAMES)}
    val = np.zeros((len(BAND_NAMES), len(MONTAGE_32)))
    val[band["alpha"], _sites("Fp1", "AF3", "F3", "F7", "FC5", "FC1")] = -0.5
    val[band["alpha"], _sites("Fp2", "AF4", "F4", "F8", "FC6", "FC2")] = 0.5
    for b in ("beta2", "gamma"):
        val[band[b], _sites("AF3", "AF4", "FC1", "FC2", "C3", "C4", "CP5", "CP6")] = 0.25
        val[band[b], _sites("F7", "F8", "FC5", "FC6", "T7", "T8", "F3", "F4")] = 0.5
    aro = np.zeros_like(val)
    aro[band["alpha"], :] = -0.4
    for b in ("beta1", "beta2"):
        aro[band[b], _sites("FC1", "FC2", "P7", "P8", "PO3", "PO4")] = 0.2
        aro[band[b], _sites("C3", "Cz", "C4", "CP1", "CP2", "CP5", "CP6", "P3", "Pz", "P4")] = 0.4
    aro[band["theta"], _sites("Fz", "Cz", "FC1", "FC2")] = 0.5
    return {"valence": val, "arousal": aro}


@lru_cache(maxsize=1)
def _geometry() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(positions (32, 2), spatial mixing matrix (32, 32), blink weights (32,)) of the montage."""
    pos = electrode_positions_2d(MONTAGE_32)
    d = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)
    corr = np.exp(-(d ** 2) / (2 * _SPATIAL_SCALE ** 2))
    evals, evecs = np.linalg.eigh(corr)
    mix = (evecs * np.sqrt(np.clip(evals, 0, None))) @ evecs.T   # symmetric square root: mix @ mix.T = corr
    mix /= np.linalg.norm(mix, axis=1, keepdims=True)           # exact unit gain per channel
    d_fp = d[:, _sites("Fp1", "Fp2")].min(axis=1)
    blink = np.exp(-d_fp / _BLINK_SCALE)
    return pos, mix, blink


def _baseline_log_power(pos: np.ndarray) -> np.ndarray:
    """Population-mean rhythm band power, ln µV², shape (5, 32) in RHYTHM_BANDS order."""
    y = pos[:, 1]                                             # + anterior, - posterior
    fz = pos[MONTAGE_32.index("Fz")]
    midline_frontal = np.exp(-np.sum((pos - fz) ** 2, axis=1) / (2 * 0.3 ** 2))
    posterior = 1.0 / (1.0 + np.exp((y + 0.3) / 0.15))
    central = np.exp(-(y - 0.0) ** 2 / (2 * 0.25 ** 2)) * (np.abs(pos[:, 0]) < 0.7)   # sensorimotor strip
    power = {
        "theta": 3.0 * (1.0 + 0.8 * midline_frontal),
        "alpha": 6.0 + 40.0 * posterior,
        "beta1": 2.5 * (1.0 + 0.6 * central),
        "beta2": np.full(len(y), 2.0),
        "gamma": np.full(len(y), 0.8),
    }
    return np.log(np.stack([power[b] for b in RHYTHM_BANDS]))


@dataclass(frozen=True)
class SubjectParams:
    """One simulated subject, drawn from (seed, subject). Ranges are stated in the module docstring.

    Attributes
    ----------
    name : str
        Normalised subject id.
    valence_gain, arousal_gain : float
        Subject-level multipliers of the planted pattern (lognormal, sigma 0.3).
    valence_weights, arousal_weights : ndarray (6, 32)
        Effective planted gains ``Gv``, ``Ga`` in ln µV² per unit (pattern x subject gain x jitter x effect_scale).
    rhythm_log_power : ndarray (5, 32)
        Baseline ``offset``: ln µV² of each rhythm (RHYTHM_BANDS order) at neutral state.
    alpha_peak_hz : float
        Individual alpha frequency, 9-11 Hz.
    lag_tau_s : float
        Time constant of the affective response to a stimulus, 2-4 s.
    wander_sd : float
        Stationary sd of the OU mood wander, 0.08-0.15.
    state_noise_sd : float
        Sd of the band-power state noise, 0.15-0.35 ln units.
    background_psd_10hz : ndarray (32,)
        Aperiodic background PSD at 10 Hz per channel, µV²/Hz.
    aperiodic_exponent : float
        Background slope ``beta`` of 1/f^beta, 1.4-2.0.
    white_noise_density : float
        Sensor noise PSD, µV²/Hz, 0.002-0.02.
    blink_rate_per_min : float
        Mean blink rate, 10-20 per minute.
    blink_amplitude_uv : float
        Mean blink amplitude at Fp1/Fp2, 70-140 µV.
    line_amplitude_uv : ndarray (32,)
        Line-noise amplitude per channel, µV.
    line_phase : ndarray (32,)
        Line-noise phase per channel, rad.
    face_identity : int
        Identity passed to :func:`render_face` (skin tone, hair, face shape).
    """

    name: str
    valence_gain: float
    arousal_gain: float
    valence_weights: np.ndarray = field(repr=False)
    arousal_weights: np.ndarray = field(repr=False)
    rhythm_log_power: np.ndarray = field(repr=False)
    alpha_peak_hz: float
    lag_tau_s: float
    wander_sd: float
    state_noise_sd: float
    background_psd_10hz: np.ndarray = field(repr=False)
    aperiodic_exponent: float
    white_noise_density: float
    blink_rate_per_min: float
    blink_amplitude_uv: float
    line_amplitude_uv: np.ndarray = field(repr=False)
    line_phase: np.ndarray = field(repr=False)
    face_identity: int


def make_subject_params(config: SimulatorConfig) -> SubjectParams:
    """Draw the parameters of ``config.subject`` deterministically from ``(config.seed, config.subject)``."""
    rng = _rng(config, _TAG_SUBJECT)
    n_b, n_c = len(BAND_NAMES), len(MONTAGE_32)
    pattern = planted_pattern()
    g_v, g_a = np.exp(rng.normal(0.0, 0.3, size=2))
    jitter_v = np.exp(rng.normal(0.0, 0.2, size=(n_b, n_c)))
    jitter_a = np.exp(rng.normal(0.0, 0.2, size=(n_b, n_c)))
    band_sd = np.array([0.5 if b == "alpha" else 0.3 for b in RHYTHM_BANDS])[:, None]
    offsets = (_baseline_log_power(_geometry()[0]) + rng.normal(0.0, 1.0, size=(len(RHYTHM_BANDS), 1)) * band_sd
               + rng.normal(0.0, 0.15, size=(len(RHYTHM_BANDS), n_c)))
    bg_level = 0.5 * math.exp(rng.normal(0.0, 0.3))
    bg = bg_level * np.exp(rng.normal(0.0, 0.15, size=n_c))
    line_base = math.exp(rng.uniform(math.log(0.5), math.log(5.0)))
    line_amp = line_base * np.exp(rng.normal(0.0, 0.5, size=n_c))
    line_phase = rng.uniform(0, 2 * np.pi) + rng.normal(0.0, 0.3, size=n_c)
    return SubjectParams(
        name=subject_name(config.subject),
        valence_gain=float(g_v),
        arousal_gain=float(g_a),
        valence_weights=config.effect_scale * g_v * jitter_v * pattern["valence"],
        arousal_weights=config.effect_scale * g_a * jitter_a * pattern["arousal"],
        rhythm_log_power=offsets,
        alpha_peak_hz=float(rng.uniform(9.0, 11.0)),
        lag_tau_s=float(rng.uniform(2.0, 4.0)),
        wander_sd=float(rng.uniform(0.08, 0.15)),
        state_noise_sd=float(rng.uniform(0.15, 0.35)),
        background_psd_10hz=bg,
        aperiodic_exponent=float(rng.uniform(1.4, 2.0)),
        white_noise_density=float(math.exp(rng.uniform(math.log(0.002), math.log(0.02)))),
        blink_rate_per_min=float(rng.uniform(10.0, 20.0)),
        blink_amplitude_uv=float(rng.uniform(70.0, 140.0)),
        line_amplitude_uv=line_amp,
        line_phase=line_phase,
        face_identity=int(rng.integers(0, 2 ** 31 - 1)),
    )


# ---------------------------------------------------------------------------------------------------------------
# Stimuli and schedule
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Stimulus:
    """One entry of the stimulus table: id and target (valence, arousal)."""

    id: str
    valence: float
    arousal: float


def stimulus_table(n: int) -> tuple[Stimulus, ...]:
    """The fixed stimulus table: ``n`` targets on a golden-angle spiral over the disc of radius 0.9.

    The same for every seed and subject (a lab shows everyone the same clips). Ids are ``stim_01`` ... with at
    least two digits.
    """
    width = max(2, len(str(n)))
    golden = np.pi * (3.0 - np.sqrt(5.0))
    out = []
    for i in range(n):
        r = 0.9 * math.sqrt((i + 0.5) / n)
        out.append(Stimulus(f"stim_{i + 1:0{width}d}", r * math.cos(i * golden), r * math.sin(i * golden)))
    return tuple(out)


class _Schedule:
    """Trial timing and the (lazily extended) per-subject presentation order."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.rest_s, self.trial_s = config.rest_s, config.trial_s
        self.period = config.rest_s + config.trial_s
        self.stimuli = stimulus_table(config.n_stimuli)
        self._targets = np.array([(s.valence, s.arousal) for s in self.stimuli])
        self._rng = _rng(config, _TAG_ORDER)
        self._order: list[int] = []

    def stimulus_index(self, trial: int) -> int:
        """Index into the stimulus table of trial ``trial``."""
        while len(self._order) <= trial:
            self._order.extend(self._rng.permutation(len(self.stimuli)).tolist())
        return self._order[trial]

    def targets(self, t: np.ndarray) -> np.ndarray:
        """Target (valence, arousal), shape (len(t), 2): the stimulus's during a trial, zero at rest."""
        trial = np.floor((t - self.rest_s) / self.period).astype(np.int64)
        in_trial = (trial >= 0) & (t - self.rest_s - trial * self.period < self.trial_s)
        out = np.zeros((len(t), 2))
        if in_trial.any():
            last = int(trial[in_trial].max())
            self.stimulus_index(last)
            idx = np.asarray(self._order[: last + 1])[trial[in_trial]]
            out[in_trial] = self._targets[idx]
        return out

    def markers_between(self, t0: float, t1: float) -> list[tuple[float, str]]:
        """Markers with ``t0 <= t < t1``, in time order (a trial end precedes the rest start at the same time)."""
        out: list[tuple[float, str]] = []
        k = max(0, math.floor((t0 - self.rest_s) / self.period))
        if t0 <= 0.0 < t1 and self.rest_s > 0:
            out.append((0.0, "rest_start"))
        while True:
            start = self.rest_s + k * self.period
            if start >= t1:
                break
            sid = self.stimuli[self.stimulus_index(k)].id
            end = start + self.trial_s
            for t, label in ((start, f"trial_start/{sid}"), (end, f"trial_end/{sid}"), (end, "rest_start")):
                if t0 <= t < t1 and not (label == "rest_start" and self.rest_s == 0):
                    out.append((t, label))
            k += 1
        return out


# ---------------------------------------------------------------------------------------------------------------
# Control-grid processes
# ---------------------------------------------------------------------------------------------------------------

class _GrowingArray:
    """An append-only array along axis 0 with amortised O(1) growth."""

    def __init__(self, tail_shape: tuple[int, ...]) -> None:
        self._data = np.empty((1024, *tail_shape))
        self.n = 0

    def append(self, x: np.ndarray) -> None:
        while self.n + len(x) > len(self._data):
            self._data = np.concatenate([self._data, np.empty_like(self._data)])
        self._data[self.n:self.n + len(x)] = x
        self.n += len(x)

    @property
    def values(self) -> np.ndarray:
        return self._data[: self.n]


class _Trajectory:
    """Hidden (valence, arousal) on the control grid, extended on demand and kept for the whole session."""

    def __init__(self, config: SimulatorConfig, params: SubjectParams, schedule: _Schedule) -> None:
        self.rate = config.truth_rate
        dt = 1.0 / self.rate
        self._schedule = schedule
        self._alpha = math.exp(-dt / params.lag_tau_s)
        self._rho = math.exp(-dt / _WANDER_TAU_S)
        self._sd = params.wander_sd
        self._rng = _rng(config, _TAG_TRAJ)
        self._lag_zi = np.zeros((1, 2))
        self._ou_zi = self._rho * self._sd * self._rng.standard_normal((1, 2))  # stationary start
        self._va = _GrowingArray((2,))

    def ensure(self, n: int) -> None:
        """Make grid points ``0 .. n-1`` available."""
        m = n - self._va.n
        if m <= 0:
            return
        m = max(m, 256)
        t = (self._va.n + np.arange(m)) / self.rate
        target = self._schedule.targets(t)
        lag, self._lag_zi = scipy.signal.lfilter([1 - self._alpha], [1, -self._alpha], target, axis=0,
                                                 zi=self._lag_zi)
        eps = self._rng.standard_normal((m, 2))
        ou, self._ou_zi = scipy.signal.lfilter([self._sd * math.sqrt(1 - self._rho ** 2)], [1, -self._rho], eps,
                                               axis=0, zi=self._ou_zi)
        self._va.append(np.clip(lag + ou, -1.0, 1.0))

    def grid(self, k_lo: int, k_hi: int) -> np.ndarray:
        """Grid points ``k_lo .. k_hi`` inclusive, shape (k_hi - k_lo + 1, 2)."""
        self.ensure(k_hi + 1)
        return self._va.values[k_lo: k_hi + 1]

    def at(self, t: np.ndarray) -> np.ndarray:
        """Linear interpolation of the grid at times ``t`` (clamped at 0), shape (len(t), 2)."""
        u = np.maximum(np.asarray(t, dtype=np.float64), 0.0) * self.rate
        k = np.floor(u).astype(np.int64)
        if not k.size:
            return np.empty((0, 2))
        va = self.grid(0, int(k.max()) + 1)
        frac = (u - k)[:, None]
        return va[k] * (1 - frac) + va[k + 1] * frac


class _StateNoise:
    """Band-power state noise s[b, c] on the control grid; only a sliding window is kept (EEG reads forward)."""

    def __init__(self, config: SimulatorConfig, params: SubjectParams) -> None:
        self._rho = math.exp(-1.0 / (config.truth_rate * _STATE_TAU_S))
        self._sd = params.state_noise_sd
        self._rng = _rng(config, _TAG_STATE)
        n_b, n_c = len(RHYTHM_BANDS), len(MONTAGE_32)
        self._shape = (n_b, n_c + 1)       # column n_c is the band-wide process u_b
        self._zi = self._rng.standard_normal((1, *self._shape)) * self._rho
        self._k0 = 0
        self._buf = np.empty((0, n_b, n_c))

    def window(self, k_lo: int, k_hi: int) -> np.ndarray:
        """Grid points ``k_lo .. k_hi`` inclusive, shape (k_hi - k_lo + 1, 5, 32); ``k_lo`` never decreases."""
        need = k_hi + 1 - (self._k0 + len(self._buf))
        if need > 0:
            m = max(need, 64)
            eps = self._rng.standard_normal((m, *self._shape)) * math.sqrt(1 - self._rho ** 2)
            z, self._zi = scipy.signal.lfilter([1.0], [1, -self._rho], eps, axis=0, zi=self._zi)
            s = self._sd * math.sqrt(0.5) * (z[:, :, :-1] + z[:, :, -1:])
            self._buf = np.concatenate([self._buf, s])
        drop = k_lo - self._k0
        if drop > 0:
            self._buf = self._buf[drop:]
            self._k0 = k_lo
        return self._buf[k_lo - self._k0: k_hi + 1 - self._k0]


class _BlinkTrain:
    """Poisson blink events (onset, amplitude, duration), generated in time order as far as needed."""

    def __init__(self, config: SimulatorConfig, params: SubjectParams) -> None:
        self._rng = _rng(config, _TAG_BLINK)
        self._mean_gap = 60.0 / params.blink_rate_per_min
        self._amp = params.blink_amplitude_uv
        self._next = self._rng.exponential(self._mean_gap)
        self._active: list[tuple[float, float, float]] = []

    def render(self, t: np.ndarray) -> np.ndarray:
        """Blink waveform at the Fp sites (µV) for the increasing sample times ``t``."""
        while self._next <= t[-1]:
            amp = self._amp * math.exp(self._rng.normal(0.0, 0.2))
            dur = self._rng.uniform(0.25, 0.4)
            self._active.append((self._next, amp, dur))
            self._next += self._rng.exponential(self._mean_gap)
        self._active = [e for e in self._active if e[0] + e[2] > t[0]]
        out = np.zeros(len(t))
        for onset, amp, dur in self._active:
            i0, i1 = np.searchsorted(t, [onset, onset + dur])
            out[i0:i1] += amp * 0.5 * (1 - np.cos(2 * np.pi * (t[i0:i1] - onset) / dur))
        return out


# ---------------------------------------------------------------------------------------------------------------
# EEG generation
# ---------------------------------------------------------------------------------------------------------------

def _pink_sos(srate: float, exponent: float) -> np.ndarray:
    """Second-order sections of a 1/f^exponent power filter, unit PSD at 10 Hz for unit-variance white input.

    Real pole-zero pairs, four per decade from 0.3 Hz: a zero placed ``exponent / 2`` of the way (in log
    frequency) from each pole to the next gives an average power slope of ``-exponent``.
    """
    f_hi = 0.45 * srate
    n = int(math.ceil(math.log10(f_hi / _PINK_F_LO) * _PINK_PAIRS_PER_DECADE))
    ratio = 10 ** (1 / _PINK_PAIRS_PER_DECADE)
    poles_hz = _PINK_F_LO * ratio ** np.arange(n)
    zeros_hz = poles_hz * ratio ** (exponent / 2)
    z = np.exp(-2 * np.pi * zeros_hz / srate)
    p = np.exp(-2 * np.pi * poles_hz / srate)
    sos = scipy.signal.zpk2sos(z, p, 1.0)
    _, h = scipy.signal.sosfreqz(sos, worN=[10.0], fs=srate)
    # One-sided PSD of unit-variance white noise at rate fs is 2 / fs.
    sos[0, :3] /= abs(h[0]) * math.sqrt(2.0 / srate)
    return sos


def _unit_variance_bandpass(lo: float, hi: float, srate: float) -> np.ndarray:
    """Butterworth band-pass SOS scaled so unit-variance white noise comes out with unit variance."""
    sos = scipy.signal.butter(_RHYTHM_FILTER_ORDER, [lo, hi], btype="bandpass", fs=srate, output="sos")
    impulse = np.zeros(int(20 * srate))
    impulse[0] = 1.0
    gain = math.sqrt(np.sum(scipy.signal.sosfilt(sos, impulse) ** 2))
    sos[0, :3] /= gain
    return sos


class _EEGGenerator:
    """Stateful EEG synthesis in blocks; see the module docstring for the model."""

    def __init__(self, config: SimulatorConfig, params: SubjectParams, trajectory: _Trajectory) -> None:
        self.srate = config.srate
        self._cfg = config
        self._p = params
        self._traj = trajectory
        self._state = _StateNoise(config, params)
        self._blinks = _BlinkTrain(config, params) if config.blinks else None
        _, self._mix, self._blink_w = _geometry()
        n_c = len(MONTAGE_32)
        self._bg_sos = _pink_sos(self.srate, params.aperiodic_exponent)
        self._bg_zi = np.zeros((len(self._bg_sos), 2, n_c))
        self._bg_scale = np.sqrt(params.background_psd_10hz)
        edges = dict(_RHYTHM_EDGES, alpha=(max(params.alpha_peak_hz - _ALPHA_HALF_WIDTH, _ALPHA_LIMITS[0]),
                                           min(params.alpha_peak_hz + _ALPHA_HALF_WIDTH, _ALPHA_LIMITS[1])))
        self._rh_sos = [_unit_variance_bandpass(*edges[b], self.srate) for b in RHYTHM_BANDS]
        self._rh_zi = [np.zeros((len(s), 2, n_c)) for s in self._rh_sos]
        band_rows = [BAND_NAMES.index(b) for b in RHYTHM_BANDS]
        self._gv = params.valence_weights[band_rows]
        self._ga = params.arousal_weights[band_rows]
        self._line = config.line_noise and config.line_freq < self.srate / 2
        self._white_sd = math.sqrt(params.white_noise_density * self.srate / 2)
        self._rng_bg = _rng(config, _TAG_BG)
        self._rng_rh = _rng(config, _TAG_RHYTHM)
        self._rng_white = _rng(config, _TAG_WHITE)

    def block(self, i0: int, n: int) -> np.ndarray:
        """Samples ``i0 .. i0+n-1`` (must follow the previous block), float64 (n, 32) µV."""
        t = (i0 + np.arange(n)) / self.srate
        eps = self._rng_bg.standard_normal((n, len(MONTAGE_32)))
        bg, self._bg_zi = scipy.signal.sosfilt(self._bg_sos, eps, axis=0, zi=self._bg_zi)
        x = (bg @ self._mix.T) * self._bg_scale
        x += self._rhythms(t)
        if self._blinks is not None:
            x += np.outer(self._blinks.render(t), self._blink_w)
        if self._line:
            x += self._p.line_amplitude_uv * np.sin(2 * np.pi * self._cfg.line_freq * t[:, None]
                                                    + self._p.line_phase)
        x += self._white_sd * self._rng_white.standard_normal(x.shape)
        return x

    def _rhythms(self, t: np.ndarray) -> np.ndarray:
        """Sum over bands of envelope x spatially mixed unit-variance carrier."""
        rate = self._traj.rate
        u = t * rate
        k = np.floor(u).astype(np.int64)
        frac = (u - k)[:, None]
        k_lo, k_hi = int(k[0]), int(k[-1]) + 1
        grid_va = self._traj.grid(k_lo, k_hi)
        state = self._state.window(k_lo, k_hi)
        # ln power on the control grid, then linear interpolation to the samples.
        log_p = (self._p.rhythm_log_power + grid_va[:, 0, None, None] * self._gv
                 + grid_va[:, 1, None, None] * self._ga + state)
        amp_grid = np.exp(0.5 * log_p)
        j = k - k_lo
        eps = self._rng_rh.standard_normal((len(t), len(RHYTHM_BANDS), len(MONTAGE_32)))
        out = np.zeros((len(t), len(MONTAGE_32)))
        for b, sos in enumerate(self._rh_sos):
            carrier, self._rh_zi[b] = scipy.signal.sosfilt(sos, eps[:, b, :], axis=0, zi=self._rh_zi[b])
            amp = amp_grid[j, b] * (1 - frac) + amp_grid[j + 1, b] * frac
            out += (carrier @ self._mix.T) * amp
        return out


# ---------------------------------------------------------------------------------------------------------------
# Public simulator
# ---------------------------------------------------------------------------------------------------------------

class SessionSimulator:
    """A simulated session: sequential EEG, random-access truth, markers and face frames.

    Parameters
    ----------
    config : SimulatorConfig
        The session definition.

    Attributes
    ----------
    config : SimulatorConfig
    subject_params : SubjectParams
        The subject drawn from (seed, subject).
    planted_pattern : dict
        :func:`planted_pattern` (nominal gains, before subject scaling).
    channel_names : tuple of str
        ``MONTAGE_32``.
    stimuli : tuple of Stimulus
        The stimulus table.
    """

    def __init__(self, config: SimulatorConfig = SimulatorConfig()) -> None:
        self.config = config
        self.subject_params = make_subject_params(config)
        self.planted_pattern = planted_pattern()
        self.channel_names = MONTAGE_32
        self._schedule = _Schedule(config)
        self.stimuli = self._schedule.stimuli
        self._trajectory = _Trajectory(config, self.subject_params, self._schedule)
        self._eeg = _EEGGenerator(config, self.subject_params, self._trajectory)
        self._block_n = max(1, int(round(_BLOCK_S * config.srate)))
        self._pending = np.empty((0, len(MONTAGE_32)))
        self._generated = 0   # samples generated so far
        self._served = 0      # samples handed out by read_eeg
        face_rng = _rng(config, _TAG_FACE)
        self._pose_phase = face_rng.uniform(0.0, 2 * np.pi, size=4)
        self._frame_key = int(face_rng.integers(0, 2 ** 31 - 1))

    def read_eeg(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The next ``n`` EEG samples.

        Returns
        -------
        eeg : ndarray float32 (n, 32)
            µV, channels in ``MONTAGE_32`` order.
        sample_index : ndarray int64 (n,)
            Index ``i`` of each sample (time ``i / srate``), continuing from the previous call.
        """
        if n < 0:
            raise ValueError(f"n must be >= 0; got {n}")
        parts = [self._pending]
        have = len(self._pending)
        while have < n:
            blk = self._eeg.block(self._generated, self._block_n)
            self._generated += self._block_n
            parts.append(blk)
            have += len(blk)
        data = np.concatenate(parts) if len(parts) > 1 else self._pending
        out, self._pending = data[:n], data[n:]
        idx = np.arange(self._served, self._served + n, dtype=np.int64)
        self._served += n
        return out.astype(np.float32), idx

    def truth_at(self, t: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Hidden (valence, arousal) at times ``t`` (seconds, any order; clamped at 0): float64, shaped like ``t``.

        Random access: the trajectory is generated as far as needed and kept, so asking for a late time first
        changes nothing (a linear interpolation of the ``truth_rate`` control grid).
        """
        t = np.asarray(t, dtype=np.float64)
        va = self._trajectory.at(t.ravel())
        return va[:, 0].reshape(t.shape), va[:, 1].reshape(t.shape)

    def markers_between(self, t0: float, t1: float) -> list[tuple[float, str]]:
        """Markers at ``t0 <= t < t1``: ``rest_start``, ``trial_start/stim_XX``, ``trial_end/stim_XX``."""
        return self._schedule.markers_between(t0, t1)

    def head_pose(self, t: float) -> tuple[float, float, float]:
        """Smooth head drift at ``t``: (dx, dy) as fractions of the frame size and roll in degrees.

        A sum of incommensurate slow sinusoids with subject-specific phases: it wanders without repeating and is
        a pure function of ``t``, so a frame can be rendered for any time.
        """
        ph = self._pose_phase
        dx = 0.025 * math.sin(2 * np.pi * t / 7.3 + ph[0]) + 0.01 * math.sin(2 * np.pi * t / 2.9 + ph[1])
        dy = 0.015 * math.sin(2 * np.pi * t / 5.1 + ph[2])
        roll = 3.0 * math.sin(2 * np.pi * t / 11.7 + ph[3])
        return dx, dy, roll

    def frame_at(self, t: float) -> np.ndarray:
        """The synthetic face frame (uint8 BGR, ``video_size``) at time ``t``; the expression follows the truth."""
        v, a = self.truth_at(t)
        frame_index = int(math.floor(t * self.config.video_fps + 1e-9))
        rng = np.random.default_rng([self._frame_key, frame_index])   # per-frame jitter, same for the same frame
        return render_face(float(v), float(a), self.config.video_size,
                           identity=self.subject_params.face_identity, rng=rng, pose=self.head_pose(t))


@dataclass(frozen=True)
class SimulatedRecording:
    """A whole simulated session in memory (SYNTHETIC data).

    Attributes
    ----------
    eeg : ndarray float32 (n, 32)
        µV, ``MONTAGE_32`` order.
    srate : float
    times : ndarray float64 (n,)
        ``i / srate``.
    valence, arousal : ndarray float64 (n,)
        The planted truth at every sample.
    markers : list of (float, str)
        All markers within the recording.
    ch_names : tuple of str
    subject_params : SubjectParams
    config : SimulatorConfig
    synthetic : bool
        Always True.
    """

    eeg: np.ndarray = field(repr=False)
    srate: float
    times: np.ndarray = field(repr=False)
    valence: np.ndarray = field(repr=False)
    arousal: np.ndarray = field(repr=False)
    markers: list[tuple[float, str]] = field(repr=False)
    ch_names: tuple[str, ...]
    subject_params: SubjectParams = field(repr=False)
    config: SimulatorConfig
    synthetic: bool = True


def simulate(config: SimulatorConfig = SimulatorConfig(), duration_s: float = 60.0) -> SimulatedRecording:
    """Generate ``duration_s`` seconds of a session in one call (offline use: tests, datasets)."""
    sim = SessionSimulator(config)
    n = int(round(duration_s * config.srate))
    eeg, idx = sim.read_eeg(n)
    times = idx / config.srate
    valence, arousal = sim.truth_at(times) if n else (np.empty(0), np.empty(0))
    return SimulatedRecording(
        eeg=eeg, srate=config.srate, times=times, valence=valence, arousal=arousal,
        markers=sim.markers_between(0.0, n / config.srate), ch_names=MONTAGE_32,
        subject_params=sim.subject_params, config=config,
    )
