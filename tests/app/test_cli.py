"""The console script: help text and user errors."""

import subprocess
import sys

from affectstream.app.cli.main import build_parser


def test_help_lists_every_subcommand_with_a_description():
    parser = build_parser()
    text = parser.format_help()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, choice in sub.choices.items():
        assert name in text
        help_line = next(c.help for c in sub._choices_actions if c.dest == name)
        assert help_line and len(help_line) > 10
    assert {"demo", "run", "simulate", "bench"} <= set(sub.choices)


def test_console_script_help_runs():
    proc = subprocess.run([sys.executable, "-m", "affectstream", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "simulate" in proc.stdout


def test_bad_config_is_one_line_not_a_traceback(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("hop = 3")
    proc = subprocess.run([sys.executable, "-m", "affectstream", "run", "--headless", "--config", str(cfg)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "unknown key hop" in proc.stderr and "Traceback" not in proc.stderr


def _cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "affectstream", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_export_rewrites_the_bundled_student_with_parity(tmp_path):
    import json

    from affectstream.models.deploy.manifest import WEIGHTS_DIR, verified_path

    proc = _cli("export", "--eeg-weights", str(WEIGHTS_DIR / "eeg_student.pt"), "--out", str(tmp_path),
                "--data", "synthetic")
    assert proc.returncode == 0, proc.stderr
    manifest = tmp_path / "manifest.json"
    path, entry = verified_path("eeg_student", manifest)
    assert entry["onnx_max_abs_diff"] <= 1e-4 and entry["data"] == "synthetic"
    assert json.loads(manifest.read_text())["models"]["eeg_student_torch"]["file"] == "eeg_student.pt"


def test_export_refuses_a_file_that_is_not_weights(tmp_path):
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"not a state dict")
    proc = _cli("export", "--eeg-weights", str(bogus), "--out", str(tmp_path / "o"), "--data", "real")
    assert proc.returncode == 2 and "is not an EEG student state dict" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_webcam_with_a_missing_file_is_one_line(tmp_path):
    proc = _cli("webcam", "--video-file", str(tmp_path / "none.mp4"), "--duration", "1")
    assert proc.returncode == 2 and "video file not found" in proc.stderr and "Traceback" not in proc.stderr


def test_train_visual_is_the_ferplus_supervised_config_with_the_run_options():
    proc = _cli("train-visual", "--help")
    assert proc.returncode == 0 and "usage: affectstream train-visual" in proc.stdout
    assert "models/configs/ferplus_supervised.toml" in " ".join(proc.stdout.split())
    for option in ("--resume", "--device", "--report", "--quiet", "--fast-dev-run"):
        assert option in proc.stdout
    proc = _cli("train-visual", "--epochs", "3")  # the recipe's options live in the config, not on the command line
    assert proc.returncode == 2 and "unrecognized arguments: --epochs 3" in proc.stderr
