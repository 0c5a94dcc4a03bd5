"""Stimuli and the trial schedule of a simulated session (SYNTHETIC data; model item 1 in
:mod:`affectstream.pipelines.synthetic.simulator`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from affectstream.pipelines.synthetic.sim_config import TAG_ORDER, SimulatorConfig, component_rng

#: Marker strings the simulator emits (``XX`` = stimulus number, zero-padded to at least two digits).
MARKER_VOCABULARY: tuple[str, ...] = ("rest_start", "trial_start/stim_XX", "trial_end/stim_XX")


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


class TrialSchedule:
    """Trial timing and the (lazily extended) per-subject presentation order."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.rest_s, self.trial_s = config.rest_s, config.trial_s
        self.period = config.rest_s + config.trial_s
        self.stimuli = stimulus_table(config.n_stimuli)
        self._targets = np.array([(s.valence, s.arousal) for s in self.stimuli])
        self._rng = component_rng(config, TAG_ORDER)
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
