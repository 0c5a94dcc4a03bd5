"""Data-parallel training across processes and machines with ``torchrun`` and DistributedDataParallel.

Launch any training entry point that uses this module with, e.g.::

    torchrun --standalone --nproc_per_node 2 -m affectstream train CONFIG.toml                # one machine
    torchrun --nnodes 2 --node_rank R --master_addr HOST --master_port 29500 \\
             --nproc_per_node 8 -m affectstream train CONFIG.toml                             # several machines

``torchrun`` starts one process per device and tells each who it is through environment variables (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``). :func:`init_distributed` reads them and joins
the process group; without them (a plain ``python -m ...``) it returns a single-process context and every helper
here becomes a no-op, so the same training code runs both ways.

Every rank holds a full copy of the model. :func:`wrap_model` puts it in
:class:`~torch.nn.parallel.DistributedDataParallel`, which broadcasts rank 0's parameters when it is built and
averages the gradients across ranks during ``backward``; with the same optimiser on every rank the weights then
stay identical step after step. Each rank trains on its own part of the data (:func:`shard_indices`).

The one rule the callers must keep: every rank has to reach every collective operation (the gradient all-reduce
inside ``backward``, :func:`all_reduce_mean`, :func:`barrier`) the same number of times and in the same order, or
the ranks wait on each other for ever. Hence equal shard lengths (the same number of batches on every rank) and
decisions (early stopping, learning-rate steps) taken on values that are identical on every rank.

Backends: ``gloo`` on CPU, ``nccl`` on CUDA GPUs (one GPU per process, chosen by ``LOCAL_RANK``).
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.distributed as dist

__all__ = ["DistContext", "all_reduce_mean", "barrier", "init_distributed", "shard_indices",
           "single_process", "wrap_model"]


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in a (possibly one-process) training job.

    Attributes
    ----------
    rank : int
        Global index of this process, ``0 .. world_size - 1``.
    world_size : int
        Number of processes in the job (1: no process group, every helper is a no-op).
    local_rank : int
        Index of this process on its machine; picks the GPU (``cuda:local_rank``).
    device : torch.device
        Where this process keeps its model and batches.
    backend : str | None
        ``"gloo"`` (CPU) or ``"nccl"`` (CUDA) when distributed, ``None`` for a single process.
    is_main : bool
        True on rank 0 only: the process that shows progress and writes shared outputs (reports, checkpoints),
        so that N processes do not write the same file at once.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: str | None = None
    is_main: bool = True

    @property
    def distributed(self) -> bool:
        """True when there is more than one process (a process group exists and collectives are real)."""
        return self.world_size > 1


def _resolve_device(device: str, local_rank: int) -> torch.device:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None:
        # One GPU per process: torchrun starts nproc_per_node processes on a machine, LOCAL_RANK numbers them.
        dev = torch.device("cuda", local_rank)
    return dev


def single_process(device: str = "cpu") -> DistContext:
    """The context of an ordinary, non-distributed run (rank 0 of 1) on ``device`` (``"auto"``: CUDA if any)."""
    return DistContext(device=_resolve_device(device, 0))


def init_distributed(device: str = "auto", timeout_s: float = 1800.0) -> DistContext:
    """Join the ``torchrun`` process group when there is one; otherwise describe a single-process run.

    Parameters
    ----------
    device : str
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"`` or ``"cuda"``. With CUDA each process takes
        ``cuda:LOCAL_RANK`` and the ``nccl`` backend (GPU-to-GPU transfers); on CPU the backend is ``gloo``.
    timeout_s : float
        How long a collective may wait for the other ranks before failing. A rank that crashed otherwise leaves
        the others blocked; ``torchrun`` also tears the job down when one process exits with an error.

    Returns
    -------
    DistContext
        The process group is initialised only when ``WORLD_SIZE > 1``; with ``WORLD_SIZE`` unset or 1 nothing is
        initialised (no port is opened) and a rank-0-of-1 context is returned, so a plain ``python -m`` run and a
        one-process ``torchrun`` behave alike. Calling it again in an initialised process returns the same
        context without initialising twice.

    Notes
    -----
    Address and port of the rendezvous (``MASTER_ADDR``, ``MASTER_PORT``) are read by
    :func:`torch.distributed.init_process_group` itself (``init_method="env://"``), as set by ``torchrun``.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if world_size <= 1:
        return single_process(device)
    dev = _resolve_device(device, local_rank)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if dev.type == "cuda":
        torch.cuda.set_device(dev)  # before init, so nccl binds this process to its own GPU
    if not dist.is_initialized():
        kwargs = {"device_id": dev} if dev.type == "cuda" else {}
        dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world_size,
                                timeout=_dt.timedelta(seconds=timeout_s), **kwargs)
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=dev,
                       backend=dist.get_backend(), is_main=rank == 0)


def wrap_model(model: torch.nn.Module, ctx: DistContext) -> torch.nn.Module:
    """Move ``model`` to ``ctx.device`` and wrap it in DistributedDataParallel when the run is distributed.

    Parameters
    ----------
    model : torch.nn.Module
        The model; it is moved in place (``Module.to``), so optimisers built on ``model.parameters()`` and
        ``model.state_dict()`` keep referring to the trained weights, without DDP's ``module.`` key prefix.
    ctx : DistContext

    Returns
    -------
    torch.nn.Module
        ``model`` itself for a single process; otherwise its DDP wrapper, which must be used for the training
        forward passes (the gradient averaging hooks run from it). Evaluate with the unwrapped ``model``: DDP's
        forward is itself a collective (it may broadcast buffers), which would hang when ranks evaluate
        different amounts of data.

    Notes
    -----
    Every rank should build the model with the same seed anyway; DDP broadcasts rank 0's parameters and buffers
    when it is built, so a different initialisation would be overwritten, but identical seeds keep the single- and
    multi-process runs comparable. ``find_unused_parameters=False``: every parameter of the models here takes part
    in every forward, and the search for unused ones costs a graph traversal per step.
    """
    model = model.to(ctx.device)
    if not ctx.distributed:
        return model
    device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=False)


def shard_indices(n: int, ctx: DistContext, seed: int, epoch: int) -> np.ndarray:
    """This rank's part of a seeded permutation of ``range(n)``, the same length on every rank.

    Parameters
    ----------
    n : int
        Number of items (training windows) to share out.
    ctx : DistContext
    seed, epoch : int
        The permutation is drawn from ``numpy.random.default_rng((seed, epoch))``: the same on every rank (so the
        shards are disjoint and together cover every item), new each epoch (so a rank does not see the same
        subset every epoch), and reproducible without any saved generator state (so a resumed run sees the same
        order).

    Returns
    -------
    np.ndarray
        ``ceil(n / world_size)`` indices (int64). The permutation is padded by wrapping around to its start until
        its length is a multiple of ``world_size`` (as :class:`torch.utils.data.DistributedSampler` does), then
        rank ``r`` takes every ``world_size``-th item from position ``r``.

    Notes
    -----
    Why pad: every rank must run the same number of optimiser steps, because each ``backward`` of a DDP model is an
    all-reduce that waits for all ranks; a rank with one batch fewer would leave the others waiting for ever, and
    batches of different sizes would weight ranks' gradients unequally. Padding repeats at most
    ``world_size - 1`` items per epoch (a different few each epoch); dropping the remainder instead would lose
    them. With one process this is simply the whole permutation.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    per_rank = math.ceil(n / ctx.world_size)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    perm = np.random.default_rng((seed, epoch)).permutation(n)
    total = per_rank * ctx.world_size
    padded = np.resize(perm, total)  # np.resize repeats from the start: wrap-around padding, even when total > 2n
    return padded[ctx.rank:total:ctx.world_size].astype(np.int64)


def all_reduce_mean(value: float, ctx: DistContext) -> float:
    """Mean of a scalar over all ranks, returned on every rank (``value`` itself for a single process).

    Use it for metrics that decide what happens next (validation score, loss): each rank computes its own value,
    and a decision taken on a per-rank value could differ between ranks - one rank stops early while the others
    go on to the next epoch's all-reduce and wait for ever. The mean is computed in float64 and is the same on
    every rank; the mean of identical values is exactly that value.
    """
    if not ctx.distributed:
        return float(value)
    t = torch.tensor([float(value)], dtype=torch.float64, device=ctx.device)  # nccl needs a CUDA tensor
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item() / ctx.world_size)


def barrier(ctx: DistContext) -> None:
    """Wait until every rank gets here (e.g. before rank 0 reads files the others wrote); no-op for one process."""
    if not ctx.distributed:
        return
    if ctx.backend == "nccl":
        dist.barrier(device_ids=[ctx.device.index])
    else:
        dist.barrier()
