"""Confidence- and quality-weighted fusion of per-modality affect estimates.

Each modality reports valence, arousal and a confidence in [0, 1] that already folds in its signal quality (EEG:
fraction of good channels and estimator warm-up; face: face found and detector score). The fused value is the
confidence-weighted mean over the modalities that have one, so either modality alone keeps the trace going.
When no modality has a usable estimate the result is NaN with an explicit status: a stale number presented as
current is worse than a visible gap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Below this confidence a modality is treated as absent rather than as a nearly-zero-weight vote.
MIN_CONFIDENCE = 1e-3


@dataclass(frozen=True)
class ModalityEstimate:
    """One modality's estimate for one hop.

    Attributes
    ----------
    valence, arousal : float
        In [-1, 1]; NaN when the modality has nothing to say this hop.
    confidence : float
        Weight in [0, 1].
    source : str
        Which estimator produced it ("baseline", "student", ...), reported in the output.
    """

    valence: float = math.nan
    arousal: float = math.nan
    confidence: float = 0.0
    source: str = "none"

    @property
    def usable(self) -> bool:
        return self.confidence >= MIN_CONFIDENCE and math.isfinite(self.valence) and math.isfinite(self.arousal)


@dataclass(frozen=True)
class FusedEstimate:
    """The fused valence/arousal with the weights that produced it and a status string."""

    valence: float
    arousal: float
    confidence: float
    weights: dict[str, float]
    status: str


def fuse(estimates: dict[str, ModalityEstimate]) -> FusedEstimate:
    """Fuse ``{modality: estimate}``; status is ``"fused"``, ``"<modality> only"`` or ``"no estimate"``.

    Runs once per hop, thousands of times a second in a replay: one pass over the modalities, no temporaries.
    """
    weights = dict.fromkeys(estimates, 0.0)
    usable = [(m, e) for m, e in estimates.items() if e.usable]
    if not usable:
        return FusedEstimate(math.nan, math.nan, 0.0, weights, "no estimate")
    total = sum(e.confidence for _, e in usable)
    valence = arousal = 0
    doubt = 1  # two agreeing modalities are more trustworthy than either alone: combined as independent evidence
    for m, e in usable:
        weights[m] = weight = e.confidence / total
        valence += weight * e.valence
        arousal += weight * e.arousal
        doubt *= 1.0 - min(e.confidence, 1.0)
    status = "fused" if len(usable) > 1 else f"{usable[0][0]} only"
    return FusedEstimate(valence, arousal, 1.0 - doubt, weights, status)
