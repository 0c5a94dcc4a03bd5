"""FER+ scores: the 8-way metrics under the FER+ majority protocol (docs/methods.md §1.6), as the image loop selects
on them and the FER+ methods report them.

Every metric itself (accuracy, macro-F1, balanced accuracy, confusion matrix, present-only) is computed by
:mod:`affectstream.models.training.evaluation`, the project's one implementation of each; this module applies them to
FER+'s votes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from affectstream.models.datasets.ferplus import argmax_labels, majority_labels
from affectstream.models.nets.visual_student import FERPLUS_CLASSES
from affectstream.models.training import evaluation

__all__ = ["classification_metrics", "fer_metrics", "fer_split_scores"]

N_CLASSES = len(FERPLUS_CLASSES)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = N_CLASSES) -> dict[str, Any]:
    """Accuracy, macro-F1 (all ``n_classes``, zero_division 0), balanced accuracy and the confusion matrix
    (rows = true class), computed by :mod:`affectstream.models.training.evaluation`."""
    cm = evaluation.confusion_matrix(y_true, y_pred, n_classes)
    f1 = evaluation.per_class_f1(y_true, y_pred, n_classes)
    support = cm.sum(1)
    recall = np.divide(np.diag(cm), support, out=np.zeros(n_classes), where=support > 0)
    return {
        "n": int(len(y_true)),
        "accuracy": evaluation.accuracy(y_true, y_pred),
        "macro_f1": evaluation.macro_f1(y_true, y_pred, n_classes),
        "balanced_accuracy": evaluation.balanced_accuracy(y_true, y_pred, n_classes),
        "per_class_f1": {c: float(v) for c, v in zip(FERPLUS_CLASSES, f1)},
        "per_class_recall": {c: float(v) for c, v in zip(FERPLUS_CLASSES, recall)},
        "confusion_matrix": cm.tolist(),
    }


def fer_metrics(logits: np.ndarray, votes: np.ndarray, twin: np.ndarray | None = None) -> dict[str, Any]:
    """FER+ metrics of ``(N, 8)`` logits against ``(N, 10)`` votes.

    ``accuracy`` (and macro-F1, balanced accuracy, confusion matrix) use the majority protocol; also the plain-argmax
    accuracy. ``twin``: ``(N,)`` bool, images with a pixel-identical training image; adds the majority-protocol
    accuracy on the images without one.
    """
    pred = np.asarray(logits).argmax(1)
    maj, arg = majority_labels(votes), argmax_labels(votes)
    km, ka = maj >= 0, arg >= 0
    m = classification_metrics(maj[km], pred[km])
    out: dict[str, Any] = {
        "protocol": "FER+ majority (votes of 1 dropped, top > half of the remaining 10-column votes)",
        "accuracy": m["accuracy"],
        "accuracy_plain_argmax": float((pred[ka] == arg[ka]).mean()),
        "macro_f1": m["macro_f1"],
        "balanced_accuracy": m["balanced_accuracy"],
        "n_majority": int(km.sum()),
        "n_plain_argmax": int(ka.sum()),
        "per_class_f1": m["per_class_f1"],
        "per_class_recall": m["per_class_recall"],
        "confusion_matrix": m["confusion_matrix"],
        "confusion_matrix_axes": "rows = majority label, columns = prediction, order = classes",
    }
    if twin is not None:
        clean = km & ~twin
        out["accuracy_no_train_twin"] = float((pred[clean] == maj[clean]).mean())
        out["n_no_train_twin"] = int(clean.sum())
        out["n_with_train_twin"] = int((km & twin).sum())
        if (km & twin).any():
            out["accuracy_with_train_twin"] = float((pred[km & twin] == maj[km & twin]).mean())
    return out


def fer_split_scores(logits: np.ndarray, votes: np.ndarray) -> dict[str, Any]:
    """A split's scores as the trainer's FER+ methods report them: the 8-way metrics (majority protocol), the
    present-only ones (docs/methods.md §1.6; on FER+ all 8 are present), and the per-image majority labels and
    predictions (``labels``, ``predictions``; images without a majority dropped) for paired tests between two
    models."""
    m = fer_metrics(logits, votes)
    labels = majority_labels(votes)
    keep = labels >= 0
    p = evaluation.present_only(labels[keep], logits[keep])
    return {"8way": {k: m[k] for k in ("accuracy", "macro_f1", "balanced_accuracy", "n_majority", "confusion_matrix")},
            "present_only": {k: p[k] for k in ("accuracy", "macro_f1", "balanced_accuracy")},
            "labels": labels[keep].tolist(), "predictions": np.asarray(logits)[keep].argmax(1).tolist()}
