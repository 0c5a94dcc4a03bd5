"""The calibration report: ``report.json``, a readable ``report.md`` and ``report.png`` (the held-out traces).

The report shows every candidate's held-out scores (the before/after table: the kept model against the uncalibrated
student and the baseline estimator, whichever way the difference goes), which model was kept and why, and the
chance test's verdict; each says SYNTHETIC when the session was simulated. :func:`kept_line` and
:func:`chance_line` are the two sentences the command line and the wizard's last page show.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from affectstream.calibration.features import AXES, SessionFeatures, block_targets
from affectstream.calibration.protocol import CalibrationSession

__all__ = ["CANDIDATE_NAMES", "chance_line", "kept_line", "write_report"]

#: How the report names each candidate (the calibrated one by its family).
CANDIDATE_NAMES = {"uncalibrated": "uncalibrated (the bundled EEG student)",
                   "baseline": "baseline estimator (frontal alpha asymmetry, beta/alpha)",
                   "student_head": "calibrated: new output heads on the frozen student",
                   "band_power_ridge": "calibrated: ridge on the subject's own band power"}


def _name(report: dict, candidate: str) -> str:
    return CANDIDATE_NAMES[report["calibrated_model"] if candidate == "calibrated" else candidate]


def kept_line(report: dict) -> str:
    """Which model was kept and how it compares with the uncalibrated student on the held-out blocks."""
    gain = report["gain_ccc"]
    if report["kept"] == "uncalibrated":
        versus = "the uncalibrated student was kept"
    else:
        versus = (f"held-out CCC {'+' if gain >= 0 else ''}{gain:.3f} against the uncalibrated student "
                  f"({'better' if gain > 0 else 'worse'} on the held-out blocks)")
    tag = " (SYNTHETIC)" if report["data"] == "synthetic" else ""
    return f"kept: {_name(report, report['kept'])}; {versus}{tag}"


def chance_line(report: dict) -> str:
    """``better than chance (p = ...)`` or ``not better than chance (p = ...): the profile is not used by default``
    (the wizard's last page shows it as is)."""
    p = report["chance_p"]
    if report["better_than_chance"]:
        return f"better than chance (p = {p:.3g})"
    return f"not better than chance (p = {p:.3g}): the profile is not used by default"


def write_report(folder: Path, report: dict, session: CalibrationSession, features: SessionFeatures,
                 scores: dict) -> None:
    """``report.json``, ``report.md`` and ``report.png`` in the profile folder."""
    (folder / "report.json").write_text(json.dumps(report, indent=1))
    _plot(session, features, scores["uncalibrated"]["prediction"], scores[report["kept"]]["prediction"],
          report, folder / "report.png")
    (folder / "report.md").write_text(_markdown(report))


def _plot(session: CalibrationSession, features: SessionFeatures, before: np.ndarray, after: np.ndarray,
          report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = block_targets(features, session)
    held = np.isin(targets.block, np.flatnonzero(targets.heldout))
    t = np.arange(held.sum()) / 4.0
    fig, axes = plt.subplots(2, 1, figsize=(10, 4.5), sharex=True)
    for i, (ax, name) in enumerate(zip(axes, AXES)):
        if session.truth is not None:
            idx = np.clip(np.round(features.centre[held] * session.sfreq).astype(int), 0, len(session.truth) - 1)
            ax.plot(t, session.truth[idx, i], color="k", lw=1.4, label="truth (simulated)")
        ax.plot(t, targets.per_hop()[held, i], color="0.6", ls="--", lw=1.0, label="self-report")
        ax.plot(t, before[:, i], lw=1.0, label="before (uncalibrated)")
        ax.plot(t, after[:, i], lw=1.0, label=f"after (kept: {report['kept']})")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, ncol=4)
    axes[1].set_xlabel("s (held-out blocks concatenated)")
    fig.suptitle(f"calibration of {session.subject}: held-out blocks; {report['chance_line']}"
                 + (" (SYNTHETIC)" if session.synthetic else ""), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _markdown(r: dict) -> str:
    lines = [f"# Calibration of {r['subject']}", ""]
    if r["data"] == "synthetic":
        lines += ["**SYNTHETIC**: a simulated subject and simulated self-reports (the simulator's dry run).", ""]
    lines += [f"Held-out blocks: {r['heldout_blocks']} of {r['blocks']}; scored against the {r['against']}.", "",
              f"**{r['kept_line']}**", "", f"**Chance: {r['chance_line']}.**", ""]
    if r["default_use_notice"]:
        lines += [f"Runs that name this subject: {r['default_use_notice']}.", ""]
    lines += ["| model (held-out blocks) | CCC | RMSE | training-block CCC |", "|---|---|---|---|"]
    training = r["selection"]["training_ccc"]
    for name, s in r["candidates"].items():
        score = training[r["calibrated_model"] if name == "calibrated" else name]
        mark = " **(kept)**" if name == r["kept"] else ""
        shown = "-" if score is None else f"{score:.3f}"
        lines.append(f"| {_name(r, name)}{mark} | {s['ccc']:.3f} | {s['rmse']:.3f} | {shown} |")
    chance = r["chance"]
    lines += ["", f"The kept model was chosen by {r['selection']['by']}.", "",
              f"Chance test: {chance['statistic']}, observed {_num(chance['observed_ccc'])}; "
              f"{chance['permutations']} permutations ({chance['repeated']}): median "
              f"{_num(chance['null_median_ccc'])}, 95th percentile {_num(chance['null_95th_ccc'])}; "
              f"p = {chance['p']:.3g} (level {chance['level']}).", "",
              f"Bad channels: {r['bad_channels'] or 'none'}.", "", "![held-out blocks](report.png)", ""]
    return "\n".join(lines)


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"
