"""Evaluation metrics shared by the trainer, the calibration report and the tests (docs/methods.md §6).

Implemented once, from their definitions, and tested against hand-computed values.
"""

from __future__ import annotations

import numpy as np


def ccc(x: np.ndarray, y: np.ndarray) -> float:
    """Lin's concordance correlation coefficient, as in Zhang et al.'s evaluation code (docs/methods.md §2.6, §8 #12).

    ``2 cov(x, y) / (var(x) + var(y) + (mean(x) - mean(y))^2)`` with the *biased* covariance (divided by n) and
    *unbiased* variances (divided by n - 1), reproduced exactly because the published numbers were computed that
    way. NaN pairs are ignored. Unlike Pearson's r it penalises offsets and scale errors, which is what a live
    valence trace must get right.
    """
    x, y = _paired(x, y)
    if x.size < 2:
        return float("nan")
    mx, my = x.mean(), y.mean()
    cov = np.mean((x - mx) * (y - my))
    denom = x.var(ddof=1) + y.var(ddof=1) + (mx - my) ** 2
    return float(2 * cov / denom) if denom > 0 else float("nan")


def pcc(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of the finite pairs."""
    x, y = _paired(x, y)
    if x.size < 2 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def rmse(x: np.ndarray, y: np.ndarray) -> float:
    """Root mean squared error of the finite pairs."""
    x, y = _paired(x, y)
    return float(np.sqrt(np.mean((x - y) ** 2))) if x.size else float("nan")


def _paired(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"predictions and targets differ in length: {x.size} vs {y.size}")
    ok = np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok]
