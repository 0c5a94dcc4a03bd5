"""Method comparisons over several seeds: the runs of one recipe with different ``run.seed`` as one row.

One run compares a method with its baseline on one seed; the spread between seeds of one recipe is often larger than
the effect of a method (issue 19 measured 0.5 points between two runs that differed only in an unrelated arm), so a
comparison is reported over seeds x folds. :func:`seed_rows` groups run summaries that are the same experiment (same
method, dataset, metric, recipe and protocol) and, for each group, gives the per-seed means of every arm, the
controls, the teacher and one test over all (seed, fold) pairs.

The test pairs the baseline and the method on each fold of each seed (both arms are trained on the same fold with the
same seed, so the pairing is the design's); it is the one-tailed paired t-test, as one run's. For a fixed test split
(FER+) each seed contributes one pair (the whole-split score).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from affectstream.models.training.evaluation import paired_ttest_one_tailed, summarise_folds

__all__ = ["MIN_SEEDS", "seed_rows", "seed_rows_markdown"]

#: Fewest seeds a comparison is reported with (issue 19).
MIN_SEEDS = 3


def _group_key(summary: dict) -> tuple:
    c = summary["comparison"]
    return (summary.get("method"), c.get("dataset"), c.get("metric"), c.get("recipe", "project"),
            summary.get("protocol", ""), c.get("baseline"), c.get("method"))


def _pairs(c: dict, arm: str) -> list[float]:
    """Per-fold scores of ``arm`` (``baseline``, ``method``, a control or ``teacher``), or the whole-split score."""
    per_fold = c.get("per_fold", {})
    if arm in per_fold:
        return [float(x) for x in per_fold[arm]]
    whole = c.get(f"{arm}_whole", c.get(f"{arm}_mean"))
    return [] if whole is None else [float(whole)]


def _row(name: str, summaries: list[dict]) -> dict:
    comparisons = [s["comparison"] for s in summaries]
    first = comparisons[0]
    per_seed = {arm: [float(np.mean(_pairs(c, arm))) for c in comparisons] for arm in ("baseline", "method")}
    base = [x for c in comparisons for x in _pairs(c, "baseline")]
    meth = [x for c in comparisons for x in _pairs(c, "method")]
    p = paired_ttest_one_tailed(meth, base).pvalue if len(base) >= 2 else math.nan
    controls = {}
    for arm in sorted({a for c in comparisons for a in c.get("controls", {})}):
        values = [float(np.mean(_pairs(c, arm))) for c in comparisons if _pairs(c, arm)]
        mean, std = summarise_folds(values)
        controls[arm] = {"mean": mean, "std": std, "per_seed": values}
    teacher = [float(np.mean(_pairs(c, "teacher"))) for c in comparisons if _pairs(c, "teacher")]
    row = {"name": name, "method": summaries[0].get("method"), "dataset": first["dataset"],
           "data": first.get("data", summaries[0].get("data", "")), "metric": first["metric"],
           "over": first.get("over", ""), "seeds": len(summaries),
           "seed_values": [s.get("seed") for s in summaries],
           "baseline_per_seed": per_seed["baseline"], "method_per_seed": per_seed["method"],
           "baseline_mean": summarise_folds(per_seed["baseline"])[0],
           "baseline_std": summarise_folds(per_seed["baseline"])[1],
           "method_mean": summarise_folds(per_seed["method"])[0], "method_std": summarise_folds(per_seed["method"])[1],
           "controls": controls, "teacher": None if not teacher else {"mean": summarise_folds(teacher)[0],
                                                                       "per_seed": teacher},
           "same_optimizer": all(c.get("same_optimizer", False) for c in comparisons),
           "recipe": first.get("recipe", "project"), "deviations": first.get("deviations", []),
           "p_value": None if not math.isfinite(p) else p, "n_pairs": len(base),
           "test": "one-tailed paired t-test over seeds x folds (method > baseline)",
           "commands": [s.get("command", "") for s in summaries]}
    row["command"] = row["commands"][0]
    if all("by_metric" in c for c in comparisons):
        row["by_metric"] = _by_metric(comparisons)
    if "data_note" in first:
        row["data_note"] = first["data_note"]
    return row


def _by_metric(comparisons: list[dict]) -> dict[str, dict]:
    """Every whole-split metric of a fixed-split comparison (accuracy, macro-F1, balanced accuracy) over seeds: each
    arm's per-seed scores with mean ± sd, and the method against the baseline by the one-tailed paired t-test over
    seeds (a fixed split gives one pair a seed). The papers' claims are about macro-F1 and balanced accuracy, which
    are not sums over samples, so they are pooled over seeds here rather than tested per sample."""
    out: dict[str, dict] = {}
    for metric in comparisons[0]["by_metric"]:
        scores = [c["by_metric"][metric]["scores"] for c in comparisons]
        arms = [a for a in scores[0] if all(a in s for s in scores)]
        per_arm = {}
        for arm in arms:
            values = [float(s[arm]) for s in scores]
            mean, std = summarise_folds(values)
            per_arm[arm] = {"per_seed": values, "mean": mean, "std": std}
        p = (paired_ttest_one_tailed(per_arm["method"]["per_seed"], per_arm["baseline"]["per_seed"]).pvalue
             if len(scores) >= 2 else math.nan)
        out[metric] = {"arms": per_arm, "p_value": None if not math.isfinite(p) else float(p),
                       "test": "one-tailed paired t-test over seeds (method > baseline)"}
    return out


def seed_rows(paths: Sequence[Path]) -> list[dict]:
    """One row per experiment among the run summaries ``paths`` (in order of first appearance); runs without a
    comparison (one arm of an ablation) are left out. A row with fewer than :data:`MIN_SEEDS` seeds says so
    (``seeds``); the caller decides whether to report it."""
    groups: dict[tuple, list[dict]] = {}
    names: dict[tuple, str] = {}
    for path in paths:
        summary = json.loads(Path(path).read_text())
        if "comparison" not in summary:
            continue
        key = _group_key(summary)
        groups.setdefault(key, []).append(summary)
        names.setdefault(key, _experiment_name(Path(path).stem))
    return [_row(names[key], group) for key, group in groups.items()]


def _experiment_name(stem: str) -> str:
    """A row's name: the first summary's file name without its seed suffix (``planted_cmcrd_s0`` or
    ``planted_cmcrd-seed0`` name the experiment ``planted_cmcrd``, every seed of which the row holds)."""
    return re.sub(r"[-_](s|seed)\d+$", "", stem) or stem


def _fmt(values: Sequence[float]) -> str:
    return ", ".join(f"{v:.3f}" for v in values)


def _by_metric_lines(rows: list[dict]) -> list[str]:
    """For fixed-split rows: every metric's mean ± sd over seeds per arm, and the method-vs-baseline p over seeds."""
    out = []
    for r in (r for r in rows if "by_metric" in r):
        arms = list(r["by_metric"]["accuracy"]["arms"])
        out += ["", f"{r['name']}, every metric over {r['seeds']} seeds (mean ± sd; p: method > baseline over seeds):",
                "", "| metric | " + " | ".join(arms) + " | p |", "|---|" + "---|" * (len(arms) + 1)]
        for metric, m in r["by_metric"].items():
            p = "n/a" if m["p_value"] is None else f"{m['p_value']:.4f}"
            out.append(f"| {metric} | " + " | ".join(f"{m['arms'][a]['mean']:.4f} ± {m['arms'][a]['std']:.4f}"
                                                     for a in arms) + f" | {p} |")
    return out


def seed_rows_markdown(rows: list[dict], title: str, command: str = "") -> str:
    """The rows as a markdown table: per-seed values, mean ± sd over seeds, controls, teacher, recipe, p."""
    lines = [f"# {title}", "", "| run | method | data | metric | seeds | baseline per seed | method per seed | "
             "baseline | method | plain KD | shuffled teacher | teacher | recipe | p (seeds x folds) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ctrl = {k: f"{v['mean']:.3f}" for k, v in r["controls"].items()}
        teacher = "-" if r["teacher"] is None else f"{r['teacher']['mean']:.3f}"
        p = "n/a" if r["p_value"] is None else f"{r['p_value']:.4f}"
        lines.append(f"| {r['name']} | {r['method']} | {r['data']} | {r['metric']} | {r['seeds']} | "
                     f"{_fmt(r['baseline_per_seed'])} | {_fmt(r['method_per_seed'])} | "
                     f"{r['baseline_mean']:.3f} ± {r['baseline_std']:.3f} | {r['method_mean']:.3f} ± "
                     f"{r['method_std']:.3f} | {ctrl.get('plain_kd', '-')} | {ctrl.get('shuffled_teacher', '-')} | "
                     f"{teacher} | {r['recipe']} | {p} |")
    lines += _by_metric_lines(rows)
    short = [r["name"] for r in rows if r["seeds"] < MIN_SEEDS]
    if short:
        lines += ["", f"Fewer than {MIN_SEEDS} seeds (not a reportable comparison): {', '.join(short)}."]
    deviations = [f"- {r['name']}: {'; '.join(r['deviations'])}" for r in rows if r["deviations"]]
    lines += ["", "Deviations from the papers' recipes:", "", *deviations] if deviations else []
    if any("synthetic" in str(r["data"]).lower() for r in rows):
        lines += ["", "Rows on synthetic data show that a method runs and learns where the truth is known; they are "
                  "not results on human data."]
    lines += ["", "Commands (one per seed):", ""] + [f"- {r['name']}: " + "; ".join(f"`{c}`" for c in r["commands"])
                                                    for r in rows]
    lines += ["", f"This table: `{command}`"] if command else []
    return "\n".join(lines) + "\n"
