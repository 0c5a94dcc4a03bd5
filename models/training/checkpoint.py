"""Training checkpoints, for both training loops (:mod:`affectstream.models.training.loop`,
:mod:`affectstream.models.training.image_loop`): written atomically, read back with ``weights_only=True``.

A checkpoint is a dict of tensors and plain values (numbers, strings, lists, dicts): the model, the optimiser, the
global torch RNG state and whatever else a loop needs to continue exactly (its scheduler, its batch-order generator,
the best weights so far, the history). :func:`torch.load` with ``weights_only=True`` reads nothing else, so opening
a checkpoint cannot run code. Writes go to a temporary file that replaces the old one in one step, so a run killed
while saving keeps the previous checkpoint intact.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

__all__ = ["CHECKPOINT_FORMAT", "restore_checkpoint", "save_atomic", "save_checkpoint"]

#: Version of the layout below; a checkpoint of another layout is refused, not misread.
CHECKPOINT_FORMAT = 2


def save_atomic(obj: Any, path: Path) -> None:
    """``torch.save(obj, path)`` through a temporary file in the same folder (an interrupted write leaves the old
    file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, **state: Any) -> None:
    """Write the model, the optimiser, the global torch RNG state and the loop's own ``state``."""
    save_atomic({"format": CHECKPOINT_FORMAT, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "torch_rng": torch.get_rng_state(), **state}, path)


def restore_checkpoint(path: Path | None, model: torch.nn.Module,
                       optimizer: torch.optim.Optimizer) -> dict[str, Any] | None:
    """Load what :func:`save_checkpoint` wrote into ``model`` and ``optimizer``, restore the torch RNG (dropout and
    other draws continue as in an uninterrupted run) and return the loop's own state; None when there is no file.

    Raises
    ------
    ValueError
        The file is a checkpoint of another layout.
    """
    if path is None or not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.pop("format", None) != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a training checkpoint of format {CHECKPOINT_FORMAT}")
    model.load_state_dict(state.pop("model"))
    optimizer.load_state_dict(state.pop("optimizer"))
    torch.set_rng_state(state.pop("torch_rng"))
    return state
