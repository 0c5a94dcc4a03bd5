"""The ``band_power_ridge`` subject model as an ONNX graph with the EEG student's interface.

The live path runs whatever ``eeg_student.onnx`` a profile holds on onnxruntime: it feeds (batch, N_FEATURES,
frames) normalised band-power frames and reads (batch, 2) valence and arousal. Written as such a graph, the ridge
needs nothing new on the live path, in replay or in the dashboard: the same estimator, the same confidence, the
same checks when the profile is loaded (sha256 in the manifest, a trial run on zero frames), and its saliency maps
come from the very graph that produces the estimate (gradient x input of a linear map: its weights times the
input). The graph is ``Reshape -> MatMul -> Add``: the mean over the input window is folded into the weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affectstream.core.feature_layout import N_FEATURES

__all__ = ["export_linear_student"]

#: ONNX opset of the graph (that of every exported model, ``affectstream.models.deploy.export.OPSET``).
OPSET = 17


def export_linear_student(folder: Path, weights: np.ndarray, intercept: np.ndarray, frames: int, *,
                          norm_memory: float, fields: dict) -> Path:
    """Write ``eeg_student.onnx`` -- ``prediction = mean over the frames of z @ weights + intercept`` -- and its
    manifest entry (``fields`` added to it, with the live path's input specification); returns the graph's path.

    ``weights`` (N_FEATURES, 2) and ``intercept`` (2,) are the :class:`~.subject_model.LinearFit` of the
    ``band_power_ridge`` family, whose inputs are :func:`~.features.frame_means` over ``frames`` frames.
    """
    from onnx import TensorProto, checker, helper, numpy_helper, save

    from affectstream.models.deploy.manifest import EEG_STUDENT, save_entry

    if weights.shape != (N_FEATURES, 2) or intercept.shape != (2,):
        raise ValueError(f"a linear student needs ({N_FEATURES}, 2) weights and 2 intercepts, got "
                         f"{weights.shape} and {intercept.shape}")
    # input index = feature * frames + frame (row-major reshape of (N_FEATURES, frames))
    spread = np.repeat(weights / frames, frames, axis=0).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["frames", "shape"], ["flat"]),
         helper.make_node("MatMul", ["flat", "weights"], ["weighted"]),
         helper.make_node("Add", ["weighted", "intercept"], ["valence_arousal"])],
        "band_power_ridge",
        [helper.make_tensor_value_info("frames", TensorProto.FLOAT, ["batch", N_FEATURES, frames])],
        [helper.make_tensor_value_info("valence_arousal", TensorProto.FLOAT, ["batch", 2])],
        [numpy_helper.from_array(np.array([-1, N_FEATURES * frames], np.int64), "shape"),
         numpy_helper.from_array(spread, "weights"),
         numpy_helper.from_array(intercept.astype(np.float32), "intercept")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="affectstream calibration")
    checker.check_model(model)
    path = folder / "eeg_student.onnx"
    save(model, str(path))
    spec = {"name": "frames", "shape": [1, N_FEATURES, frames], "frames": frames, "norm_memory": norm_memory,
            "normalisation": "RunningFeatureNorm per subject, started from the profile's baseline"}
    save_entry(EEG_STUDENT, {**fields, "file": path.name, "input": spec, "model": "band_power_ridge"},
               folder / "manifest.json")
    return path
