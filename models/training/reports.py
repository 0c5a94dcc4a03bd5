"""A finished run's outputs outside its run folder: the one-line headline and the ``--report`` files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def headline(summary: dict) -> str:
    """One line of a run's summary: folds, data kind, a fast-dev run said as such and, for a distillation method, the
    in-run comparison."""
    parts = [f"{summary.get('folds')} folds ({summary.get('data', '?').upper()} data)"]
    if summary.get("fast_dev_run"):
        parts.append("FAST-DEV RUN: it shows every step runs, its numbers are not a result")
    c = summary.get("comparison")
    if c is not None:  # every distillation method declares its comparison with its in-run baseline
        parts.append(f"{c['metric']}: {c['baseline']} {c['baseline_mean']:.3f} ± {c['baseline_std']:.3f}, "
                     f"{c['method']} {c['method_mean']:.3f} ± {c['method_std']:.3f}, p = {c['p_value']:.4f}")
    return ", ".join(parts)


def write_report(folder: Path, target: Path) -> dict:
    """Copy a run's summary to ``target`` (JSON), its report to ``target`` with ``.md`` and its figures beside them.

    Run folders are scratch; the committed reports are these copies. Each figure is renamed
    ``<target stem>_<figure>.png`` and the report's links follow. Returns the run's metrics.
    """
    metrics = json.loads((folder / "metrics.json").read_text())
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(metrics["summary"], indent=1))
    report = (folder / "report.md").read_text()
    for png in sorted(folder.glob("*.png")):
        copy = target.with_name(f"{target.stem}_{png.name}")
        shutil.copyfile(png, copy)
        report = report.replace(f"]({png.name})", f"]({copy.name})")
    target.with_suffix(".md").write_text(report)
    return metrics
