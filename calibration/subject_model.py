"""Per-subject linear models in closed form, their ridge penalty chosen by nested cross-validation over blocks.

A calibration session gives a few dozen rated blocks, one self-report each, so every model fitted to it is linear
and regularised, and every choice is made by cross-validation over whole blocks (hops of one block share its
rating and its slow drifts: a split inside a block would leak). Two families, both ridge regressions of the block
ratings on per-hop inputs, with an intercept:

* ``student_head`` -- the bundled student's 128 per-hop features (frozen) mapped to valence and arousal: new output
  heads, shrunk towards the bundled heads (the penalty is on the change), so a large penalty gives back the bundled
  student with this subject's offsets. This is the closed form of fine-tuning the heads.
* ``band_power_ridge`` -- the normalised band power itself (192 features, each averaged over the student's input
  window of 13 frames) mapped to valence and arousal: a model of the subject's own pattern, for a subject whose EEG
  does not look like the bundled student's training population.

Fits use the second half of each training block (a rating describes the state the block left behind); predictions
and scores cover every hop of a block. The penalty is ``lam * trace(Xc'Xc) / p`` for ``lam`` in :data:`LAMBDAS`,
chosen per output by the pooled CCC of the inner folds' predictions (contiguous folds of blocks). Every quantity
that does not depend on the ratings (per-block Gram matrices, each fold's eigendecomposition and its projected
evaluation inputs) is computed once and cached, so refitting with permuted ratings, as the chance test does
thousands of times, costs a few small matrix products per fold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["LAMBDAS", "BlockRidge", "LinearFit", "ccc_columns", "contiguous_folds"]

#: Relative ridge penalties (times the mean eigenvalue of the centred Gram matrix): from nearly least squares to
#: nearly "no change" (the intercept only).
LAMBDAS = 10.0 ** np.arange(-2.0, 4.01, 0.5)


def ccc_columns(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Lin's CCC of every column of ``pred`` (m, k) against ``ref`` (m,), as
    :func:`affectstream.models.training.metrics.ccc` computes it (biased covariance, unbiased variances); rows with
    a non-finite ``ref`` are left out. NaN for a column without variance."""
    ok = np.isfinite(ref)
    pred, ref = pred[ok], ref[ok]
    if len(ref) < 2:
        return np.full(pred.shape[1], np.nan)
    mp, mr = pred.mean(0), ref.mean()
    cov = ((pred - mp) * (ref - mr)[:, None]).mean(0)
    denom = pred.var(0, ddof=1) + ref.var(ddof=1) + (mp - mr) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, 2 * cov / denom, np.nan)


def contiguous_folds(blocks: tuple[int, ...], k: int) -> list[tuple[int, ...]]:
    """``blocks`` split into ``min(k, len(blocks))`` runs of neighbouring blocks (in session order)."""
    return [tuple(int(b) for b in part) for part in np.array_split(np.array(blocks), min(k, len(blocks)))]


@dataclass(frozen=True)
class LinearFit:
    """A fitted model: ``prediction = offset + x @ weights + intercept`` (weights (p, 2), intercept (2,)), with the
    relative penalty chosen for each output."""

    weights: np.ndarray
    intercept: np.ndarray
    lambdas: tuple[float, float]


@dataclass
class _Fold:
    """What a fit on ``train`` and a prediction of ``evaluate``'s hops need, except the ratings."""

    n: float
    total: np.ndarray  # (p,) sum of the fit hops' inputs
    basis: np.ndarray  # (p, p) eigenvectors of the centred Gram matrix
    alphas: np.ndarray  # (p, L) 1 / (eigenvalue + penalty) for each penalty
    offset_term: np.ndarray  # (p, 2) X'O - total * sum(O) / n
    offset_sum: np.ndarray  # (2,) sum of the fit hops' offsets
    rows: np.ndarray  # hops predicted
    projected: np.ndarray  # (m, p) their inputs in the eigenbasis


class BlockRidge:
    """Ridge of block ratings on per-hop inputs ``x`` (T, p) plus a fixed per-hop ``offset`` (T, 2).

    Parameters
    ----------
    name : str
        The family (``student_head`` or ``band_power_ridge``), for reports.
    x : ndarray (T, p)
        Inputs per hop.
    offset : ndarray (T, 2)
        Added to every prediction and subtracted from the targets before the fit (the bundled heads' output for
        ``student_head``, so the penalty shrinks towards them; zeros otherwise).
    block : ndarray (T,)
        Each hop's block index, -1 outside blocks.
    fit : ndarray (T,) bool
        Hops the fit uses (the second half of each block).
    """

    def __init__(self, name: str, x: np.ndarray, offset: np.ndarray, block: np.ndarray, fit: np.ndarray) -> None:
        self.name = name
        self.x = np.asarray(x, dtype=np.float64)
        self.offset = np.asarray(offset, dtype=np.float64)
        self.block = block
        n_blocks = int(block.max()) + 1
        self._rows = [np.flatnonzero(block == b) for b in range(n_blocks)]
        fit_rows = [np.flatnonzero((block == b) & fit) for b in range(n_blocks)]
        self._n = np.array([len(r) for r in fit_rows], dtype=np.float64)
        self._sums = np.stack([self.x[r].sum(0) for r in fit_rows])  # (B, p): X'1 per block
        self._grams = np.stack([self.x[r].T @ self.x[r] for r in fit_rows])  # (B, p, p)
        self._xo = np.stack([self.x[r].T @ self.offset[r] for r in fit_rows])  # (B, p, 2)
        self._osum = np.stack([self.offset[r].sum(0) for r in fit_rows])  # (B, 2)
        self._folds: dict[tuple[tuple[int, ...], tuple[int, ...]], _Fold] = {}

    def _fold(self, train: tuple[int, ...], evaluate: tuple[int, ...]) -> _Fold:
        key = (train, evaluate)
        if key not in self._folds:
            t = list(train)
            n, total, offset_sum = self._n[t].sum(), self._sums[t].sum(0), self._osum[t].sum(0)
            gram = self._grams[t].sum(0) - np.outer(total, total) / n
            values, basis = np.linalg.eigh(gram)
            scale = max(float(np.clip(values, 0, None).mean()), 1e-12)
            alphas = 1.0 / (np.clip(values, 0, None)[:, None] + LAMBDAS[None, :] * scale)
            rows = np.concatenate([self._rows[b] for b in evaluate] or [np.zeros(0, dtype=int)])
            self._folds[key] = _Fold(n, total, basis, alphas, self._xo[t].sum(0) - np.outer(total, offset_sum) / n,
                                     offset_sum, rows, self.x[rows] @ basis)
        return self._folds[key]

    def _solve(self, fold: _Fold, train: tuple[int, ...], ratings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coefficients in the eigenbasis (p, L, 2) and intercepts (L, 2) for every penalty."""
        t = list(train)
        rating_sum = self._n[t] @ ratings[t]  # (2,) sum of the fit hops' ratings
        xy = self._sums[t].T @ ratings[t] - np.outer(fold.total, rating_sum) / fold.n - fold.offset_term
        coef = (fold.basis.T @ xy)[:, None, :] * fold.alphas[:, :, None]  # (p, L, 2)
        intercept = (rating_sum - fold.offset_sum - np.einsum("p,pla->la", fold.total @ fold.basis, coef)) / fold.n
        return coef, intercept

    def predict_all(self, train: tuple[int, ...], evaluate: tuple[int, ...], ratings: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Fit on ``train`` with every penalty; returns the hops of ``evaluate`` and their predictions (m, L, 2)."""
        fold = self._fold(train, evaluate)
        coef, intercept = self._solve(fold, train, ratings)
        # einsum, not BLAS: these products are small, and a multi-threaded BLAS on a busy machine (the wizard's GUI,
        # a training job) spent ten times longer waiting for its threads than computing (measured on 2 cores)
        pred = np.einsum("mp,pla->mla", fold.projected, coef) + intercept[None] + self.offset[fold.rows][:, None]
        return fold.rows, np.clip(pred, -1.0, 1.0)

    def choose(self, blocks: tuple[int, ...], ratings: np.ndarray, k: int) -> np.ndarray:
        """The penalty index for each output (2,) that maximises the pooled CCC of a ``k``-fold cross-validation
        over ``blocks``."""
        rows, preds = [], []
        for part in contiguous_folds(blocks, k):
            r, p = self.predict_all(tuple(b for b in blocks if b not in part), part, ratings)
            rows.append(r)
            preds.append(p)
        rows, pred = np.concatenate(rows), np.concatenate(preds)
        target = ratings[self.block[rows]]
        scores = np.stack([ccc_columns(pred[:, :, a], target[:, a]) for a in range(2)])  # (2, L)
        return np.argmax(np.nan_to_num(scores, nan=-np.inf), axis=1)

    def nested_predictions(self, blocks: tuple[int, ...], ratings: np.ndarray, k_outer: int, k_inner: int
                           ) -> tuple[np.ndarray, np.ndarray]:
        """Out-of-fold predictions of every hop of ``blocks``: each outer fold predicted by a fit on the others,
        its penalties chosen by an inner ``k_inner``-fold cross-validation on those others only. Returns the hops
        and their predictions (m, 2)."""
        rows, preds = [], []
        for part in contiguous_folds(blocks, k_outer):
            rest = tuple(b for b in blocks if b not in part)
            chosen = self.choose(rest, ratings, k_inner)
            r, p = self.predict_all(rest, part, ratings)
            rows.append(r)
            preds.append(p[:, chosen, [0, 1]])
        return np.concatenate(rows), np.concatenate(preds)

    def fit(self, blocks: tuple[int, ...], ratings: np.ndarray, k: int) -> LinearFit:
        """The model fitted on ``blocks``, its penalties chosen by a ``k``-fold cross-validation over them."""
        chosen = self.choose(blocks, ratings, k)
        fold = self._fold(blocks, ())
        coef, intercept = self._solve(fold, blocks, ratings)
        weights = fold.basis @ coef[:, chosen, [0, 1]]  # (p, 2)
        return LinearFit(weights, intercept[chosen, [0, 1]], (float(LAMBDAS[chosen[0]]), float(LAMBDAS[chosen[1]])))

    def apply(self, model: LinearFit) -> np.ndarray:
        """(T, 2) predictions of ``model`` for every hop, clipped to [-1, 1] as the live path clips them."""
        return np.clip(self.offset + self.x @ model.weights + model.intercept, -1.0, 1.0)
