"""The supervised visual student's summary and report: the manifest entry with its wall times (``metrics.json``'s
summary, and the ``--report`` JSON), and a short human-readable markdown (final ONNX scores, int8, learning curve,
test confusion matrix)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["report_markdown", "summary_of"]


def summary_of(entry: dict[str, Any]) -> dict[str, Any]:
    """The run's summary: the manifest entry (or, without an export, its provenance and training record) with the
    wall times of training."""
    hist = entry["training"]["history"]
    train_wall = sum(h["train_s"] + h["eval_s"] for h in hist)
    return {"model": "visual_student", "method": "ferplus_supervised", "folds": 1, "data": "real", "short_run": True,
            **entry,
            "wall_time_s": {"training_and_valid_eval": round(train_wall, 1),
                            "mean_epoch_train_s": round(float(np.mean([h["train_s"] for h in hist])), 1)}}


def _pct(v: float) -> str:
    return f"{100 * v:.2f}"


def report_markdown(summary: dict[str, Any]) -> str:
    """The report of :func:`summary_of`'s summary."""
    lines = _intro(summary)
    if "metrics" in summary:
        lines += _final_metrics(summary)
    lines += _learning_curve(summary["training"]["history"], exported="metrics" in summary)
    if "metrics" in summary:
        lines += _confusion(summary["classes"], summary["metrics"]["fer_plus_test"])
    return "\n".join(lines) + "\n"


def _intro(s: dict[str, Any]) -> list[str]:
    tr, cfg = s["training"], s["training"]["config"]
    hist = tr["history"]
    lines = [
        "# Visual student on FER+ — short supervised run",
        "",
        f"**This is a short run**: {tr['epochs_run']} epochs on {cfg['threads']} CPU thread(s) "
        f"(~{np.mean([h['train_img_per_s'] for h in hist]):.0f} training img/s), while docs/methods.md §1.5 trains "
        "100 epochs from a pretrained backbone with distillation. Supervised only ("
        + ("FER+ vote distributions" if cfg["targets"] == "soft" else "FER+ majority labels")
        + f", cross-entropy with label smoothing {cfg['label_smoothing']}); no KD / Proto-KD / D-Geo.",
        "",
    ]
    if "metrics" in s:
        lines += [f"- model: {s['architecture']}, {s['params']:,} parameters",
                  f"- data: FER+ train ({tr['train_images']:,} images, {cfg['targets']} targets), selection on FER+ "
                  f"valid ({tr['selection']}, best epoch {tr['best_epoch']}), test scored once through the exported "
                  f"ONNX file (`{s['file']}`)",
                  f"- input: {s['input']['formula']}, size {s['input']['size']}, mean {s['input']['mean']}, "
                  f"std {s['input']['std']}"]
    else:
        lines += [f"- data: FER+ train ({tr['train_images']:,} images, {cfg['targets']} targets), selection on FER+ "
                  f"valid ({tr['selection']}, best epoch {tr['best_epoch']}); not exported, so no test score"]
    wall = s["wall_time_s"]
    return lines + [f"- command: `{s['command']}`",
                    f"- wall time: {wall['training_and_valid_eval'] / 60:.1f} min training + per-epoch valid "
                    f"evaluation (mean epoch {wall['mean_epoch_train_s']:.0f} s train)", ""]


def _final_metrics(s: dict[str, Any]) -> list[str]:
    te, va = s["metrics"]["fer_plus_test"], s["metrics"]["fer_plus_valid"]
    lines = ["## Final metrics (ONNX fp32, flip TTA inside the graph)", "",
             "| split | majority acc | n | plain-argmax acc | n | macro-F1 | balanced acc | acc w/o train twin | n |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, m in (("test", te), ("valid (selection split)", va)):
        lines.append(f"| {name} | {_pct(m['accuracy'])} | {m['n_majority']} | {_pct(m['accuracy_plain_argmax'])} | "
                     f"{m['n_plain_argmax']} | {_pct(m['macro_f1'])} | {_pct(m['balanced_accuracy'])} | "
                     f"{_pct(m['accuracy_no_train_twin'])} | {m['n_no_train_twin']} |")
    lat = s["metrics"]["latency_ms_batch1_median"]
    lines += ["", f"ONNX latency, batch 1, median: {lat['onnxruntime_fp32']:.2f} ms (onnxruntime, "
              f"{lat['threads']} thread, both flip passes included)."]
    q = s.get("quantization", {})
    if q.get("tried"):
        lines.append(f"Static int8 (QDQ): test accuracy {_pct(q['test_accuracy_int8'])} vs fp32 "
                     f"{_pct(q['test_accuracy_fp32'])}, latency {q['latency_ms_batch1_int8']:.2f} ms vs "
                     f"{q['latency_ms_batch1_fp32']:.2f} ms -> {'kept' if q['kept'] else 'not kept'} ({q['rule']}).")
    return lines


def _learning_curve(hist: list[dict[str, Any]], exported: bool) -> list[str]:
    lines = ["", "## Learning curve", "", "| epoch | train loss | valid acc (majority) | valid plain-argmax | "
             "valid macro-F1 | lr at end | train s | img/s |", "|---|---|---|---|---|---|---|---|"]
    for h in hist:
        lines.append(f"| {h['epoch']} | {h['train_loss']:.4f} | {_pct(h['valid_accuracy'])} | "
                     f"{_pct(h['valid_accuracy_plain_argmax'])} | {_pct(h['valid_macro_f1'])} | {h['lr_end']:.2e} | "
                     f"{h['train_s']:.0f} | {h['train_img_per_s']} |")
    note = "; the table above is the fp32 ONNX." if exported else "."
    return lines + ["", f"Valid metrics in the curve are torch (bf16 autocast when enabled){note}", ""]


def _confusion(classes: list[str], te: dict[str, Any]) -> list[str]:
    lines = ["## Test confusion matrix (majority protocol; rows = label, columns = prediction)", "",
             "| | " + " | ".join(classes) + " | recall |", "|---" * (len(classes) + 2) + "|"]
    for c, row in zip(classes, te["confusion_matrix"]):
        n = sum(row)
        lines.append(f"| **{c}** | " + " | ".join(str(v) for v in row)
                     + f" | {_pct(row[classes.index(c)] / n) if n else '-'} |")
    return lines + ["", "Per-class F1 (test): " + ", ".join(f"{c} {_pct(v)}" for c, v in te["per_class_f1"].items()),
                    ""]
