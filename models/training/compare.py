"""``affectstream compare``: several runs' summaries side by side, as one markdown table (an ablation).

Reads the summary JSON files ``affectstream train --report`` writes. FER runs (``neurogaze``) are compared on FER+
valid and test, 8-way (majority protocol); sequence-regression runs on their test CCC mean and standard deviation.
Each row links the command that produced it, so the table can be reproduced row by row.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["comparison_entries", "compare_markdown"]


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def compare_markdown(paths: list[Path], title: str = "Comparison") -> str:
    """A markdown table of the runs in ``paths`` (one summary JSON each), in the order given."""
    summaries = [(Path(p).stem, json.loads(Path(p).read_text())) for p in paths]
    if not summaries:
        raise ValueError("no run summaries to compare")
    methods = {s.get("method") for _, s in summaries}
    lines = [f"# {title}", ""]
    data = sorted({str(s.get("data", "")) for _, s in summaries})
    lines += [f"Data: {'; '.join(data)}.", ""]
    if methods == {"neurogaze"}:
        lines += ["| run | valid acc | valid macro-F1 | valid bACC | test acc | test macro-F1 | test bACC |",
                  "|---|---|---|---|---|---|---|"]
        for name, s in summaries:
            v, t = s["fer_valid"]["8way"], s["fer_test"]["8way"]
            lines.append(f"| {name} | {_pct(v['accuracy'])} | {_pct(v['macro_f1'])} | {_pct(v['balanced_accuracy'])} |"
                         f" {_pct(t['accuracy'])} | {_pct(t['macro_f1'])} | {_pct(t['balanced_accuracy'])} |")
        lines += ["", "FER+ majority protocol, 8-way; accuracy, macro-F1 and balanced accuracy in %."]
    else:
        lines += ["| run | method | data | metric | baseline (no distillation) | with the method | p (paired, one-tailed) |",
                  "|---|---|---|---|---|---|---|"]
        for (name, _), e in zip(summaries, comparison_entries(paths)):
            lines.append(f"| {name} | {e['method']} | {e['data']} | {e['metric']} | {e['baseline_mean']:.3f} ± "
                         f"{e['baseline_std']:.3f} | {e['method_mean']:.3f} ± {e['method_std']:.3f} | "
                         f"{e['p_value']:.4f} |")
    lines += ["", "Commands:", ""] + [f"- {name}: `{s.get('command', '?')}`" for name, s in summaries]
    return "\n".join(lines) + "\n"


def comparison_entries(paths: list[Path], dataset: str | None = None) -> list[dict]:
    """One entry per distillation run: its method against its no-distillation baseline, on the run's metric.

    Sequence-regression runs compare ``kd`` with ``no_kd`` on CCC (``v2e_kd``) or ``cmcrd`` with ``no_kd`` on balanced
    accuracy; the p-value is the run's one-tailed paired t-test over folds. Runs without a baseline inside them
    (one row of an ablation) are skipped.
    """
    entries = []
    for p in paths:
        s = json.loads(Path(p).read_text())
        pairs = {"v2e_kd": ("no_kd", "kd", "ccc"), "cmcrd": ("no_kd", "cmcrd", "balanced_accuracy")}
        if s.get("method") not in pairs:
            continue
        base, method, metric = pairs[s["method"]]
        entries.append({"method": s["method"], "dataset": dataset or "planted benchmark", "data": s.get("data", ""),
                        "metric": f"{metric} (test, mean over {s.get('folds')} {s.get('protocol', '')} folds)",
                        "baseline_mean": s[base][f"{metric}_mean"], "baseline_std": s[base][f"{metric}_std"],
                        "method_mean": s[method][f"{metric}_mean"], "method_std": s[method][f"{metric}_std"],
                        "p_value": s.get("p_value"), "command": s.get("command", "")})
    return entries
