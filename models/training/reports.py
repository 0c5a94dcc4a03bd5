"""A finished run's outputs: the one-line headline, the paper-versus-ours table and the ``--report`` files."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

from affectstream.models.training.config import PaperConfig


def _lookup(summary: dict, dotted: str) -> Any:
    value: Any = summary
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def paper_comparison(paper: PaperConfig, summary: dict) -> tuple[list[dict], str]:
    """The paper's reported numbers beside this run's, row by row, and as a markdown section.

    A run on synthetic data, a fast-dev run or a run of a few folds is not the paper's experiment; the table still
    prints (it shows the report works end to end) under a line that says what the run's numbers are.
    """
    rows = []
    for key, reported, name in zip(paper.summary_keys, paper.reported, paper.reported_names):
        ours = _lookup(summary, key)
        ours = float(ours) if isinstance(ours, (int, float)) and math.isfinite(ours) else None
        rows.append({"what": name, "summary_key": key, "paper": reported, "ours": ours})
    lines = [f"## Paper: {paper.title}", "", f"{paper.table}. Paper: the number the paper reports; ours: this run "
             f"({summary.get('data', '?')} data, {summary.get('folds', '?')} folds).", "",
             "| what | summary key | paper | ours |", "|---|---|---|---|"]
    lines += [f"| {r['what']} | `{r['summary_key']}` | {r['paper']:.4g} | "
              f"{'-' if r['ours'] is None else format(r['ours'], '.4g')} |" for r in rows]
    if paper.note:
        lines += ["", f"Differences from the paper's setting: {paper.note}"]
    return rows, "\n".join(lines)


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
