"""Models, weights and pickles: code never comes from data (issue 10, item 4).

Bundled models load only when their sha256 matches the manifest, user-supplied weights load with
``weights_only=True``, and a source check finds no other unpickling. docs/THREAT_MODEL.md says what these tests
prove and what they do not.
"""

from __future__ import annotations

import ast
import os

import pytest

from affectstream.app.cli.common import USER_ERROR
from affectstream.app.cli.main import main
from affectstream.core.paths import REPO
from affectstream.models.deploy.manifest import ModelIntegrityError, save_entry, verified_path
from fixtures.hostile import one_line, write


def test_model_files_are_refused_unless_their_hash_matches(tmp_path):
    model = write(tmp_path / "m.onnx", b"pretend onnx bytes")
    manifest = tmp_path / "manifest.json"
    save_entry("m", {"file": "m.onnx"}, manifest)
    assert verified_path("m", manifest)[0] == model
    write(model, b"pretend onnx bytez")  # one byte differs
    with pytest.raises(ModelIntegrityError, match="does not match its manifest entry"):
        verified_path("m", manifest)
    model.unlink()
    with pytest.raises(ModelIntegrityError, match="missing"):
        verified_path("m", manifest)
    for broken in ['{"models": {"m": "m.onnx"}}', '{"models": {"m": {"sha256": "00"}}}',
                   '{"models": {"m": {"file": 3, "sha256": "00"}}}', "{not json", b"\xff\xfe"]:
        write(manifest, broken if isinstance(broken, bytes) else broken.encode())
        with pytest.raises(ModelIntegrityError) as info:  # found here: the first three raised TypeError/KeyError
            verified_path("m", manifest)
        one_line(info.value)


def test_a_weights_file_cannot_run_code(tmp_path, capsys):
    """``export`` loads user-supplied weights with ``weights_only=True``: a pickle that runs code is refused."""
    import torch

    ran = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):
            return os.mkdir, (str(ran),)

    weights = tmp_path / "evil.pt"
    torch.save({"weight": Payload()}, weights)
    assert main(["export", "--eeg-weights", str(weights), "--out", str(tmp_path / "out"), "--data", "real"]) \
        == USER_ERROR
    err = capsys.readouterr().err
    assert "is not an EEG student state dict" in err and "Traceback" not in err and not ran.exists()
    torch.load(weights, weights_only=False)  # the control: a plain load runs the payload
    assert ran.exists()


#: The one documented plain unpickling: DEAP's own pickles, only when the caller passes ``trusted_pickle=True``
#: (after a warning); by default DEAP and SEED-V go through the numpy-only ``restricted_unpickle``.
_DOCUMENTED_PICKLE = {("models/datasets/deap.py", "pickle.load")}


def test_no_code_from_data_in_the_source():
    """Every torch.load is weights-only, every np.load refuses pickles, and nothing else unpickles (one exception)."""
    offences = []
    for file in sorted(p for d in ("app", "pipelines", "models", "calibration") for p in (REPO / d).rglob("*.py")):
        rel = file.relative_to(REPO).as_posix()
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name)):
                continue
            owner, name = node.func.value.id, node.func.attr
            kw = {k.arg: k.value for k in node.keywords}
            if owner == "torch" and name == "load" and not (
                    isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True):
                offences.append(f"{rel}:{node.lineno} torch.load without weights_only=True")
            if owner in ("np", "numpy") and name == "load" and not (
                    isinstance(kw.get("allow_pickle"), ast.Constant) and kw["allow_pickle"].value is False):
                offences.append(f"{rel}:{node.lineno} np.load without allow_pickle=False")
            if owner in ("pickle", "joblib", "dill", "cloudpickle", "marshal", "shelve") \
                    and (rel, f"{owner}.{name}") not in _DOCUMENTED_PICKLE:
                offences.append(f"{rel}:{node.lineno} {owner}.{name}")
            if owner in ("pd", "pandas") and name == "read_pickle":
                offences.append(f"{rel}:{node.lineno} pandas.read_pickle")
    assert not offences, offences
