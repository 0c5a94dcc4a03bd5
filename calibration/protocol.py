"""The calibration protocol: signal check, resting baseline, stimulus blocks with self-assessment, one recording.

Timeline (every length in :class:`CalibrationConfig`)::

    signal check | baseline: eyes open, eyes closed | block 1 | SAM | rest | block 2 | SAM | rest | ... | block N | SAM

Each block shows one stimulus; after it the subject rates valence and arousal on the 9-point Self-Assessment
Manikin. The last ``heldout_blocks`` blocks are never used for fine-tuning: they score the model before and after
(``affectstream.calibration.finetune``). Every event is a marker in the recording (``baseline_open_start``,
``block_start/<stim>``, ``block_end/<stim>``, ``sam/<stim>/v=<1-9>/a=<1-9>``), and the ratings are also a ``Labels``
stream (valence and arousal on [-1, 1], stamped at the block's end), so the recording alone holds everything the
fine-tuning needs.

Against the simulator (``--headless``, the dry run) the session is generated in stream time, not waited for, and
the "self-reports" are the planted truth's mean over each block rounded to the SAM scale with a little rating noise:
SYNTHETIC, and marked so in the recording and in every report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Block", "CalibrationConfig", "CalibrationSession", "sam_to_unit", "signal_check", "simulate_session",
           "write_recording"]


@dataclass(frozen=True)
class CalibrationConfig:
    """Lengths and counts of the protocol; ``fast()`` shortens the recording for tests and dry runs."""

    check_s: float = 10.0
    baseline_open_s: float = 60.0
    baseline_closed_s: float = 60.0
    block_s: float = 20.0
    rest_s: float = 5.0  #: between blocks (the SAM rating happens at its start)
    n_blocks: int = 24  #: many short blocks: one rating each, and the head fit needs many ratings
    heldout_blocks: int = 6
    sam_noise: float = 0.5  #: simulated rating noise (SAM points, s.d.)

    def fast(self) -> CalibrationConfig:
        """A shorter check and baseline (tests, dry runs); the blocks stay, the fine-tuning needs them."""
        return CalibrationConfig(check_s=4.0, baseline_open_s=20.0, baseline_closed_s=20.0, block_s=self.block_s,
                                 rest_s=self.rest_s, n_blocks=self.n_blocks, heldout_blocks=self.heldout_blocks,
                                 sam_noise=self.sam_noise)

    @property
    def baseline_s(self) -> float:
        return self.baseline_open_s + self.baseline_closed_s


@dataclass(frozen=True)
class Block:
    """One stimulus block and its self-assessment."""

    index: int
    stimulus: str
    start: float  #: stream seconds
    end: float
    sam_valence: int  #: 1-9
    sam_arousal: int
    heldout: bool


def sam_to_unit(score: float) -> float:
    """SAM 1..9 -> [-1, 1] (5 is neutral)."""
    return (float(score) - 5.0) / 4.0


@dataclass
class CalibrationSession:
    """One recorded calibration: EEG (n, n_channels) µV with labels, the blocks, and what is known of the truth."""

    subject: str
    eeg: np.ndarray
    sfreq: float
    ch_names: tuple[str, ...]
    times: np.ndarray
    baseline: tuple[float, float]  #: stream seconds of the resting baseline
    blocks: list[Block]
    markers: list[tuple[float, str]]
    synthetic: bool
    truth: np.ndarray | None = None  #: (n, 2) planted valence/arousal per sample (simulated sessions only)
    bad_channels: dict[str, str] = field(default_factory=dict)


def signal_check(eeg: np.ndarray, sfreq: float, ch_names: tuple[str, ...], seconds: float) -> dict[str, str]:
    """Per-channel pass/fail over the first ``seconds``: ``{label: reason}`` for every channel that fails.

    The live path's quality checks (flat, railed, non-finite, noisy: ``affectstream.pipelines.eeg.quality``) on every 2
    s window of the check period; a channel fails when more than half of its windows do, so one movement does not
    condemn it.
    """
    from affectstream.pipelines.eeg.quality import assess_many

    n_win = int(round(2.0 * sfreq))
    x = eeg[:max(n_win, int(round(seconds * sfreq)))].T.astype(np.float64)
    k = max(1, x.shape[1] // n_win)
    windows = x[:, :k * n_win].reshape(x.shape[0], k, n_win).transpose(1, 0, 2)
    results = assess_many(windows - windows.mean(axis=-1, keepdims=True), np.ones(x.shape[0], dtype=bool))
    failed: dict[str, list[str]] = {}
    for r in results:
        for c, name in enumerate(ch_names):
            if not r.good[c]:
                failed.setdefault(name, []).append(r.reason[c])
    return {name: max(set(rs), key=rs.count) for name, rs in failed.items() if len(rs) > k / 2}


def simulate_session(subject: str, config: CalibrationConfig = CalibrationConfig(), seed: int = 1,
                     rng_seed: int = 0, subject_kind: str = "typical") -> CalibrationSession:
    """The protocol against the simulator (SYNTHETIC): the planted subject watches the simulator's stimuli.

    The lead-in (signal check and baseline) is the same simulated subject at rest; then the simulator's own
    session runs (a rest, then its stimulus trials as the blocks, with rests between), so the stimuli drive the
    hidden state exactly as in the simulator's sessions. ``seed`` picks the subject's individual gains (seed 1 is
    not the planted training set's seed 0: a new person with the same name); ``subject_kind`` ``"atypical"`` makes
    a subject unlike the bundled student's training population
    (:func:`affectstream.pipelines.synthetic.subject.atypical_pattern`); ``rng_seed`` draws the rating noise.
    """
    from dataclasses import replace

    from affectstream.core.montage import MONTAGE_32
    from affectstream.pipelines.synthetic.sim_config import SimulatorConfig
    from affectstream.pipelines.synthetic.simulator import SessionSimulator

    lead = config.check_s + config.baseline_s
    sim_cfg = SimulatorConfig(seed=seed, subject=subject, trial_s=config.block_s, rest_s=config.rest_s,
                              subject_kind=subject_kind)
    sfreq = sim_cfg.srate
    resting = SessionSimulator(replace(sim_cfg, rest_s=lead + 1.0))  # all rest during the lead-in
    n_lead = int(round(lead * sfreq))
    eeg_lead, _ = resting.read_eeg(n_lead)
    truth_lead = np.column_stack(resting.truth_at(np.arange(n_lead) / sfreq))
    session = SessionSimulator(sim_cfg)
    n_main = int(round((config.rest_s + config.n_blocks * (config.block_s + config.rest_s)) * sfreq))
    eeg_main, _ = session.read_eeg(n_main)
    truth_main = np.column_stack(session.truth_at(np.arange(n_main) / sfreq))
    eeg = np.concatenate([eeg_lead, eeg_main]).astype(np.float32)
    truth = np.concatenate([truth_lead, truth_main]).astype(np.float32)
    times = np.arange(len(eeg)) / sfreq
    rng = np.random.default_rng(rng_seed)
    blocks = []
    markers = [(0.0, "signal_check_start"), (config.check_s, "baseline_open_start"),
               (config.check_s + config.baseline_open_s, "baseline_closed_start"), (lead, "baseline_end")]
    for k in range(config.n_blocks):
        start = lead + config.rest_s + k * (config.block_s + config.rest_s)
        end = start + config.block_s
        stim = f"stim_{k + 1:02d}"
        felt = truth[(times >= start + config.block_s / 2) & (times < end)].mean(axis=0)  # the state at its end
        sam_v, sam_a = (int(np.clip(round(5 + 4 * float(x) + rng.normal(0, config.sam_noise)), 1, 9)) for x in felt)
        blocks.append(Block(k, stim, start, end, sam_v, sam_a, k >= config.n_blocks - config.heldout_blocks))
        markers += [(start, f"block_start/{stim}"), (end, f"block_end/{stim}"),
                    (end, f"sam/{stim}/v={sam_v}/a={sam_a}")]
    out = CalibrationSession(subject, eeg, sfreq, tuple(MONTAGE_32), times, (config.check_s, lead), blocks, markers,
                             True, truth)
    out.bad_channels = signal_check(out.eeg, out.sfreq, out.ch_names, config.check_s)
    return out


def write_recording(session: CalibrationSession, path: Path, t0: float = 1000.0) -> Path:
    """The whole session as one XDF file: EEG, Markers, the SAM ratings as a Labels stream, GroundTruth when
    simulated; every stream says whether it is synthetic."""
    from affectstream.core.xdf_writer import XDFWriter

    meta = {"synthetic": "true" if session.synthetic else "false", "subject": session.subject,
            "generator": "affectstream calibration"}
    with XDFWriter(path, flush_interval_s=None, header=meta) as w:
        eeg = w.add_stream("calibration-EEG", "EEG", len(session.ch_names), session.sfreq, "float32",
                           f"calibration-{session.subject}-eeg", labels=list(session.ch_names),
                           units=["microvolts"] * len(session.ch_names), desc=meta)
        w.write(eeg, session.eeg, t0 + session.times)
        mrk = w.add_stream("calibration-Markers", "Markers", 1, 0.0, "string", f"calibration-{session.subject}-mrk",
                           desc=meta)
        w.write(mrk, [m for _, m in session.markers], [t0 + t for t, _ in session.markers])
        lab = w.add_stream("calibration-SAM", "Labels", 2, 0.0, "float32", f"calibration-{session.subject}-sam",
                           labels=["valence", "arousal"], desc={**meta, "scale": "SAM 1-9 mapped to [-1, 1]"})
        w.write(lab, np.array([[sam_to_unit(b.sam_valence), sam_to_unit(b.sam_arousal)] for b in session.blocks],
                              dtype=np.float32), [t0 + b.end for b in session.blocks])
        if session.truth is not None:
            step = max(1, int(round(session.sfreq / 32)))
            gt = w.add_stream("calibration-GroundTruth", "GroundTruth", 2, session.sfreq / step, "float32",
                              f"calibration-{session.subject}-truth", labels=["valence", "arousal"], desc=meta)
            w.write(gt, session.truth[::step], t0 + session.times[::step])
    return path

