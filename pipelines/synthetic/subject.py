"""The planted band-power pattern and the parameters of one simulated subject (SYNTHETIC data; model items 3-4 in
:mod:`affectstream.pipelines.synthetic.simulator`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from affectstream.core.bandpower import BAND_NAMES
from affectstream.core.montage import MONTAGE_32, electrode_positions_2d
from affectstream.pipelines.synthetic.sim_config import TAG_SUBJECT, SimulatorConfig, component_rng, subject_name

#: The bands that carry a band-limited rhythm (delta is background only).
RHYTHM_BANDS: tuple[str, ...] = ("theta", "alpha", "beta1", "beta2", "gamma")

_SPATIAL_SCALE = 0.35    # correlation length of volume conduction on the unit head circle
_BLINK_SCALE = 0.35      # decay length of the blink field from Fp1/Fp2


def _sites(*labels: str) -> np.ndarray:
    """Indices of ``labels`` in MONTAGE_32."""
    return np.array([MONTAGE_32.index(lab) for lab in labels])


def planted_pattern(kind: str = "typical") -> dict[str, np.ndarray]:
    """Nominal planted log-power gains, before subject scaling.

    Parameters
    ----------
    kind : {"typical", "atypical"}
        ``typical``: the population the simulator's planted benchmark (and so the bundled EEG student) is made of.
        ``atypical``: :func:`atypical_pattern`, affect on other bands and electrodes and with other signs.

    Returns
    -------
    dict
        ``"valence"`` and ``"arousal"``: float arrays (6, 32) in band order ``BAND_NAMES`` (delta, theta, alpha,
        beta1, beta2, gamma) x ``MONTAGE_32``; entry ``[b, c]`` is the change of natural-log rhythm power
        (ln µV²) in band ``b`` at channel ``c`` per unit of valence (or arousal). A fresh copy on every call.
    """
    if kind == "atypical":
        return atypical_pattern()
    if kind != "typical":
        raise ValueError(f"unknown subject kind {kind!r} (typical or atypical)")
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


def atypical_pattern() -> dict[str, np.ndarray]:
    """The planted gains of an *atypical* subject: none of the typical pattern's features carries affect.

    Real people do not all show the textbook frontal alpha asymmetry (its direction and even its presence vary
    between studies and individuals), so a model trained on one population can meet a subject whose EEG encodes
    affect elsewhere. This pattern is built to be such a subject for the bundled student, trained on the typical
    pattern only: other bands, other electrodes, and opposite signs where a band is shared.

    * valence: a *posterior theta* asymmetry, theta +0.5 at P3 P7 PO3 O1 and -0.5 at P4 P8 PO4 O2 (no frontal alpha
      asymmetry at all); beta1 -0.5 at the frontal midline sites F3 Fz F4 FC1 FC2 (the typical pattern has no
      valence in beta1); gamma -0.5 at T7 T8 CP5 CP6 (the typical pattern raises temporal gamma with valence).
    * arousal: alpha +0.4 at the posterior sites P3 Pz P4 PO3 PO4 O1 Oz O2 (the typical pattern lowers alpha
      everywhere); gamma +0.4 at Fp1 Fp2 AF3 AF4; theta -0.5 at Cz CP1 CP2 Pz (the typical frontal-midline theta
      rises with arousal).

    The magnitudes are those of the typical pattern, so what calibration can learn is as large; only where it lies
    differs. Same shape and band order as :func:`planted_pattern`.
    """
    band = {name: i for i, name in enumerate(BAND_NAMES)}
    val = np.zeros((len(BAND_NAMES), len(MONTAGE_32)))
    val[band["theta"], _sites("P3", "P7", "PO3", "O1")] = 0.5
    val[band["theta"], _sites("P4", "P8", "PO4", "O2")] = -0.5
    val[band["beta1"], _sites("F3", "Fz", "F4", "FC1", "FC2")] = -0.5
    val[band["gamma"], _sites("T7", "T8", "CP5", "CP6")] = -0.5
    aro = np.zeros_like(val)
    aro[band["alpha"], _sites("P3", "Pz", "P4", "PO3", "PO4", "O1", "Oz", "O2")] = 0.4
    aro[band["gamma"], _sites("Fp1", "Fp2", "AF3", "AF4")] = 0.4
    aro[band["theta"], _sites("Cz", "CP1", "CP2", "Pz")] = -0.5
    return {"valence": val, "arousal": aro}


@lru_cache(maxsize=1)
def montage_geometry() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    """Draw the parameters of ``config.subject`` deterministically from ``(config.seed, config.subject)``; the draws do
    not depend on ``config.subject_kind``, which only picks the planted pattern they scale."""
    rng = component_rng(config, TAG_SUBJECT)
    n_b, n_c = len(BAND_NAMES), len(MONTAGE_32)
    pattern = planted_pattern(config.subject_kind)
    g_v, g_a = np.exp(rng.normal(0.0, 0.3, size=2))
    jitter_v = np.exp(rng.normal(0.0, 0.2, size=(n_b, n_c)))
    jitter_a = np.exp(rng.normal(0.0, 0.2, size=(n_b, n_c)))
    band_sd = np.array([0.5 if b == "alpha" else 0.3 for b in RHYTHM_BANDS])[:, None]
    offsets = (_baseline_log_power(montage_geometry()[0])
               + rng.normal(0.0, 1.0, size=(len(RHYTHM_BANDS), 1)) * band_sd
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
