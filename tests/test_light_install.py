"""The light install (``pip install affectstream``, no extras) works without PyTorch, proved without uninstalling it.

Every command runs in a child interpreter whose ``sitecustomize`` puts a finder first on ``sys.meta_path`` that
refuses the ``train`` extra's packages (torch, torchvision, onnx, onnxscript) exactly as a missing package does, and
writes down every attempt. The live commands must work and never even try them; the training commands must stop at
once with exit 2 and the install hint. The simulator's data are SYNTHETIC.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from affectstream.core.paths import REPO

BLOCKED = ("torch", "torchvision", "onnx", "onnxscript")

SITECUSTOMIZE = f'''
"""Test harness (tests/test_light_install.py): this interpreter behaves as if {BLOCKED} were not installed."""
import os
import sys

BLOCKED = {BLOCKED!r}


class RefuseTrainingPackages:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] not in BLOCKED:
            return None
        with open(os.environ["AFFECTSTREAM_BLOCKED_LOG"], "a") as log:
            log.write(name + "\\n")
        raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)


sys.meta_path.insert(0, RefuseTrainingPackages())
'''

#: Runs ``affectstream demo --screenshot`` and reports what the dashboard's topomap panel drew in saliency mode.
SCREENSHOT = '''
import json, sys
import numpy as np
from affectstream.app.dashboard.topomap_panel import TopomapPanel
from affectstream.app.cli.main import main

shown = []
draw = TopomapPanel.show_values


def recording_draw(self, values):
    if self.mode == "saliency":
        shown.append(np.asarray(values, dtype=float))
    return draw(self, values)


TopomapPanel.show_values = recording_draw
code = main(["demo", "--screenshot", sys.argv[1], "--duration", "8"])
print(json.dumps({"code": code, "maps": len(shown), "peaks": [float(np.nanmax(m)) for m in shown],
                  "nonzero": [int(np.count_nonzero(m)) for m in shown]}))
'''


@pytest.fixture(scope="module")
def light(tmp_path_factory):
    """(run, attempts): ``run(*argv)`` runs a child interpreter without the train extra; ``attempts()`` reads and
    clears the imports it refused."""
    folder = tmp_path_factory.mktemp("light_install")
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = folder / "blocked.log"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")])),
               AFFECTSTREAM_BLOCKED_LOG=str(log), QT_QPA_PLATFORM="offscreen")

    def run(*argv: str, timeout: float = 120.0, cwd: Path = folder) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=cwd)

    def attempts() -> list[str]:
        found = log.read_text().split() if log.exists() else []
        log.unlink(missing_ok=True)
        return found

    return run, attempts


def test_the_harness_refuses_torch(light):
    run, attempts = light
    proc = run("-c", "import torch")
    assert proc.returncode == 1 and "ModuleNotFoundError: No module named 'torch'" in proc.stderr
    assert attempts() == ["torch"]


@pytest.mark.slow
@pytest.mark.lsl
def test_headless_demo_runs_without_torch(light, tmp_path):
    run, attempts = light
    out = tmp_path / "x.jsonl"
    proc = run("-m", "affectstream", "demo", "--headless", "--duration", "6", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) >= 16 and {r["estimator_eeg"] for r in records} == {"student"}
    assert attempts() == []  # the live path does not even look for PyTorch


@pytest.mark.slow
@pytest.mark.lsl
def test_dashboard_draws_onnxruntime_saliency_without_torch(light, tmp_path):
    run, attempts = light
    shot = tmp_path / "shot.png"
    proc = run("-c", SCREENSHOT, str(shot), timeout=180.0)
    assert proc.returncode == 0, proc.stderr[-2000:]
    drawn = json.loads(proc.stdout.strip().splitlines()[-1])
    assert drawn["code"] == 0 and shot.stat().st_size > 10_000
    # One map a second once the student's frames are filled: several in 8 s, each jointly normalised to peak 1.
    assert drawn["maps"] >= 3 and all(math.isclose(p, 1.0) for p in drawn["peaks"])
    assert min(drawn["nonzero"]) > 100  # of the 192 band-channel values
    assert attempts() == []


@pytest.mark.parametrize("argv", [
    ["train", "models/configs/planted_eeg_student.toml"],
    ["train-visual", "--fast-dev-run"],
    ["export", "--eeg-weights", "w.pt", "--out", "exported", "--data", "synthetic"],
    ["evaluate", "runs/none"],
    ["calibrate", "--subject", "s01", "--headless", "--fast", "--profiles", "profiles"],
], ids=lambda argv: argv[0])
def test_training_commands_stop_with_the_install_hint(light, argv, tmp_path):
    run, _ = light
    if argv[0] == "train":
        argv = ["train", str(REPO / argv[1])]
    proc = run("-m", "affectstream", *argv, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"affectstream {argv[0]}: affectstream {argv[0]} needs PyTorch: " \
                                  "pip install 'affectstream[train]'"
    assert not any(tmp_path.iterdir())  # stopped before any work: no output folder, profile or run


def test_bench_skips_its_torch_rows_with_a_note(light):
    run, attempts = light
    proc = run("-c", "import json\nfrom affectstream.pipelines.bench.suite import bench_eeg_student, bench_saliency\n"
                     "print(json.dumps({'student': bench_eeg_student(20), 'saliency': bench_saliency(3)}))")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    for row, ours in ((rows["student"], "onnx_ms"), (rows["saliency"], "onnx_finite_diff_ms")):
        assert np.isfinite(row[ours]) and row[ours] > 0
        assert "PyTorch is not installed" in row["torch_note"] and not np.isfinite(
            row["torch_ms" if ours == "onnx_ms" else "torch_backward_ms"])
    assert set(attempts()) == {"torch"}  # asked for, refused, skipped
