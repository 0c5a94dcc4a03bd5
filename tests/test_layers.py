"""The architecture's import rules, read from every import statement of every module (those inside functions too):

* one import root: the project is imported only as ``affectstream.…``;
* one-way layers: ``app -> calibration -> pipelines -> models -> core`` (docs/architecture.md);
* Qt only under ``app``;
* no import cycle between modules.

An edge ``A -> B`` is recorded for every module ``B`` that a statement in ``A`` names: ``import x.y`` names ``x.y``,
``from x import y`` names ``x.y`` when that is a module, else ``x``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from affectstream.core.paths import REPO

#: The layers, bottom first; a module may import its own layer and the ones below it.
LAYERS = ("core", "models", "pipelines", "calibration", "app")
#: Folder of each import-root package (pyproject's package-dir mapping); ``affectstream`` itself sits above ``app``.
FOLDERS = {f"affectstream.{layer}": REPO / layer for layer in LAYERS} | {"affectstream": REPO / "affectstream"}
QT = ("PySide6", "pyqtgraph", "shiboken6")


def _modules() -> dict[str, Path]:
    found = {}
    for package, folder in FOLDERS.items():
        pattern = "*.py" if package == "affectstream" else "**/*.py"
        for path in sorted(folder.glob(pattern)):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


MODULES = _modules()


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module name of a (possibly relative) ``from`` import."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, path: Path) -> list[tuple[int, str]]:
    """(line, imported module name) for every import statement of ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, path, node)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append((node.lineno, sub if sub in MODULES else target))
    return found


def _layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return len(LAYERS)  # affectstream/__init__ and __main__ sit on top
    if parts[1] in ("__main__",):
        return len(LAYERS)
    return LAYERS.index(parts[1])


def test_every_module_is_found():
    assert len(MODULES) > 100
    assert {"affectstream.app.cli.main", "affectstream.core.bandpower", "affectstream.models.training.runner",
            "affectstream.pipelines.engine", "affectstream.calibration.session"} <= set(MODULES)


def test_the_project_is_imported_only_through_its_import_root():
    project = {"app", "models", "pipelines", "calibration", "core"}
    wrong = [f"{path.relative_to(REPO)}:{line} imports {name}"
             for module, path in MODULES.items() for line, name in _imports(module, path)
             if name.split(".")[0] in project]
    tests = REPO / "tests"
    wrong += [f"{path.relative_to(REPO)}:{line} imports {name}"
              for path in sorted(tests.rglob("*.py")) for line, name in _imports("tests.x", path)
              if name.split(".")[0] in project]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("layer", LAYERS)
def test_no_import_points_up_the_layers(layer):
    wrong = []
    for module, path in MODULES.items():
        if module.split(".")[1:2] != [layer]:
            continue
        for line, name in _imports(module, path):
            if name.startswith("affectstream.") and _layer(name) > _layer(module):
                wrong.append(f"{path.relative_to(REPO)}:{line} imports {name}")
            if layer != "app" and name.split(".")[0] in QT:
                wrong.append(f"{path.relative_to(REPO)}:{line} imports Qt ({name}) outside app/")
    assert not wrong, "\n".join(wrong)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module, or a module importing itself (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"a"}}) == [["a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_anywhere():
    graph = {module: {name for _, name in _imports(module, path) if name in MODULES and name != module}
             | ({module} if any(name == module for _, name in _imports(module, path)) else set())
             for module, path in MODULES.items()}
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


# ------------------------------------------------------------------------------------------ the light install
#: The third-party packages of the ``train`` extra (pyproject.toml): ``pip install affectstream`` has none of them.
TRAINING_PACKAGES = ("torch", "torchvision", "onnx", "onnxscript")
#: The modules that need them and may import them at the top: the trainer's ``eeg_student`` method, calibration's
#: fine-tuning and the ONNX export. Only commands that first call ``affectstream.app.cli.extras.require_training``
#: import these (inside their ``run``); :func:`test_the_training_exceptions_are_exact` keeps this list true.
TRAINING_MODULES = {"affectstream.pipelines.eeg_student_training", "affectstream.calibration.finetune",
                    "affectstream.calibration.session", "affectstream.models.deploy.export"}
#: The light install's modules: all of core, pipelines, calibration and app, the model runtime, and the top package.
LIGHT = {m for m in MODULES if m.split(".")[1:2] in (["core"], ["pipelines"], ["calibration"], ["app"])
         or m.startswith("affectstream.models.deploy") or m.count(".") < 2} - TRAINING_MODULES


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _top_level_imports(module: str, path: Path) -> set[str]:
    """The modules ``module`` imports when it is imported: statements outside functions and ``TYPE_CHECKING``
    blocks, each with its parent packages (importing ``a.b.c`` runs ``a`` and ``a.b`` first)."""
    names: set[str] = set()
    pending = list(ast.parse(path.read_text(encoding="utf-8"), str(path)).body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) or _is_type_checking(node):
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, path, node)
            names |= {f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target for a in node.names}
        else:
            pending += list(ast.iter_child_nodes(node))
    return {".".join(name.split(".")[:i]) for name in names for i in range(1, name.count(".") + 2)}


def _training_packages_reached(module: str) -> dict[str, list[str]]:
    """Each training package that importing ``module`` imports, with the chain of modules that leads to it."""
    chains: dict[str, list[str]] = {module: [module]}
    reached: dict[str, list[str]] = {}
    pending = [module]
    while pending:
        current = pending.pop()
        for name in sorted(_top_level_imports(current, MODULES[current])):
            if name in TRAINING_PACKAGES:
                reached.setdefault(name, chains[current])
            elif name in MODULES and name not in chains:
                chains[name] = chains[current] + [name]
                pending.append(name)
    return reached


def test_top_level_import_reader_skips_functions_and_type_checking(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("import numpy\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch\n"
                      "try:\n    import onnx\nexcept ImportError:\n    pass\ndef f():\n    import onnxscript\n")
    assert _top_level_imports("affectstream.core.m", source) == {"numpy", "typing", "onnx"}


def test_the_light_install_imports_no_training_package_at_the_top():
    """Every module of the light install, and every module it imports when it is imported, imports PyTorch (and the
    rest of the ``train`` extra) only inside the functions that need it."""
    assert {"affectstream.app.cli.main", "affectstream.app.dashboard.main_window", "affectstream.pipelines.engine",
            "affectstream.pipelines.eeg.saliency", "affectstream.calibration.profiles"} <= LIGHT
    wrong = [f"{package} via {' -> '.join(chain)}" for module in sorted(LIGHT)
             for package, chain in _training_packages_reached(module).items()]
    assert not wrong, "\n".join(wrong)


def test_the_training_exceptions_are_exact():
    """A module leaves :data:`TRAINING_MODULES` once it no longer needs PyTorch at the top."""
    assert TRAINING_MODULES <= set(MODULES)
    assert all(_training_packages_reached(module) for module in TRAINING_MODULES)
