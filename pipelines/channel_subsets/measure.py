"""One run of ``affectstream channel-subsets``: the estimators measured on the layouts, the recipes compared, an
earlier report's other estimators carried over, the report assembled."""

from __future__ import annotations

import time
from pathlib import Path

from affectstream.models.deploy.manifest import EEG_STUDENT, ModelIntegrityError, load_manifest, verified_path
from affectstream.pipelines.channel_subsets.evaluation import (LAYOUTS, Estimator, layout_record, load_benchmark,
                                                               score_layouts)
from affectstream.pipelines.channel_subsets.fair import summarise_seeds, train_recipe
from affectstream.pipelines.channel_subsets.report import ReportError, build_report, merge_kept

__all__ = ["measure", "student_record"]


def student_record(manifest: Path, command: str) -> dict:
    """What a student is (its manifest, ONNX sha256, what it was trained on and how) after its sha256 check."""
    path, entry = verified_path(EEG_STUDENT, manifest)
    return {"kind": "student", "manifest": str(manifest), "onnx": path.name, "sha256": entry["sha256"],
            "data": entry.get("data"), "trained_on": entry.get("trained_on"), "trained_by": entry.get("command"),
            # a manifest without the field predates the montage-subset option: its student saw the full montage
            "training_montages": entry["input"].get("training_montages", "the full 32-channel montage"),
            "command": command}


def _replaced(record: dict) -> bool:
    """Whether a student's manifest now names other weights than those measured (a student since retrained)."""
    if record["kind"] != "student":
        return False
    try:
        return load_manifest(Path(record["manifest"]))["models"][EEG_STUDENT]["sha256"] != record["sha256"]
    except (OSError, KeyError, ModelIntegrityError):  # no manifest or entry there any more
        return True


def measure(config_path: Path, *, students: dict[str, Path], baseline: bool, recipes: dict[str, Path], seeds: int,
            command: str, subjects: tuple[int, ...] | None = None, layouts: tuple[str, ...] = LAYOUTS,
            keep: dict | None = None, progress: bool = False) -> dict:
    """Measure ``students`` (name -> manifest), the baseline and the ``recipes`` (name -> training config, ``seeds``
    seeds each) on the held-out ``subjects`` (the config's test subjects by default) of ``config_path``'s data.

    Raises
    ------
    ReportError
        The config names no test subjects and none were given, or ``keep`` was measured on other data.
    """
    from affectstream.models.training.runner import load_config  # PyTorch: the train extra
    from affectstream.pipelines.eeg_student_training import training_methods

    config = load_config(config_path, training_methods())
    subjects = tuple(subjects or config.protocol.test_subjects)
    if not subjects:
        raise ReportError(f"{config_path} names no test subjects ([protocol] test_subjects); give them")
    trials = load_benchmark(config, subjects, progress)
    synthetic = all(t.meta.get("synthetic") for t in trials)
    benchmark = {"config": str(config_path), "data_path": config.data.path, "subjects": list(subjects),
                 "sessions": len(trials), "seconds": round(sum(t.duration_s for t in trials), 1),
                 "layouts": list(layouts)}
    estimators = {"baseline": {"kind": "baseline", "command": command}} if baseline else {}
    estimators |= {name: student_record(path, command) for name, path in students.items()}
    chosen = [Estimator(name, students.get(name)) for name in estimators]
    rows = []
    for e in chosen:
        start = time.perf_counter()
        rows += score_layouts(trials, e, layouts, progress)
        estimators[e.name]["seconds"] = round(time.perf_counter() - start, 1)  # replaying every layout
    fair = None
    if recipes:
        fair = {"seeds": seeds, "recipes": {}, "rows": []}
        for name, path in recipes.items():
            fair["recipes"][name], seed_rows = train_recipe(name, path, seeds, trials, command=command,
                                                            layouts=layouts, progress=progress)
            fair["rows"] += seed_rows
        fair["summary"] = summarise_seeds(fair["rows"])
        fair["bundled"] = (f"The bundled student is trained by `affectstream train {config_path}`: its recipe with "
                           "seed 0, not chosen among the seeds or on the test subjects.")
    if keep is not None:
        estimators, rows, fair = merge_kept(keep, estimators, rows, fair, benchmark)
        for record in estimators.values():
            record["replaced"] = _replaced(record)
    order = list(estimators)
    rows.sort(key=lambda r: (layouts.index(r["montage"]), order.index(r["estimator"])))
    return build_report(data="synthetic" if synthetic else "real", command=command, benchmark=benchmark,
                        layouts=[layout_record(name) for name in layouts], estimators=estimators, rows=rows, fair=fair)
