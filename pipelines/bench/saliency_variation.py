"""How much each live saliency map follows the brain state (``affectstream bench``'s ``saliency_variation``).

A map that explains an estimate should change when the estimate's reasons change. Each kind of map
(:data:`~affectstream.pipelines.eeg.saliency.KINDS`) is computed as the dashboard computes it (once a second, over
the last 8 computations) on two recordings that share nothing but the montage: a SYNTHETIC simulated subject the
student never saw, and the real EEGLAB sample of ../shared/data (when present; otherwise a second simulated subject).
Reported per kind: the median Pearson correlation between a map of one recording and a map of the other
(``between``), and between two maps of the same recording a minute or more apart (``within``). A map whose
``between`` is near 1 draws the same picture whatever the EEG: it shows the model's weights, not the state.
"""

from __future__ import annotations

import numpy as np

from affectstream.core.paths import SHARED_DATA

__all__ = ["EEGLAB_SAMPLE", "bench_saliency_variation", "map_correlations"]

#: The real recording of the comparison.
EEGLAB_SAMPLE = SHARED_DATA / "xdf" / "eeglab_eeg32_128Hz_markers_videoidx.xdf"


def map_correlations(a: list[np.ndarray], b: list[np.ndarray]) -> np.ndarray:
    """Pearson correlations between every map of ``a`` and every map of ``b`` (flattened; constant maps skipped)."""
    def rows(maps: list[np.ndarray]) -> np.ndarray:
        x = np.array([m.ravel() for m in maps], dtype=np.float64)
        x = x[x.std(axis=1) > 0]
        return (x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, keepdims=True)

    za, zb = rows(a), rows(b)
    return (za @ zb.T / za.shape[1]).ravel()


def _maps(inputs: np.ndarray, session, kind: str) -> list[np.ndarray]:
    from affectstream.pipelines.eeg.saliency import SaliencyTracker

    tracker = SaliencyTracker(session, every=4, average=8, kind=kind)
    maps = [tracker.update(frames) for frames in inputs]
    return [m for m in maps if m is not None]


def _recordings() -> list[tuple[str, object, np.ndarray, np.ndarray]]:
    from affectstream.core.montage import MONTAGE_32
    from affectstream.pipelines.engine import EEGStreamSpec
    from affectstream.pipelines.synthetic.sim_config import SimulatorConfig
    from affectstream.pipelines.synthetic.simulator import simulate

    spec = EEGStreamSpec(sfreq=256.0, n_channels=len(MONTAGE_32), labels=MONTAGE_32, synthetic=True)
    sim = simulate(SimulatorConfig(seed=0, subject="sim13"), 240.0)  # a subject the student never saw
    out = [("SYNTHETIC sim13", spec, sim.eeg, sim.times)]
    if EEGLAB_SAMPLE.is_file():
        from affectstream.core.xdf_reader import load_recording
        from affectstream.pipelines.sessions.recorded import eeg_spec

        eeg = load_recording(EEGLAB_SAMPLE, select_video=False).eeg
        out.append(("real EEGLAB sample", eeg_spec(eeg), eeg.data, eeg.timestamps))
    else:
        other = simulate(SimulatorConfig(seed=1, subject="sim14"), 240.0)
        out.append(("SYNTHETIC sim14", spec, other.eeg, other.times))
    return out


def bench_saliency_variation(min_gap_maps: int = 60) -> dict:
    """Per kind, the median correlation of maps between the two recordings and within each (module docstring);
    ``within`` pairs maps at least ``min_gap_maps`` computations (seconds) apart."""
    from affectstream.pipelines.bench.student_inputs import student_inputs
    from affectstream.pipelines.eeg.saliency import KINDS

    recordings = _recordings()
    inputs, session = [], None
    for _, spec, eeg, times in recordings:
        x, student = student_inputs(spec, eeg, times, every=1)
        inputs.append(x)
        session = student.session
    out: dict = {"recordings": [name for name, *_ in recordings]}
    for kind in KINDS:
        first, second = (_maps(x, session, kind) for x in inputs)
        within = [c for maps in (first, second) for i in range(0, len(maps) - min_gap_maps, 10)
                  for c in map_correlations([maps[i]], maps[i + min_gap_maps:])]
        out[kind] = {"between": float(np.median(map_correlations(first, second))),
                     "within": float(np.median(within)) if within else float("nan"),
                     "maps": [len(first), len(second)]}
    out["varies_most"] = min(KINDS, key=lambda k: out[k]["between"])
    return out
