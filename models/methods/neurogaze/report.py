"""The markdown report of a NeuroGaze-Distill run (with its learning curve and confusion matrix): the EEG teacher and
its prototype bank, the method's FER+ scores, and, when the run has a baseline, every arm of the comparison
(:mod:`affectstream.models.methods.neurogaze.arms`) with the method's paired differences from each."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affectstream.models.nets.visual_student import FERPLUS_CLASSES
from affectstream.models.training.compare import split_comparison_lines

__all__ = ["ARM_LABELS", "markdown"]

#: The comparison's arms in report order, with their row labels.
ARM_LABELS = {"teacher": "frozen FER teacher", "baseline": "CE only (baseline, B0)",
              "plain_kd": "CE + KD (plain KD, B1)", "shuffled_teacher": "NeuroGaze, prototypes shuffled across bins",
              "method": "NeuroGaze"}


def markdown(run, r: dict, summary: dict, synthetic: bool) -> str:
    """The report of fold result ``r`` and its ``summary`` (figures are written into the run folder)."""
    lines = [f"# NeuroGaze-Distill — {run.config.run.name}", ""]
    if synthetic:
        lines += ["**The EEG teacher and its prototypes come from SYNTHETIC EEG** (the affectstream simulator's "
                  "planted benchmark); the visual student is trained and scored on real FER+ images.", ""]
    t = r["eeg_teacher"]["val"]
    lines += [f"EEG teacher, validation CCC: valence {t['ccc_valence']:.3f}, arousal {t['ccc_arousal']:.3f}.", "",
              f"Prototype bank: 5 x 5, {r['prototypes']['filled']} empty bins filled, sha256 "
              f"`{r['prototypes']['sha256'][:16]}...`, binned by {r['prototypes']['bin_by']}.", "",
              "| FER+ split | accuracy | macro-F1 | balanced accuracy |", "|---|---|---|---|"]
    for split in ("valid", "test"):
        m = r["fer"][split]["8way"]
        lines.append(f"| {split} (8-way, majority) | {100 * m['accuracy']:.2f} | {100 * m['macro_f1']:.2f} | "
                     f"{100 * m['balanced_accuracy']:.2f} |")
    history = r["student"]["history"]
    lines += ["", "Visual student, per epoch (FER+ valid, majority protocol):", "",
              "| epoch | train loss | valid acc | valid macro-F1 | valid bACC |", "|---|---|---|---|---|"]
    lines += [f"| {h['epoch']} | {h['train_loss']:.4f} | {100 * h['valid_accuracy']:.2f} | "
              f"{100 * h['valid_macro_f1']:.2f} | {100 * h['valid_balanced_accuracy']:.2f} |" for h in history]
    lines += ["", "![learning curve](learning_curve.png)", ""]
    _learning_curve(history, run.folder / "learning_curve.png", run.config.run.name)
    matrix = r["fer"]["test"]["8way"].get("confusion_matrix")
    if matrix is not None:
        from affectstream.models.training.plots import confusion_matrix_png

        confusion_matrix_png(np.asarray(matrix), FERPLUS_CLASSES, run.folder / "confusion_matrix.png",
                             "FER+ test, majority protocol (rows: label, columns: prediction)")
        lines += ["![confusion matrix](confusion_matrix.png)", ""]
    if "comparison" in summary:
        lines += ["The comparison: every student arm is trained with the same recipe, optimiser, budget, seed and "
                  "images and differs from the method only in its distillation terms; all are scored on the same FER+ "
                  "test images (8-way, majority protocol, %). The frozen FER teacher is "
                  f"`{run.config.options.kd_teacher}` of models/weights/manifest.json.", ""]
        lines += split_comparison_lines(summary["comparison"], ARM_LABELS)
    lines += [f"Recipe: {summary['recipe']}; deviations from the paper's:", ""]
    lines += [f"- {d}" for d in summary["deviations"]] + ["", f"Command: `{run.command}`.", ""]
    return "\n".join(lines) + "\n"


def _learning_curve(history: list[dict], path: Path, title: str) -> None:
    from affectstream.models.training.plots import _pyplot

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3))
    epochs = [h["epoch"] for h in history]
    for key, label in (("valid_accuracy", "valid accuracy"), ("valid_macro_f1", "valid macro-F1")):
        ax.plot(epochs, [100 * h[key] for h in history], marker="o", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("%")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
