"""What the trainer and a training method agree on: :class:`Method` (the method's steps, as the runner calls them)
and :class:`Run` (what a method sees of the run).

This module imports no method and no runner, so the methods (``affectstream.models.methods``) and the runner
(:mod:`affectstream.models.training.runner`) both depend on it and never on each other: the runner receives the
catalogue of methods from its caller.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from affectstream.models.datasets.dataset_kinds import DATASET_KIND_SPECS
from affectstream.models.training.config import TrainConfig
from affectstream.models.training.distributed import DistContext
from affectstream.models.training.protocols import Fold

__all__ = ["FaceFrames", "Method", "Run", "weights_sha256"]

#: ``face_frames(video, times) -> (T, S, S, 3) uint8`` face crops at ``times`` seconds of ``video``, or None when it
#: shows no face (:func:`affectstream.pipelines.face.video_crops.face_crops_at`).
FaceFrames = Callable[[Path, np.ndarray], "np.ndarray | None"]


@dataclass(frozen=True)
class Method:
    """One training method, as the runner calls it.

    Attributes
    ----------
    name : str
        The ``method`` value in configs.
    config_cls : type
        Dataclass of the method's options (the ``[name]`` table).
    prepare : callable
        ``prepare(run) -> state``: dataset-wide work (features, embeddings), once per run.
    fold : callable
        ``fold(run, state, fold) -> dict``: train and score one fold; JSON-ready result.
    summarise : callable
        ``summarise(run, state, results) -> (summary dict, report markdown)``.
    rescore : callable
        ``rescore(run, state, fold, result) -> {score name: recomputed - recorded}`` from the fold's saved weights
        (``affectstream evaluate``).
    data_kinds : tuple of str
        The ``[data] kind`` values the method trains on (a config with another is refused when it is read).
    """

    name: str
    config_cls: type
    prepare: Callable[[Run], Any]
    fold: Callable[[Run, Any, Fold], dict]
    summarise: Callable[[Run, Any, list[dict]], tuple[dict, str]]
    rescore: Callable[[Run, Any, Fold, dict], dict[str, float]]
    data_kinds: tuple[str, ...] = ("xdf",)


@dataclass
class Run:
    """What a method sees of the run.

    ``fast_dev_run``: one fold, one epoch, a handful of batches (the training loops read it through
    :mod:`affectstream.models.training.fast_dev`); a method that writes outside its run folder (an export) must not
    in a fast-dev run. ``git_commit``: the commit the run started from (its provenance, from ``run.json``).
    """

    config: TrainConfig
    folder: Path
    ctx: DistContext
    command: str
    progress: bool = True
    trials: list = field(default_factory=list)
    fast_dev_run: bool = False
    git_commit: str | None = None
    face_frames: FaceFrames | None = None  #: face crops of a dataset's video (the app's face path), for visual teachers

    @property
    def dataset(self) -> str:
        """What the run's trials are, for reports: the planted benchmark, the XDF sessions' folder or the dataset."""
        data = self.config.data
        if data.kind == "ferplus":
            return "FER+"
        if data.kind in DATASET_KIND_SPECS:
            return f"{DATASET_KIND_SPECS[data.kind].title} ({Path(data.root).name})"
        return "planted benchmark" if data.generate_planted else f"XDF sessions ({Path(data.path).name})"

    @property
    def device(self) -> torch.device:
        return self.ctx.device

    @property
    def amp(self) -> bool:
        """Mixed precision: on CUDA unless ``run.amp = "off"``."""
        return self.config.run.amp != "off" and self.device.type == "cuda"

    @property
    def cpu_bf16(self) -> bool:
        """bfloat16 autocast on the CPU, only when asked for (``run.amp = "bf16"``; see
        :func:`affectstream.models.training.loop.fit`)."""
        return self.config.run.amp == "bf16" and self.device.type == "cpu"

    def save_weights(self, model: torch.nn.Module, path: Path) -> str:
        """Write ``model``'s state dict (rank 0 only; every rank holds the same weights); returns their SHA-256."""
        if self.ctx.is_main:
            torch.save(model.state_dict(), path)
        return weights_sha256(model)

    def fold_dir(self, fold: Fold) -> Path:
        path = self.folder / "folds" / f"fold_{fold.index:02d}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def seed(self, offset: int = 0) -> None:
        torch.manual_seed(self.config.run.seed + offset)
        np.random.seed((self.config.run.seed + offset) % 2**32)


def weights_sha256(model: torch.nn.Module) -> str:
    """SHA-256 over the state dict's names and raw tensor bytes, in key order (equal weights, equal hash)."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()
