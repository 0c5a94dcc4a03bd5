"""``affectstream datasets check ROOT --kind K`` on SYNTHETIC replicas (tests/fixtures/*_files.py): found lines on
stdout and exit 0 for a faithful copy; one stderr line per problem and exit 2 for a damaged one."""

from __future__ import annotations

import subprocess
import sys

import pytest
from fixtures.deap_files import write_deap
from fixtures.seed_files import write_seed

from affectstream.app.cli import datasets, main
from affectstream.core.paths import REPO
from affectstream.models.datasets.check import DATASET_KINDS

PREFIX = "affectstream datasets check: "


@pytest.fixture(scope="module")
def seed_copy(tmp_path_factory):
    root = tmp_path_factory.mktemp("seed")
    write_seed(root)
    return root


def test_the_cli_offers_exactly_the_checked_kinds():
    assert datasets.KINDS == DATASET_KINDS


def test_a_faithful_copy_exits_0(seed_copy, capsys):
    assert main.main(["datasets", "check", str(seed_copy), "--kind", "seed", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert lines[0].startswith("2 subjects, 4 session files, 12 trials") and "a partial copy" in out
    assert "no published checksums for SEED" in out
    assert lines[-1] == f"{seed_copy}: a readable seed copy, no problems found"


def test_each_problem_is_one_stderr_line_and_exit_2(tmp_path, capsys):
    write_deap(tmp_path, n_trials=2, n_seconds=4, face_video_subjects=())
    damaged = [tmp_path / "data_preprocessed_python" / f"s0{s}.dat" for s in (1, 2)]
    for path in damaged:
        path.write_bytes(path.read_bytes()[:1000])
    assert main.main(["datasets", "check", str(tmp_path), "--kind", "deap", "--quiet"]) == 2
    out, err = capsys.readouterr()
    problems = err.splitlines()
    assert len(problems) == 2 and all(line.startswith(PREFIX) for line in problems)
    assert [str(p) in line for p, line in zip(damaged, problems)] == [True, True]
    assert out.splitlines()[-1] == f"{tmp_path}: 2 problems (listed on stderr)"


def test_wrong_kind_root_and_missing_root_exit_2(seed_copy, tmp_path, capsys):
    assert main.main(["datasets", "check", str(seed_copy), "--kind", "deap", "--quiet"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"{PREFIX}missing {seed_copy / 'data_preprocessed_python/s01.dat'}")
    assert main.main(["datasets", "check", str(tmp_path / "nowhere"), "--kind", "seed", "--quiet"]) == 2
    assert capsys.readouterr().err == f"{PREFIX}{tmp_path / 'nowhere'} does not exist\n"
    with pytest.raises(SystemExit) as exit_info:
        main.main(["datasets", "check", str(seed_copy), "--kind", "seed4"])
    assert exit_info.value.code == 2 and "invalid choice: 'seed4'" in capsys.readouterr().err
    assert main.main(["datasets"]) == 2 and "check" in capsys.readouterr().err


def test_the_installed_command_with_its_progress_bar(seed_copy):
    proc = subprocess.run([sys.executable, "-m", "affectstream", "datasets", "check", str(seed_copy), "--kind",
                           "seed"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "checking seed" in proc.stderr and "4/4" in proc.stderr and "checking" not in proc.stdout
