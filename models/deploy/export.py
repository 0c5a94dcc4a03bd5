"""ONNX export and static int8 quantisation for the students (docs/architecture.md, "Inference"); sessions live in
:mod:`.runtime`.

Exporter choice: the legacy TorchScript exporter (``torch.onnx.export(..., dynamo=False, opset_version=17)``).
Measured on the EEG student's streaming form with torch 2.13 / onnxscript 0.7.2:

- legacy: 0.1 s, opset 17 as asked, and weight norm is constant-folded into plain ``Conv`` weights;
- dynamo: 4.5 s, cannot down-convert to opset 17 (the ONNX version converter fails on a ``ReduceL2`` node and the
  model stays at opset 18), and it keeps weight norm as run-time ``ReduceL2 -> Div -> Mul`` ops in front of every
  conv, i.e. extra work per inference, and conv weights that are computed tensors instead of initializers.

(Folding the parametrizations away on a ``deepcopy`` before export is not an option: a parametrized module's
class is a generated subclass shared by the copy, and ``remove_parametrizations`` on the copy deletes the
``weight`` property from that class, breaking the original model.)  The legacy exporter is deprecated in
torch 2.9+ and warns about it; those deprecation messages and one harmless constant-folding message (commented
in :func:`export_onnx`) are silenced, every other warning passes through.
"""

from __future__ import annotations

import tempfile
import warnings
from os import PathLike
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

import numpy as np
import onnx
import torch
from torch import nn

from affectstream.core.feature_norm import NORM_MEMORY_FRAMES
from affectstream.models.deploy.manifest import EEG_STUDENT, EEG_STUDENT_TORCH, save_entry

__all__ = ["EEGStudentBundle", "bundle_eeg_student", "export_eeg_student", "export_onnx", "quantize_static_int8"]


OPSET = 17


def export_onnx(
    model: nn.Module,
    example_input: torch.Tensor | Sequence[torch.Tensor],
    path: str | PathLike[str],
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_batch: bool = True,
) -> Path:
    """Export ``model`` in eval mode to ONNX opset 17 (constants folded) and check the file.

    Parameters
    ----------
    model : nn.Module
        Model to export; its train/eval mode is restored afterwards.  Tuple/NamedTuple outputs are flattened
        in field order, so ``output_names`` lists one name per field.
    example_input : Tensor or sequence of Tensor
        Input(s) used for tracing; their shapes become the graph's static shapes (except the batch axis).
    path : path-like
        Destination ``.onnx`` file; parent folders are created.
    input_names, output_names : sequence of str
        Graph input and output names.
    dynamic_batch : bool
        Make axis 0 of every input and output symbolic (``"batch"``).

    Returns
    -------
    Path
        The written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    inputs = (example_input,) if isinstance(example_input, torch.Tensor) else tuple(example_input)
    dynamic_axes = {name: {0: "batch"} for name in (*input_names, *output_names)} if dynamic_batch else None
    with warnings.catch_warnings(), torch.no_grad():
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message="The feature will be removed", category=DeprecationWarning)
        # F.pad's opset-17 lowering reverses its pads with a step -1 Slice that torch cannot fold; the pads are
        # still constants and onnxruntime folds them when the session is created, so the message is noise.
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1", category=UserWarning)
        torch.onnx.export(
            model,
            inputs,
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=list(input_names),
            output_names=list(output_names),
            dynamic_axes=dynamic_axes,
            training=torch.onnx.TrainingMode.EVAL,
            do_constant_folding=True,  # turns weight norm's g * v / ||v|| into plain Conv weights
        )
    onnx.checker.check_model(onnx.load(str(path)))
    return path


class _BatchReader:
    """``CalibrationDataReader`` over a finite iterable of feed dicts (duck-typed: ``get_next``/``rewind``)."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]):
        self._feeds = feeds
        self._it = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = iter(self._feeds)


def quantize_static_int8(
    fp32_path: str | PathLike[str],
    out_path: str | PathLike[str],
    calibration_batches: Iterable[Mapping[str, np.ndarray] | np.ndarray],
    per_channel: bool = True,
) -> Path:
    """Static QDQ int8 quantisation (docs/architecture.md, "Inference": dynamic quantisation is slower for convs).

    Activations are calibrated to uint8 with the MinMax method, weights are int8 (per output channel by default),
    after onnxruntime's ``quant_pre_process`` (shape inference + graph optimisation).

    Parameters
    ----------
    fp32_path : path-like
        fp32 model from :func:`export_onnx`.
    out_path : path-like
        Destination of the quantised model.
    calibration_batches : iterable of dict or ndarray
        Representative inputs: feed dicts ``{input_name: array}``, or bare arrays for a single-input model.
        Use real data (e.g. FER+ valid images, recorded band-power frames); the scales are only as good as these.
    per_channel : bool
        Per-output-channel weight scales.

    Returns
    -------
    Path
        ``out_path``.
    """
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    input_names = [i.name for i in onnx.load(str(fp32_path)).graph.input]
    feeds: list[dict[str, np.ndarray]] = []
    for batch in calibration_batches:
        if isinstance(batch, Mapping):
            feeds.append({k: np.asarray(v, dtype=np.float32) for k, v in batch.items()})
        elif len(input_names) == 1:
            feeds.append({input_names[0]: np.asarray(batch, dtype=np.float32)})
        else:
            raise ValueError(f"model has inputs {input_names}; pass feed dicts, not bare arrays")
    if not feeds:
        raise ValueError("calibration_batches is empty")
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32_path), str(pre))
        quantize_static(
            str(pre),
            str(out_path),
            _BatchReader(feeds),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=per_channel,
        )
    return out_path


def export_eeg_student(model: nn.Module, out_dir: str | PathLike[str], stem: str = "eeg_student"
                       ) -> tuple[Path, Path, float]:
    """Write the EEG student's streaming ONNX graph and its weights-only state dict, after a parity check.

    Parameters
    ----------
    model : EEGTCN
        The trained student.
    out_dir : path-like
        Destination folder.
    stem : str
        File stem (``eeg_student.onnx`` and ``eeg_student.pt``).

    Returns
    -------
    onnx_path, state_path : Path
    max_abs_diff : float
        Largest difference between torch and onnxruntime on random inputs (the export is refused above 1e-4).
    """
    from affectstream.models.nets.eeg_tcn import EEGTCNStreaming
    from affectstream.models.deploy.runtime import make_session

    out_dir = Path(out_dir)
    streaming = EEGTCNStreaming(model).eval()
    onnx_path = export_onnx(streaming, streaming.example_input(), out_dir / f"{stem}.onnx", ["frames"],
                            ["valence_arousal"])
    frames = torch.randn(4, model.n_inputs, model.receptive_field)
    with torch.no_grad():
        expected = streaming(frames).numpy()
    got = make_session(onnx_path).run(None, {"frames": frames.numpy()})[0]
    max_diff = float(np.abs(got - expected).max())
    if max_diff > 1e-4:
        raise RuntimeError(f"the ONNX export differs from torch by {max_diff:.2e} (> 1e-4); not written")
    state_path = out_dir / f"{stem}.pt"
    torch.save(model.state_dict(), state_path)
    return onnx_path, state_path, max_diff


class EEGStudentBundle(NamedTuple):
    """The files :func:`bundle_eeg_student` wrote."""

    onnx: Path  #: the streaming graph
    state_dict: Path  #: the weights-only state dict
    manifest: Path  #: the manifest that records both
    onnx_max_abs_diff: float  #: the parity check's largest torch/onnxruntime difference


def bundle_eeg_student(model: nn.Module, out_dir: str | PathLike[str], *, architecture: Mapping[str, Any],
                       shared: Mapping[str, Any], onnx_fields: Mapping[str, Any] | None = None,
                       torch_fields: Mapping[str, Any] | None = None, input_fields: Mapping[str, Any] | None = None,
                       norm_memory: float = NORM_MEMORY_FRAMES) -> EEGStudentBundle:
    """Export the EEG student into ``out_dir`` (:func:`export_eeg_student`) and record both files in its manifest.

    The folder then holds what the live path loads: the ``eeg_student`` entry (the streaming ONNX graph with its
    input specification: name, shape, frames and the normaliser's memory it was trained with) and the
    ``eeg_student_torch`` entry (the state dict with the architecture that rebuilds it, for saliency). Each entry's
    sha256 is computed by :func:`~affectstream.models.deploy.manifest.save_entry`.

    Parameters
    ----------
    model : EEGTCN
        The trained student, on the CPU in eval mode.
    out_dir : path-like
        Destination folder; ``manifest.json`` there gains (or replaces) the two entries.
    architecture : mapping
        ``EEGTCN`` keyword arguments that rebuild ``model`` (channels, kernel_size, dropout).
    shared : mapping
        Fields of both entries (what the data were, what the model was trained on, the command...).
    onnx_fields, torch_fields : mapping, optional
        Further fields of the ONNX entry and of the torch entry.
    input_fields : mapping, optional
        Further fields of the ONNX entry's input specification (the features, the normalisation).
    norm_memory : float
        Memory (frames) of the running normaliser the model was trained with; the live path uses the same.

    Returns
    -------
    EEGStudentBundle
    """
    onnx_path, state_path, max_diff = export_eeg_student(model, out_dir)
    manifest = Path(out_dir) / "manifest.json"
    spec = {"name": "frames", "shape": [1, model.n_inputs, model.receptive_field], "frames": model.receptive_field,
            "norm_memory": norm_memory, **(input_fields or {})}
    save_entry(EEG_STUDENT, {**shared, **(onnx_fields or {}), "file": onnx_path.name, "input": spec,
                             "onnx_max_abs_diff": max_diff}, manifest)
    save_entry(EEG_STUDENT_TORCH, {**shared, **(torch_fields or {}), "file": state_path.name,
                                   "architecture": dict(architecture)}, manifest)
    return EEGStudentBundle(onnx_path, state_path, manifest, max_diff)
