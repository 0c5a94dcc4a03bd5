"""``affectstream calibrate``: the whole calibration of one subject, from a calibration session to the saved profile.

:func:`calibrate_session` takes the session -- recorded from a live headset by the wizard (:mod:`.live`), read from
a recorded real session (``--recording``, :mod:`.recording`), or simulated by :func:`calibrate` (``--headless``, the
SYNTHETIC dry run of :func:`.protocol.simulate_session`) -- writes it into the profile folder as XDF, starts the
normaliser on the resting baseline, fine-tunes the bundled student on the training blocks (:mod:`.finetune`), scores
the held-out blocks before and after, and saves the profile (:mod:`.profiles`) with a report (JSON, markdown, PNG).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from affectstream.calibration.finetune import FineTuneConfig, baseline_norm, evaluate, fine_tune, session_features
from affectstream.calibration.profiles import profile_dir, save_profile
from affectstream.calibration.protocol import CalibrationConfig, CalibrationSession, simulate_session, write_recording

__all__ = ["calibrate", "calibrate_session"]


def calibrate(subject: str, profiles: str | Path, config: CalibrationConfig = CalibrationConfig(), *,
              seed: int = 1, finetune: FineTuneConfig = FineTuneConfig()) -> tuple[Path, dict]:
    """The headless dry run against the simulator (SYNTHETIC subject ``subject``); returns (profile, report)."""
    return calibrate_session(simulate_session(subject, config, seed=seed), profiles, finetune=finetune,
                             config=config)


def calibrate_session(session: CalibrationSession, profiles: str | Path, *, finetune: FineTuneConfig = FineTuneConfig(),
                      config: CalibrationConfig | None = None) -> tuple[Path, dict]:
    """Calibrate from a recorded session; returns the profile folder and the report."""
    from affectstream.core.feature_layout import N_FEATURES
    from affectstream.core.feature_norm import NORM_MEMORY_FRAMES, RunningFeatureNorm
    from affectstream.core.montage import MONTAGE_32
    from affectstream.models.deploy.manifest import EEG_STUDENT, EEG_STUDENT_TORCH, load_manifest
    from affectstream.pipelines.eeg.student import load_torch_student

    start = time.perf_counter()
    folder = profile_dir(profiles, session.subject)
    folder.mkdir(parents=True, exist_ok=True)
    write_recording(session, folder / "calibration.xdf")  # the session as calibrated (ratings edited in the wizard)
    features = session_features(session)
    memory = float(load_manifest()["models"][EEG_STUDENT]["input"].get("norm_memory", NORM_MEMORY_FRAMES))
    model = load_torch_student()
    before = evaluate(model, features.inputs(RunningFeatureNorm(N_FEATURES, memory=memory)), features, session)
    norm = baseline_norm(features, session, memory)
    profile_norm = RunningFeatureNorm(N_FEATURES, memory=memory)
    profile_norm.load_state(norm.state())  # what the live path starts from
    z = features.inputs(norm)
    tuned, history = fine_tune(model, z, features, session, finetune)
    after = evaluate(tuned, z, features, session)
    save_profile(profiles, session.subject, model=tuned,
                 architecture=load_manifest()["models"][EEG_STUDENT_TORCH]["architecture"], norm=profile_norm,
                 bad_channels=session.bad_channels, synthetic=session.synthetic, montage=MONTAGE_32)
    report = {"data": "synthetic" if session.synthetic else "real", "subject": session.subject,
              "against": after["against"], "heldout_blocks": sum(b.heldout for b in session.blocks),
              "blocks": len(session.blocks), "bad_channels": session.bad_channels,
              "before": {k: v for k, v in before.items() if k != "prediction"},
              "after": {k: v for k, v in after.items() if k != "prediction"},
              "fine_tune": {"checks": history, "config": finetune.__dict__},
              "protocol": (config or CalibrationConfig()).__dict__, "seconds": round(time.perf_counter() - start, 1)}
    (folder / "report.json").write_text(json.dumps(report, indent=1))
    _plot(session, features, before["prediction"], after["prediction"], folder / "report.png")
    (folder / "report.md").write_text(_markdown(report))
    return folder, report


def _plot(session: CalibrationSession, features, before: np.ndarray, after: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from affectstream.calibration.finetune import _targets

    block, target, _ = _targets(features, session)
    held = np.isin(block, [b.index for b in session.blocks if b.heldout])
    t = np.arange(held.sum()) / 4.0
    fig, axes = plt.subplots(2, 1, figsize=(10, 4.5), sharex=True)
    for i, (ax, name) in enumerate(zip(axes, ("valence", "arousal"))):
        if session.truth is not None:
            idx = np.clip(np.round(features.centre[held] * session.sfreq).astype(int), 0, len(session.truth) - 1)
            ax.plot(t, session.truth[idx, i], color="k", lw=1.4, label="truth (simulated)")
        ax.plot(t, target[held, i], color="0.6", ls="--", lw=1.0, label="self-report")
        ax.plot(t, before[:, i], lw=1.0, label="before")
        ax.plot(t, after[:, i], lw=1.0, label="after")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, ncol=4)
    axes[1].set_xlabel("s (held-out blocks concatenated)")
    fig.suptitle(f"calibration of {session.subject}: held-out blocks" + (" (SYNTHETIC)" if session.synthetic else ""),
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _markdown(r: dict) -> str:
    lines = [f"# Calibration of {r['subject']}", ""]
    if r["data"] == "synthetic":
        lines += ["**SYNTHETIC**: a simulated subject and simulated self-reports (the simulator's dry run).", ""]
    lines += [f"Held-out blocks: {r['heldout_blocks']} of {r['blocks']}; scored against the {r['against']}.", "",
              "| | CCC | RMSE |", "|---|---|---|",
              f"| before (bundled student) | {r['before']['ccc']:.3f} | {r['before']['rmse']:.3f} |",
              f"| after (baseline + fine-tuned heads) | {r['after']['ccc']:.3f} | {r['after']['rmse']:.3f} |", "",
              f"Bad channels: {r['bad_channels'] or 'none'}.", "", "![held-out blocks](report.png)", ""]
    return "\n".join(lines)
