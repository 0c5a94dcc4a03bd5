"""``affectstream train CONFIG.toml``: the run folder, the fold loop, resuming, and the report.

A *method* (one package under :mod:`affectstream.models.methods`) plugs in through
:class:`~affectstream.models.training.method.Method`: its options dataclass, a
``prepare`` step over the whole dataset (features, embeddings), a ``fold`` step that trains and scores one
cross-validation fold, and a ``summarise`` step that turns the folds into the run's headline numbers and report
sections. The runner owns everything else, so a new method slots in without touching it; the caller hands the
runner the catalogue of methods (``affectstream train`` passes the built-in ones and the live path's EEG student):

Run folder (``<out_dir>/<name>-<timestamp>/``)
    ``config.toml`` (every value, defaults filled in), ``folds/fold_XX.json`` (one per finished fold: a killed run
    resumed with ``--resume RUN_DIR`` skips them, and the unfinished fold continues from its per-epoch checkpoints
    under ``folds/fold_XX/``), ``metrics.json`` (summary + per fold), ``report.md`` and the method's plots (PNG).

Provenance: ``run.json`` records the command, the git commit, the start time, the number of processes and whether
the run is a fast-dev run (``--fast-dev-run``: one fold, one epoch, a handful of batches,
:mod:`affectstream.models.training.fast_dev`), whose folder name, ``metrics.json``, summary and report say so, so that
it is never taken for a result.

Seeds: ``run.seed`` seeds torch and numpy before every fold, so a fold's result does not depend on which folds ran
before it in the same process (a resumed run gives the numbers an uninterrupted one gives).

Data-parallel: under ``torchrun`` every rank runs the same folds on its shard of the data (the training loop
averages gradients and decisions, :mod:`affectstream.models.training.loop`); rank 0 alone writes files, and after
every fold the ranks compare the SHA-256 of their trained weights, which must be identical (the fold result records it).
"""

from __future__ import annotations

import json
import logging
import math
import subprocess
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from affectstream.core.paths import REPO
from affectstream.models.training import fast_dev
from affectstream.models.training.distributed import DistContext, barrier, init_distributed
from affectstream.models.datasets.common import DatasetLayoutError
from affectstream.models.training.protocols import (Fold, loso_folds, subject_kfold_folds, trs_folds,
                                                    within_subject_folds)
from affectstream.models.training.config import (DATASET_KINDS, ConfigError, TrainConfig, load_train_config,
                                                 to_toml)
from affectstream.models.training.reports import paper_comparison
from affectstream.models.training.method import FaceFrames, Method, Run

log = logging.getLogger(__name__)

__all__ = ["load_config", "rescore_run", "run_folder_config", "run_training"]

#: The methods a run may name, by ``method`` value (:data:`affectstream.models.methods.BUILT_IN`, plus any the
#: caller adds).
Catalogue = Mapping[str, Method]

#: The first line of a fast-dev run's report.
FAST_DEV_BANNER = ("**FAST-DEV RUN** (`--fast-dev-run`: one fold, one epoch, a handful of batches): it shows that "
                   "every step runs, its numbers are not a result.")


def load_config(path: str | Path, methods: Catalogue, overrides: Sequence[str] = ()) -> TrainConfig:
    """Read a training config naming one of ``methods`` (with ``--set`` ``overrides``) and check that the method can
    train on its ``[data]`` kind."""
    config = load_train_config(path, {name: m.config_cls for name, m in methods.items()}, list(overrides))
    kinds = methods[config.method].data_kinds
    if config.data.kind not in kinds:
        raise ConfigError(f"{path}: method {config.method!r} trains on [data] kind = "
                          f"{' or '.join(repr(k) for k in kinds)}, not {config.data.kind!r}")
    if config.data.kind in DATASET_KINDS and not config.data.root:
        raise ConfigError(f"{path}: [data] kind = {config.data.kind!r} reads your copy of the dataset: set its "
                          f"folder with --set data.root=PATH (docs/datasets.md)")
    return config


def _context(device: str) -> DistContext:
    """The process's place in a torchrun job (a one-process context without torchrun); ``cuda`` without a GPU is a
    clear error."""
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but torch sees no CUDA device (a CPU build of torch?)")
    return init_distributed(device)


def _folds(config: TrainConfig, trials: list) -> list[Fold]:
    if config.data.kind == "ferplus":  # the published split is the protocol (docs/methods.md §1.6)
        return [Fold(0, (), (), (), "ferplus train/valid/test", ())]
    p = config.protocol
    if p.kind == "holdout":  # one fold: the named test subjects, a seeded share of the others validates
        test = set(p.test_subjects)
        subjects = sorted({t.subject for t in trials} - test)
        rng = np.random.default_rng(config.run.seed)
        n_val = max(1, int(round(p.val_fraction * len(subjects)))) if len(subjects) > 1 else 0
        val = set(rng.permutation(subjects)[:n_val].tolist())
        keys = {name: tuple(t.key for t in trials if (t.subject in group)) for name, group in
                (("val", val), ("test", test))}
        train = tuple(t.key for t in trials if t.subject not in val | test)
        return [Fold(0, train, keys["val"], keys["test"], "holdout", tuple(sorted(test)))]
    if p.kind == "loso":
        folds = loso_folds(trials, seed=config.run.seed, val_fraction=p.val_fraction)
    elif p.kind == "subject_kfold":
        folds = subject_kfold_folds(trials, n_folds=p.n_folds, seed=config.run.seed, val_fraction=p.val_fraction)
    elif p.kind == "within_subject":
        folds = within_subject_folds(trials, n_folds=p.n_folds, seed=config.run.seed, val_fraction=p.val_fraction)
    else:
        folds = trs_folds(trials, n_folds=p.n_folds, variant=p.trs_variant, seed=config.run.seed,
                          val_fraction=p.val_fraction)
    return folds[:p.max_folds] if p.max_folds > 0 else folds


def _load_trials(run: Run) -> list:
    """The trials of ``[data]``: none for FER+-only methods; the XDF sessions (with ``generate_planted`` the app has
    written the planted benchmark there first: the simulator lives in ``pipelines``); or a lab's copy of a published
    dataset (checked by :func:`_check_copy` before the run folder was made)."""
    config, data = run.config, run.config.data
    if data.kind == "ferplus":
        return []
    if data.kind in DATASET_KINDS:
        from affectstream.models.datasets.trainer_trials import load_trainer_trials

        return load_trainer_trials(data.kind, config.resolve(data.root), features=config.features,
                                   cache_dir=config.resolve(data.cache_dir), subjects=data.subjects,
                                   baseline=data.baseline, crop_s=data.crop_s, progress=run.progress)
    from affectstream.models.datasets.xdf_sessions import load_xdf_sessions

    return load_xdf_sessions(run.config.resolve(data.path), unit=data.unit)


def _check_copy(config: TrainConfig, progress: bool) -> None:
    """A dataset copy is verified as ``affectstream datasets check`` does it, before anything is written: a bad copy
    is refused in one line (its first problem) instead of failing half-way through a study."""
    data = config.data
    if data.kind not in DATASET_KINDS or not data.check:
        return
    from affectstream.models.datasets.check import check_dataset

    report = check_dataset(data.kind, config.resolve(data.root), progress=progress)
    if not report.ok:
        more = f" (and {len(report.problems) - 1} more: affectstream datasets check)" if len(report.problems) > 1 \
            else ""
        raise DatasetLayoutError(report.problems[0] + more)


def new_run_folder(config: TrainConfig, fast_dev_run: bool = False) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    suffix = "-fast-dev-run" if fast_dev_run else ""
    folder = config.resolve(config.run.out_dir) / f"{config.run.name}-{stamp}{suffix}"
    folder.mkdir(parents=True, exist_ok=False)
    return folder


def run_training(config_path: str | Path | None, methods: Catalogue, *, resume: str | Path | None = None,
                 device: str | None = None, progress: bool = True, command: str = "",
                 fast_dev_run: bool = False, overrides: Sequence[str] = (),
                 face_frames: FaceFrames | None = None) -> Path:
    """Train as the config says (or continue the run in ``resume``); returns the run folder.

    The run folder's ``config.toml`` is the source of truth on resume, so a resumed run cannot silently change its
    settings half-way; a fast-dev run stays one, and a run of full size cannot be continued as one. ``overrides``
    (``KEY=VALUE``) change the config's keys (not on resume); ``face_frames`` cuts face crops out of a dataset's
    videos (the face path, which the caller owns).
    """
    if resume is not None and overrides:
        raise ConfigError("--set cannot change a run that has started; its config.toml is what it continues with")
    config = run_folder_config(Path(resume), methods) if resume is not None else \
        load_config(config_path, methods, overrides)
    ctx = _context(device or config.run.device)
    _check_copy(config, progress and ctx.is_main)
    if resume is not None:
        folder = Path(resume)
        started = _run_record(folder)
        if fast_dev_run and not started.get("fast_dev_run"):
            raise ConfigError(f"{folder} is a full run; continue it without --fast-dev-run")
        fast_dev_run, command = bool(started.get("fast_dev_run")), started.get("command", "")  # as it started
    else:
        folder = _shared_folder(config, ctx, command, fast_dev_run)
    with fast_dev.fast_dev_run(fast_dev_run):
        run, method, folds, state = _start(config, methods, folder, ctx, command, progress, fast_dev_run,
                                           face_frames)
        results = [_fold_result(run, method, state, fold) for fold in folds]
    if ctx.is_main:
        summary, report = method.summarise(run, state, results)
        summary.setdefault("seed", config.run.seed)  # runs of one recipe with other seeds are grouped by compare
        metrics = {"method": config.method, "command": run.command, "data": summary.get("data", ""),
                   "summary": summary, "folds": results}
        if config.paper.summary_keys:
            summary["paper"], table = paper_comparison(config.paper, summary)
            report = f"{report}\n\n{table}"
        if fast_dev_run:
            summary["fast_dev_run"] = metrics["fast_dev_run"] = True
            report = f"{FAST_DEV_BANNER}\n\n{report}"
        (folder / "metrics.json").write_text(json.dumps(metrics, indent=1, default=_json_default))
        (folder / "report.md").write_text(report, encoding="utf-8")
    barrier(ctx)
    return folder


def _fold_result(run: Run, method: Method, state: Any, fold: Fold) -> dict:
    """The fold's result: read back when a previous process finished it, else trained and written (by rank 0)."""
    done = run.folder / "folds" / f"fold_{fold.index:02d}.json"
    if done.is_file():
        return json.loads(done.read_text())
    run.seed(fold.index)
    t0 = time.perf_counter()
    result = {"fold": fold.index, "test_subjects": list(fold.test_subjects), "sizes": list(fold.sizes),
              **method.fold(run, state, fold)}
    result["seconds"] = time.perf_counter() - t0
    result["world_size"] = run.ctx.world_size
    _check_ranks_agree(result, run.ctx)
    if run.ctx.is_main:
        done.parent.mkdir(parents=True, exist_ok=True)
        done.write_text(json.dumps(result, indent=1, default=_json_default))
    return result


def _shared_folder(config: TrainConfig, ctx: DistContext, command: str, fast_dev_run: bool) -> Path:
    """A new run folder with its provenance, made by rank 0 and announced to the other ranks."""
    folder = None
    if ctx.is_main:
        folder = new_run_folder(config, fast_dev_run)
        (folder / "config.toml").write_text(to_toml(config), encoding="utf-8")
        (folder / "run.json").write_text(json.dumps({"base_dir": str(config.base_dir), "command": command,
                                                     "git_commit": _git_commit(), "started": time.time(),
                                                     "world_size": ctx.world_size, "fast_dev_run": fast_dev_run},
                                                    indent=2))
    if ctx.distributed:
        box = [str(folder) if folder is not None else None]
        torch.distributed.broadcast_object_list(box, src=0)
        folder = Path(box[0])
    return folder


def _git_commit() -> str | None:
    """The repository's commit, for the run's provenance (None outside a git checkout)."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip() or None
    except (OSError, subprocess.CalledProcessError):
        return None


def _check_ranks_agree(result: dict, ctx: DistContext) -> None:
    """Data-parallel training is only right if every rank ends with the same weights: compare their hashes."""
    if not ctx.distributed:
        return
    mine = result.get("weights_sha256", {})
    every = [None] * ctx.world_size
    torch.distributed.all_gather_object(every, mine)
    if any(h != mine for h in every):
        raise RuntimeError(f"fold {result['fold']}: the ranks ended with different weights ({every})")
    result["ranks_agree"] = True


def run_folder_config(folder: Path, methods: Catalogue) -> TrainConfig:
    """The configuration a run folder was started with (relative paths resolved as they were then)."""
    from dataclasses import replace

    if not (folder / "config.toml").is_file() or not (folder / "run.json").is_file():
        raise FileNotFoundError(f"{folder} is not a run folder of `affectstream train` (no config.toml / run.json)")
    config = load_config(folder / "config.toml", methods)
    return replace(config, base_dir=Path(json.loads((folder / "run.json").read_text())["base_dir"]))


def _start(config: TrainConfig, methods: Catalogue, folder: Path, ctx: DistContext, command: str, progress: bool,
           fast_dev_run: bool = False, face_frames: FaceFrames | None = None):
    if config.run.threads > 0:
        torch.set_num_threads(config.run.threads)
    record = _run_record(folder)
    run = Run(config, folder, ctx, command, progress and ctx.is_main, fast_dev_run=fast_dev_run,
              git_commit=record.get("git_commit"), face_frames=face_frames)
    method = methods[config.method]
    run.trials = _load_trials(run)
    try:
        folds = _folds(config, run.trials)[:1 if fast_dev_run else None]
    except ValueError as exc:  # too few trials or subjects for the protocol: the user's data, not a bug
        raise ConfigError(f"[protocol] {config.protocol.kind}: {exc}") from None
    log.info("%s: %d trials of %d subjects, %d %s folds, device %s", config.method, len(run.trials),
             len({t.subject for t in run.trials}), len(folds), config.protocol.kind, run.device)
    return run, method, folds, method.prepare(run)


def rescore_run(folder: str | Path, methods: Catalogue, *, device: str | None = None, progress: bool = True,
                face_frames: FaceFrames | None = None) -> dict[str, float]:
    """Score every finished fold of a run again from its saved weights; ``{score: recomputed - recorded}``."""
    folder = Path(folder)
    config = run_folder_config(folder, methods)
    record = _run_record(folder)
    run, method, folds, state = _start(config, methods, folder, _context(device or "cpu"), record.get("command", ""),
                                       progress, bool(record.get("fast_dev_run")), face_frames)
    diffs: dict[str, float] = {}
    for fold in folds:
        done = folder / "folds" / f"fold_{fold.index:02d}.json"
        if done.is_file():
            diffs.update(method.rescore(run, state, fold, json.loads(done.read_text())))
    if not diffs:
        raise FileNotFoundError(f"{folder} has no finished fold to re-score")
    return diffs


def _run_record(folder: Path) -> dict:
    """The run's ``run.json`` (its provenance); empty when it cannot be read (e.g. on a rank other than 0 before the
    file exists)."""
    try:
        return json.loads((folder / "run.json").read_text())
    except (OSError, ValueError):
        return {}


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")
