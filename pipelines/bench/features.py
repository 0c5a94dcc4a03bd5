"""How close replay and offline feature extraction come to the band-power kernel's own bound.

Both paths exist to compute one Welch band-power window per 0.25 s hop, so the single-window kernel
(``bench_bandpower``'s ``ours_ms``) bounds them: nothing that computes a window per hop can replay faster than
``hop / ours_ms`` times real time. :func:`kernel_efficiency` is the fraction of that bound a path reaches (1 would mean
everything besides the kernel is free). The ratio is taken within one bench run, kernel and path timed minutes apart
on the same machine, so it means more than either absolute number on these noisy 2-core machines.

:func:`bench_features` times the dataset feature extraction (:func:`~affectstream.models.datasets.features
.compute_trial_features`, the trainer's path: band-pass, average reference, then every window) on one SYNTHETIC
simulated 32-channel trial.
"""

from __future__ import annotations

import time

import numpy as np

#: The fraction of the kernel bound replay and feature extraction are expected to reach (issue 18, item 6).
EFFICIENCY_BUDGET = 0.35


def kernel_efficiency(x_realtime: float, kernel_ms: float, hop_s: float) -> float:
    """``x_realtime`` as a fraction of ``hop_s / kernel_ms``, the speed of a path doing only one window per hop."""
    return x_realtime * kernel_ms / (hop_s * 1e3)


def bench_features(kernel_ms: float, seconds: float = 180.0, repeats: int = 5, seed: int = 0) -> dict[str, float | str]:
    """Offline band-power features of one SYNTHETIC trial (32 channels at 256 Hz, ``seconds`` long), default settings.

    Returns recording seconds per wall second (``x_realtime``: the best of ``repeats`` runs, the one least disturbed
    by other processes; ``x_realtime_median``), its :func:`kernel_efficiency` against ``kernel_ms`` (the same run's
    single-window band-power time) beside :data:`EFFICIENCY_BUDGET`, and the median share of the time spent before
    the windows (:func:`~affectstream.models.datasets.features.preprocess`: band-pass and average reference).
    """
    from affectstream.models.datasets.common import Trial
    from affectstream.models.datasets.features import FeatureConfig, compute_trial_features, preprocess
    from affectstream.pipelines.synthetic.sim_config import SimulatorConfig
    from affectstream.pipelines.synthetic.simulator import simulate

    sim = simulate(SimulatorConfig(seed=seed), seconds)
    trial = Trial("synthetic", 1, 1, np.ascontiguousarray(sim.eeg.T, dtype=np.float32), sim.srate, sim.ch_names)
    config = FeatureConfig()
    compute_trial_features(trial, config)  # warm-up: filter design, imports, allocator
    walls, preprocess_walls = [], []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        frames = compute_trial_features(trial, config).features.shape[0]
        walls.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        preprocess(trial.eeg, trial.sfreq, trial.ch_names, config)
        preprocess_walls.append(time.perf_counter() - t0)
    x_realtime = seconds / min(walls)
    return {
        "x_realtime": x_realtime,
        "x_realtime_median": seconds / float(np.median(walls)),
        "efficiency": kernel_efficiency(x_realtime, kernel_ms, config.hop_s),
        "efficiency_budget": EFFICIENCY_BUDGET,
        "bound_x_realtime": config.hop_s * 1e3 / kernel_ms,
        "ms_per_frame": min(walls) / frames * 1e3,
        "preprocess_share": float(np.median(preprocess_walls) / np.median(walls)),
        "frames": frames,
        "recording_s": seconds,
        "input": f"SYNTHETIC simulated EEG, one trial of {len(sim.ch_names)} ch at {sim.srate:g} Hz, {seconds:g} s "
                 f"(compute_trial_features, kind {config.kind!r}, band-pass {config.bandpass})",
    }
