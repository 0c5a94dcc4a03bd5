"""The distribution: one top-level import name, ``affectstream``, over the repository's layer folders."""

from __future__ import annotations

import email.parser
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

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


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the tracked files (setuptools writes build/ and *.egg-info beside them)."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    source = tmp_path / "source"
    for name in tracked.splitlines():
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                           "-q", "-w", str(tmp_path / "dist")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (built,) = (tmp_path / "dist").glob("affectstream-*.whl")
    return built


@pytest.mark.slow
def test_wheel_has_one_top_level_package(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"affectstream"}
    for required in ("affectstream/app/cli/main.py", "affectstream/pipelines/lsl_api.cfg",
                     "affectstream/models/weights/manifest.json", "affectstream/models/weights/eeg_student.onnx",
                     "affectstream/core/bandpower.py", "affectstream/models/configs/ferplus_supervised.toml"):
        assert required in names


def _requires_dist(wheel: Path) -> list[str]:
    """The wheel's Requires-Dist lines, from its METADATA (what pip reads)."""
    with zipfile.ZipFile(wheel) as z:
        (metadata,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        return email.parser.Parser().parsestr(z.read(metadata).decode()).get_all("Requires-Dist") or []


def _requirements(wheel: Path) -> dict[str | None, set[str]]:
    """The wheel's required distributions by extra (None: the base install)."""
    found: dict[str | None, set[str]] = {}
    for line in _requires_dist(wheel):
        requirement = Requirement(line)
        extra = next((e for e in ("train", "gpu", "test") if requirement.marker
                      and requirement.marker.evaluate({"extra": e})), None)
        found.setdefault(extra, set()).add(canonicalize_name(requirement.name))
    return found


@pytest.mark.slow
def test_wheel_metadata_keeps_pytorch_out_of_the_base_install(wheel: Path):
    """``pip install affectstream`` is the light install; PyTorch and the ONNX exporter come with ``[train]``, the
    CUDA build of onnxruntime with ``[gpu]``."""
    requires = _requirements(wheel)
    base = requires[None]
    assert {"onnxruntime", "numpy", "pyside6-essentials", "mne-lsl", "pyxdf"} <= base
    assert not base & {"torch", "torchvision", "onnx", "onnxscript", "onnxruntime-gpu"}
    assert {"torch", "onnx", "onnxscript"} <= requires["train"]
    assert requires["gpu"] == {"onnxruntime-gpu"}
    assert {"pytest", "pytest-qt"} <= requires["test"]
    assert [r for r in _requires_dist(wheel) if r.startswith("torch")] == ['torch==2.13.0; extra == "train"']


def test_ci_installs_exactly_what_the_readme_says():
    """The README's first command (the trainer and the tests included) is the install CI runs."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme[readme.index("## Two commands"):].split("```bash\n", 1)[1]
    install = block.splitlines()[0].split("#")[0].strip()
    assert install == 'pip install -e ".[train,test]"'
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines() if line.startswith("pip install")]
    assert ci == [install]
