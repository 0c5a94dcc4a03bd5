"""A profile named by --subject or by a [pipeline] config goes through the same checks (one line when refused)."""

from __future__ import annotations

import os

import pytest

from affectstream.app.cli.common import load_pipeline_config, subject_profile
from affectstream.calibration.profiles import ProfileError


def test_a_profile_json_linked_to_a_device_is_refused_not_skipped(tmp_path):
    folder = tmp_path / "s01"
    folder.mkdir()
    os.symlink("/dev/zero", folder / "profile.json")
    with pytest.raises(ProfileError):
        subject_profile("s01", tmp_path)
    assert subject_profile("s02", tmp_path) is None  # no profile at all: the bundled student, with a notice


def test_a_profile_in_a_config_file_is_checked_like_subject(tmp_path):
    folder = tmp_path / "profiles" / "s01"
    folder.mkdir(parents=True)
    (folder / "profile.json").write_text("[1, 2, 3]")
    config = tmp_path / "pipeline.toml"
    config.write_text(f'profile = "{folder}"\n')
    with pytest.raises(ProfileError):
        load_pipeline_config(config)
