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

from affectstream.models.training.evaluation import (accuracy, balanced_accuracy, macro_f1, mcnemar_one_tailed,
                                                     paired_ttest_one_tailed, summarise_folds)

__all__ = ["classification_report", "compare_markdown", "fold_comparison", "fold_scores",
           "split_comparison", "split_comparison_lines"]


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
                     method_name: str, dataset: str, parts: int = 10, seed: int = 0, n_classes: int | None = None,
                     controls: Mapping[str, np.ndarray] | None = None, teacher: np.ndarray | None = None,
                     recipe: str = "project", deviations: Sequence[str] = (), n_boot: int = 2000) -> dict:
    """The comparison block for one fixed test split (one training run per arm), given each arm's per-sample
    predictions on the same samples.

    Accuracy (the block's ``metric``): mean ± std over ``parts`` disjoint, seeded parts of the split (the spread a
    test set of a tenth the size would show), the accuracy on the whole split, and the exact one-tailed McNemar test
    on the paired per-sample correctness (``p_value``). ``by_metric``: accuracy, macro-F1 and balanced accuracy of
    every arm on the whole split, and for each arm the method's paired-bootstrap comparison with it
    (:func:`_paired_bootstrap`) -- macro-F1 and balanced accuracy are not sums over samples, so McNemar does not apply
    to them. ``n_classes``: the classes macro-F1 averages over (default: every class seen).

    The issue-19 fields are :func:`fold_comparison`'s, with the split as the one "fold": ``controls`` and
    ``teacher`` are predictions here (``controls``: ``plain_kd``, ``shuffled_teacher``; ``teacher``: the teacher the
    method distils from, scored on the same samples), ``per_fold`` holds each arm's whole-split accuracy, and
    ``recipe`` / ``deviations`` say how the run departs from the paper's recipe.
    """
    labels, b, m = (np.asarray(a).ravel() for a in (labels, baseline_pred, method_pred))
    arms = {"baseline": b, "method": m, **{k: np.asarray(v).ravel() for k, v in (controls or {}).items()}}
    if teacher is not None:
        arms["teacher"] = np.asarray(teacher).ravel()
    if any(p.size != labels.size for p in arms.values()):
        raise ValueError(f"labels and predictions differ in length: {labels.size}, "
                         f"{', '.join(str(p.size) for p in arms.values())}")
    k = n_classes if n_classes is not None else int(max(a.max(initial=0) for a in (labels, *arms.values()))) + 1
    chunks = np.array_split(np.random.default_rng(seed).permutation(labels.size), parts)
    spread = {name: summarise_folds([accuracy(labels[c], p[c]) for c in chunks]) for name, p in arms.items()}
    whole = {name: {metric: fn(labels, p, k) for metric, fn in _SPLIT_METRICS.items()} for name, p in arms.items()}
    vs = _paired_bootstrap(labels, arms, k, n_boot, seed)
    out = {"dataset": dataset, "baseline": baseline_name, "method": method_name, "metric": "accuracy",
           "over": f"test, mean ± std over {parts} disjoint parts of the split (n = {labels.size})",
           "baseline_mean": spread["baseline"][0], "baseline_std": spread["baseline"][1],
           "method_mean": spread["method"][0], "method_std": spread["method"][1],
           "baseline_whole": whole["baseline"]["accuracy"], "method_whole": whole["method"]["accuracy"],
           "p_value": mcnemar_one_tailed(m == labels, b == labels),
           "test": "exact one-tailed McNemar test on the paired test samples (method > baseline)",
           "per_fold": {name: [whole[name]["accuracy"]] for name in arms},
           "by_metric": {metric: {"scores": {name: whole[name][metric] for name in arms}, "method_vs": vs[metric]}
                         for metric in _SPLIT_METRICS},
           "bootstrap": f"paired bootstrap over the {labels.size} test samples, {n_boot} resamples (seed {seed}): "
                        "difference = method - arm on the whole split, 95 % percentile interval, one-tailed p = "
                        "(1 + resamples where the method is not better) / (1 + resamples)",
           "same_optimizer": True, "recipe": recipe, "deviations": list(deviations)}
    for name in (controls or {}):
        out.setdefault("controls", {})[name] = {"mean": spread[name][0], "std": spread[name][1],
                                                "whole": whole[name]["accuracy"]}
    if teacher is not None:
        out["teacher"] = {"mean": spread["teacher"][0], "std": spread["teacher"][1],
                          "whole": whole["teacher"]["accuracy"]}
    return out


_SPLIT_METRICS = {"accuracy": lambda y, p, k: accuracy(y, p), "macro_f1": macro_f1,
                  "balanced_accuracy": balanced_accuracy}


def _paired_bootstrap(labels: np.ndarray, arms: Mapping[str, np.ndarray], n_classes: int, n_boot: int,
                      seed: int) -> dict[str, dict[str, dict]]:
    """The method against every other arm on each of :data:`_SPLIT_METRICS`, by resampling the test samples with
    replacement (the same resample for every arm: the pairing) -- Koehn's paired bootstrap, which needs nothing of a
    metric but that it can be computed on a sample.

    ``{metric: {arm: {"difference", "ci95", "p_value"}}}``: the whole-split difference method - arm, the 2.5 and 97.5
    percentiles of the resampled differences, and the one-tailed p-value (H1: the method is better) as the share of
    resamples in which it is not, ``(1 + #{d* <= 0}) / (1 + n_boot)`` (never 0 from a finite number of resamples).
    """
    rng = np.random.default_rng([seed, labels.size])
    others = [name for name in arms if name != "method"]
    diffs = {metric: {name: np.empty(n_boot) for name in others} for metric in _SPLIT_METRICS}
    for r in range(n_boot):
        idx = rng.integers(0, labels.size, labels.size)
        y = labels[idx]
        for metric, fn in _SPLIT_METRICS.items():
            method = fn(y, arms["method"][idx], n_classes)
            for name in others:
                diffs[metric][name][r] = method - fn(y, arms[name][idx], n_classes)
    out: dict[str, dict[str, dict]] = {}
    for metric, fn in _SPLIT_METRICS.items():
        method = fn(labels, arms["method"], n_classes)
        for name in others:
            d = diffs[metric][name]
            out.setdefault(metric, {})[name] = {
                "difference": method - fn(labels, arms[name], n_classes),
                "ci95": [float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))],
                "p_value": float((1 + np.count_nonzero(d <= 0)) / (1 + n_boot))}
    return out


def split_comparison_lines(c: dict, labels: Mapping[str, str]) -> list[str]:
    """Markdown of a :func:`split_comparison` block: each arm's whole-split scores (``labels``: arm -> row label, in
    order; ``method`` and ``baseline`` among them), then the method minus every other arm with its paired-bootstrap
    interval and p, and McNemar's test against the baseline."""
    metrics = {"accuracy": "accuracy", "macro_f1": "macro-F1", "balanced_accuracy": "balanced accuracy"}
    s = c["by_metric"]
    lines = ["| arm | " + " | ".join(f"test {m}" for m in metrics.values()) + " |", "|---|---|---|---|"]
    lines += [f"| {label} | " + " | ".join(f"{100 * s[m]['scores'][arm]:.2f}" for m in metrics) + " |"
              for arm, label in labels.items() if arm in s["accuracy"]["scores"]]
    lines += ["", f"{labels['method']} minus each arm, points [95 % interval], one-tailed p ({c['bootstrap']}):", "",
              "| against | " + " | ".join(metrics.values()) + " |", "|---|---|---|---|"]
    for arm, label in labels.items():
        if arm in s["accuracy"]["method_vs"]:
            d = [s[m]["method_vs"][arm] for m in metrics]
            lines.append(f"| {label} | " + " | ".join(
                f"{100 * x['difference']:+.2f} [{100 * x['ci95'][0]:+.2f}, {100 * x['ci95'][1]:+.2f}], "
                f"p = {x['p_value']:.4f}" for x in d) + " |")
    lines += ["", f"Accuracy against the baseline, {c['test']}: p = {c['p_value']:.4f} "
              f"({100 * c['baseline_whole']:.2f} -> {100 * c['method_whole']:.2f} %).", ""]
    return lines


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
