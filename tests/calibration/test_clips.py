"""Film-clip stimuli are probed once: frame rate, frame count and size by decoding; bad files refused in one line."""

from __future__ import annotations

import pytest
from fixtures.clip_files import write_clip

from affectstream.calibration.clips import MAX_CLIP_S, probe_clip


def test_a_clip_is_probed_by_decoding(tmp_path):
    write_clip(tmp_path / "joy.avi", 30, fps=15.0, size=(96, 64))
    clip = probe_clip(tmp_path / "joy.avi")
    assert (clip.name, clip.n_frames, clip.fps, clip.width, clip.height) == ("joy", 30, 15.0, 96, 64)
    assert clip.duration_s == pytest.approx(2.0)


@pytest.mark.parametrize("content", [b"", b"not a video at all" * 100])
def test_a_file_that_is_not_a_video_is_refused_in_one_line(tmp_path, content):
    path = tmp_path / "clip.mp4"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a video OpenCV can decode") as info:
        probe_clip(path)
    assert "\n" not in str(info.value)


def test_a_whole_film_is_refused(tmp_path, monkeypatch):
    import affectstream.calibration.clips as clips

    write_clip(tmp_path / "film.avi", 40, fps=10.0)
    monkeypatch.setattr(clips, "MAX_CLIP_S", 2.0)
    with pytest.raises(ValueError, match="longer than 2 s"):
        clips.probe_clip(tmp_path / "film.avi")
    assert MAX_CLIP_S >= 120  # the seed datasets' excerpts (up to about two minutes) fit
