"""onnxruntime sessions and file hashes: the inference side of the students, without torch.

The live path imports only this module (and onnxruntime), so ``affectstream run`` starts without loading
PyTorch, and the light install (no ``train`` extra) has none; torch is needed only for training and export.

``--device cuda`` needs onnxruntime's CUDA build (the ``gpu`` extra). That build and the CPU build that the base
install requires write the same ``onnxruntime`` folder, and whichever pip wrote last is the one Python loads, so
:func:`make_session` checks the provider it actually got and says why it fell back to the CPU, with the fix.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import logging
from os import PathLike
from pathlib import Path
from typing import Literal

import onnxruntime as ort

log = logging.getLogger(__name__)


def sha256_file(path: str | PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            h.update(chunk)
    return h.hexdigest()


def make_session(
    path: str | PathLike[str],
    threads: int = 2,
    device: Literal["cpu", "cuda", "auto"] = "cpu",
) -> ort.InferenceSession:
    """Open an onnxruntime session with all graph optimisations and a fixed thread count.

    Parameters
    ----------
    path : path-like
        ``.onnx`` file.
    threads : int
        Intra-op threads (2 on the team machines); inter-op is 1, since the graphs are sequential.
    device : {"cpu", "cuda", "auto"}
        ``"cuda"``/``"auto"`` ask for the CUDA provider when this onnxruntime build has it. What the session got
        is logged once: the CUDA provider at info level; a CPU fallback with its reason and fix (a warning for
        ``"cuda"``, info for ``"auto"``).

    Returns
    -------
    onnxruntime.InferenceSession
    """
    if device not in ("cpu", "cuda", "auto"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    providers = ["CPUExecutionProvider"]
    if device != "cpu" and "CUDAExecutionProvider" in ort.get_available_providers():
        _load_cuda_libraries()
        providers.insert(0, "CUDAExecutionProvider")
    session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
    if device != "cpu":
        name = Path(path).name
        if session.get_providers()[0] == "CUDAExecutionProvider":
            log.info("%s runs on onnxruntime's CUDAExecutionProvider", name)
        else:
            level = logging.WARNING if device == "cuda" else logging.INFO
            log.log(level, "%s runs on CPU: %s", name, why_no_cuda())
    return session


@functools.cache
def _load_cuda_libraries() -> None:
    """Load the CUDA and cuDNN libraries that the ``gpu`` extra installs with pip (the ``nvidia-*`` packages), which
    the CUDA provider would not find on the system's library path; once per process. onnxruntime's CUDA builds
    since 1.21 have ``preload_dlls`` for this; an older build relies on a system-wide CUDA."""
    preload = getattr(ort, "preload_dlls", None)
    if preload is not None:
        preload()


def why_no_cuda() -> str:
    """Why onnxruntime gave no CUDA provider here, and what to do about it (README, "onnxruntime on a GPU")."""
    if "CUDAExecutionProvider" in ort.get_available_providers():
        return ("onnxruntime's CUDA build could not start CUDA (onnxruntime's own message above names the driver or "
                "library it could not load)")
    if _installed("onnxruntime-gpu") and _installed("onnxruntime"):
        return ("onnxruntime-gpu is installed but the CPU package onnxruntime overwrote its files; keep only the "
                "CUDA build: pip uninstall -y onnxruntime && pip install --force-reinstall --no-deps onnxruntime-gpu")
    return ("this onnxruntime build has no CUDA provider; for a GPU: pip install 'affectstream[gpu]' and keep only "
            "the CUDA build (README: onnxruntime on a GPU)")


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True
