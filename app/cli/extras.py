"""What the optional parts of the install give, and the one-line stop when a command needs one that is missing.

``pip install affectstream`` is the light install: the live app, replay, recording, the dashboard, the simulator and
the bench run on onnxruntime alone. Training, export, re-scoring and calibration's fine-tuning need PyTorch and its
ONNX exporter, the ``train`` extra; those commands call :func:`require_training` before they do any work, so a
light install answers with the command to run instead of a traceback halfway through.
"""

from __future__ import annotations

import importlib.util

from affectstream.app.cli.common import UserError

#: The modules of the ``train`` extra (pyproject.toml) and how the stop names each; PyTorch first, the one most
#: likely missing (the extra brings the others along with it).
TRAINING_MODULES = {"torch": "PyTorch", "onnx": "the onnx package", "onnxscript": "onnxscript (torch's ONNX exporter)"}
TRAIN_INSTALL = "pip install 'affectstream[train]'"


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (a meta-path finder may refuse it by raising)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def require_training(command: str) -> None:
    """Raise :class:`UserError` (exit 2, one line) when ``command`` lacks a package of the ``train`` extra."""
    for module, what in TRAINING_MODULES.items():
        if not installed(module):
            raise UserError(f"{command} needs {what}: {TRAIN_INSTALL}")
