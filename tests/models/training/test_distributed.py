"""Data-parallel helpers (affectstream.models.training.distributed): sharding and the single-process fallback.

A real two-process run of ``affectstream train`` under ``torchrun`` is in tests/test_trainer.py (both ranks must
end every fold with bit-identical weights).
"""

from __future__ import annotations


import numpy as np
import pytest
import torch

from affectstream.models.training.distributed import (
    DistContext,
    all_reduce_mean,
    barrier,
    init_distributed,
    shard_indices,
    wrap_model,
)
from affectstream.core.paths import REPO

ROOT = REPO
TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "MASTER_ADDR", "MASTER_PORT",
                 "TORCHELASTIC_RUN_ID")


def _ctx(rank: int, world_size: int) -> DistContext:
    return DistContext(rank=rank, world_size=world_size, local_rank=rank, backend="gloo", is_main=rank == 0)


@pytest.mark.parametrize("n, world_size", [(27, 2), (10, 3), (8, 4), (1, 2), (2, 5), (12, 1)])
def test_shards_are_equal_length_and_cover_everything_with_wrap_padding(n, world_size):
    shards = [shard_indices(n, _ctx(r, world_size), seed=0, epoch=0) for r in range(world_size)]
    per_rank = -(-n // world_size)
    assert all(len(s) == per_rank and s.dtype == np.int64 for s in shards)
    together = np.concatenate(shards)
    assert set(together.tolist()) == set(range(n))  # every item is seen
    pad = per_rank * world_size - n
    if n >= world_size:
        # Disjoint apart from the padding, which repeats the first items of the permutation (wrap-around).
        assert len(np.unique(together)) == n
        assert len(together) - n == pad
        perm = np.empty(per_rank * world_size, dtype=np.int64)
        for r, s in enumerate(shards):
            perm[r::world_size] = s
        assert np.array_equal(perm[n:], perm[:pad])
        assert sorted(perm[:n].tolist()) == list(range(n))


def test_shards_depend_on_seed_and_epoch_but_not_on_the_call():
    ctx = _ctx(1, 2)
    a = shard_indices(100, ctx, seed=0, epoch=0)
    assert np.array_equal(a, shard_indices(100, ctx, seed=0, epoch=0))
    assert not np.array_equal(a, shard_indices(100, ctx, seed=0, epoch=1))
    assert not np.array_equal(a, shard_indices(100, ctx, seed=1, epoch=0))
    assert len(shard_indices(0, ctx, seed=0, epoch=0)) == 0
    with pytest.raises(ValueError):
        shard_indices(-1, ctx, seed=0, epoch=0)


def test_without_torchrun_the_context_is_a_single_process_and_helpers_are_no_ops(monkeypatch):
    for var in TORCHRUN_VARS:
        monkeypatch.delenv(var, raising=False)
    ctx = init_distributed("cpu")
    assert ctx == DistContext(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"), backend=None,
                              is_main=True)
    assert not ctx.distributed and not torch.distributed.is_initialized()
    monkeypatch.setenv("WORLD_SIZE", "1")  # a one-process torchrun does not open a process group either
    assert init_distributed("cpu") == ctx
    model = torch.nn.Linear(3, 1)
    assert wrap_model(model, ctx) is model
    assert all_reduce_mean(0.25, ctx) == 0.25
    barrier(ctx)
