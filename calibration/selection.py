"""Which model a subject's profile keeps, chosen on the training blocks only, and whether it beats chance.

**Candidates.** ``uncalibrated`` (the bundled student, its normaliser started from nothing, as a run without a
profile), ``baseline`` (the transparent frontal-alpha-asymmetry estimator) and ``calibrated``: the better, by
nested cross-validation, of the two per-subject models of :mod:`.subject_model` (new heads on the frozen student, or
a ridge on the subject's own band power).

**Choice** (:func:`select`), from the training blocks alone: each candidate is scored by the CCC of its predictions
against the self-reports on the training blocks' hops, the mean over valence and arousal. The fixed candidates are
scored on their predictions as they are; the fitted ones on out-of-fold predictions (outer folds of contiguous
blocks, each predicted by a fit on the others whose penalty an inner cross-validation chose), so every score is one
of data the model did not see. The highest score is kept. The held-out blocks play no part in the choice: they
score every candidate afterwards (the report's before/after table shows how far the kept model is from the others
there, whichever way).

**Chance** (:func:`permutation_test`): under the null hypothesis that the EEG carries nothing about the ratings, the
blocks' ratings are exchangeable. The ratings (valence and arousal together) are permuted across all blocks,
training and held-out, and the *whole* procedure is repeated on each permutation -- both subject models' nested
cross-validations, the choice among the candidates and the final fit -- and the held-out CCC of the kept model
against the (permuted) held-out self-reports is recorded. ``chance_p = (1 + #{permuted >= observed}) / (1 + N)``.
The statistic is against the self-reports, not the simulated truth, because the self-reports are what the null
hypothesis makes exchangeable (and all a real session has). Every step is closed-form, so nothing is left out of
the repetition. A profile whose kept model is not better than chance at :data:`CHANCE_LEVEL` is saved but not used
by default (:mod:`.profiles`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from affectstream.calibration.features import BlockTargets
from affectstream.calibration.subject_model import BlockRidge, LinearFit, ccc_columns

__all__ = ["CHANCE_LEVEL", "KEPT", "Candidates", "Selection", "SelectionConfig", "permutation_test", "select"]

#: What a profile can keep (``report.json``'s ``kept``).
KEPT = ("calibrated", "uncalibrated", "baseline")
#: A kept model is "better than chance" when its permutation p-value is at most this.
CHANCE_LEVEL = 0.05
#: Fewer training blocks than this leave no room for a nested cross-validation: no model is fitted.
MIN_TRAINING_BLOCKS = 3


@dataclass(frozen=True)
class SelectionConfig:
    """Folds of the nested cross-validation and the chance test's permutations.

    ``permutations`` 99 gives p-values down to 0.01; each repeats every fit of the calibration (closed-form): about
    0.1-0.3 s on 2 cores, so the test adds 10-30 s to a calibration.
    """

    k_outer: int = 6
    k_inner: int = 5
    permutations: int = 99
    seed: int = 0


@dataclass
class Candidates:
    """The fixed candidates' per-hop predictions (T, 2) and the fitted families, over one session's hops."""

    fixed: dict[str, np.ndarray]
    fitted: dict[str, BlockRidge]
    targets: BlockTargets

    @property
    def training_blocks(self) -> tuple[int, ...]:
        return tuple(int(b) for b in np.flatnonzero(~self.targets.heldout))

    @property
    def heldout_rows(self) -> np.ndarray:
        return np.flatnonzero(np.isin(self.targets.block, np.flatnonzero(self.targets.heldout)))


@dataclass
class Selection:
    """The outcome of :func:`select`: training-block scores, what was kept, and the held-out statistic."""

    kept: str
    calibrated_model: str | None
    training_ccc: dict[str, float]
    fit: LinearFit | None
    statistic: float
    predictions: dict[str, np.ndarray]


def _score(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean over valence and arousal of the CCC of (m, 2) predictions against (m, 2) targets (NaN: -inf)."""
    values = [ccc_columns(pred[:, a:a + 1], target[:, a])[0] for a in range(2)]
    return float(np.mean(values)) if np.isfinite(values).all() else -np.inf


def select(candidates: Candidates, ratings: np.ndarray, config: SelectionConfig = SelectionConfig(),
           final: bool = True) -> Selection:
    """Choose among the candidates on the training blocks with these block ``ratings`` (n_blocks, 2), then score
    the kept model on the held-out blocks against them. ``final=False`` (the permutations) fits the calibrated
    model on all training blocks only when it is kept."""
    targets = candidates.targets
    train = candidates.training_blocks
    train_rows = np.flatnonzero(np.isin(targets.block, train))
    per_hop = targets.per_hop(ratings)
    scores = {name: _score(pred[train_rows], per_hop[train_rows]) for name, pred in candidates.fixed.items()}
    fitted: dict[str, float] = {}
    if len(train) >= MIN_TRAINING_BLOCKS:
        for name, ridge in candidates.fitted.items():
            rows, pred = ridge.nested_predictions(train, ratings, config.k_outer, config.k_inner)
            fitted[name] = _score(pred, per_hop[rows])
    calibrated_model = max(fitted, key=fitted.get) if fitted else None
    choice = dict(scores, **({"calibrated": fitted[calibrated_model]} if calibrated_model else {}))
    kept = max(choice, key=choice.get)
    predictions = dict(candidates.fixed)
    fit = None
    if calibrated_model is not None and (final or kept == "calibrated"):
        ridge = candidates.fitted[calibrated_model]
        fit = ridge.fit(train, ratings, config.k_outer)
        predictions["calibrated"] = ridge.apply(fit)
    held = candidates.heldout_rows
    statistic = _score(predictions[kept][held], per_hop[held])
    return Selection(kept, calibrated_model, {**scores, **fitted}, fit, statistic, predictions)


def permutation_test(candidates: Candidates, observed: Selection, config: SelectionConfig = SelectionConfig()
                     ) -> dict:
    """The block-permutation test of ``observed``'s held-out CCC (see the module docstring); returns the
    report's ``chance`` entry, ``p`` among it."""
    rng = np.random.default_rng(config.seed)
    ratings = candidates.targets.ratings
    null = np.array([select(candidates, ratings[rng.permutation(len(ratings))], config, final=False).statistic
                     for _ in range(config.permutations)])
    obs = observed.statistic
    p = (1 + int(np.sum(null >= obs))) / (1 + len(null)) if np.isfinite(obs) else 1.0
    finite = null[np.isfinite(null)]
    return {"p": p, "better_than_chance": bool(p <= CHANCE_LEVEL), "level": CHANCE_LEVEL,
            "permutations": config.permutations, "observed_ccc": obs if np.isfinite(obs) else None,
            "null_median_ccc": float(np.median(finite)) if len(finite) else None,
            "null_95th_ccc": float(np.percentile(finite, 95)) if len(finite) else None,
            "statistic": "held-out CCC of the kept model against the self-reports (mean of valence and arousal)",
            "repeated": "ratings permuted across all blocks; both subject models' nested cross-validations, the "
                        "choice of the kept model and its final fit repeated on every permutation"}
