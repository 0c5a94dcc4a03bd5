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

   **Atypical subjects** (``SimulatorConfig(subject_kind="atypical")``, ``--sim-subject atypical``) express
   affect through :func:`~.subject.atypical_pattern` instead: valence as a posterior theta asymmetry (theta +0.5
   at P3 P7 PO3 O1, -0.5 at P4 P8 PO4 O2), beta1 -0.5 at F3 Fz F4 FC1 FC2 and gamma -0.5 at T7 T8 CP5 CP6; arousal
   as posterior alpha +0.4 (P3 Pz P4 PO3 PO4 O1 Oz O2), frontopolar gamma +0.4 (Fp1 Fp2 AF3 AF4) and theta -0.5 at
   Cz CP1 CP2 Pz. Other bands, other electrodes and, where a band is shared, the opposite sign of the typical
   pattern, with the same magnitudes: the bundled EEG student, trained on typical subjects only, does not fit such
   a subject, and calibration (``affectstream calibrate --headless --sim-subject atypical``) is measured where it
   must learn the subject's own pattern. Every random draw is that of the typical twin with the same seed and id.

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

Where each part lives
---------------------
:mod:`.sim_config` (the session definition and the per-component generators), :mod:`.schedule` (1: stimuli and
trials), :mod:`.hidden_state` (2 and the state noise of 3: control-grid processes), :mod:`.subject` (3: the planted
pattern and the subject's parameters), :mod:`.eeg_model` (4: the EEG), :mod:`.face_render` (the face video); this
module puts them together in :class:`SessionSimulator`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from affectstream.core.montage import MONTAGE_32
from affectstream.pipelines.synthetic.eeg_model import EEGGenerator
from affectstream.pipelines.synthetic.face_render import render_face
from affectstream.pipelines.synthetic.hidden_state import Trajectory
from affectstream.pipelines.synthetic.schedule import TrialSchedule
from affectstream.pipelines.synthetic.sim_config import TAG_FACE, SimulatorConfig, component_rng
from affectstream.pipelines.synthetic.subject import SubjectParams, make_subject_params, planted_pattern

_BLOCK_S = 0.5           # internal generation block (performance only: the output does not depend on it)


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
        :func:`planted_pattern` of the subject's kind (nominal gains, before subject scaling).
    channel_names : tuple of str
        ``MONTAGE_32``.
    stimuli : tuple of Stimulus
        The stimulus table.
    """

    def __init__(self, config: SimulatorConfig = SimulatorConfig()) -> None:
        self.config = config
        self.subject_params = make_subject_params(config)
        self.planted_pattern = planted_pattern(config.subject_kind)
        self.channel_names = MONTAGE_32
        self._schedule = TrialSchedule(config)
        self.stimuli = self._schedule.stimuli
        self._trajectory = Trajectory(config, self.subject_params, self._schedule)
        self._eeg = EEGGenerator(config, self.subject_params, self._trajectory)
        self._block_n = max(1, int(round(_BLOCK_S * config.srate)))
        self._pending = np.empty((0, len(MONTAGE_32)))
        self._generated = 0   # samples generated so far
        self._served = 0      # samples handed out by read_eeg
        face_rng = component_rng(config, TAG_FACE)
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
