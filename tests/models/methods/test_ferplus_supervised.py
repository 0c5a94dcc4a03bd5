"""The supervised visual student as a method of `affectstream train` (models/methods/ferplus_supervised/): its config
reproduces the bundled student's recorded recipe, the export writes the ONNX files and manifest where it is told,
and a fast-dev run of the real config from the CLI (`affectstream train-visual --fast-dev-run`, real FER+ from
../shared, skipped without it) goes through every step without touching the committed weights and reports."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib

import pytest
import torch

from affectstream.core.paths import REPO
from affectstream.models.methods import BUILT_IN
from affectstream.models.training.config import ConfigError
from affectstream.models.training.fer_data import input_spec
from affectstream.models.training.image_loop import ImageTrainConfig, build_model, config_dict
from affectstream.models.training.precision import native_bf16
from affectstream.models.training.runner import load_config

from fixtures.fer_images import first_images, synthetic_fer

CONFIG = REPO / "models" / "configs" / "ferplus_supervised.toml"
TINY = ImageTrainConfig(width_mult=0.125, embedding_dim=8, amp_bf16=False, channels_last=False, eval_batch_size=64)


def test_config_is_complete_and_reproduces_the_bundled_students_recorded_recipe():
    config = load_config(CONFIG, BUILT_IN)
    assert config.method == "ferplus_supervised" and config.data.kind == "ferplus"
    student = config.options.student
    listed = tomllib.loads(CONFIG.read_text())["ferplus_supervised"]["student"]
    assert set(listed) == {f.name for f in dataclasses.fields(ImageTrainConfig)}  # every key, commented
    recorded = json.loads((REPO / "models" / "reports" / "visual_student_40ep.json").read_text())["training"]["config"]
    recipe = {**config_dict(student), "seed": config.run.seed}
    assert {k: recipe[k] for k in recorded} == recorded
    # options added since that run, at the values that train as it did: AdamW's default betas, the CE alone, the
    # warm-up + cosine schedule (cosine_t_max only shapes the cyclic one); and the precision this machine runs it at
    # (the bundled student trained in bfloat16 on a CPU that computes it natively; elsewhere float32)
    assert {k: recipe[k] for k in set(recipe) - set(recorded)} == {
        "adam_betas": [0.9, 0.999], "ce_weight": 1.0, "lr_schedule": "warmup_cosine", "cosine_t_max": 5,
        "precision": "bfloat16" if native_bf16() else "float32"}
    assert config.options.export and config.options.int8 and config.options.export_to == ""


@pytest.mark.parametrize("table, key", [("[ferplus_supervised.student]", "epoch"),
                                        ("[ferplus_supervised.student]", "seed"),  # the run's seed is the one
                                        ("[ferplus_supervised]", "out")])
def test_an_unknown_key_is_refused_with_its_name(tmp_path, table, key):
    path = tmp_path / "c.toml"
    path.write_text(f'method = "ferplus_supervised"\n[data]\nkind = "ferplus"\n{table}\n{key} = 3\n')
    with pytest.raises(ConfigError, match=f"{table.strip('[]')}.{key}"):
        load_config(path, BUILT_IN)


def test_export_writes_the_onnx_files_and_their_manifest_into_the_given_folder(tmp_path):
    from affectstream.models.deploy.manifest import verified_path
    from affectstream.models.methods.ferplus_supervised.export import PARITY_TOLERANCE, export_student

    torch.manual_seed(0)
    model = build_model(TINY).eval()
    data = synthetic_fer(n_train=32, n_valid=64, n_test=48)
    data.test.raw[:3] = data.train.images[:3]  # three test images with a pixel twin in train
    record = {"command": "affectstream train x.toml", "fast_dev_run": True,
              "training": {"config": {**config_dict(TINY), "seed": 0}, "history": []}}
    entry = export_student(TINY, model, data, tmp_path, record, try_int8=True, latency_threads=1)
    path, stored = verified_path("visual_student", tmp_path / "manifest.json")  # sha256 checked
    assert path == tmp_path / "visual_student.onnx" and stored["fast_dev_run"] is True
    assert entry["input"] == input_spec(TINY) and entry["command"] == record["command"]
    m = entry["metrics"]
    assert m["onnx_torch_max_abs_diff"] <= PARITY_TOLERANCE
    assert m["fer_plus_test"]["n_with_train_twin"] == 3 and m["fer_plus_test"]["n_majority"] == 48
    assert "per_class_recall" not in m["fer_plus_test"] and entry["quantization"]["tried"] is True
    manifest = json.loads((tmp_path / "manifest.json").read_text())["models"]
    assert ("visual_student_int8" in manifest) == entry["quantization"]["kept"]
    assert ((tmp_path / "visual_student_int8.onnx").is_file()) == entry["quantization"]["kept"]


def _committed() -> dict[str, str]:
    """sha256 of every committed weight and report file."""
    files = sorted((REPO / "models" / "weights").iterdir()) + sorted((REPO / "models" / "reports").rglob("*"))
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files if p.is_file()}


@pytest.mark.slow
def test_fast_dev_run_of_the_ferplus_config_from_the_cli(tmp_path, shared_data, monkeypatch, capsys):
    from affectstream.app.cli import train_visual
    from affectstream.app.cli.main import main
    from affectstream.models.methods.ferplus_supervised import method as ferplus_method
    from affectstream.models.training.fast_dev import FAST_DEV_BATCHES
    from affectstream.models.training.runner import FAST_DEV_BANNER

    config = tmp_path / "ferplus_supervised.toml"  # the real config, its run folders under tmp_path
    config.write_text(CONFIG.read_text().replace('out_dir = "../../runs"', 'out_dir = "runs"'))
    monkeypatch.setattr(train_visual, "CONFIG", config)
    # real FER+ throughout, valid and test cut to their first 256 images: scoring every image is most of the time
    monkeypatch.setattr(ferplus_method, "load_ferplus", first_images(ferplus_method.load_ferplus))
    before = _committed()
    assert main(["train-visual", "--fast-dev-run", "--report", str(tmp_path / "r.json")]) == 2
    assert main(["train-visual", "--fast-dev-run", "--quiet"]) == 0
    assert _committed() == before  # nothing bundled, no report rewritten
    (folder,) = (tmp_path / "runs").iterdir()
    assert folder.name.startswith("visual_student-") and folder.name.endswith("-fast-dev-run")
    run = json.loads((folder / "run.json").read_text())
    assert run["fast_dev_run"] is True and run["command"] == "affectstream train-visual --fast-dev-run --quiet"
    metrics = json.loads((folder / "metrics.json").read_text())
    summary = metrics["summary"]
    assert metrics["fast_dev_run"] is True and summary["fast_dev_run"] is True
    assert (folder / "report.md").read_text().startswith(FAST_DEV_BANNER)
    assert "## Final metrics (ONNX fp32" in (folder / "report.md").read_text()
    # one epoch of a handful of batches, on the real training split, with the recipe of the config
    training = summary["training"]
    assert training["epochs_run"] == 1 and training["train_images"] > 28000
    assert training["config"] == {**config_dict(load_config(CONFIG, BUILT_IN).options.student), "seed": 0}
    state = torch.load(folder / "folds" / "fold_00" / "visual_student.ckpt", weights_only=True)
    assert {int(s["step"]) for s in state["optimizer"]["state"].values()} == {FAST_DEV_BATCHES}
    # exported into the run folder, checked, scored once on the (cut) test split through the ONNX file
    manifest = json.loads((folder / "manifest.json").read_text())["models"]
    entry = manifest["visual_student"]
    assert entry["fast_dev_run"] is True and (folder / entry["file"]).is_file()
    assert entry["metrics"]["onnx_torch_max_abs_diff"] <= 1e-3
    assert 200 < entry["metrics"]["fer_plus_test"]["n_majority"] <= 256  # the first 256 test images with a majority
    assert entry["metrics"]["fer_plus_test"]["n_with_train_twin"] > 0 and entry["quantization"]["tried"]
    assert summary["metrics"] == entry["metrics"] and summary["wall_time_s"]["training_and_valid_eval"] > 0
    capsys.readouterr()
    assert main(["evaluate", str(folder), "--quiet"]) == 0
    assert "re-scored minus recorded = +0.00e+00" in capsys.readouterr().out
