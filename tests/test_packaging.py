"""The distribution: one top-level import name, ``affectstream``, over the repository's layer folders."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from affectstream.core.paths import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def _package_folders() -> set[str]:
    """Every folder with an ``__init__.py`` under the mapped folders, as its ``affectstream.…`` package name."""
    found = set()
    for package, folder in PYPROJECT["tool"]["setuptools"]["package-dir"].items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder).parts
            found.add(".".join([package, *rel]))
    return found


def test_every_package_folder_is_in_the_distribution():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    assert listed == _package_folders()


def test_no_package_folder_lacks_its_init():
    """A folder of modules without ``__init__.py`` would silently fall out of the wheel."""
    for folder in PYPROJECT["tool"]["setuptools"]["package-dir"].values():
        for module in (REPO / folder).rglob("*.py"):
            assert (module.parent / "__init__.py").is_file(), f"{module.parent} has no __init__.py"


@pytest.mark.slow
def test_wheel_has_one_top_level_package(tmp_path: Path):
    # Built from a copy of the tracked files: setuptools writes build/ and *.egg-info beside the sources.
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    source = tmp_path / "source"
    for name in tracked.splitlines():
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                           "-q", "-w", str(tmp_path / "dist")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("affectstream-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"affectstream"}
    for required in ("affectstream/app/cli/main.py", "affectstream/pipelines/lsl_api.cfg",
                     "affectstream/models/weights/manifest.json", "affectstream/models/weights/eeg_student.onnx",
                     "affectstream/core/bandpower.py", "affectstream/models/configs/ferplus_supervised.toml"):
        assert required in names
