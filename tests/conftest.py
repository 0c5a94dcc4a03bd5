"""Shared test set-up: LSL stays on this machine, Qt renders offscreen, ../shared is found or skipped."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Before anything imports liblsl: discovery on this machine only, quiet logs (pipelines/lsl_api.cfg).
os.environ["LSLAPICFG"] = str(ROOT / "pipelines" / "lsl_api.cfg")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if os.environ.get("PYTEST_XDIST_WORKER"):  # pytest -n 2 (the README's test command)
    # Two workers on two cores: one thread each for torch's and numpy's pools (before they are imported), or their
    # spinning threads slow each other down many times over.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    # Each worker an LSL session of its own (liblsl's [lab] SessionID; its children inherit it): a test that finds
    # streams by name or type never sees the other worker's simulators.
    _session = f"affectstream-tests-{os.getppid()}-{os.environ['PYTEST_XDIST_WORKER']}"
    _cfg = Path(tempfile.gettempdir()) / f"{_session}.cfg"
    _cfg.write_text(Path(os.environ["LSLAPICFG"]).read_text().replace("[lab]\n", f"[lab]\nSessionID = {_session}\n", 1))
    os.environ["LSLAPICFG"] = str(_cfg)

from affectstream.core.paths import SHARED_DATA  # noqa: E402 - after the environment is set


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ../shared/data; tests that need real data skip cleanly without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture
def output_dir() -> Path:
    """tests/output/: artefacts a person may want to look at (screenshots, reports)."""
    out = ROOT / "tests" / "output"
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny networks: one torch thread is fastest, and two threads on a loaded 2-core machine spin each other to a
    crawl (a training run or the other test worker holds the second core)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
