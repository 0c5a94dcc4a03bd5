"""The architecture's one-way arrows, app -> calibration -> pipelines -> models, and Qt only under app/: every import
statement of every module (those inside functions too) is read from the source and checked."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: what each package may not import
FORBIDDEN = {"models": ("pipelines", "calibration", "app", "PySide6", "pyqtgraph"),
             "pipelines": ("calibration", "app", "PySide6", "pyqtgraph"),
             "calibration": ("app", "PySide6", "pyqtgraph")}


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_points_up_the_layers(package):
    wrong = [f"{path.relative_to(ROOT)}:{line} imports {name}"
             for path in sorted((ROOT / package).rglob("*.py"))
             for line, name in _imports(path) if name.split(".")[0] in FORBIDDEN[package]]
    assert not wrong, "\n".join(wrong)
