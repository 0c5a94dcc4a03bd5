"""Adapting the bundled EEG student to one subject from a calibration session, and scoring it before and after.

1. **Features** exactly as live: the session goes through :class:`affectstream.pipelines.engine.AffectPipeline`
   (window-wise re-reference over good channels, quality masks, log band power every 0.25 s).
2. **Normalisation**: the per-subject :class:`~affectstream.core.feature_norm.RunningFeatureNorm` is started on the
   resting baseline instead of from nothing, so the first minutes of a session are already on the subject's own
   scale. The uncalibrated student starts from nothing, as a live run without a profile does.
3. **Fine-tuning** of the two output heads (and with ``last_block`` the last TCN level) on the training blocks'
   self-reports; the rest stays frozen: the fifteen or so blocks a session leaves to fit cannot re-learn a network,
   but they can re-map its output to this subject's gains and offsets. A self-report rates the state the block left
   behind, one value per block, so the loss compares it with the mean prediction over the block's second half
   (squared error, averaged over blocks; a per-hop loss would also punish the state's build-up, which the rating
   does not describe); training stops when the error on the ``stop`` blocks has not improved for ``patience``
   checks, keeping the best weights.
4. **Scores** on the held-out blocks, never seen by steps 2-3 except through the running normalisation that any live
   run also has: CCC and RMSE of valence and arousal against the ground truth when the session is simulated (and
   against the block self-reports always).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from affectstream.core.feature_layout import N_FEATURES
from affectstream.core.feature_norm import RunningFeatureNorm
from affectstream.models.training.metrics import ccc, rmse

from affectstream.calibration.protocol import CalibrationSession, sam_to_unit

__all__ = ["FineTuneConfig", "SessionFeatures", "baseline_norm", "evaluate", "fine_tune", "session_features"]


@dataclass(frozen=True)
class FineTuneConfig:
    lr: float = 3e-3
    max_steps: int = 300
    check_every: int = 10
    patience: int = 6
    stop_blocks: int = 3  #: training blocks kept aside for early stopping
    last_block: bool = False  #: also adapt the last TCN level
    seed: int = 0


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
    from affectstream.pipelines.engine import AffectPipeline, EEGStreamSpec
    from affectstream.pipelines.synthetic.planted_dataset import FEATURES_ONLY

    pipe = AffectPipeline(EEGStreamSpec(sfreq=session.sfreq, n_channels=len(session.ch_names),
                                        labels=session.ch_names, synthetic=session.synthetic), FEATURES_ONLY)
    results = pipe.push_eeg(session.eeg, session.times)
    from affectstream.core.montage import MONTAGE_32

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


def _targets(features: SessionFeatures, session: CalibrationSession) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per hop: the block index it lies in (-1 outside blocks), its block's self-report (T, 2) on [-1, 1], and
    whether it lies in the block's second half."""
    block = np.full(len(features.centre), -1)
    target = np.full((len(features.centre), 2), np.nan, dtype=np.float32)
    late = np.zeros(len(features.centre), dtype=bool)
    for b in session.blocks:
        inside = (features.centre >= b.start) & (features.centre < b.end)
        block[inside] = b.index
        target[inside] = (sam_to_unit(b.sam_valence), sam_to_unit(b.sam_arousal))
        late |= inside & (features.centre >= (b.start + b.end) / 2)
    return block, target, late


def _predict(model, z: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out = model(torch.from_numpy(np.ascontiguousarray(z.T, dtype=np.float32))[None])
    return np.column_stack([out.valence[0].numpy(), out.arousal[0].numpy()])


def fine_tune(model, z: np.ndarray, features: SessionFeatures, session: CalibrationSession,
              config: FineTuneConfig = FineTuneConfig()):
    """A copy of ``model`` with its heads adapted on the training blocks; returns (model, history)."""
    torch.manual_seed(config.seed)
    block, target, late = _targets(features, session)
    train_blocks = [b.index for b in session.blocks if not b.heldout]
    stop = train_blocks[-config.stop_blocks:] if len(train_blocks) > config.stop_blocks else []
    fit = [i for i in train_blocks if i not in stop]
    y = torch.from_numpy(np.nan_to_num(target))
    masks = {i: torch.from_numpy((block == i) & late) for i in train_blocks}

    def block_error(pred: torch.Tensor, blocks: list[int]) -> torch.Tensor:
        return torch.stack([((pred[masks[i]].mean(0) - y[masks[i]][0]) ** 2).mean() for i in blocks]).mean()

    model = copy.deepcopy(model).train()
    for p in model.parameters():
        p.requires_grad_(False)
    params = list(model.valence_head.parameters()) + list(model.arousal_head.parameters())
    if config.last_block:
        params += list(model.tcn.blocks[-1].parameters())
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=config.lr)
    x = torch.from_numpy(np.ascontiguousarray(z.T, dtype=np.float32))[None]
    best, best_state, stale, history = np.inf, copy.deepcopy(model.state_dict()), 0, []
    for step in range(config.max_steps):
        out = model(x)
        loss = block_error(torch.stack([out.valence[0], out.arousal[0]], dim=-1), fit)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % config.check_every == 0 and stop:
            with torch.no_grad():
                out = model(x)
                err = float(block_error(torch.stack([out.valence[0], out.arousal[0]], dim=-1), stop))
            history.append({"step": step, "fit_mse": float(loss.detach()), "stop_mse": err})
            if err < best:
                best, best_state, stale = err, copy.deepcopy(model.state_dict()), 0
            else:
                stale += 1
                if stale >= config.patience:
                    break
    model.load_state_dict(best_state)
    return model.eval(), history


def evaluate(model, z: np.ndarray, features: SessionFeatures, session: CalibrationSession) -> dict:
    """CCC and RMSE on the held-out blocks' hops: against the truth (simulated) and the self-reports."""
    block, target, _ = _targets(features, session)
    held = np.isin(block, [b.index for b in session.blocks if b.heldout])
    pred = _predict(model, z)[held]
    out: dict = {"n_hops": int(held.sum())}
    refs = {"self_report": target[held]}
    if session.truth is not None:
        idx = np.clip(np.round(features.centre[held] * session.sfreq).astype(int), 0, len(session.truth) - 1)
        refs["truth"] = session.truth[idx]
    for ref_name, ref in refs.items():
        for i, axis in enumerate(("valence", "arousal")):
            out[f"{ref_name}_{axis}"] = {"ccc": ccc(pred[:, i], ref[:, i]), "rmse": rmse(pred[:, i], ref[:, i])}
    main = "truth" if "truth" in refs else "self_report"
    out["ccc"] = float(np.mean([out[f"{main}_{a}"]["ccc"] for a in ("valence", "arousal")]))
    out["rmse"] = float(np.mean([out[f"{main}_{a}"]["rmse"] for a in ("valence", "arousal")]))
    out["against"] = main
    out["prediction"] = pred
    return out
