"""onnxruntime sessions and file hashes: the inference side of the students, without torch.

The live path imports only this module (and onnxruntime), so ``affectstream run`` starts without loading
PyTorch; torch is needed only for training, export and gradient saliency.
"""

from __future__ import annotations

import hashlib
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
        ``"cuda"``/``"auto"`` use the CUDA provider when this onnxruntime build has it, otherwise the session
        falls back to CPU and logs one line (a warning for ``"cuda"``, info for ``"auto"``).

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
    if device != "cpu":
        if "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        else:
            level = logging.WARNING if device == "cuda" else logging.INFO
            log.log(level, "onnxruntime has no CUDAExecutionProvider here; running %s on CPU", Path(path).name)
    return ort.InferenceSession(str(path), sess_options=opts, providers=providers)
