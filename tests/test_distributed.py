"""Data-parallel training (models.distributed): sharding, the single-process fallback, and a real 2-process run.

The end-to-end test starts ``torchrun`` with two CPU processes (gloo backend) on the SYNTHETIC data set of
``models.train_ddp_demo`` and checks that both ranks end with bit-identical weights and the same validation score -
the property that DistributedDataParallel training must keep.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from models.distributed import (
    DistContext,
    all_reduce_mean,
    barrier,
    cleanup,
    init_distributed,
    shard_indices,
    single_process,
    wrap_model,
)
from models.train_ddp_demo import DEMO_CONFIG, state_dict_sha256, synthetic_subjects
from models.train_ddp_demo import main as demo_main
from models.train_eeg_student import train_eeg_student

ROOT = Path(__file__).resolve().parents[1]
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
    cleanup(ctx)


def test_single_process_context_trains_exactly_like_no_context():
    data = synthetic_subjects(3, frames=80)
    cfg = replace(DEMO_CONFIG, epochs=1)
    plain = train_eeg_student(data[:2], data[2:], cfg, progress=False)
    with_ctx = train_eeg_student(data[:2], data[2:], cfg, progress=False, ctx=single_process("cpu"))
    assert state_dict_sha256(plain.model) == state_dict_sha256(with_ctx.model)
    assert plain.history == with_ctx.history


def test_demo_runs_as_one_process_without_torchrun(tmp_path, monkeypatch):
    for var in TORCHRUN_VARS:
        monkeypatch.delenv(var, raising=False)
    assert demo_main(["--out", str(tmp_path), "--device", "cpu", "--epochs", "1"]) == 0
    report = json.loads((tmp_path / "rank0.json").read_text())
    assert report["world_size"] == 1 and report["backend"] is None and len(report["history"]) == 1
    assert sorted(report["shard_epoch0"]) == list(range(27))


@pytest.mark.slow
def test_two_cpu_processes_under_torchrun_end_with_identical_weights(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_VARS}
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    out = tmp_path / "ddp"
    # --standalone: a rendezvous on localhost with a free port chosen by the OS, so parallel runs do not collide.
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "models.train_ddp_demo", "--out", str(out), "--device", "cpu"]
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
                          check=False)
    assert proc.returncode == 0, f"torchrun failed after {time.monotonic() - start:.1f} s:\n{proc.stderr[-4000:]}"
    reports = [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]
    assert [r["rank"] for r in reports] == [0, 1]
    assert all(r["world_size"] == 2 and r["backend"] == "gloo" for r in reports)
    # The ranks trained on different, equally long halves of the windows (27 -> 14 each, one repeated).
    s0, s1 = (set(r["shard_epoch0"]) for r in reports)
    assert len(reports[0]["shard_epoch0"]) == len(reports[1]["shard_epoch0"]) == 14
    assert s0 | s1 == set(range(27)) and len(s0 & s1) <= 1
    # ... and still end bit-identical: gradients were averaged and every decision was taken on the same values.
    assert reports[0]["sha256"] == reports[1]["sha256"]
    assert reports[0]["val_score"] == reports[1]["val_score"]
    assert np.isfinite(reports[0]["val_score"])
    assert reports[0]["history"] == reports[1]["history"] and len(reports[0]["history"]) == DEMO_CONFIG.epochs
    assert reports[0]["best_epoch"] == reports[1]["best_epoch"]
