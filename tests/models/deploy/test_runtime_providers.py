"""``--device cuda`` says which provider a session got and, when it fell back to the CPU, why and what to do.

This machine's onnxruntime is the CPU build, so the CUDA build's situations are staged: which distributions are
installed (``_installed``) and which providers the build lists. The session itself is always real.
"""

import logging

import onnxruntime as ort
import pytest

from affectstream.models.deploy import runtime
from affectstream.models.deploy.manifest import EEG_STUDENT, verified_path

LOGGER = "affectstream.models.deploy.runtime"


@pytest.fixture
def onnx_path():
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA; the staged fallbacks do not apply")
    return verified_path(EEG_STUDENT)[0]


@pytest.fixture
def staged(onnx_path, caplog, monkeypatch):
    """``staged(installed, providers, device)`` -> the one log record of a real session opened in that situation."""

    def stage(installed: set[str], providers: list[str] | None = None, device: str = "cuda") -> logging.LogRecord:
        monkeypatch.setattr(runtime, "_installed", lambda name: name in installed)
        if providers is not None:
            monkeypatch.setattr(ort, "get_available_providers", lambda: providers)
            monkeypatch.setattr(ort, "preload_dlls", lambda *a, **k: None, raising=False)
            runtime._load_cuda_libraries.cache_clear()
        with caplog.at_level(logging.INFO, logger=LOGGER):
            session = runtime.make_session(onnx_path, threads=1, device=device)
        assert session.get_providers() == ["CPUExecutionProvider"]
        (record,) = [r for r in caplog.records if r.name == LOGGER]
        return record

    return stage


def test_the_cpu_build_alone_points_to_the_gpu_extra(staged):
    record = staged({"onnxruntime"})
    assert record.levelno == logging.WARNING
    assert record.getMessage() == ("eeg_student.onnx runs on CPU: this onnxruntime build has no CUDA provider; for a "
                                   "GPU: pip install 'affectstream[gpu]' and keep only the CUDA build (README: "
                                   "onnxruntime on a GPU)")


def test_both_builds_installed_gives_the_swap(staged):
    message = staged({"onnxruntime", "onnxruntime-gpu"}).getMessage()
    assert "the CPU package onnxruntime overwrote its files" in message
    assert message.endswith("pip uninstall -y onnxruntime && pip install --force-reinstall --no-deps onnxruntime-gpu")


@pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider':UserWarning")
def test_a_cuda_build_that_cannot_start_cuda_is_reported(staged):
    """The build lists CUDA but the session ends up on the CPU (no driver, a missing library): seen afterwards."""
    record = staged({"onnxruntime-gpu"}, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert record.levelno == logging.WARNING and "could not start CUDA" in record.getMessage()
    assert runtime._load_cuda_libraries.cache_info().misses == 1  # pip's CUDA libraries were loaded first


def test_auto_falls_back_quietly(staged):
    assert staged({"onnxruntime"}, device="auto").levelno == logging.INFO
