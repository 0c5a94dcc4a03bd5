"""Film clips as calibration stimuli in the wizard: a live session (the simulator's EEG over LSL, SYNTHETIC) whose
stimulus folder holds generated clips and an image. Each clip plays for its own length, and its onset, first frame
and offset are markers on the LSL clock."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures.clip_files import write_clip
from fixtures.wizard_streams import live_wizard, pick_listed_stream

pytest.importorskip("pytestqt")
QtCore = pytest.importorskip("PySide6.QtCore")


@pytest.mark.lsl
def test_wizard_plays_clips_and_records_their_onset_first_frame_and_offset(qtbot, tmp_path, output_dir):
    import cv2

    from affectstream.app.calibration_wizard import RECORD
    from affectstream.app.clip_player import sound_support
    from affectstream.calibration.clips import Clip
    from affectstream.calibration.protocol import CalibrationConfig

    folder = tmp_path / "stimuli"
    folder.mkdir()
    write_clip(folder / "a_clip.avi", 30, fps=20.0)  # 1.5 s
    write_clip(folder / "b_clip.avi", 20, fps=20.0)  # 1.0 s
    cv2.imwrite(str(folder / "c_image.png"), np.full((90, 120, 3), 200, np.uint8))
    config = CalibrationConfig(check_s=1.0, baseline_open_s=1.0, baseline_closed_s=1.0, block_s=1.0, rest_s=0.3,
                               n_blocks=4, heldout_blocks=1)
    with live_wizard(qtbot, tmp_path, config, "clip01", stimuli=folder) as (w, source_id):
        assert "a film clip: its own length" in w.subject_page.length.text()
        pick_listed_stream(qtbot, w.subject_page, source_id)
        w.next()
        assert w.currentId() == RECORD
        record = w.currentPage()
        kinds = {name: type(s) for name, s in record.stimuli.items()}
        assert list(kinds) == ["a_clip#1", "b_clip#2", "c_image#3", "a_clip#4"]  # the folder, in name order, cycled
        assert kinds["a_clip#1"] is Clip and kinds["c_image#3"] is np.ndarray
        assert record.stimulus_note.isVisibleTo(w) == bool(sound_support())  # silent clips are said so beforehand
        qtbot.waitUntil(lambda: record.player.playing, timeout=30000)
        qtbot.waitUntil(lambda: "a_clip#1" in record.onsets, timeout=5000)
        assert record.stimulus.currentIndex() == 1 and record.player.isVisible()
        qtbot.wait(700)  # a few frames in (the generated clip starts black)
        assert w.grab().save(str(output_dir / "calibration_wizard_clip.png"))
        for _ in range(config.n_blocks):
            qtbot.waitUntil(lambda: record.sam.isVisible(), timeout=30000)
            record.rate(6, 4)
        qtbot.waitUntil(lambda: w.session is not None, timeout=15000)
        events = record.recorder.events
        for stim in ("a_clip#1", "b_clip#2", "a_clip#4"):
            (start,) = [t for t, m in events if m == f"block_start/{stim}"]
            (first,) = [t for t, m in events if m == f"first_frame/{stim}"]
            (end,) = [t for t, m in events if m == f"block_end/{stim}"]
            assert start < first < end and record.onsets[stim].delay_s == pytest.approx(first - start)
            assert first - start < 0.5  # the first frame follows its marker within a few display refreshes
            length = record.stimuli[stim].duration_s
            assert end - first == pytest.approx(length, abs=0.25)  # the clip plays its own length, not block_s
        assert not any(m.startswith("first_frame/c_image") for _, m in events)  # an image has no first frame
        blocks = {b.stimulus: b for b in w.session.blocks}
        assert blocks["c_image#3"].end - blocks["c_image#3"].start == pytest.approx(config.block_s, abs=0.25)
        assert blocks["a_clip#1"].end - blocks["a_clip#1"].start == pytest.approx(1.5, abs=0.3)
        assert "clip onset: first frame" in record.onset_text.text() and "over 3 clips" in record.onset_text.text()
        assert any(m == "first_frame/b_clip#2" for _, m in w.session.markers)  # kept in the session's recording
        w.close()


def test_a_clip_that_cannot_be_decoded_refuses_the_folder_in_one_line(tmp_path):

    from affectstream.calibration.live import load_stimuli

    write_clip(tmp_path / "good.avi", 10)
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    with pytest.raises(ValueError, match="broken.mp4") as info:
        load_stimuli(tmp_path)
    assert "\n" not in str(info.value)
    (tmp_path / "broken.mp4").unlink()
    assert [name for name, _ in load_stimuli(tmp_path)] == ["good"]
