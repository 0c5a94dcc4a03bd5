"""Hostile files and configs on the command line: one clear line on stderr, exit code 2, no traceback.

docs/THREAT_MODEL.md says what these tests prove and what they do not.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from affectstream.app.cli.common import USER_ERROR
from affectstream.app.cli.main import main
from affectstream.core.paths import REPO
from affectstream.core.xdf_format import chunk
from affectstream.pipelines.bench.hostile import stream_header, string_samples, xdf_file
from fixtures.hostile import deny, eeg_file, valid_xdf, write


def _cli_hostile_files(tmp_path: Path) -> dict[str, Path]:
    valid = valid_xdf()
    marker_header = stream_header(1, "mrk", "Markers", 1, "0", "string")
    return {
        "wrong_magic": write(tmp_path / "magic.xdf", b"PK\x03\x04" + valid[4:]),
        "truncated": write(tmp_path / "cut.xdf", valid[:len(valid) // 2]),
        "huge_chunk": write(tmp_path / "huge.xdf", valid[:4] + b"\x08" + struct.pack("<Q", 2 ** 63) + valid[5:]),
        "bad_xml": write(tmp_path / "xml.xdf", xdf_file(chunk(2, struct.pack("<I", 1) + b"<info><name>x</nam"))),
        "desync": write(tmp_path / "desync.xdf", xdf_file(marker_header, string_samples(1, 1, ["a", "b"]))),
        "zero_rate": eeg_file(tmp_path / "rate.xdf", "0"),
        "nan_rate": eeg_file(tmp_path / "nan.xdf", "nan"),
        "unlabeled_1000": eeg_file(tmp_path / "wide.xdf", n_ch=1000, labels=None),
        "no_eeg": write(tmp_path / "mrk.xdf", xdf_file(marker_header)),
    }


def _assert_one_clear_line(code: int, err: str, command: str) -> None:
    assert code == USER_ERROR, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"affectstream {command}: ") and "Traceback" not in err, err


def test_cli_replay_of_hostile_files_is_one_line_and_exit_2(tmp_path, capsys):
    for path in _cli_hostile_files(tmp_path).values():
        code = main(["replay", str(path), "--headless"])
        _assert_one_clear_line(code, capsys.readouterr().err, "replay")


@pytest.mark.parametrize("text", ["hop = 3", "hop_s = 'fast'", "window_s = nan", "a." * 20_000 + "b = 1",
                                  "x = " + "[" * 3000 + "]" * 3000, "\x00\x01"])
def test_cli_run_with_a_hostile_config_is_one_line_and_exit_2(tmp_path, capsys, text):
    cfg = write(tmp_path / "bad.toml", text.encode())
    code = main(["run", "--headless", "--config", str(cfg), "--timeout", "0.1"])
    _assert_one_clear_line(code, capsys.readouterr().err, "run")


def test_cli_run_with_a_directory_as_config(tmp_path, capsys):
    code = main(["run", "--headless", "--config", str(tmp_path), "--timeout", "0.1"])
    _assert_one_clear_line(code, capsys.readouterr().err, "run")


def test_cli_in_a_real_process(tmp_path):
    """The same through the console entry point, so stderr is exactly what a user sees."""
    files = _cli_hostile_files(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "affectstream", "replay", str(files["desync"]), "--headless"],
                          capture_output=True, text=True, timeout=120, cwd=REPO, check=False)
    _assert_one_clear_line(proc.returncode, proc.stderr, "replay")
    assert "desync.xdf is corrupt: the Samples chunk at byte" in proc.stderr


# --- files the command cannot use (issue 20, item 8) --------------------------------------------------------------


@pytest.mark.parametrize("method", ["open", "stat"])
def test_cli_replay_of_an_unreadable_recording(tmp_path, capsys, monkeypatch, method):
    path = write(tmp_path / "theirs.xdf", valid_xdf())
    deny(monkeypatch, path, method)
    code = main(["replay", str(path), "--headless"])
    err = capsys.readouterr().err
    _assert_one_clear_line(code, err, "replay")
    assert "theirs.xdf" in err and "Permission denied" in err


def test_cli_replay_of_a_folder_or_a_pipe_says_what_it_is(tmp_path, capsys):
    folder = tmp_path / "session.xdf"
    folder.mkdir()
    pipe = tmp_path / "pipe.xdf"
    os.mkfifo(pipe)
    for path, what in ((folder, "not a regular file (a folder)"), (pipe, "not a regular file (a device, pipe")):
        code = main(["replay", str(path), "--headless"])
        err = capsys.readouterr().err
        _assert_one_clear_line(code, err, "replay")
        assert what in err, err


@pytest.mark.parametrize(("model", "why"), [("/etc/passwd", "not a YuNet face detector"),
                                            ("/dev/zero", "not a regular file"),
                                            ("{tmp}", "not a regular file"),
                                            ("{tmp}/empty.onnx", "empty")])
def test_cli_run_with_an_unusable_face_model(tmp_path, capsys, model, why):
    """Refused before any stream is looked up: the message is about the model, not a missing EEG stream."""
    (tmp_path / "empty.onnx").touch()
    code = main(["run", "--headless", "--face-model", model.format(tmp=tmp_path), "--timeout", "0.1"])
    err = capsys.readouterr().err
    _assert_one_clear_line(code, err, "run")
    assert "--face-model" in err and why in err, err


def _not_a_video(tmp_path: Path) -> Path:
    """Bytes FFmpeg takes for an MP4 by their name and refuses (a .txt would play: FFmpeg renders text as video)."""
    return write(tmp_path / "clip.mp4", np.random.default_rng(0).bytes(50_000))


def test_cli_run_with_a_video_file_that_is_not_a_video(tmp_path, capsys):
    """Refused before any stream is looked up (the message is not "no EEG stream")."""
    for path, why in ((_not_a_video(tmp_path), "not a video"), (tmp_path, "not a regular file"),
                      (write(tmp_path / "s.xdf", valid_xdf()), "not a video")):
        code = main(["run", "--headless", "--video-file", str(path), "--timeout", "0.1"])
        err = capsys.readouterr().err
        _assert_one_clear_line(code, err, "run")
        assert "--video-file" in err and why in err, err


def test_cli_run_with_a_video_file_that_is_not_a_video_in_a_real_process(tmp_path):
    """FFmpeg writes its complaint to the process's stderr itself, past Python: only a real process shows it."""
    proc = subprocess.run([sys.executable, "-m", "affectstream", "run", "--headless", "--video-file",
                           str(_not_a_video(tmp_path)), "--timeout", "0.1"],
                          capture_output=True, text=True, timeout=120, cwd=REPO, check=False)
    _assert_one_clear_line(proc.returncode, proc.stderr, "run")
