"""``affectstream compare``: several runs' summaries side by side, as one markdown table (an ablation), and the
comparison block every distillation method writes (the methods comparison over seeds is
:mod:`affectstream.models.training.seed_comparison`).

Every distillation method trains its no-distillation baseline inside the same run (same folds, budget and seed) and
declares the comparison in its summary under ``"comparison"`` (:func:`fold_comparison` for cross-validated runs,
:func:`split_comparison` for one fixed test split such as FER+'s), so this module needs no knowledge of any method.
Each row carries the command that produced it, so the table can be reproduced row by row.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from affectstream.models.training.evaluation import mcnemar_one_tailed, paired_ttest_one_tailed, summarise_folds

__all__ = ["classification_report", "compare_markdown", "fold_comparison", "fold_scores",
           "split_comparison"]


def fold_comparison(baseline: Sequence[float], method: Sequence[float], *, baseline_name: str, method_name: str,
                    metric: str, dataset: str, folds: str, controls: Mapping[str, Sequence[float]] | None = None,
                    teacher: Sequence[float] | None = None, recipe: str = "project",
                    deviations: Sequence[str] = ()) -> dict:
    """The comparison block of a cross-validated run: per-fold scores (higher is better) of the baseline and the
    method, mean ± population std over folds and the one-tailed paired t-test over folds (H1: the method is better).
    ``folds`` names them, e.g. ``"12 LOSO folds"``.

    A fair comparison also carries (read by :func:`affectstream.models.training.seed_comparison.seed_rows`):
    ``controls`` -- per-fold scores of the arms that tell the method from its side effects, trained with the same
    optimiser, schedule and budget (``plain_kd``: vanilla distillation from the same teacher; ``shuffled_teacher``:
    the method with the teacher's outputs permuted across samples); ``teacher`` -- the teacher's per-fold score on
    the same metric (a teacher no better than the baseline has little to distil); ``recipe`` (``"paper"`` or
    ``"project"``) and the
    ``deviations`` from the paper's recipe.
    """
    b_mean, b_std = summarise_folds(baseline)
    m_mean, m_std = summarise_folds(method)
    p = paired_ttest_one_tailed(method, baseline).pvalue if len(baseline) >= 2 else math.nan
    out = {"dataset": dataset, "baseline": baseline_name, "method": method_name, "metric": metric,
           "over": f"test, mean ± std over {folds}", "baseline_mean": b_mean, "baseline_std": b_std,
           "method_mean": m_mean, "method_std": m_std, "p_value": p,
           "test": "one-tailed paired t-test over folds (method > baseline)",
           "per_fold": {"baseline": [float(x) for x in baseline], "method": [float(x) for x in method]},
           "same_optimizer": True, "recipe": recipe, "deviations": list(deviations)}
    for name, scores in (controls or {}).items():
        mean, std = summarise_folds(scores)
        out.setdefault("controls", {})[name] = {"mean": mean, "std": std}
        out["per_fold"][name] = [float(x) for x in scores]
    if teacher is not None:
        mean, std = summarise_folds(teacher)
        out["teacher"] = {"mean": mean, "std": std}
        out["per_fold"]["teacher"] = [float(x) for x in teacher]
    return out


def split_comparison(labels: np.ndarray, baseline_pred: np.ndarray, method_pred: np.ndarray, *, baseline_name: str,
                     method_name: str, dataset: str, parts: int = 10, seed: int = 0) -> dict:
    """The comparison block for one fixed test split (one training run per arm): accuracy mean ± std over ``parts``
    disjoint, seeded parts of the split (the spread a test set of a tenth the size would show), the accuracy on the
    whole split, and the exact one-tailed McNemar test on the paired per-sample correctness."""
    labels, b, m = (np.asarray(a).ravel() for a in (labels, baseline_pred, method_pred))
    if not labels.size == b.size == m.size:
        raise ValueError(f"labels and predictions differ in length: {labels.size}, {b.size}, {m.size}")
    b_ok, m_ok = b == labels, m == labels
    chunks = np.array_split(np.random.default_rng(seed).permutation(labels.size), parts)
    b_mean, b_std = summarise_folds([b_ok[c].mean() for c in chunks])
    m_mean, m_std = summarise_folds([m_ok[c].mean() for c in chunks])
    return {"dataset": dataset, "baseline": baseline_name, "method": method_name, "metric": "accuracy",
            "over": f"test, mean ± std over {parts} disjoint parts of the split (n = {labels.size})",
            "baseline_mean": b_mean, "baseline_std": b_std, "method_mean": m_mean, "method_std": m_std,
            "baseline_whole": float(b_ok.mean()), "method_whole": float(m_ok.mean()),
            "p_value": mcnemar_one_tailed(m_ok, b_ok),
            "test": "exact one-tailed McNemar test on the paired test samples (method > baseline)"}


SYNTHETIC_BANNER = ("**SYNTHETIC DATA** (the planted benchmark): it shows the method runs and learns, not a result on "
                    "human data.")


def fold_scores(results: list[dict], names: Sequence[str],
                metrics: Sequence[str] = ("accuracy", "balanced_accuracy")) -> dict[str, dict[str, float]]:
    """``{name: {metric_mean, metric_std}}`` over folds from each fold result's ``result[name]["test"][metric]``."""
    out: dict[str, dict[str, float]] = {}
    for name in names:
        for metric in metrics:
            mean, std = summarise_folds([r[name]["test"][metric] for r in results])
            out.setdefault(name, {})[f"{metric}_mean"], out[name][f"{metric}_std"] = mean, std
    return out


def classification_report(title: str, synthetic: bool, intro: str, labels: dict[str, str], scores: dict,
                          comparison: dict, command: str) -> str:
    """The markdown report of a cross-validated classification run: accuracy and balanced accuracy of each model
    (``labels``: name -> row label, in order), the method-versus-baseline test, the command."""
    lines = [f"# {title}", ""] + ([SYNTHETIC_BANNER, ""] if synthetic else [])
    lines += [intro, "", "| model | accuracy | balanced accuracy |", "|---|---|---|"]
    for name, label in labels.items():
        s = scores[name]
        lines.append(f"| {label} | {s['accuracy_mean']:.3f} ± {s['accuracy_std']:.3f} | "
                     f"{s['balanced_accuracy_mean']:.3f} ± {s['balanced_accuracy_std']:.3f} |")
    c = comparison
    lines += ["", f"{c['test'][0].upper()}{c['test'][1:]}, on {c['metric'].replace('_', ' ')}: "
              f"p = {_p(c['p_value'])}.", "", f"Command: `{command}`.", ""]
    return "\n".join(lines) + "\n"


def _pct(x: float) -> str:
    return f"{100 * x:.2f}"


def compare_markdown(paths: list[Path], title: str = "Comparison", command: str = "") -> str:
    """A markdown table of the runs in ``paths`` (one summary JSON each), in the order given; ``command`` (the
    ``affectstream compare`` call that wrote it) is quoted under the table."""
    summaries = [(Path(p).stem, json.loads(Path(p).read_text())) for p in paths]
    if not summaries:
        raise ValueError("no run summaries to compare")
    lines = [f"# {title}", ""]
    data = sorted({str(s.get("comparison", {}).get("data", s.get("data", ""))) for _, s in summaries})
    lines += [f"Data: {'; '.join(data)}.", ""]
    if all("fer_test" in s for _, s in summaries):
        lines += ["| run | valid acc | valid macro-F1 | valid bACC | test acc | test macro-F1 | test bACC |",
                  "|---|---|---|---|---|---|---|"]
        for name, s in summaries:
            v, t = s["fer_valid"]["8way"], s["fer_test"]["8way"]
            lines.append(f"| {name} | {_pct(v['accuracy'])} | {_pct(v['macro_f1'])} | {_pct(v['balanced_accuracy'])} |"
                         f" {_pct(t['accuracy'])} | {_pct(t['macro_f1'])} | {_pct(t['balanced_accuracy'])} |")
        lines += ["", "FER+ majority protocol, 8-way; accuracy, macro-F1 and balanced accuracy in %."]
    else:
        lines += ["| run | method | dataset | data | metric | baseline (no distillation) | with the method | "
                  "p (one-tailed) |", "|---|---|---|---|---|---|---|---|"]
        for name, s in summaries:
            c = s.get("comparison")
            if c is None:
                lines.append(f"| {name} | {s.get('method', '?')} | | {s.get('data', '')} | (no baseline in this run) "
                             "| | | |")
                continue
            lines.append(f"| {name} | {s.get('method', '?')} | {c['dataset']} | {c.get('data', s.get('data', ''))} | "
                         f"{c['metric']} "
                         f"({c['over']}) | {c['baseline_mean']:.3f} ± {c['baseline_std']:.3f} | "
                         f"{c['method_mean']:.3f} ± {c['method_std']:.3f} | {_p(c['p_value'])} |")
        tests = sorted({s["comparison"]["test"] for _, s in summaries if "comparison" in s})
        lines += ["", "Tests: " + "; ".join(tests) + "."] if tests else []
        notes = [f"- {name}: {s['comparison']['data_note']}." for name, s in summaries
                 if "data_note" in s.get("comparison", {})]
        lines += ["", "Data notes:", "", *notes] if notes else []
        if any("synthetic" in str(s.get("data", "")).lower() for _, s in summaries):
            lines += ["", "Rows on synthetic data (the simulator's planted benchmark) show that a method runs and "
                      "learns where the truth is known; they are not results on human data."]
    lines += ["", "Commands:", ""] + [f"- {name}: `{s.get('command', '?')}`" for name, s in summaries]
    lines += ["", f"This table: `{command}`"] if command else []
    return "\n".join(lines) + "\n"


def _p(p: float | None) -> str:
    return "n/a" if p is None or not math.isfinite(p) else f"{p:.4f}"
