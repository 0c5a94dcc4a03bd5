"""Evaluation of sequence regressors and classifiers, as the seed papers define it (docs/methods.md §1.6, §2.6, §6).

Regression (Zhang et al., docs/methods.md §2.6):

1. every trial is cut into windows of 96 label points with hop 32, the last window right-aligned to the trial's
   end, a trial shorter than a window zero-padded (:func:`sequence_windows`);
2. the window predictions are stitched back by **overlap averaging**: each label index gets the mean of every
   window prediction that covers it, padded positions ignored (:func:`stitch`);
3. the trials of a partition are concatenated, in the order given, and CCC / PCC / RMSE computed once on the long
   vectors (:func:`evaluate_regression`, using :mod:`affectstream.models.training.metrics`: CCC with biased covariance,
   unbiased variances and the squared mean difference);
4. folds are summarised by mean and *population* standard deviation (:func:`summarise_folds`), and methods
   compared by a one-tailed paired t-test over folds (:func:`paired_ttest_one_tailed`).

Classification (NeuroGaze-Distill, docs/methods.md §1.6 / §6 / §8 #7): accuracy, macro-F1 with scikit-learn's
``f1_score(average="macro", labels=range(n_classes), zero_division=0)`` semantics, balanced accuracy with
``balanced_accuracy_score`` semantics, the confusion matrix, and the *present-only* scores (logits of classes absent
from the target ground truth masked before the argmax, metrics averaged over the present classes). All in numpy;
scikit-learn is not a dependency.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import scipy.stats

from affectstream.models.training.metrics import ccc, pcc, rmse

__all__ = [
    "PairedTTest",
    "SequenceWindows",
    "accuracy",
    "balanced_accuracy",
    "confusion_matrix",
    "eight_way",
    "evaluate_regression",
    "macro_f1",
    "mcnemar_one_tailed",
    "paired_ttest_one_tailed",
    "per_class_f1",
    "present_only",
    "sequence_windows",
    "stitch",
    "summarise_folds",
]

#: Window and hop in label points (24 s / 8 s at 4 Hz, docs/methods.md §2.4).
WINDOW = 96
HOP = 32


# ------------------------------------------------------------------------------------------------- windows


@dataclass(frozen=True)
class SequenceWindows:
    """Windows over a sequence of ``n`` label points.

    Attributes
    ----------
    starts : ndarray of int, (n_windows,)
        First label index of each window.
    lengths : ndarray of int, (n_windows,)
        Valid (non-padded) positions of each window: ``window``, or ``n`` for a trial shorter than a window.
    window : int
        Window length every model input has (short trials are zero-padded to it).
    n : int
        Length of the sequence.
    """

    starts: np.ndarray
    lengths: np.ndarray
    window: int
    n: int

    def __len__(self) -> int:
        return int(self.starts.size)

    @property
    def mask(self) -> np.ndarray:
        """(n_windows, window) bool, True at valid positions, False at padding."""
        return np.arange(self.window)[None, :] < self.lengths[:, None]

    def take(self, x: np.ndarray, pad_value: float = 0.0) -> np.ndarray:
        """Gather ``x`` (n, ...) into (n_windows, window, ...), padded positions set to ``pad_value``."""
        x = np.asarray(x)
        if x.shape[0] != self.n:
            raise ValueError(f"expected {self.n} points along axis 0, got {x.shape[0]}")
        idx = np.minimum(self.starts[:, None] + np.arange(self.window)[None, :], max(self.n - 1, 0))
        out = x[idx]
        out[~self.mask] = pad_value
        return out


def sequence_windows(n: int, window: int = WINDOW, hop: int = HOP) -> SequenceWindows:
    """Windows of ``window`` points every ``hop`` over ``n`` points, as the reference code cuts trials.

    Starts are ``0, hop, 2 hop, ...`` while the window fits; if the last one ends before the sequence does, one more
    window is right-aligned to the end (so every point is covered and no window runs past the data). A sequence
    shorter than (or as long as) one window gives a single window at 0 whose valid length is ``n``; the rest is
    padding (the reference data set zero-pads it).
    """
    if window < 1 or hop < 1:
        raise ValueError(f"window and hop must be positive, got {window}, {hop}")
    if n < 1:
        raise ValueError(f"cannot window an empty sequence (n={n})")
    if n <= window:
        starts = [0]
    else:
        starts = list(range(0, n - window + 1, hop))
        if starts[-1] + window < n:
            starts.append(n - window)
    starts_a = np.asarray(starts, dtype=np.int64)
    lengths = np.full(starts_a.size, min(window, n), dtype=np.int64)
    return SequenceWindows(starts_a, lengths, int(window), int(n))


def stitch(predictions_by_window: np.ndarray | Sequence[np.ndarray], starts: Sequence[int] | np.ndarray,
           lengths: Sequence[int] | np.ndarray, trial_length: int) -> np.ndarray:
    """Overlap-average window predictions into one prediction per label index (docs/methods.md §2.6 step 2).

    Parameters
    ----------
    predictions_by_window : array (n_windows, window[, ...]) or sequence of arrays
        Prediction of each window; trailing dimensions (e.g. several outputs) are averaged independently.
    starts : (n_windows,) int
        Absolute label index of each window's first position.
    lengths : (n_windows,) int
        Valid positions of each window; positions ``>= lengths[w]`` are padding and ignored.
    trial_length : int
        Number of label points T of the trial.

    Returns
    -------
    ndarray (T[, ...]) float64
        Mean of every window prediction covering each index; NaN where no window does.
    """
    starts = np.asarray(starts, dtype=np.int64).ravel()
    lengths = np.asarray(lengths, dtype=np.int64).ravel()
    if starts.shape != lengths.shape:
        raise ValueError(f"starts {starts.shape} and lengths {lengths.shape} differ")
    if len(predictions_by_window) != starts.size:
        raise ValueError(f"{len(predictions_by_window)} window predictions for {starts.size} windows")
    if starts.size and (starts.min() < 0 or (starts + lengths).max() > trial_length or lengths.min() < 0):
        raise ValueError(f"windows run outside the trial of {trial_length} points")
    preds = [np.asarray(p, dtype=np.float64) for p in predictions_by_window]
    tail = preds[0].shape[1:] if preds else ()
    total = np.zeros((trial_length, *tail))
    count = np.zeros(trial_length)
    for p, s, L in zip(preds, starts, lengths):
        if p.shape[0] < L or p.shape[1:] != tail:
            raise ValueError(f"a window prediction of shape {p.shape} cannot fill {L} positions")
        total[s:s + L] += p[:L]
        count[s:s + L] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        out = total / count.reshape(-1, *([1] * len(tail)))
    out[count == 0] = np.nan
    return out


# ---------------------------------------------------------------------------------------------- regression


def _as_list(x: Mapping[Any, Any] | Sequence[Any], keys: list[Any] | None) -> list[np.ndarray]:
    if isinstance(x, Mapping):
        if keys is None:
            keys = list(x)
        missing = [k for k in keys if k not in x]
        if missing:
            raise KeyError(f"no labels for trials {missing[:5]}")
        return [np.asarray(x[k], dtype=np.float64).ravel() for k in keys]
    return [np.asarray(v, dtype=np.float64).ravel() for v in x]


def evaluate_regression(pred_by_trial: Mapping[Any, Any] | Sequence[Any],
                        label_by_trial: Mapping[Any, Any] | Sequence[Any]) -> dict[str, float]:
    """CCC, PCC and RMSE of a partition: trials concatenated (in the order of ``pred_by_trial``), metrics once.

    Parameters
    ----------
    pred_by_trial, label_by_trial : mapping key -> (T_k,) or sequences in the same order
        Stitched predictions and labels per trial. With mappings, the labels are looked up by the predictions' keys
        (extra label trials are an error too: every labelled trial of the partition must be predicted).

    Returns
    -------
    dict
        ``ccc``, ``pcc``, ``rmse`` (over finite pairs), ``n`` (points) and ``n_trials``.
    """
    if isinstance(pred_by_trial, Mapping) != isinstance(label_by_trial, Mapping):
        raise TypeError("pass predictions and labels both as mappings or both as sequences")
    keys = list(pred_by_trial) if isinstance(pred_by_trial, Mapping) else None
    if keys is not None and set(keys) != set(label_by_trial):
        raise KeyError(f"predicted and labelled trials differ: {sorted(map(str, set(keys) ^ set(label_by_trial)))[:5]}")
    preds, labels = _as_list(pred_by_trial, keys), _as_list(label_by_trial, keys)
    if len(preds) != len(labels):
        raise ValueError(f"{len(preds)} predicted trials but {len(labels)} labelled ones")
    for i, (p, y) in enumerate(zip(preds, labels)):
        if p.size != y.size:
            raise ValueError(f"trial {keys[i] if keys else i}: {p.size} predictions for {y.size} labels")
    if not preds:
        raise ValueError("no trials to evaluate")
    x, y = np.concatenate(preds), np.concatenate(labels)
    return {"ccc": ccc(x, y), "pcc": pcc(x, y), "rmse": rmse(x, y), "n": int(x.size), "n_trials": len(preds)}


def summarise_folds(values: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Mean and population standard deviation (``np.std``, ddof 0) over folds, as the paper reports them.

    A NaN fold propagates (a fold that could not be scored is a problem to see, not to hide).
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        raise ValueError("no fold values to summarise")
    return float(np.mean(v)), float(np.std(v))


class PairedTTest(NamedTuple):
    """Result of :func:`paired_ttest_one_tailed`."""

    statistic: float
    pvalue: float
    df: int
    mean_difference: float


def paired_ttest_one_tailed(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> PairedTTest:
    """One-tailed paired t-test over folds, H1: ``mean(a - b) > 0`` (docs/methods.md §2.6 step 6).

    ``a`` and ``b`` are per-fold values of the same metric, fold-aligned (e.g. ``a`` = CCC with KD, ``b`` = without).
    For a lower-is-better metric (RMSE) pass ``(without, with)`` so that H1 is still "the method improves".
    ``scipy.stats.ttest_rel(a, b, alternative="greater")``.
    """
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in length: {a.size} vs {b.size}")
    if a.size < 2:
        raise ValueError("a paired t-test needs at least two folds")
    res = scipy.stats.ttest_rel(a, b, alternative="greater")
    return PairedTTest(float(res.statistic), float(res.pvalue), int(a.size - 1), float(np.mean(a - b)))


def mcnemar_one_tailed(method_correct: Sequence[bool] | np.ndarray, baseline_correct: Sequence[bool] | np.ndarray
                       ) -> float:
    """Exact one-tailed McNemar test of two classifiers scored on the *same* samples, H1: the method is right more
    often.

    Only the discordant samples count: ``b`` (method right, baseline wrong) and ``c`` (the converse); under H0 each is
    equally likely, so ``p = P(X >= b)`` for ``X ~ Binomial(b + c, 1/2)`` (1.0 when there is no discordant sample).
    It is the paired test for one fixed test split (FER+), where there are no folds to pair.
    """
    m, b_ = np.asarray(method_correct, dtype=bool).ravel(), np.asarray(baseline_correct, dtype=bool).ravel()
    if m.shape != b_.shape:
        raise ValueError(f"paired samples differ in length: {m.size} vs {b_.size}")
    b, c = int((m & ~b_).sum()), int((~m & b_).sum())
    if b + c == 0:
        return 1.0
    return float(scipy.stats.binomtest(b, b + c, 0.5, alternative="greater").pvalue)


# ------------------------------------------------------------------------------------------ classification


def _labels(y: np.ndarray | Sequence[int], n_classes: int, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D class indices, got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError(f"{name} must hold integer class indices")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"{name} holds classes outside 0..{n_classes - 1}")
    return y


def confusion_matrix(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray,
                     n_classes: int = 8) -> np.ndarray:
    """(n_classes, n_classes) int64 counts; rows = true class, columns = predicted class."""
    t, p = _labels(y_true, n_classes, "y_true"), _labels(y_pred, n_classes, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {t.size} vs {p.size}")
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def accuracy(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray) -> float:
    """Top-1 accuracy (NaN for no samples)."""
    t, p = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {t.size} vs {p.size}")
    return float(np.mean(t == p)) if t.size else float("nan")


def per_class_f1(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray,
                 n_classes: int = 8) -> np.ndarray:
    """F1 of each class, ``2 TP / (2 TP + FP + FN)``; 0 where the denominator is 0 (``zero_division=0``)."""
    cm = confusion_matrix(y_true, y_pred, n_classes)
    tp = np.diag(cm).astype(np.float64)
    denom = cm.sum(0) + cm.sum(1)  # (TP + FP) + (TP + FN)
    return np.divide(2 * tp, denom, out=np.zeros(n_classes), where=denom > 0)


def macro_f1(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, n_classes: int = 8,
             labels: Sequence[int] | None = None) -> float:
    """Unweighted mean F1 over ``labels`` (default: all ``n_classes``), with ``zero_division=0``.

    Equals ``sklearn.metrics.f1_score(y_true, y_pred, average="macro", labels=labels or range(n_classes),
    zero_division=0)``: a class that is neither true nor predicted counts as F1 = 0 and *is* averaged (the 8-way
    score); predictions of classes outside ``labels`` still count as false negatives of the true class.
    """
    f1 = per_class_f1(y_true, y_pred, n_classes)
    idx = np.arange(n_classes) if labels is None else np.asarray(list(labels), dtype=np.int64)
    if idx.size == 0:
        return float("nan")
    return float(f1[idx].mean())


def balanced_accuracy(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray,
                      n_classes: int = 8, labels: Sequence[int] | None = None) -> float:
    """Mean per-class recall over the classes that occur in ``y_true`` (``sklearn.balanced_accuracy_score``).

    With ``labels``, over those of ``labels`` that occur in ``y_true``.
    """
    cm = confusion_matrix(y_true, y_pred, n_classes)
    support = cm.sum(1)
    keep = support > 0
    if labels is not None:
        sel = np.zeros(n_classes, dtype=bool)
        sel[np.asarray(list(labels), dtype=np.int64)] = True
        keep &= sel
    if not keep.any():
        return float("nan")
    return float((np.diag(cm)[keep] / support[keep]).mean())


def _names(idx: np.ndarray, class_names: Sequence[str] | None) -> list[str] | None:
    return None if class_names is None else [str(class_names[i]) for i in idx]


def eight_way(y_true: Sequence[int] | np.ndarray, logits: np.ndarray, n_classes: int = 8) -> dict[str, Any]:
    """Accuracy, macro-F1 (over all ``n_classes``), balanced accuracy and confusion matrix of ``argmax(logits)``."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or logits.shape[1] != n_classes:
        raise ValueError(f"expected logits (N, {n_classes}), got {logits.shape}")
    t = _labels(y_true, n_classes, "y_true")
    pred = logits.argmax(1)
    return {
        "n": int(t.size),
        "accuracy": accuracy(t, pred),
        "macro_f1": macro_f1(t, pred, n_classes),
        "balanced_accuracy": balanced_accuracy(t, pred, n_classes),
        "confusion_matrix": confusion_matrix(t, pred, n_classes).tolist(),
    }


def present_only(y_true: Sequence[int] | np.ndarray, logits: np.ndarray, n_classes: int | None = None,
                 present: Sequence[int] | None = None, class_names: Sequence[str] | None = None) -> dict[str, Any]:
    """Present-only scores (docs/methods.md §1.6, §8 #7).

    The present set P is the classes occurring in ``y_true`` (or ``present``, when the target label space is known
    a priori). Logits of classes outside P are set to ``-inf`` before the argmax, so every prediction lies in P;
    then accuracy over all samples, macro-F1 = unweighted mean F1 over P, balanced accuracy = mean recall over P
    (the classes of P without support are skipped, as in scikit-learn).

    Returns
    -------
    dict
        ``n``, ``accuracy``, ``macro_f1``, ``balanced_accuracy``, ``present_idx`` (sorted class indices),
        ``present_names`` (when ``class_names`` is given), ``confusion_matrix`` (|P| x |P|, in ``present_idx``
        order) and ``y_pred`` (the masked argmax, as a list).
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2:
        raise ValueError(f"expected logits (N, n_classes), got {logits.shape}")
    n_classes = logits.shape[1] if n_classes is None else n_classes
    if logits.shape[1] != n_classes:
        raise ValueError(f"logits have {logits.shape[1]} classes, expected {n_classes}")
    t = _labels(y_true, n_classes, "y_true")
    if logits.shape[0] != t.size:
        raise ValueError(f"{logits.shape[0]} logit rows for {t.size} labels")
    p_idx = np.unique(t) if present is None else np.unique(_labels(list(present), n_classes, "present"))
    if p_idx.size == 0:
        raise ValueError("no present classes: empty ground truth")
    masked = np.full_like(logits, -np.inf)
    masked[:, p_idx] = logits[:, p_idx]
    pred = masked.argmax(1)
    cm = confusion_matrix(t, pred, n_classes)
    out: dict[str, Any] = {
        "n": int(t.size),
        "accuracy": accuracy(t, pred),
        "macro_f1": macro_f1(t, pred, n_classes, labels=p_idx),
        "balanced_accuracy": balanced_accuracy(t, pred, n_classes, labels=p_idx),
        "present_idx": [int(i) for i in p_idx],
        "confusion_matrix": cm[np.ix_(p_idx, p_idx)].tolist(),
        "y_pred": pred.tolist(),
    }
    names = _names(p_idx, class_names)
    if names is not None:
        out["present_names"] = names
    return out
