"""A file a user names is checked before a library opens it: one line for a folder, a device or pipe, a file this
process may not read (issue 20, item 8), and the XDF reader says so in its own error."""

from __future__ import annotations

import os

import pytest

from affectstream.core.files import regular_file
from affectstream.core.xdf_reader import XDFFormatError, load_recording
from fixtures.hostile import deny, one_line, valid_xdf, write


class _Refused(Exception):
    pass


def test_a_regular_file_gives_its_size(tmp_path):
    assert regular_file(write(tmp_path / "a.bin", b"12345"), "thing", _Refused) == 5


def test_what_is_not_a_readable_regular_file_is_one_line(tmp_path, monkeypatch):
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)  # opening it for reading would block until a writer comes
    theirs = write(tmp_path / "theirs.bin", b"x")
    hidden = write(tmp_path / "hidden.bin", b"x")
    deny(monkeypatch, theirs, "open")
    deny(monkeypatch, hidden, "stat")
    for path, why in ((tmp_path, "not a regular file (a folder)"), (pipe, "not a regular file (a device, pipe"),
                      ("/dev/zero", "not a regular file (a device, pipe"), (theirs, "Permission denied"),
                      (hidden, "Permission denied")):
        with pytest.raises(_Refused) as info:
            regular_file(path, "thing", _Refused)
        assert why in one_line(info.value) and str(path) in str(info.value)
    with pytest.raises(FileNotFoundError, match="thing not found"):
        regular_file(tmp_path / "missing", "thing", _Refused)


@pytest.mark.parametrize("method", ["open", "stat"])
def test_the_xdf_reader_refuses_a_file_it_may_not_read(tmp_path, monkeypatch, method):
    path = write(tmp_path / "theirs.xdf", valid_xdf())
    deny(monkeypatch, path, method)
    with pytest.raises(XDFFormatError, match="Permission denied") as info:
        load_recording(path)
    assert "theirs.xdf" in one_line(info.value)
