"""``recordings/``: in the repository with its README, ignored by git apart from that README, and named as the
README says (``core.xdf_writer.recording_path``, the one place names are made); new recordings go to the folder the
user chose (``core.paths.recordings_dir``)."""

from __future__ import annotations

import re
from pathlib import Path
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


def test_new_recordings_go_to_the_chosen_folder_else_the_environments_else_the_working_directorys(tmp_path,
                                                                                                   monkeypatch):
    """Issue 22, item 2: never the source checkout unless the user works there."""
    from affectstream.core.paths import RECORDINGS_ENV, recordings_dir

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(RECORDINGS_ENV, raising=False)
    assert recordings_dir() == tmp_path / "recordings"
    monkeypatch.setenv(RECORDINGS_ENV, str(tmp_path / "lab"))
    assert recordings_dir() == tmp_path / "lab"
    assert recordings_dir("mine") == tmp_path / "mine" and recordings_dir("~/x").is_absolute()
    assert not (tmp_path / "recordings").exists()  # made when the first file is written, not by asking


def test_record_auto_and_the_recordings_option(tmp_path, monkeypatch):
    from affectstream.app.cli.common import record_path
    from affectstream.app.cli.main import build_parser
    from affectstream.core.paths import RECORDINGS_ENV

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(RECORDINGS_ENV, raising=False)
    assert record_path("auto", "sim01", "1", "demo").parent == tmp_path / "recordings"
    assert record_path("auto", "sim01", "1", "demo", tmp_path / "out").parent == tmp_path / "out"
    assert record_path("given.xdf", "sim01", "1", "demo", tmp_path / "out") == Path("given.xdf")
    for command in ("demo", "dashboard"):
        args = build_parser().parse_args([command, "--recordings", "elsewhere"])
        assert args.recordings == Path("elsewhere")
