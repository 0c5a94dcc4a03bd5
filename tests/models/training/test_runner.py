"""The trainer (`affectstream train`): config, the XDF-session loader, resumable fits, a whole tiny Visual-to-EEG KD
run with its report and re-scoring, and the same run data-parallel under torchrun. All data are SYNTHETIC (the
planted benchmark's generator at a tiny size)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from affectstream.models.datasets.common import DatasetLayoutError
from affectstream.models.datasets.xdf_sessions import load_xdf_sessions
from affectstream.models.training.config import ConfigError
from affectstream.models.training.loop import OptimConfig, batches, ccc_loss, fit, make_windows
from affectstream.models.methods import BUILT_IN
from affectstream.models.training.method import weights_sha256
from affectstream.models.training.runner import load_config
from affectstream.pipelines.synthetic.planted_dataset import build_planted_xdf_dataset
from affectstream.core.paths import REPO

ROOT = REPO
TINY = """
method = "v2e_kd"
[run]
name = "tiny"
out_dir = "runs"
[data]
path = "{data}"
cache_dir = "cache"
[protocol]
kind = "loso"
[v2e_kd]
kd_weights = [0.5]
[v2e_kd.teacher]
max_epochs = 2
[v2e_kd.student]
max_epochs = 2
"""


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Path:
    """3 SYNTHETIC subjects x 2 trials x 12 s, as the planted benchmark writes them."""
    folder = tmp_path_factory.mktemp("planted")
    build_planted_xdf_dataset(folder, n_subjects=3, n_trials=2, trial_s=12.0, rest_s=3.0, progress=False)
    return folder


def _config(tmp_path: Path, planted: Path, extra: str = "") -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(data=planted) + extra)
    return path


# ------------------------------------------------------------------------------------------------ config
def test_example_config_loads_with_every_default_named():
    from affectstream.models.training.config import to_toml

    config = load_config(ROOT / "models" / "configs" / "planted_v2e_kd.toml", BUILT_IN)
    assert config.method == "v2e_kd" and config.protocol.kind == "loso" and config.data.planted.n_subjects == 12
    assert config.options.kd_weights == (0.4, 1.0) and config.options.student.max_epochs == 15
    text = to_toml(config)
    assert "[v2e_kd.teacher]" in text and "reload_best_each_epoch = true" in text and "kind = \"relative\"" in text


def test_written_config_reads_back_equal(tmp_path, planted):
    from affectstream.models.training.config import to_toml

    config = load_config(_config(tmp_path, planted), BUILT_IN)
    again = tmp_path / "again.toml"
    again.write_text(to_toml(config))
    assert load_config(again, BUILT_IN) == config


@pytest.mark.parametrize("extra, message", [
    ("[v2e_kd.student]\nmax_epoch = 3\n", "max_epoch"),
    ("[protocol]\nkind = \"kfold\"\n", "protocol.kind"),
    ("[runn]\nseed = 1\n", "runn"),
    ("[run]\nseed = \"zero\"\n", "run.seed"),
])
def test_bad_configs_name_the_key(tmp_path, planted, extra, message):
    path = tmp_path / "bad.toml"
    text = TINY.format(data=planted)
    if extra.startswith("[v2e_kd.student]"):
        text = text.replace("[v2e_kd.student]\nmax_epochs = 2\n", extra)
    elif extra.startswith("[protocol]"):
        text = text.replace('[protocol]\nkind = "loso"\n', extra)
    elif extra.startswith("[run]"):
        text = text.replace('[run]\nname = "tiny"\nout_dir = "runs"\n', extra)
    else:
        text += extra
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path, BUILT_IN)


def test_unknown_method_is_refused(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('method = "magic"\n')
    with pytest.raises(ConfigError, match="v2e_kd"):
        load_config(path, BUILT_IN)


# ------------------------------------------------------------------------------------------------ loader
def test_xdf_sessions_give_trials_with_labels_and_frames(planted):
    from affectstream.core.xdf_reader import load_recording

    trials = load_xdf_sessions(planted)
    assert [(t.subject, t.session, t.trial) for t in trials] == [(s, 1, k) for s in (1, 2, 3) for k in (1, 2)]
    t = trials[0]
    assert t.meta["synthetic"] and t.sfreq == 256.0 and t.eeg.dtype == np.float32
    assert t.continuous.rate == 4.0 and t.continuous.values.size == 48  # 12 s at 4 Hz
    assert t.eeg.shape[1] == pytest.approx(14 * 256, abs=2)  # the trial plus 1 s either side
    assert t.meta["frames"].shape == (48, 48, 48, 3) and t.meta["frames"].dtype == np.uint8
    # labels are the GroundTruth stream at the label times (interpolated), on the trial's EEG time axis
    rec = load_recording(planted / "sub-sim01_ses-1_task-planted.xdf")
    truth = rec.ground_truth[0]
    onset = t.meta["onset"]
    expected = np.interp(onset + np.arange(48) / 4.0, truth.timestamps, np.asarray(truth.data)[:, 0])
    np.testing.assert_allclose(t.continuous.values, expected, atol=1e-6)
    assert t.continuous.times[0] == pytest.approx(1.0, abs=1 / 256)


def test_xdf_session_layout_errors_name_what_is_expected(tmp_path, planted):
    from affectstream.core.xdf_writer import XDFWriter

    with pytest.raises(DatasetLayoutError, match="no sub-"):
        load_xdf_sessions(tmp_path)
    with pytest.raises(DatasetLayoutError, match="does not exist"):
        load_xdf_sessions(tmp_path / "nowhere")
    path = tmp_path / "sub-01_ses-1_task-x.xdf"
    with XDFWriter(path) as w:
        eeg = w.add_stream("eeg", "EEG", 2, 256.0, "float32", "e", labels=["Fz", "Cz"])
        w.write(eeg, np.zeros((512, 2), np.float32), 1.0 + np.arange(512) / 256)
    with pytest.raises(DatasetLayoutError, match="no label stream"):
        load_xdf_sessions(path)
    wrong = tmp_path / "recording.xdf"
    wrong.write_bytes((planted / "sub-sim01_ses-1_task-planted.xdf").read_bytes()[:100])
    with pytest.raises(DatasetLayoutError, match="sub-<id>"):
        load_xdf_sessions([wrong])


# ------------------------------------------------------------------------------------------------ the loop
def _toy(seed: int = 0):
    rng = np.random.default_rng(seed)
    seqs = []
    for _ in range(6):
        x = rng.standard_normal((40, 4)).astype(np.float32)
        y = np.convolve(x[:, 0], np.ones(3) / 3, mode="same").astype(np.float32)
        seqs.append((x, y, {}))
    return make_windows(seqs, 16, 8), seqs


def _toy_fit(tmp_path: Path, epochs: int, ckpt: Path | None, cpu_bf16: bool = False):
    from affectstream.models.methods.v2e_kd.teacher import TemporalTeacher

    torch.manual_seed(0)
    model = TemporalTeacher(4, (8, 8))
    data, seqs = _toy()
    cfg = OptimConfig(lr=1e-2, batch_size=4, window=16, hop=8, max_epochs=epochs, plateau_patience=1)

    def score(m):
        with torch.no_grad():
            x = torch.from_numpy(np.stack([s[0] for s in seqs]))
            y = torch.from_numpy(np.stack([s[1] for s in seqs]))
            return float(1 - ccc_loss(m(x).valence, y))

    result = fit(model, lambda net, b: ccc_loss(net(b[0]).valence, b[1]), lambda e: batches(data, 4, 0, e), score,
                 cfg, checkpoint=ckpt, progress=False, cpu_bf16=cpu_bf16)
    return model, result


def test_fit_learns_and_a_resumed_fit_ends_with_the_same_weights(tmp_path):
    whole, result = _toy_fit(tmp_path, 6, tmp_path / "whole.ckpt")
    assert result.best_score > result.history[0]["val_score"]  # it learned
    assert result.history[result.best_epoch]["val_score"] == result.best_score
    _toy_fit(tmp_path, 3, tmp_path / "part.ckpt")  # "killed" after 3 epochs
    resumed, again = _toy_fit(tmp_path, 6, tmp_path / "part.ckpt")
    assert again.resumed_from == 3 and len(again.history) == 6
    assert weights_sha256(resumed) == weights_sha256(whole)
    assert [h["val_score"] for h in again.history] == [h["val_score"] for h in result.history]


def test_bf16_autocast_on_the_cpu_trains_too(tmp_path):
    model, result = _toy_fit(tmp_path, 6, None, cpu_bf16=True)
    full, reference = _toy_fit(tmp_path, 6, None)
    assert result.best_score > result.history[0]["val_score"]  # it learned
    assert weights_sha256(model) != weights_sha256(full)  # in another precision (not silently float32)
    assert abs(result.best_score - reference.best_score) < 0.2


# ------------------------------------------------------------------------------------------------ a whole run
@pytest.mark.slow
def test_tiny_v2e_run_writes_report_resumes_and_rescores(tmp_path, planted, capsys):
    from affectstream.app.cli.main import main

    config = _config(tmp_path, planted)
    report = tmp_path / "reports" / "tiny.json"
    assert main(["train", str(config), "--quiet", "--report", str(report)]) == 0
    folder = next((tmp_path / "runs").iterdir())
    summary = json.loads(report.read_text())
    assert summary["data"] == "synthetic" and summary["folds"] == 3 and summary["kd"]["w"] == 0.5
    for key in ("no_kd", "kd", "teacher", "oracle_within_subject_linear"):
        assert np.isfinite(summary[key]["ccc_mean"]) and summary[key]["ccc_std"] >= 0
    assert 0 <= summary["p_value"] <= 1 and summary["command"].startswith("affectstream train")
    text = report.with_suffix(".md").read_text()
    assert "SYNTHETIC DATA" in text and "| EEG student, no KD |" in text
    for png in ("learning_curves.png", "test_traces.png", "saliency_topomaps.png"):
        assert (folder / png).stat().st_size > 5000
    assert (folder / "config.toml").is_file() and len(list((folder / "folds").glob("fold_*.json"))) == 3
    metrics = json.loads((folder / "metrics.json").read_text())

    # a run killed after its second fold continues where it stopped and gives the same numbers
    last = folder / "folds" / "fold_02.json"
    recorded = json.loads(last.read_text())
    last.unlink()
    assert main(["train", "--resume", str(folder), "--quiet"]) == 0
    again = json.loads(last.read_text())
    assert again["test"] == recorded["test"] and again["weights_sha256"] == recorded["weights_sha256"]
    assert json.loads((folder / "metrics.json").read_text())["summary"]["kd"] == metrics["summary"]["kd"]

    table = tmp_path / "compare.md"
    assert main(["compare", str(report), "--out", str(table), "--title", "tiny"]) == 0
    assert (f"| tiny | v2e_kd | XDF sessions ({planted.name}) | synthetic | ccc (test, mean ± std over 3 LOSO folds) | "
            f"{summary['no_kd']['ccc_mean']:.3f}") in table.read_text()
    entries = tmp_path / "entries.json"
    assert main(["compare", str(report), "--out", str(table), "--json", str(entries)]) == 0
    entry = json.loads(entries.read_text())[0]
    assert entry["method_mean"] == summary["kd"]["ccc_mean"] and entry["p_value"] == summary["p_value"]
    assert {"method", "dataset", "data", "metric", "baseline_mean", "method_mean", "p_value", "command"} <= set(entry)
    assert main(["compare", str(tmp_path / "missing.json"), "--out", str(table)]) == 2

    capsys.readouterr()
    assert main(["evaluate", str(folder), "--quiet"]) == 0
    out = capsys.readouterr().out
    # 3 folds x (teacher, no KD, KD, the controls plain KD and shuffled teacher)
    assert out.count("re-scored minus recorded = +0.00e+00") == 15


@pytest.mark.slow
def test_tiny_v2e_run_data_parallel_on_two_cpu_processes(tmp_path, planted):
    config = _config(tmp_path, planted, "")
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                                             "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "affectstream", "train", str(config), "--quiet"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    folder = next((tmp_path / "runs").iterdir())
    for k in range(3):
        result = json.loads((folder / "folds" / f"fold_{k:02d}.json").read_text())
        assert result["world_size"] == 2 and result["ranks_agree"] is True  # identical weights on both ranks
    assert json.loads((folder / "run.json").read_text())["world_size"] == 2


def test_compare_tabulates_fer_runs_in_order(tmp_path):
    from affectstream.models.training.compare import compare_markdown

    def fer(acc):
        m = {"accuracy": acc, "macro_f1": acc / 2, "balanced_accuracy": acc / 3}
        return {"8way": m, "present_only": m}

    paths = []
    for name, acc in (("b0", 0.8), ("b1", 0.85)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"method": "neurogaze", "data": "real FER+", "fer_valid": fer(acc),
                                    "fer_test": fer(acc - 0.01), "command": f"affectstream train {name}.toml"}))
        paths.append(path)
    text = compare_markdown(paths, "ablation")
    rows = [line for line in text.splitlines() if line.startswith("| b")]
    assert rows == ["| b0 | 80.00 | 40.00 | 26.67 | 79.00 | 39.50 | 26.33 |",
                    "| b1 | 85.00 | 42.50 | 28.33 | 84.00 | 42.00 | 28.00 |"]
    assert "`affectstream train b1.toml`" in text
