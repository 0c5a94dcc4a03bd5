"""ONNX export parity (torch vs onnxruntime), static int8 quantisation, session helper.

See docs/architecture.md, "Inference".
"""

import hashlib
import logging

import numpy as np
import onnx
import pytest
import torch

from affectstream.models.nets.eeg_tcn import EEGTCN, EEGTCNStreaming
from affectstream.core.feature_layout import N_FEATURES
from affectstream.models.deploy.export import bundle_eeg_student, export_onnx, quantize_static_int8
from affectstream.models.deploy.manifest import EEG_STUDENT, EEG_STUDENT_TORCH, load_manifest, verified_path
from affectstream.models.deploy.runtime import make_session, sha256_file
from affectstream.models.nets.prototypes import PrototypeBank
from affectstream.models.nets.visual_student import VisualStudent

ATOL = 1e-4


def _randomise_norm_stats(model: torch.nn.Module) -> None:
    """Give BN layers non-trivial statistics and PReLUs non-default slopes, so eval-mode parity means something."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
            m.weight.data.copy_(0.5 + torch.rand(m.num_features, generator=g))
            m.bias.data.copy_(0.1 * torch.randn(m.num_features, generator=g))
        elif isinstance(m, torch.nn.PReLU):
            m.weight.data.uniform_(0.05, 0.4, generator=g)


@pytest.fixture(scope="module")
def eeg_onnx(tmp_path_factory):
    torch.manual_seed(0)
    model = EEGTCN()
    _randomise_norm_stats(model)
    stream = EEGTCNStreaming(model).eval()
    path = tmp_path_factory.mktemp("eeg") / "eeg.onnx"
    export_onnx(stream, stream.example_input(), path, ["bandpower"], ["va"])
    return stream, path


def test_eeg_streaming_parity(eeg_onnx):
    stream, path = eeg_onnx
    proto = onnx.load(str(path))
    assert proto.opset_import[0].version == 17
    ops = {n.op_type for n in proto.graph.node}
    assert "ReduceL2" not in ops and "Conv" in ops  # weight norm folded into the conv weights
    assert stream.model.tcn.blocks[0].conv1.parametrizations.weight.original0 is not None  # model untouched
    sess = make_session(path)
    assert sess.get_inputs()[0].name == "bandpower"
    for batch in (1, 3):
        x = torch.randn(batch, N_FEATURES, 13)
        got = sess.run(None, {"bandpower": x.numpy()})[0]
        assert got.shape == (batch, 2)
        np.testing.assert_allclose(got, stream(x).detach().numpy(), rtol=0, atol=ATOL)


def test_eeg_int8_static_runs_and_stays_close(eeg_onnx, tmp_path):
    stream, path = eeg_onnx
    rng = np.random.default_rng(0)
    calibration = [rng.normal(size=(4, N_FEATURES, 13)).astype(np.float32) for _ in range(16)]
    q_path = quantize_static_int8(path, tmp_path / "eeg_int8.onnx", calibration)
    ops = {n.op_type for n in onnx.load(str(q_path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # QDQ format
    x = rng.normal(size=(32, N_FEATURES, 13)).astype(np.float32)  # same distribution as the calibration data
    ref = stream(torch.from_numpy(x)).detach().numpy()
    got = make_session(q_path).run(None, {"bandpower": x})[0]
    assert np.abs(got - ref).max() < 0.15 * ref.std()
    assert np.corrcoef(got.ravel(), ref.ravel())[0, 1] > 0.99
    with pytest.raises(ValueError, match="empty"):
        quantize_static_int8(path, tmp_path / "none.onnx", [])


@pytest.mark.parametrize("size", [48, 64])
def test_visual_student_parity(tmp_path, size):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = VisualStudent(1, width_mult=0.25, embedding_dim=16)
    model.set_prototypes(PrototypeBank.from_embeddings(rng.normal(size=(50, 16)), rng.uniform(-1, 1, (50, 2))))
    _randomise_norm_stats(model)
    model.eval()
    names = ["logits", "embedding", "va_regression", "va_prototype"]
    path = export_onnx(model, torch.zeros(1, 1, size, size), tmp_path / "student.onnx", ["image"], names)
    x = torch.randn(2, 1, size, size)
    got = make_session(path).run(names, {"image": x.numpy()})
    for name, ref, arr in zip(names, model(x), got):
        np.testing.assert_allclose(arr, ref.detach().numpy(), rtol=0, atol=ATOL, err_msg=name)


def test_bundle_eeg_student_writes_both_files_and_their_manifest_entries(tmp_path):
    torch.manual_seed(0)
    model = EEGTCN(channels=(8, 8)).eval()
    architecture = {"channels": [8, 8], "kernel_size": 3, "dropout": 0.1}
    bundle = bundle_eeg_student(model, tmp_path / "out", architecture=architecture, shared={"data": "synthetic"},
                                onnx_fields={"task": "va"}, torch_fields={"task": "va (torch)"},
                                input_fields={"normalisation": "per subject"}, norm_memory=600.0)
    assert bundle.manifest == tmp_path / "out" / "manifest.json" and bundle.onnx_max_abs_diff <= 1e-4
    path, entry = verified_path(EEG_STUDENT, bundle.manifest)
    assert path == bundle.onnx and entry["data"] == "synthetic" and entry["task"] == "va"
    assert entry["input"] == {"name": "frames", "shape": [1, N_FEATURES, model.receptive_field],
                              "frames": model.receptive_field, "norm_memory": 600.0, "normalisation": "per subject"}
    path, entry = verified_path(EEG_STUDENT_TORCH, bundle.manifest)
    assert path == bundle.state_dict and entry["architecture"] == architecture and entry["task"] == "va (torch)"
    rebuilt = EEGTCN(**entry["architecture"])
    rebuilt.load_state_dict(torch.load(path, weights_only=True))
    assert set(load_manifest(bundle.manifest)["models"]) == {EEG_STUDENT, EEG_STUDENT_TORCH}


def test_static_batch_export(tmp_path):
    stream = EEGTCNStreaming(EEGTCN(channels=(16, 16))).train()
    path = export_onnx(stream, stream.example_input(), tmp_path / "s.onnx", ["x"], ["va"], dynamic_batch=False)
    assert onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1
    assert stream.training  # exported in eval mode, mode restored
    assert "Dropout" not in {n.op_type for n in onnx.load(str(path)).graph.node}


def test_make_session_cpu_fallback(eeg_onnx, caplog):
    import onnxruntime as ort

    _, path = eeg_onnx
    with pytest.raises(ValueError):
        make_session(path, device="gpu")
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime build has CUDA; the fallback path is not reachable")
    with caplog.at_level(logging.INFO, logger="affectstream.models.deploy.runtime"):
        sess = make_session(path, threads=1, device="cuda")
    assert sess.get_providers() == ["CPUExecutionProvider"]
    assert len([r for r in caplog.records if "CPU" in r.getMessage()]) == 1
    assert caplog.records[-1].levelno == logging.WARNING
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="affectstream.models.deploy.runtime"):
        make_session(path, device="auto")
    assert [r.levelno for r in caplog.records] == [logging.INFO]


def test_sha256_file(tmp_path):
    data = bytes(range(256)) * 5000
    f = tmp_path / "blob.bin"
    f.write_bytes(data)
    assert sha256_file(f) == hashlib.sha256(data).hexdigest()
    assert sha256_file(f, chunk_size=7) == hashlib.sha256(data).hexdigest()
