"""The Visual-to-EEG KD run's markdown report: the table of every model and control, the tests, the per-fold rows
and the figures (docs/methods.md §2.8)."""

from __future__ import annotations

from pathlib import Path

from affectstream.models.training.evaluation import summarise_folds
from affectstream.models.training.method import Run
from affectstream.models.training.protocols import protocol_name

__all__ = ["mean_std", "report_markdown"]


def mean_std(results: list[dict], model: str) -> dict[str, float]:
    """``{metric_mean, metric_std}`` of CCC, PCC and RMSE over folds of ``result["test"][model]``."""
    out = {}
    for metric in ("ccc", "pcc", "rmse"):
        mean, std = summarise_folds([r["test"][model][metric] for r in results])
        out[f"{metric}_mean"], out[f"{metric}_std"] = mean, std
    return out


def _row(name: str, s: dict) -> str:
    return (f"| {name} | {s['ccc_mean']:.3f} ± {s['ccc_std']:.3f} | {s['pcc_mean']:.3f} ± {s['pcc_std']:.3f} | "
            f"{s['rmse_mean']:.3f} ± {s['rmse_std']:.3f} |")


def report_markdown(run: Run, s: dict, results: list[dict], plots: list[str]) -> str:
    """The report of the run summarised in ``s``."""
    synthetic = s["data"] == "synthetic"
    lines = [f"# Visual-to-EEG KD — {run.config.run.name}", ""]
    if synthetic:
        lines += ["**SYNTHETIC DATA.** Every number below comes from the affectstream simulator's planted benchmark "
                  "(simulated EEG, rendered faces, planted valence). It shows that the method and the trainer work; "
                  "it is not a result on human data.", ""]
    c = s["comparison"]
    lines += [f"Protocol: {protocol_name(s['protocol'])}, {s['folds']} folds, target {s['target']}; test scores on the "
              "stitched predictions of the held-out trials, mean ± std (population) over folds.", "",
              "| model | CCC | PCC | RMSE |", "|---|---|---|---|",
              _row("visual teacher (frozen FER+ backbone + TCN)", s["teacher"]),
              _row("EEG student, no KD", s["no_kd"]),
              _row(f"EEG student + KD (w chosen on validation from {s['kd']['w_grid']})", s["kd"]),
              _row("control: plain KD (MSE to the teacher's prediction, same w)", s["plain_kd"]),
              _row("control: KD from the teacher's features shuffled across windows (same w)",
                   s["shuffled_teacher"]),
              _row("oracle: linear in log band power, fitted on the test subject's other trials",
                   s["oracle_within_subject_linear"]), "",
              f"One-tailed paired t-test over folds, KD better than no KD: CCC p = {s['p_values']['ccc']:.4f}, "
              f"PCC p = {s['p_values']['pcc']:.4f}, RMSE p = {s['p_values']['rmse']:.4f}.", "",
              f"w chosen per fold: {s['kd']['w_per_fold']}.", "",
              f"Recipe: {c['recipe']}" + (f"; departs from the paper in {'; '.join(c['deviations'])}."
                                          if c["deviations"] else " (the paper's options)."), "",
              "| fold | test subject | teacher CCC | no-KD CCC | KD CCC | w | plain KD CCC | shuffled CCC | "
              "oracle CCC |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        t = r["test"]
        lines.append(f"| {r['fold']} | {', '.join(map(str, r['test_subjects']))} | {t['teacher']['ccc']:.3f} | "
                     f"{t['no_kd']['ccc']:.3f} | {t['kd']['ccc']:.3f} | {r['kd_w']:g} | "
                     f"{t['plain_kd']['ccc']:.3f} | {t['shuffled_teacher']['ccc']:.3f} | "
                     f"{t['oracle_within_subject_linear']['ccc']:.3f} |")
    lines += ["", f"Command: `{s['command']}`; {s['seconds'] / 60:.1f} min ({s['seconds']:.0f} s) of training on "
              f"{run.device}.", "",
              "Adaptations to this project (docs/methods.md §2): " + "; ".join(c["adaptations"]) + ".", ""]
    lines += [f"![{Path(p).stem}]({Path(p).name})" for p in plots]
    return "\n".join(lines) + "\n"
