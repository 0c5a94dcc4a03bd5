"""A calibration session as the live path sees it: band-power frames per hop, the blocks they lie in, and scores.

1. **Features** exactly as live: the session goes through :class:`affectstream.pipelines.engine.AffectPipeline`
   (window-wise re-reference over good channels, quality masks, log band power every 0.25 s).
2. **Normalisation**: the per-subject :class:`~affectstream.core.feature_norm.RunningFeatureNorm` is started on the
   resting baseline instead of from nothing, so the first minutes of a session are already on the subject's own
   scale (:func:`baseline_norm`). The uncalibrated student starts from nothing, as a live run without a profile does.
3. **Targets**: a self-report rates the state the block left behind, one value per block; every hop of a block
   carries its block's rating (:func:`block_targets`).
4. **Scores** (:func:`heldout_scores`) on the held-out blocks, never used to fit or choose a model: CCC and RMSE of
   valence and arousal against the ground truth when the session is simulated, and against the self-reports always.
   Predictions are clipped to [-1, 1] first, as the live path clips every estimate.

Nothing here needs PyTorch: the model fits (:mod:`.subject_model`) and the chance test (:mod:`.selection`) run on
these arrays alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from affectstream.core.feature_layout import N_FEATURES
from affectstream.core.feature_norm import RunningFeatureNorm
from affectstream.models.training.metrics import ccc, rmse

from affectstream.calibration.protocol import CalibrationSession, sam_to_unit

__all__ = ["AXES", "BlockTargets", "SessionFeatures", "baseline_norm", "block_targets", "frame_means",
           "heldout_scores", "session_features"]

#: The two outputs, in the order of every (T, 2) prediction.
AXES = ("valence", "arousal")


@dataclass
class SessionFeatures:
    """Per hop: log band power (T, 6, 32), good-channel masks (T, 32), window-centre times (T,)."""

    power: np.ndarray
    good: np.ndarray
    centre: np.ndarray

    def inputs(self, norm: RunningFeatureNorm) -> np.ndarray:
        """(T, N_FEATURES) normalised frames, advancing ``norm`` hop by hop as the live estimator does."""
        return np.stack([norm(np.where(g[None, :], p, np.nan).ravel()) for p, g in zip(self.power, self.good)])


def session_features(session: CalibrationSession) -> SessionFeatures:
    from affectstream.core.montage import MONTAGE_32
    from affectstream.pipelines.engine import AffectPipeline, EEGStreamSpec
    from affectstream.pipelines.synthetic.planted_dataset import FEATURES_ONLY

    pipe = AffectPipeline(EEGStreamSpec(sfreq=session.sfreq, n_channels=len(session.ch_names),
                                        labels=session.ch_names, synthetic=session.synthetic), FEATURES_ONLY)
    results = pipe.push_eeg(session.eeg, session.times)
    bad = set(session.bad_channels)  # labels; the pipeline's masks are over the montage, whatever the recording's order
    good = np.array([r.good for r in results]) & np.array([c not in bad for c in MONTAGE_32])[None]
    centre = np.array([r.t for r in results]) - (pipe.n_window - 1) / (2 * session.sfreq)
    return SessionFeatures(np.stack([r.features for r in results]), good, centre)


def baseline_norm(features: SessionFeatures, session: CalibrationSession, memory: float) -> RunningFeatureNorm:
    """A normaliser that has absorbed the resting baseline's frames (the profile stores its state)."""
    norm = RunningFeatureNorm(N_FEATURES, memory=memory)
    lo, hi = session.baseline
    keep = (features.centre >= lo) & (features.centre < hi)
    sub = SessionFeatures(features.power[keep], features.good[keep], features.centre[keep])
    sub.inputs(norm)
    return norm


def frame_means(z: np.ndarray, frames: int) -> np.ndarray:
    """(T, N_FEATURES): each hop's mean of the last ``frames`` normalised frames, the frames before the first hop
    counted as zeros -- what a model sees that averages the live estimator's input window (zeros at the start)."""
    total = np.cumsum(np.concatenate([np.zeros((frames, z.shape[1])), z.astype(np.float64)]), axis=0)
    return (total[frames:] - total[:-frames]) / frames


@dataclass(frozen=True)
class BlockTargets:
    """Per hop: the block it lies in (-1 outside blocks) and whether it lies in the block's second half; per block
    (in block-index order): its self-report on [-1, 1] and whether it is held out."""

    block: np.ndarray
    late: np.ndarray
    ratings: np.ndarray
    heldout: np.ndarray

    def per_hop(self, ratings: np.ndarray | None = None) -> np.ndarray:
        """(T, 2): each hop's block rating (``ratings``, e.g. permuted, else the session's); NaN outside blocks."""
        ratings = self.ratings if ratings is None else ratings
        out = np.full((len(self.block), 2), np.nan)
        inside = self.block >= 0
        out[inside] = ratings[self.block[inside]]
        return out


def block_targets(features: SessionFeatures, session: CalibrationSession) -> BlockTargets:
    """The hops' blocks and the blocks' self-reports (block ``index`` must be its position, as every source makes
    it)."""
    block = np.full(len(features.centre), -1)
    late = np.zeros(len(features.centre), dtype=bool)
    for b in session.blocks:
        inside = (features.centre >= b.start) & (features.centre < b.end)
        block[inside] = b.index
        late |= inside & (features.centre >= (b.start + b.end) / 2)
    ratings = np.array([(sam_to_unit(b.sam_valence), sam_to_unit(b.sam_arousal)) for b in session.blocks])
    return BlockTargets(block, late, ratings.reshape(-1, 2), np.array([b.heldout for b in session.blocks]))


def heldout_scores(prediction: np.ndarray, features: SessionFeatures, session: CalibrationSession) -> dict:
    """CCC and RMSE of a (T, 2) prediction on the held-out blocks' hops: against the truth (simulated sessions) and
    the self-reports; ``ccc`` and ``rmse`` are the means over valence and arousal against the truth when there is
    one (``against``). ``prediction`` in the result holds the held-out hops' (clipped) values."""
    targets = block_targets(features, session)
    held = np.isin(targets.block, np.flatnonzero(targets.heldout))
    pred = np.clip(prediction[held], -1.0, 1.0)
    out: dict = {"n_hops": int(held.sum())}
    refs = {"self_report": targets.per_hop()[held]}
    if session.truth is not None:
        idx = np.clip(np.round(features.centre[held] * session.sfreq).astype(int), 0, len(session.truth) - 1)
        refs["truth"] = session.truth[idx]
    for ref_name, ref in refs.items():
        for i, axis in enumerate(AXES):
            out[f"{ref_name}_{axis}"] = {"ccc": ccc(pred[:, i], ref[:, i]), "rmse": rmse(pred[:, i], ref[:, i])}
    main = "truth" if "truth" in refs else "self_report"
    out["ccc"] = float(np.mean([out[f"{main}_{a}"]["ccc"] for a in AXES]))
    out["rmse"] = float(np.mean([out[f"{main}_{a}"]["rmse"] for a in AXES]))
    out["against"] = main
    out["prediction"] = pred
    return out
