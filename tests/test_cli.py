"""The console script: help text and user errors."""

import subprocess
import sys

from app.cli import build_parser


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
    proc = subprocess.run([sys.executable, "-m", "app.cli", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "simulate" in proc.stdout


def test_bad_config_is_one_line_not_a_traceback(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("hop = 3")
    proc = subprocess.run([sys.executable, "-m", "app.cli", "run", "--headless", "--config", str(cfg)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "unknown key hop" in proc.stderr and "Traceback" not in proc.stderr
