"""The fair comparison of EEG-student recipes: each trained with several seeds on one split, every seed measured.

One seed's model says little: the planted benchmark's student is selected on two validation subjects, and its
held-out CCC moves with the initialisation. So each recipe (a training config of the ``eeg_student`` method) is
trained with seeds 0..n-1 of ``[eeg_student] seed``, which changes the initialisation, the batch order and the montage
subsets but not the split (``run.seed`` draws the validation subjects, and stays). Everything else is the recipe's
config: the optimiser, the schedule and the budget (the montage-subset recipe trains as many windows per epoch as the
full-montage one, :mod:`affectstream.pipelines.eeg_student_training`). Every seed is exported by the trainer into a
scratch folder beside its runs, never into the bundled weights, and measured on the layouts like any student.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from affectstream.models.training.config import ConfigError, TrainConfig, to_toml
from affectstream.pipelines.channel_subsets.evaluation import LAYOUTS, Estimator, score_layouts

__all__ = ["seed_config", "summarise_seeds", "train_recipe"]

#: Folder (under the recipe's ``run.out_dir``) of the comparison's configs and exported models.
SCRATCH = "channel-subsets"


def seed_config(config: TrainConfig, recipe: str, seed: int, folder: Path) -> tuple[Path, Path]:
    """Write ``config`` for one seed of the comparison into ``folder``; returns (config file, export folder).

    Paths become absolute (the copy lives elsewhere than the original), the run is named after the recipe and the
    seed, and the model is exported into ``folder/<recipe>-seed<seed>/``, not where the recipe bundles it.
    """
    export = folder / f"{recipe}-seed{seed}"
    data = dataclasses.replace(config.data, path=str(config.resolve(config.data.path)),
                               cache_dir=str(config.resolve(config.data.cache_dir)))
    run = dataclasses.replace(config.run, name=f"{config.run.name}-{recipe}-seed{seed}",
                              out_dir=str(config.resolve(config.run.out_dir)))
    options = dataclasses.replace(config.options, seed=seed, export_to=str(export))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{recipe}-seed{seed}.toml"
    path.write_text(to_toml(dataclasses.replace(config, data=data, run=run, options=options)), encoding="utf-8")
    return path, export


def train_recipe(recipe: str, config_path: Path, seeds: int, trials: list, *, command: str,
                 layouts: tuple[str, ...] = LAYOUTS, progress: bool = False) -> tuple[dict, list[dict]]:
    """Train ``seeds`` seeds of one recipe and measure each on ``layouts`` with ``trials``.

    Returns the recipe's record (config, options, runs, seconds per seed) and the rows (one per layout and seed).

    Raises
    ------
    ConfigError
        The config is not of the ``eeg_student`` method.
    """
    from affectstream.models.training.runner import load_config, run_training  # PyTorch: the train extra
    from affectstream.pipelines.eeg_student_training import training_methods

    methods = training_methods()
    config = load_config(config_path, methods)
    if config.method != "eeg_student":
        raise ConfigError(f"{config_path}: the comparison trains the EEG student (method = \"eeg_student\"), not "
                          f"{config.method!r}")
    folder = config.resolve(config.run.out_dir) / SCRATCH
    record = {"config": str(config_path), "describe": config.options.describe_montages(),
              "options": {"montage_subsets": config.options.montage_subsets,
                          "subset_sizes": list(config.options.subset_sizes)},
              "train": dataclasses.asdict(config.options.train), "seeds": []}
    rows = []
    for seed in range(seeds):
        path, export = seed_config(config, recipe, seed, folder)
        start = time.perf_counter()
        run = run_training(path, methods, progress=progress, command=command)
        record["seeds"].append({"seed": seed, "run": str(run), "manifest": str(export / "manifest.json"),
                                "seconds": round(time.perf_counter() - start, 1)})
        estimator = Estimator(f"{recipe} seed {seed}", export / "manifest.json")
        rows += [{**row, "recipe": recipe, "seed": seed} for row in score_layouts(trials, estimator, layouts, progress)]
    return record, rows


def summarise_seeds(rows: list[dict]) -> list[dict]:
    """Mean and sample sd (n - 1) over seeds, per layout and recipe, in the order the rows come."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["montage"], row["recipe"]), []).append(row)
    out = []
    for (montage, recipe), group in groups.items():
        entry = {"montage": montage, "n_channels": group[0]["n_channels"], "recipe": recipe, "seeds": len(group)}
        for key in ("ccc_valence", "ccc_arousal"):
            values = np.array([r[key] for r in group], dtype=float)
            entry[f"{key}_mean"] = float(values.mean())
            entry[f"{key}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else float("nan")
        out.append(entry)
    return out
