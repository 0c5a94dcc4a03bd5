"""The bundled EEG student's side of calibration (PyTorch): its predictions, its frozen features, its new heads.

The student's output heads are linear maps of its 128 per-hop TCN features, so fitting them to a subject's ratings
with the rest frozen is a linear regression: :mod:`.subject_model` solves it in closed form (``student_head``, a
ridge shrunk towards the bundled heads, its penalty chosen by nested cross-validation over blocks) instead of by
gradient steps. That is what makes the chance test's repetition of the whole fit affordable, and it leaves no
learning rate or stopping step to pick. This module runs the frozen student once (:func:`student_outputs`) and
writes a fitted head back into a copy of it (:func:`with_heads`) for the profile's ONNX export.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from affectstream.calibration.subject_model import LinearFit

__all__ = ["student_outputs", "with_heads"]


def student_outputs(model, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The student over a whole session's normalised frames ``z`` (T, N_FEATURES): its predictions (T, 2) and its
    per-hop TCN features (T, 128), causal, as the live path's streaming graph computes them hop by hop."""
    with torch.no_grad():
        out = model.eval()(torch.from_numpy(np.ascontiguousarray(z.T, dtype=np.float32))[None])
    pred = np.column_stack([out.valence[0].numpy(), out.arousal[0].numpy()]).astype(np.float64)
    return pred, out.features[0].numpy().astype(np.float64)


def with_heads(model, fit: LinearFit):
    """A copy of ``model`` whose heads give ``bundled heads + fit`` (``fit`` is the ``student_head`` ridge: its
    weights and intercept are the change of the heads' weights and biases)."""
    tuned = copy.deepcopy(model).eval()
    with torch.no_grad():
        for i, head in enumerate((tuned.valence_head, tuned.arousal_head)):
            head.weight += torch.from_numpy(fit.weights[:, i].astype(np.float32))[None]
            head.bias += float(fit.intercept[i])
    return tuned
