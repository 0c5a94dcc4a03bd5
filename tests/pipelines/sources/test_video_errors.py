"""Video files that are not videos: one :class:`VideoSourceError` line naming the file, never a blocked open (a pipe)
or a bare "cannot open" for a folder (issue 20, item 8)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from affectstream.pipelines.sources.video import VideoFileSource, VideoSourceError
from fixtures.hostile import deny, one_line, write


def test_what_is_not_a_video_file_is_named(tmp_path, monkeypatch):
    pipe = tmp_path / "pipe.mp4"
    os.mkfifo(pipe)
    theirs = write(tmp_path / "theirs.mp4", b"x")
    deny(monkeypatch, theirs, "open")
    garbage = write(tmp_path / "garbage.mp4", np.random.default_rng(0).bytes(20_000))
    for path, why in ((tmp_path, "not a regular file (a folder)"), (pipe, "not a regular file (a device, pipe"),
                      (theirs, "Permission denied"), (garbage, "not a video OpenCV can decode")):
        with pytest.raises(VideoSourceError) as info:
            VideoFileSource(path)
        assert why in one_line(info.value) and str(path) in str(info.value)
        assert isinstance(info.value, ValueError) and isinstance(info.value, OSError)  # the earlier contracts
