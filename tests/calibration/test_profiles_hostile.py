"""Hostile and broken calibration profiles: every file confined to the profile's folder, size-capped, schema-checked
and value-checked, each refusal one ``ProfileError`` line (exit 2 on the command line).

The profile holds the bundled student and a normaliser fed SYNTHETIC frames (random numbers, not EEG).
docs/THREAT_MODEL.md ("Calibration profiles") says what these tests prove.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from affectstream.app.cli.common import USER_ERROR
from affectstream.app.cli.main import main
from affectstream.calibration.profiles import ProfileError, load_profile
from affectstream.core.feature_layout import N_FEATURES
from affectstream.models.deploy.manifest import EEG_STUDENT, EEG_STUDENT_TORCH, WEIGHTS_DIR
from affectstream.models.deploy.runtime import sha256_file
from fixtures.hostile import one_line, traced_peak, valid_xdf, write

SUBJECT = "s01"
#: what calibration chose: its calibrated model, better than chance
SELECTION = {"kept": "calibrated", "model": "student_head", "chance_p": 0.01, "better_than_chance": True}
#: what any refusal may allocate (Python's traced peak); the files read are capped far below it
BOUNDED = 8 << 20


@pytest.fixture(scope="module")
def intact(tmp_path_factory) -> Path:
    """A profile in the layout ``save_profile`` writes, made without PyTorch (seconds faster): the bundled student's
    files and manifest entries as its "fine-tuned" student, a normaliser fed SYNTHETIC frames, one bad channel.
    tests/calibration/test_calibration.py loads a profile that ``affectstream calibrate`` saved."""
    from affectstream.calibration.profiles import PROFILE_VERSION
    from affectstream.core.feature_norm import RunningFeatureNorm
    from affectstream.core.montage import MONTAGE_32
    from affectstream.models.deploy.manifest import load_manifest

    folder = tmp_path_factory.mktemp("intact") / SUBJECT
    folder.mkdir()
    bundled = load_manifest()["models"]
    for entry in (bundled[EEG_STUDENT], bundled[EEG_STUDENT_TORCH]):
        shutil.copy(WEIGHTS_DIR / entry["file"], folder)
    (folder / "manifest.json").write_text(json.dumps({"models": {k: bundled[k] for k in (EEG_STUDENT,
                                                                                         EEG_STUDENT_TORCH)}}))
    norm = RunningFeatureNorm(N_FEATURES)
    norm.transform_sequence(np.random.default_rng(0).normal(1.0, 0.3, (40, N_FEATURES)))  # synthetic frames
    np.savez(folder / "baseline.npz", **norm.state())
    (folder / "bad_channels.json").write_text(json.dumps({"T7": "flat"}))
    base = {"name": EEG_STUDENT, "sha256": bundled[EEG_STUDENT]["sha256"], "frames": 13, "norm_memory": 1200.0}
    (folder / "profile.json").write_text(json.dumps({
        "version": PROFILE_VERSION, "subject": SUBJECT, "created": "2026-12-06T00:00:00+0000",
        "montage": list(MONTAGE_32), "base_model": base, "data": "synthetic", "selection": SELECTION}))
    return folder.parent


@pytest.fixture
def root(intact, tmp_path) -> Path:
    """A fresh copy of the intact profile, in ``<tmp>/profiles/s01``, for one test to damage."""
    shutil.copytree(intact / SUBJECT, tmp_path / "profiles" / SUBJECT)
    return tmp_path / "profiles"


def _refused(root: Path, *words: str) -> str:
    """Assert that loading the profile is refused in one line, in bounded memory, naming ``words``."""
    outcome, peak = traced_peak(lambda: load_profile(root, SUBJECT))
    assert isinstance(outcome, ProfileError), repr(outcome)
    msg = one_line(outcome)
    assert all(w in msg for w in words), msg
    assert peak < BOUNDED, peak
    return msg


def _point_student_at(folder: Path, file: str, content_of: Path, entry: str = EEG_STUDENT) -> None:
    """Rewrite the manifest entry ``entry`` to name ``file``, with the sha256 of ``content_of`` (a matching hash)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["models"][entry].update(file=file, sha256=sha256_file(content_of))
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _edit_json(folder: Path, name: str, change) -> None:
    data = json.loads((folder / name).read_text())
    change(data)
    (folder / name).write_text(json.dumps(data))


def test_an_intact_profile_loads_with_its_checked_state(root):
    profile = load_profile(root, SUBJECT)
    assert profile.subject == SUBJECT and profile.bad_channels == {"T7": "flat"}
    assert set(profile.norm_state) == {"count", "mean", "var"}
    assert all(v.shape == (N_FEATURES,) and v.dtype == np.float64 for v in profile.norm_state.values())
    assert profile.norm_state["count"].min() == 40 and profile.norm_state["var"].min() > 0


# -- item 5: every file of the profile lies inside its folder ---------------------------------------------------------

@pytest.mark.parametrize("case", ["relative_valid_model", "relative_text_file", "absolute_bundled_model",
                                  "symlink_to_outside", "torch_entry_outside"])
def test_a_model_file_outside_the_profile_folder_is_refused(root, case):
    folder = root / SUBJECT
    outside = root.parent / "outside.onnx"
    shutil.copy(folder / "eeg_student.onnx", outside)  # a working student, only not in the folder
    if case == "relative_valid_model":
        _point_student_at(folder, "../../outside.onnx", outside)
    elif case == "relative_text_file":  # the `../../etc/passwd` of the issue, with a matching sha256
        passwd = write(root.parent / "passwd", b"root:x:0:0:root:/root:/bin/bash\n")
        _point_student_at(folder, "../../passwd", passwd)
    elif case == "absolute_bundled_model":
        _point_student_at(folder, str(WEIGHTS_DIR / "eeg_student.onnx"), WEIGHTS_DIR / "eeg_student.onnx")
    elif case == "symlink_to_outside":  # same name, same bytes, same hash: only the link's target is elsewhere
        (folder / "eeg_student.onnx").unlink()
        (folder / "eeg_student.onnx").symlink_to(outside)
    else:
        _point_student_at(folder, "../../outside.onnx", outside, EEG_STUDENT_TORCH)
    _refused(root, f"profile {SUBJECT!r}", "outside")


@pytest.mark.parametrize("case", ["text_file", "visual_student"])
def test_a_profile_student_that_is_no_eeg_student_is_refused(root, case, capfd):
    """Inside the folder with a matching sha256, but not a graph the live path can run: refused at load, so a run
    never starts with a student that fails on its first hop (and falls back while its summary says student)."""
    folder = root / SUBJECT
    if case == "text_file":
        write(folder / "eeg_student.onnx", b"root:x:0:0:root:/root:/bin/bash\n")
    else:
        shutil.copy(WEIGHTS_DIR / "visual_student_int8.onnx", folder / "eeg_student.onnx")
    _point_student_at(folder, "eeg_student.onnx", folder / "eeg_student.onnx")
    _refused(root, "eeg_student.onnx", "EEG student")
    assert capfd.readouterr().err == ""  # onnxruntime printed nothing of its own


def _tiny_student(path: Path, weights: Path | None = None, location: str | None = None) -> None:
    """A graph with the student's interface, (batch, N_FEATURES, 13) floats -> (batch, 2): the log of a mean, so
    -inf on zero frames. With ``weights``/``location``, its weights are external data: stored in ``weights`` and
    named by ``location`` (relative to the graph's folder). Needs the ``onnx`` package (the ``train`` extra)."""
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper, save

    w = numpy_helper.from_array(np.ones((13, 2), np.float32), "w")
    if weights is not None:
        weights.write_bytes(w.raw_data)
        w.ClearField("raw_data")
        w.data_location = TensorProto.EXTERNAL
        w.external_data.add(key="location", value=location)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["frames", "w"], ["m"]),
         helper.make_node("ReduceMean", ["m"], ["r"], axes=[1], keepdims=0), helper.make_node("Log", ["r"], ["y"])],
        "tiny", [helper.make_tensor_value_info("frames", TensorProto.FLOAT, ["batch", N_FEATURES, 13])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2])], [w])
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


@pytest.mark.parametrize("case", ["non_finite_output", "weights_outside", "weights_linked_outside"])
def test_a_student_graph_must_give_finite_numbers_from_its_own_folder(root, case):
    """A graph with the right interface but -inf on zero frames is refused; so is one whose weights are external
    data outside the folder, by a relative path or through a link (onnxruntime's own check, on resolved paths)."""
    folder = root / SUBJECT
    student = folder / "eeg_student.onnx"
    if case == "non_finite_output":
        _tiny_student(student)
        words = ("non-finite",)
    elif case == "weights_outside":
        _tiny_student(student, root.parent / "w.bin", "../../w.bin")
        words = ("External data",)
    else:
        _tiny_student(student, root.parent / "w.bin", "w.bin")
        (folder / "w.bin").symlink_to(root.parent / "w.bin")
        words = ("External data",)
    _point_student_at(folder, "eeg_student.onnx", student)
    _refused(root, "eeg_student.onnx", *words)


def _replay_with(root: Path, tmp_path: Path, capsys) -> str:
    recording = write(tmp_path / "r.xdf", valid_xdf())
    capsys.readouterr()
    code = main(["replay", str(recording), "--headless", "--subject", SUBJECT, "--profiles", str(root)])
    err = capsys.readouterr().err
    assert code == USER_ERROR, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def test_the_cli_refuses_an_outside_student_in_one_line(root, tmp_path, capsys):
    passwd = write(tmp_path / "passwd", b"root:x:0:0:root:/root:/bin/bash\n")
    _point_student_at(root / SUBJECT, str(passwd), passwd)
    assert "outside" in _replay_with(root, tmp_path, capsys)


# -- item 6: every file is a regular file of bounded size ---------------------------------------------------------

@pytest.mark.parametrize("name", ["profile.json", "manifest.json", "bad_channels.json", "baseline.npz",
                                  "eeg_student.onnx"])
@pytest.mark.parametrize("kind", ["dev_zero", "fifo", "sparse_8_gib", "directory"])
def test_profile_files_must_be_small_regular_files(root, name, kind):
    path = root / SUBJECT / name
    path.unlink()
    if kind == "dev_zero":
        if not Path("/dev/zero").exists():
            pytest.skip("no /dev/zero here")
        path.symlink_to("/dev/zero")
        words = ("outside",)
    elif kind == "fifo":
        os.mkfifo(path)  # opening it would block until a writer comes
        words = ("not a regular file",)
    elif kind == "directory":
        path.mkdir()
        words = ("not a regular file",)
    else:
        with open(path, "wb") as fh:
            fh.truncate(8 << 30)  # sparse: no disk used
        words = ("larger than",)
    _refused(root, name, *words)


def test_a_json_file_just_over_its_cap_is_refused(root):
    folder = root / SUBJECT
    text = (folder / "profile.json").read_text()
    (folder / "profile.json").write_text(text + " " * (64 * 1024))  # valid JSON, only too long
    _refused(root, "profile.json", "larger than")


# -- item 7: broken files give one line; the normaliser's state is finite with positive variances --------------------

def _npz(**members: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in members.items():
            z.writestr(f"{name}.npy", data)
    return buffer.getvalue()


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _huge_header() -> bytes:
    """An .npy member that declares 10^10 float64 values (80 GB) and holds 8 bytes."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False, "shape": (10 ** 10,)})
    return buffer.getvalue() + b"\0" * 8


def _state(**changes) -> dict[str, np.ndarray]:
    state = {"count": np.full(N_FEATURES, 40.0), "mean": np.ones(N_FEATURES), "var": np.full(N_FEATURES, 0.1)}
    for key, (index, value) in changes.items():
        state[key][index] = value
    return state


_GOOD = {k: _npy(v) for k, v in _state().items()}
BROKEN_BASELINES = {
    "garbage": (np.random.default_rng(1).bytes(4000), "npz archive"),
    "pickled": (pickle.dumps(_state()), "npz archive"),
    "truncated": (_npz(**_GOOD)[:3000], "npz archive"),
    "missing_var": (_npz(count=_GOOD["count"], mean=_GOOD["mean"]), "count, mean, var"),
    "extra_member": (_npz(**_GOOD, extra=_GOOD["var"]), "count, mean, var"),
    "wrong_shape": (_npz(**{**_GOOD, "count": _npy(np.ones(10))}), "shape"),
    "two_dimensional": (_npz(**{**_GOOD, "mean": _npy(np.ones((N_FEATURES, 2)))}), "shape"),
    "object_array": (_npz(**{**_GOOD, "mean": _npy(np.array([{}] * N_FEATURES, dtype=object))}), "numbers"),
    "strings": (_npz(**{**_GOOD, "var": _npy(np.array(["0.1"] * N_FEATURES))}), "numbers"),
    "complex": (_npz(**{**_GOOD, "var": _npy(np.ones(N_FEATURES, complex))}), "numbers"),
    "huge_header": (_npz(**{**_GOOD, "var": _huge_header()}), "shape"),
    "nan_mean": (_npz(**{k: _npy(v) for k, v in _state(mean=(3, np.nan)).items()}), "mean"),
    "negative_var": (_npz(**{k: _npy(v) for k, v in _state(var=(5, -0.1)).items()}), "var"),
    "nan_var": (_npz(**{k: _npy(v) for k, v in _state(var=(5, np.nan)).items()}), "var"),
    "zero_var_of_a_seen_feature": (_npz(**{k: _npy(v) for k, v in _state(var=(7, 0.0)).items()}), "var"),
    "huge_var": (_npz(**{k: _npy(v) for k, v in _state(var=(7, 1e300)).items()}), "var"),
    "infinite_count": (_npz(**{k: _npy(v) for k, v in _state(count=(0, np.inf)).items()}), "count"),
    "negative_count": (_npz(**{k: _npy(v) for k, v in _state(count=(0, -3.0)).items()}), "count"),
}


@pytest.mark.parametrize("case", BROKEN_BASELINES)
def test_a_broken_baseline_is_refused_in_one_line(root, case):
    data, words = BROKEN_BASELINES[case]
    write(root / SUBJECT / "baseline.npz", data)
    _refused(root, "baseline.npz", words)


def test_an_unseen_feature_may_have_zero_variance(root):
    """Features of channels the baseline never measured (bad ones) keep the fresh normaliser's zeros."""
    state = _state(count=(slice(0, 6), 0.0), var=(slice(0, 6), 0.0))
    write(root / SUBJECT / "baseline.npz", _npz(**{k: _npy(v) for k, v in state.items()}))
    assert load_profile(root, SUBJECT).norm_state["count"][:6].sum() == 0


BROKEN_JSON = {
    "profile_not_json": ("profile.json", b"{", "JSON"),
    "profile_not_utf8": ("profile.json", b'{"version": 1, "subject": "\xff"}', "JSON"),
    "profile_a_list": ("profile.json", b"[1, 2]", "object"),
    "profile_deeply_nested": ("profile.json", b"[" * 30000 + b"]" * 30000, "JSON"),
    "profile_montage_a_number": ("profile.json", lambda m: m.update(montage=5), "montage"),
    "profile_base_model_a_string": ("profile.json", lambda m: m.update(base_model="x"), "base_model"),
    "profile_without_data": ("profile.json", lambda m: m.pop("data"), "data"),
    "profile_created_a_list": ("profile.json", lambda m: m.update(created=[]), "created"),
    "profile_odd_data": ("profile.json", lambda m: m.update(data="maybe"), "data"),
    "profile_without_selection": ("profile.json", lambda m: m.pop("selection"), "selection"),
    "profile_selection_odd_kept": ("profile.json", lambda m: m["selection"].update(kept="best"), "kept"),
    "profile_selection_odd_model": ("profile.json", lambda m: m["selection"].update(model="torch"), "model"),
    "profile_selection_p_zero": ("profile.json", lambda m: m["selection"].update(chance_p=0), "chance_p"),
    "profile_selection_p_text": ("profile.json", lambda m: m["selection"].update(chance_p="0.01"), "chance_p"),
    "profile_selection_p_nan": ("profile.json", lambda m: m["selection"].update(chance_p=float("nan")), "chance_p"),
    "profile_selection_claims_chance": ("profile.json", lambda m: m["selection"].update(chance_p=0.5),
                                        "contradicts"),
    "profile_selection_flag_text": ("profile.json", lambda m: m["selection"].update(better_than_chance="yes"),
                                    "better_than_chance"),
    "manifest_a_list": ("manifest.json", b"[]", "object"),
    "manifest_models_a_list": ("manifest.json", lambda m: m.update(models=[]), "models"),
    "manifest_file_a_number": ("manifest.json", lambda m: m["models"][EEG_STUDENT].update(file=3), "file"),
    "manifest_frames_text": ("manifest.json", lambda m: m["models"][EEG_STUDENT]["input"].update(frames="x"),
                             "frames"),
    "manifest_other_frames": ("manifest.json", lambda m: m["models"][EEG_STUDENT]["input"].update(frames=12),
                              "frames"),
    "manifest_memory_nan": ("manifest.json",
                            lambda m: m["models"][EEG_STUDENT]["input"].update(norm_memory=float("nan")),
                            "norm_memory"),
    "manifest_memory_text": ("manifest.json", lambda m: m["models"][EEG_STUDENT]["input"].update(norm_memory="x"),
                             "norm_memory"),
    "bad_channels_a_list": ("bad_channels.json", b'["T7"]', "object"),
    "bad_channels_reason_a_number": ("bad_channels.json", b'{"T7": 5}', "bad_channels.json"),
    "bad_channels_not_json": ("bad_channels.json", b'{"T7": ', "JSON"),
}


@pytest.mark.parametrize("case", BROKEN_JSON)
def test_a_broken_json_file_is_refused_in_one_line(root, case):
    name, content, word = BROKEN_JSON[case]
    if isinstance(content, bytes):
        write(root / SUBJECT / name, content)
    else:
        _edit_json(root / SUBJECT, name, content)
    _refused(root, name, word)


def test_a_profile_saved_before_the_chance_test_is_refused(root):
    """Version 1 was saved and used whether or not it beat the bundled student or chance: calibrate again."""
    _edit_json(root / SUBJECT, "profile.json", lambda m: (m.pop("selection"), m.update(version=1)))
    assert "calibrate again" in _refused(root, "format version 1")


@pytest.mark.parametrize("damage", ["pickled_baseline", "profile_a_list", "nan_var"])
def test_the_cli_refuses_a_broken_profile_in_one_line(root, tmp_path, capsys, damage):
    folder = root / SUBJECT
    if damage == "pickled_baseline":
        write(folder / "baseline.npz", pickle.dumps(_state()))
    elif damage == "profile_a_list":
        write(folder / "profile.json", b"[]")
    else:
        write(folder / "baseline.npz", BROKEN_BASELINES["nan_var"][0])
    assert f"profile {SUBJECT!r}" in _replay_with(root, tmp_path, capsys)
