"""Smallest end-to-end DDP run of the EEG student, to check that data-parallel training works on this machine.

Run it alone (one process) or under ``torchrun``::

    python -m models.train_ddp_demo --out DIR
    torchrun --standalone --nproc_per_node 2 -m models.train_ddp_demo --out DIR

It trains :func:`models.train_eeg_student.train_eeg_student` for a couple of epochs on a tiny **SYNTHETIC** data
set (made-up band-power sequences with planted linear labels - not EEG, no meaning beyond the test) and every rank
writes ``DIR/rank{r}.json`` with the SHA-256 of its final weights and its own validation score. Data-parallel
training is correct only if all ranks end with bit-identical weights; ``tests/test_distributed.py`` checks exactly
that from these files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from .distributed import barrier, cleanup, init_distributed, shard_indices
from .train_eeg_student import (
    EEGTrainConfig,
    Subject,
    evaluate,
    normalise_subject,
    sequences,
    train_eeg_student,
)

#: A tiny model and short windows, so two CPU processes finish in seconds.
DEMO_CONFIG = EEGTrainConfig(channels=(16, 16), seq_len=32, seq_hop=16, batch_size=4, epochs=2, patience=8,
                             seed=0, norm_memory=200.0)


def synthetic_subjects(n_subjects: int, frames: int = 160, seed: int = 0) -> list[Subject]:
    """SYNTHETIC sessions: band-power-like (T, 6, 32) log power, causally normalised, with planted linear labels.

    Log power = a 1/f-like level per band + a per-subject offset per feature (what the per-subject normalisation
    removes) + a few slow AR(1) latent sources mixed into all features + white noise. Valence and arousal are fixed
    linear read-outs of the normalised inputs (the same for every subject), so there is something to learn.
    Everything comes from ``numpy.random.default_rng(seed)``: every rank builds the identical data set.
    """
    rng = np.random.default_rng(seed)
    n_bands, n_channels, n_latent = 6, 32, 4
    band_level = np.array([1.5, 1.0, 1.2, 0.5, 0.2, -0.3])[:, None]  # log power falls with frequency
    mixing = rng.standard_normal((n_latent, n_bands * n_channels)) * 0.4
    w_valence = rng.standard_normal(n_bands * n_channels) / np.sqrt(n_bands * n_channels)
    w_arousal = rng.standard_normal(n_bands * n_channels) / np.sqrt(n_bands * n_channels)
    subjects = []
    for _ in range(n_subjects):
        latent = np.zeros((frames, n_latent))
        for t in range(1, frames):  # slow sources: AR(1) with a ~10-frame memory
            latent[t] = 0.9 * latent[t - 1] + np.sqrt(1 - 0.9**2) * rng.standard_normal(n_latent)
        offset = band_level + 0.5 * rng.standard_normal((n_bands, n_channels))
        log_power = offset.reshape(1, -1) + latent @ mixing + 0.3 * rng.standard_normal((frames, mixing.shape[1]))
        z = normalise_subject(log_power.reshape(frames, n_bands, n_channels), memory=DEMO_CONFIG.norm_memory)
        z = z.astype(np.float32)
        subjects.append(Subject(z=z, valence=(z @ w_valence).astype(np.float32),
                                arousal=(z @ w_arousal).astype(np.float32)))
    return subjects


def n_windows(subjects: list[Subject], cfg: EEGTrainConfig) -> int:
    """Training windows over ``subjects``: the ``n`` that :func:`train_eeg_student` shards across ranks."""
    return sum(len(sequences(len(s.z), cfg.seq_len, cfg.seq_hop)) for s in subjects)


def state_dict_sha256(model: torch.nn.Module) -> str:
    """SHA-256 of a model's weights, independent of pickling: each key (sorted) and its tensor's raw bytes, in turn.

    ``torch.save`` output is not byte-stable (it records storage ids and zip metadata), so the weights are hashed
    directly; two models hash equal exactly when every tensor is bit-identical.
    """
    h = hashlib.sha256()
    state = model.state_dict()
    for key in sorted(state):
        h.update(key.encode())
        h.update(state[key].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for rank{r}.json")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    parser.add_argument("--epochs", type=int, default=DEMO_CONFIG.epochs)
    args = parser.parse_args(argv)

    ctx = init_distributed(args.device)
    try:
        data = synthetic_subjects(5, seed=DEMO_CONFIG.seed)
        train, val = data[:3], data[3:]  # 3 x 9 = 27 windows: uneven over 2 ranks, so the padding is exercised
        cfg = replace(DEMO_CONFIG, epochs=args.epochs)
        result = train_eeg_student(train, val, cfg, progress=False, ctx=ctx)
        # This rank's own score of its final weights (not all-reduced): equal across ranks only if the weights are.
        scores = evaluate(result.model, val)
        report = {"rank": ctx.rank, "world_size": ctx.world_size, "backend": ctx.backend, "device": str(ctx.device),
                  "sha256": state_dict_sha256(result.model),
                  "val_score": (scores["ccc_valence"] + scores["ccc_arousal"]) / 2,
                  "best_epoch": result.best_epoch, "history": result.history,
                  # The windows this rank trained on in epoch 0: lets a test check that the ranks' data differed.
                  "shard_epoch0": shard_indices(n_windows(train, cfg), ctx, cfg.seed, 0).tolist()}
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"rank{ctx.rank}.json").write_text(json.dumps(report, indent=2))
        barrier(ctx)  # every file is written before any process exits
    finally:
        cleanup(ctx)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
