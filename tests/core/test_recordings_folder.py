"""``recordings/``: in the repository with its README, ignored by git apart from that README, and named as the
README says (``core.xdf_writer.recording_path``, the one place names are made)."""

from __future__ import annotations

import re
from datetime import datetime

from affectstream.core.paths import REPO
from affectstream.core.xdf_writer import recording_path


def test_recordings_folder_holds_its_readme_and_nothing_else_is_tracked():
    readme = REPO / "recordings" / "README.md"
    assert readme.is_file()
    ignore = (REPO / ".gitignore").read_text().splitlines()
    assert "/recordings/*" in ignore and "!/recordings/README.md" in ignore
    assert ignore.index("!/recordings/README.md") > ignore.index("/recordings/*")  # the exception comes after


def test_file_names_follow_the_pattern_the_readme_gives():
    text = (REPO / "recordings" / "README.md").read_text()
    pattern = re.search(r"```\n(sub-.*\.xdf)\n```", text).group(1)
    regex = re.sub(r"<[a-z]+>", "[A-Za-z0-9]+", re.escape(pattern).replace("<YYYYmmddTHHMMSS>", r"\d{8}T\d{6}"))
    path = recording_path("recordings", "sim-01", 2, "go_nogo", when=datetime(2026, 3, 4, 5, 6, 7))
    assert path.parent.name == "recordings"
    assert re.fullmatch(regex, path.name) and path.name == "sub-sim01_ses-2_task-gonogo_20260304T050607.xdf"
