"""Supervised training of the EEG student (TCN) on band-power sequences with the CCC loss.

This is the no-distillation recipe of Zhang et al. (METHODS §2.3-2.4): sequences of band-power frames, a per-step
valence (here also arousal) regression, loss ``1 - CCC`` per sequence, Adam with ReduceLROnPlateau on the
validation CCC and best-weights selection. Inputs are normalised causally per subject with
:class:`~models.feature_norm.RunningFeatureNorm`, as in the live path. The learning rate default is larger than the
paper's 1e-5 (batch 2, 15 epochs on MAHNOB) because the planted sessions are short; every value is in
:class:`EEGTrainConfig`.

Under ``torchrun`` (pass the :class:`~models.distributed.DistContext` of
:func:`~models.distributed.init_distributed`) the same recipe runs data-parallel: each rank trains on its shard of
the windows with ``batch_size`` per rank (the global batch is ``world_size`` times larger), gradients are averaged by
DistributedDataParallel, and the validation score is averaged across ranks so that the learning-rate, early-stopping
and best-epoch decisions are the same everywhere. See :mod:`models.distributed`.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from .distributed import DistContext, all_reduce_mean, shard_indices, wrap_model
from .eeg_tcn import EEGTCN
from .feature_norm import RunningFeatureNorm
from .metrics import ccc, pcc, rmse
from .training.loop import ccc_loss

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EEGTrainConfig:
    """Every default of the EEG student's supervised training."""

    channels: tuple[int, ...] = (128, 128)
    kernel_size: int = 3
    dropout: float = 0.1
    seq_len: int = 96  #: frames per training sequence (24 s at 4 Hz, METHODS §2.4)
    seq_hop: int = 32
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    epochs: int = 40
    patience: int = 8
    seed: int = 0
    norm_memory: float = 1200.0


@dataclass
class Subject:
    """One subject's session: normalised frames (T, 192) and labels (T,)."""

    z: np.ndarray
    valence: np.ndarray
    arousal: np.ndarray


def normalise_subject(features: np.ndarray, memory: float = 1200.0) -> np.ndarray:
    """Causally z-score a subject's (T, 6, 32) log band power into (T, 192) student inputs."""
    return RunningFeatureNorm(features[0].size, memory=memory).transform_sequence(features)


def sequences(n: int, seq_len: int, hop: int) -> list[int]:
    """Start indices of windows over n frames; the last window is right-aligned so no frame is left out."""
    if n <= seq_len:
        return [0]
    starts = list(range(0, n - seq_len + 1, hop))
    if starts[-1] != n - seq_len:
        starts.append(n - seq_len)
    return starts


def _batches(subjects: list[Subject], cfg: EEGTrainConfig, rng: np.random.Generator,
             shard: Callable[[int], np.ndarray] | None = None):
    """Shuffled (x, y) batches of training windows; ``shard(n_windows)`` gives the order (a rank's shard) instead."""
    items = [(s, i) for s in subjects for i in sequences(len(s.z), cfg.seq_len, cfg.seq_hop)]
    order = rng.permutation(len(items)) if shard is None else shard(len(items))
    for b in range(0, len(order), cfg.batch_size):
        chosen = [items[k] for k in order[b:b + cfg.batch_size]]
        x = np.stack([s.z[i:i + cfg.seq_len].T for s, i in chosen])  # (B, 192, L)
        y = np.stack([np.stack([s.valence[i:i + cfg.seq_len], s.arousal[i:i + cfg.seq_len]]) for s, i in chosen])
        yield torch.from_numpy(x), torch.from_numpy(y.astype(np.float32))


@torch.no_grad()
def predict(model: EEGTCN, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Causal predictions over a whole session (T, 192) -> valence (T,), arousal (T,)."""
    model.eval()
    device = next(model.parameters()).device
    out = model(torch.from_numpy(np.ascontiguousarray(z.T, dtype=np.float32))[None].to(device))
    return out.valence[0].cpu().numpy(), out.arousal[0].cpu().numpy()


def evaluate(model: EEGTCN, subjects: list[Subject]) -> dict[str, float]:
    """CCC/PCC/RMSE over the concatenated sessions (METHODS §2.6)."""
    preds = [predict(model, s.z) for s in subjects]
    v_hat = np.concatenate([p[0] for p in preds])
    a_hat = np.concatenate([p[1] for p in preds])
    v = np.concatenate([s.valence for s in subjects])
    a = np.concatenate([s.arousal for s in subjects])
    return {"ccc_valence": ccc(v_hat, v), "pcc_valence": pcc(v_hat, v), "rmse_valence": rmse(v_hat, v),
            "ccc_arousal": ccc(a_hat, a), "pcc_arousal": pcc(a_hat, a), "rmse_arousal": rmse(a_hat, a)}


@dataclass
class TrainResult:
    model: EEGTCN
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    config: dict = field(default_factory=dict)


def train_eeg_student(train: list[Subject], val: list[Subject], cfg: EEGTrainConfig = EEGTrainConfig(),
                      progress: bool = True, ctx: DistContext | None = None) -> TrainResult:
    """Train on ``train``, select the epoch with the best mean validation CCC (valence, arousal).

    Parameters
    ----------
    train, val : list of Subject
        Training and validation sessions; under DDP every rank passes the same lists.
    cfg : EEGTrainConfig
    progress : bool
        Show a progress bar (on rank 0 only when distributed).
    ctx : DistContext | None
        ``None`` (default) or a single-process context: the original one-process recipe. A distributed context
        (:func:`models.distributed.init_distributed` under ``torchrun``): the model is wrapped in DDP, each epoch's
        windows are shuffled with ``(seed, epoch)`` and sharded by rank (``cfg.batch_size`` per rank, the same
        number of batches on every rank), and the validation score is averaged across ranks before it is used, so
        every rank takes the same decisions and ends with the same weights.

    Returns
    -------
    TrainResult
        ``model`` is the plain :class:`EEGTCN` (not the DDP wrapper), on ``ctx.device``, with the best weights.
    """
    distributed = ctx is not None and ctx.distributed
    torch.manual_seed(cfg.seed)  # same initial weights on every rank (DDP would broadcast rank 0's anyway)
    rng = np.random.default_rng(cfg.seed)
    model = EEGTCN(channels=cfg.channels, kernel_size=cfg.kernel_size, dropout=cfg.dropout)
    net = model
    if ctx is not None:
        net = wrap_model(model, ctx)  # moves model to ctx.device; the DDP wrapper when distributed
    if distributed:
        # Different dropout masks per rank: the ranks see different windows and should not share noise either.
        torch.manual_seed(cfg.seed + 1_000_003 * ctx.rank)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", patience=3, factor=0.5, min_lr=1e-6)
    result = TrainResult(model=model, config=asdict(cfg))
    best, best_state, stale = -np.inf, None, 0
    show = progress and (ctx is None or ctx.is_main)
    epochs = tqdm(range(cfg.epochs), desc="EEG student", disable=not show, unit="epoch")
    device = ctx.device if ctx is not None else torch.device("cpu")
    for epoch in epochs:
        net.train()
        losses = []
        shard = (lambda n, epoch=epoch: shard_indices(n, ctx, cfg.seed, epoch)) if distributed else None
        for x, y in _batches(train, cfg, rng, shard):
            x, y = x.to(device), y.to(device)
            out = net(x)
            loss = (ccc_loss(out.valence, y[:, 0]) + ccc_loss(out.arousal, y[:, 1])) / 2
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            losses.append(loss.item())
        # Every rank scores the whole validation set with the plain model (CCC over the concatenated sessions
        # does not split into per-rank parts); the weights are identical, and the all-reduced mean makes the score
        # - hence the scheduler, early-stopping and best-epoch decisions - identical on every rank.
        scores = evaluate(model, val)
        score = (scores["ccc_valence"] + scores["ccc_arousal"]) / 2
        train_loss = float(np.mean(losses))
        if distributed:
            score = all_reduce_mean(score, ctx)
            train_loss = all_reduce_mean(train_loss, ctx)  # the history is then the same on every rank
        sched.step(score)
        result.history.append({"epoch": epoch, "train_loss": train_loss, **scores})
        epochs.set_postfix(loss=f"{train_loss:.3f}", val_ccc=f"{score:.3f}")
        if score > best:
            best, best_state, stale, result.best_epoch = score, copy.deepcopy(model.state_dict()), 0, epoch
        else:
            stale += 1
            if stale >= cfg.patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return result
