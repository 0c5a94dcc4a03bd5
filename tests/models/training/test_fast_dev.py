"""Fast-dev runs (models/training/fast_dev.py): the batch sources and the sequence loop under the switch, and a whole
`affectstream train --fast-dev-run` of the planted benchmark at a tiny size (SYNTHETIC data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from affectstream.models.training import fast_dev
from affectstream.models.training.fast_dev import FAST_DEV_BATCHES, fast_dev_run
from affectstream.models.training.loop import OptimConfig, WindowSet, batches, fit, index_batches


def test_batch_sources_give_a_handful_of_batches_in_epoch_0_and_none_after():
    data = WindowSet(np.zeros((40, 4, 2), np.float32), np.zeros((40, 4), np.float32))
    assert len(list(index_batches(40, 4, 0, 0))) == 10 and len(list(batches(data, 4, 0, 1))) == 10
    with fast_dev_run():
        assert fast_dev.active() and fast_dev.epochs(15) == 1
        first = list(index_batches(40, 4, 0, 0))
        assert len(first) == FAST_DEV_BATCHES and len(list(batches(data, 4, 0, 0))) == FAST_DEV_BATCHES
        assert list(index_batches(40, 4, 0, 1)) == [] and list(batches(data, 4, 0, 1)) == []
    assert not fast_dev.active() and fast_dev.epochs(15) == 15
    # the handful is the start of the full epoch, in the same order
    assert all(np.array_equal(a, b) for a, b in zip(first, index_batches(40, 4, 0, 0)))
    with fast_dev_run(False):
        assert not fast_dev.active()


def test_fit_runs_one_epoch_of_a_handful_of_steps(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    x, y = torch.randn(64, 3), torch.randn(64)

    def epoch_batches(epoch):  # a source of its own: fit limits it too
        return [(x[i:i + 4], y[i:i + 4]) for i in range(0, 64, 4)]

    with fast_dev_run():
        result = fit(model, lambda net, b: ((net(b[0]).squeeze(1) - b[1]) ** 2).mean(), epoch_batches,
                     lambda m: 0.0, OptimConfig(max_epochs=10), checkpoint=tmp_path / "f.ckpt", progress=False)
    assert len(result.history) == 1
    state = torch.load(tmp_path / "f.ckpt", weights_only=True)
    assert all(int(s["step"]) == FAST_DEV_BATCHES for s in state["optimizer"]["state"].values())


@pytest.mark.slow
def test_fast_dev_run_of_a_planted_benchmark_config_from_the_cli(tmp_path, capsys):
    from affectstream.app.cli.main import main
    from affectstream.models.training.runner import FAST_DEV_BANNER
    from affectstream.pipelines.synthetic.planted_dataset import build_planted_xdf_dataset

    data = tmp_path / "planted"
    build_planted_xdf_dataset(data, n_subjects=3, n_trials=2, trial_s=12.0, rest_s=3.0, progress=False)
    config = tmp_path / "tiny.toml"
    config.write_text(f'method = "v2e_kd"\n[run]\nname = "tiny"\nout_dir = "runs"\n[data]\npath = "{data}"\n'
                      '[protocol]\nkind = "loso"\n[v2e_kd]\nkd_weights = [0.5]\n[v2e_kd.teacher]\nmax_epochs = 3\n'
                      "[v2e_kd.student]\nmax_epochs = 3\nbatch_size = 2\n")
    assert main(["train", str(config), "--fast-dev-run", "--quiet", "--report", str(tmp_path / "r.json")]) == 2
    assert "--fast-dev-run writes no --report" in capsys.readouterr().err
    assert main(["train", str(config), "--fast-dev-run", "--quiet"]) == 0
    assert "FAST-DEV RUN" in capsys.readouterr().err  # the closing line says it too
    (folder,) = (tmp_path / "runs").iterdir()
    assert folder.name.endswith("-fast-dev-run")
    assert json.loads((folder / "run.json").read_text())["fast_dev_run"] is True
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["fast_dev_run"] is True and metrics["summary"]["fast_dev_run"] is True
    assert (folder / "report.md").read_text().startswith(FAST_DEV_BANNER)
    assert [p.name for p in (folder / "folds").glob("fold_*.json")] == ["fold_00.json"]  # one of the 3 LOSO folds
    fold = metrics["folds"][0]
    assert len(fold["teacher"]["history"]) == 1
    assert all(len(s["history"]) == 1 for s in fold["students"].values())
    for ckpt in (folder / "folds" / "fold_00").glob("*.ckpt"):  # 4 training windows in batches of 2: 2 steps
        steps = {int(s["step"]) for s in torch.load(ckpt, weights_only=True)["optimizer"]["state"].values()}
        assert steps and max(steps) <= FAST_DEV_BATCHES, ckpt.name
    # a fast-dev run stays one when it is continued; a full run cannot be continued as one
    assert main(["train", "--resume", str(folder), "--quiet"]) == 0
    assert json.loads((folder / "metrics.json").read_text())["fast_dev_run"] is True
    full = _full_run_folder(folder, tmp_path / "full")
    assert main(["train", "--resume", str(full), "--fast-dev-run", "--quiet"]) == 2
    assert "is a full run" in capsys.readouterr().err


def _full_run_folder(fast: Path, target: Path) -> Path:
    """A copy of the run folder ``fast`` recorded as a full run (nothing trained yet)."""
    target.mkdir()
    (target / "config.toml").write_text((fast / "config.toml").read_text())
    record = json.loads((fast / "run.json").read_text())
    (target / "run.json").write_text(json.dumps({**record, "fast_dev_run": False}))
    return target
