"""Supervised FER+ training of the visual student (docs/methods.md §1.3-1.6 without the distillation terms): the
recipe of the bundled ``visual_student`` (``models/configs/ferplus_supervised.toml``; ``affectstream train-visual``
runs that config).

One fold, FER+'s own split (``[data] kind = "ferplus"``):

1. **Train** the visual student with the image loop (:mod:`affectstream.models.training.image_loop`; every option in
   the ``[ferplus_supervised.student]`` table), selecting the epoch on FER+ valid.
2. **Export** (``export = true``): ONNX with flip TTA inside the graph, parity against torch, FER+ valid and -- once
   -- test scored through the exported file, static int8 when it keeps the accuracy and is faster, and the manifest
   entries with the run's provenance (:mod:`affectstream.models.methods.ferplus_supervised.export`). They go into the
   run folder, or into the folder ``export_to`` names; a fast-dev run always keeps them in its run folder.
3. **Report**: the manifest entry with the learning curve (``metrics.json``, ``report.md``; ``--report FILE.json``
   copies them, e.g. to ``models/reports/``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from affectstream.models.methods.ferplus_supervised.export import export_student
from affectstream.models.methods.ferplus_supervised.report import report_markdown, summary_of
from affectstream.models.training.fer_data import FerData, data_root, load_ferplus
from affectstream.models.training.fer_scores import fer_metrics
from affectstream.models.training.image_loop import (ImageTrainConfig, TrainResult, build_model, config_dict,
                                                     predict_logits, train)
from affectstream.models.training.method import Method, Run
from affectstream.models.training.protocols import Fold

__all__ = ["FerplusSupervisedConfig", "METHOD"]


@dataclass(frozen=True)
class FerplusSupervisedConfig:
    """Options of the supervised visual student (the ``[ferplus_supervised]`` table)."""

    student: ImageTrainConfig = field(default_factory=ImageTrainConfig)
    ferplus_root: str = ""  #: "" = the shared data folder (../shared/data/fer)
    export: bool = True  #: export to ONNX, score test through it, write the manifest entry
    int8: bool = True  #: also try static int8 (kept only when it keeps the accuracy and is faster)
    export_to: str = ""  #: folder of the ONNX files + manifest, relative to the config file; "" = the run folder
    latency_threads: int = 1  #: onnxruntime threads of the batch-1 latency measurement


def prepare(run: Run) -> None:
    """Nothing dataset-wide: the one fold reads FER+ itself."""


def _training_record(run: Run, cfg: ImageTrainConfig, result: TrainResult, data: FerData) -> dict:
    """The provenance and learning curve an exported model's manifest entry carries."""
    record = {"command": run.command,
              "training": {"config": {**config_dict(cfg), "seed": run.config.run.seed},
                           "epochs_run": len(result.history), "best_epoch": result.best["epoch"],
                           "selection": result.best.get("name"), "history": result.history,
                           "train_images": int(len(data.train.images)), "git_commit": run.git_commit,
                           "run_folder": str(run.folder)}}
    if run.fast_dev_run:
        record["fast_dev_run"] = True  # a smoke test's model: never to be bundled
    return record


def _export_dir(run: Run) -> Path:
    opts: FerplusSupervisedConfig = run.config.options
    folder = run.config.resolve(opts.export_to) if opts.export_to and not run.fast_dev_run else run.folder
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def fold(run: Run, state: None, fold: Fold) -> dict:
    opts: FerplusSupervisedConfig = run.config.options
    cfg, folder = opts.student, run.fold_dir(fold)
    data = load_ferplus(cfg, data_root(opts.ferplus_root), with_test=opts.export)
    result = train(cfg, data, run.config.run.seed, checkpoint=folder / "visual_student.ckpt", progress=run.progress)
    hashes = {"visual_student": run.save_weights(result.model, folder / "visual_student.pt")}
    record = _training_record(run, cfg, result, data)
    out = {**record, "weights_sha256": hashes,
           "valid_accuracy": result.history[result.best["epoch"] - 1]["valid_accuracy"]}
    if opts.export and run.ctx.is_main:
        target = _export_dir(run)
        entry = export_student(cfg, result.model, data, target, record, try_int8=opts.int8,
                               latency_threads=opts.latency_threads)
        out["export"] = {"folder": str(target), "entry": entry}
    return out


def summarise(run: Run, state: None, results: list[dict]) -> tuple[dict, str]:
    r = results[0]
    summary = summary_of(r["export"]["entry"] if "export" in r else
                         {k: r[k] for k in ("command", "training", "fast_dev_run") if k in r})
    return summary, report_markdown(summary)


def rescore(run: Run, state: None, fold: Fold, result: dict) -> dict[str, float]:
    """FER+ valid accuracy of the saved student again (torch, as selected), minus the recorded one."""
    opts: FerplusSupervisedConfig = run.config.options
    cfg = opts.student
    model = build_model(cfg)
    if cfg.channels_last:  # the memory format the recorded score was computed in (bf16 rounding differs)
        model = model.to(memory_format=torch.channels_last)
    model.load_state_dict(torch.load(run.fold_dir(fold) / "visual_student.pt", weights_only=True))
    data = load_ferplus(cfg, data_root(opts.ferplus_root))
    previous = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)  # the threads it was scored with during training
    try:
        acc = fer_metrics(predict_logits(model, data.valid.images, cfg), data.valid.votes)["accuracy"]
    finally:
        torch.set_num_threads(previous)
    return {f"fold {fold.index} FER+ valid accuracy": acc - result["valid_accuracy"]}


METHOD = Method("ferplus_supervised", FerplusSupervisedConfig, prepare, fold, summarise, rescore,
                data_kinds=("ferplus",))
