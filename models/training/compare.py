"""``affectstream compare``: several runs' summaries side by side, as one markdown table (an ablation).

Reads the summary JSON files ``affectstream train --report`` writes. FER runs (``neurogaze``) are compared on FER+
valid and test, 8-way (majority protocol); sequence-regression runs on their test CCC mean and standard deviation.
Each row links the command that produced it, so the table can be reproduced row by row.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["compare_markdown"]


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
        lines += ["| run | method | CCC (test, mean ± std) |", "|---|---|---|"]
        for name, s in summaries:
            for key in ("kd", "no_kd"):
                if key in s:
                    lines.append(f"| {name} ({key}) | {s['method']} | {s[key]['ccc_mean']:.3f} ± {s[key]['ccc_std']:.3f} |")
    lines += ["", "Commands:", ""] + [f"- {name}: `{s.get('command', '?')}`" for name, s in summaries]
    return "\n".join(lines) + "\n"
