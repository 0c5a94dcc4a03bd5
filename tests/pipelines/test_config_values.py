"""Pipeline settings that load but cannot work are refused with the key's name (issue 20, item 14): a negative
saliency period, and a face model that is not a YuNet file OpenCV can run."""

from __future__ import annotations

import os
import shutil

import pytest

from affectstream.core.paths import REPO
from affectstream.pipelines.config import ConfigError, load_config
from fixtures.hostile import one_line

#: An ONNX model OpenCV reads but cannot run on an image (the EEG student): a face model only in name.
NOT_A_DETECTOR = REPO / "models" / "weights" / "eeg_student.onnx"


def _load(tmp_path, text: str):
    path = tmp_path / "c.toml"
    path.write_text(text)
    return load_config(path)


def test_a_negative_saliency_period_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="saliency_every_hops: expected a number >= 0") as info:
        _load(tmp_path, "saliency_every_hops = -5")
    one_line(info.value)
    assert _load(tmp_path, "saliency_every_hops = 0").saliency_every_hops == 0  # off: headless runs


def _unusable_models(tmp_path) -> dict[str, str]:
    (tmp_path / "empty.onnx").touch()
    (tmp_path / "text.onnx").write_text("root:x:0:0:root:/root:/bin/bash\n")
    huge = tmp_path / "huge.onnx"
    with huge.open("wb") as fh:  # sparse: no disk used
        fh.truncate(1 << 30)
    pipe = tmp_path / "pipe.onnx"
    os.mkfifo(pipe)
    return {"/dev/zero": "not a regular file", str(tmp_path): "not a regular file", str(pipe): "not a regular file",
            str(tmp_path / "empty.onnx"): "is empty", str(tmp_path / "text.onnx"): "not a YuNet face detector",
            str(huge): "MB; a YuNet file", str(NOT_A_DETECTOR): "not a YuNet face detector",
            str(tmp_path / "missing.onnx"): "YuNet face model not found"}


def test_a_face_model_that_is_not_a_yunet_file_is_refused(tmp_path):
    assert NOT_A_DETECTOR.is_file()
    for model, why in _unusable_models(tmp_path).items():
        with pytest.raises(ConfigError, match="face_model: ") as info:
            _load(tmp_path, f"face_model = {model!r}")
        assert why in one_line(info.value) and model in str(info.value), (model, str(info.value))


def test_a_yunet_model_is_accepted(tmp_path, shared_data):
    model = shutil.copy(shared_data / "models" / "face_detection_yunet_2023mar.onnx", tmp_path / "yunet.onnx")
    assert _load(tmp_path, f"face_model = {str(model)!r}").face_model == str(model)
