"""The calibration wizard, driven page by page offscreen against the simulator (SYNTHETIC); a screenshot of every
page is written to tests/output/ and checked not to be blank."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fixtures.wizard_streams import live_wizard, pick_listed_stream

pytest.importorskip("pytestqt")
QtCore = pytest.importorskip("PySide6.QtCore")


def _variance(widget) -> float:
    from PySide6 import QtGui

    img = widget.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGBA8888)
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine() // 4, 4)
    return float(arr[:, :img.width(), :3].astype(float).mean(axis=2).var())


def _browse_buttons(page) -> int:
    return sum(b.text() == "Browse…" for b in page.findChildren(type(page.w.button(page.w.WizardButton.NextButton))))


def test_the_sam_scale_shows_its_value_and_takes_keys_and_clicks(qtbot, output_dir):
    from affectstream.app.dashboard import _application
    from affectstream.app.dashboard.sam_scale import SamScale

    _application()
    scale = SamScale("valence")
    qtbot.addWidget(scale)
    scale.resize(560, 120)
    scale.show()
    assert scale.value == 5 and len(scale.buttons) == 9 and [b.text() for b in scale.buttons] == list("123456789")
    assert "1 unpleasant" in scale.findChildren(type(scale.title))[1].text()
    qtbot.mouseClick(scale.buttons[7], QtCore.Qt.MouseButton.LeftButton)
    assert scale.value == 8 and scale.buttons[7].isChecked() and ">8</b>" in scale.title.text()
    scale.setFocus()
    qtbot.keyClick(scale, QtCore.Qt.Key.Key_2)
    qtbot.keyClick(scale, QtCore.Qt.Key.Key_Right)
    assert scale.value == 3 and sum(b.isChecked() for b in scale.buttons) == 1
    for _ in range(5):
        qtbot.keyClick(scale, QtCore.Qt.Key.Key_Left)
    assert scale.value == 1  # never below the scale
    assert scale.grab().save(str(output_dir / "calibration_sam_scale.png")) and _variance(scale) > 50


def test_the_checkbox_has_a_visible_box(qtbot):
    from PySide6 import QtGui, QtWidgets

    from affectstream.app.dashboard import _application

    _application()
    box = QtWidgets.QCheckBox("short signal check and baseline")
    qtbot.addWidget(box)
    box.show()
    img = box.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGBA8888)
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine() // 4, 4)
    indicator = arr[:, :box.height(), :3].astype(int)  # the square left of the text
    background = np.array(QtGui.QColor("#0d1117").getRgb()[:3])
    assert (np.abs(indicator - background).sum(axis=2) > 120).mean() > 0.1  # an outline that shows on dark


def test_wizard_walks_through_every_page_and_writes_the_profile(qtbot, tmp_path, output_dir):
    from affectstream.app.calibration_wizard import CalibrationWizard
    from affectstream.app.dashboard import _application

    _application()
    w = CalibrationWizard(tmp_path / "profiles")
    qtbot.addWidget(w)
    w.show()
    shots = []

    def shot(name: str) -> None:
        path = output_dir / f"calibration_wizard_{len(shots)}_{name}.png"
        assert w.grab().save(str(path))
        assert _variance(w) > 50, name
        shots.append(path)

    page = w.subject_page
    assert not page.isComplete()
    assert page.findChildren(type(w.button(w.WizardButton.NextButton)), "") and _browse_buttons(page) == 2
    assert "few seconds" in page.length.text()  # the dry run's length
    page.subject.setText("../x")
    assert not page.isComplete() and "letters" in page.error.text()
    page.subject.setText("sim02")
    assert page.isComplete()
    shot("subject")

    w.next()  # signal check: the session is recorded on a worker thread
    signal = w.currentPage()
    qtbot.waitUntil(lambda: w.session is not None, timeout=30000)
    assert len(signal.boxes) == 32 and "channels pass" in signal.status.text()
    signal.boxes["O2"].setChecked(True)  # the user leaves a channel out
    shot("signal")

    w.next()
    assert w.session.bad_channels == {"O2": "marked by the user"}
    assert "eyes closed" in w.currentPage().text.text()
    shot("baseline")

    w.next()
    blocks = w.currentPage()
    assert blocks.table.rowCount() == 24
    blocks.table.cellWidget(0, 1).setValue(9)  # redo the first block's valence rating
    shot("blocks")

    w.back()  # going back and forward keeps the session
    w.next()
    w.next()
    assert w.session.blocks[0].sam_valence == 9
    qtbot.waitUntil(lambda: w.result is not None, timeout=60000)
    assert "profile written" in w.currentPage().status.text()
    shot("finetune")

    w.next()
    report_page = w.currentPage()
    assert "before" in report_page.summary.text() and "SYNTHETIC" in report_page.summary.text()
    assert not report_page.image.pixmap().isNull()
    shot("report")
    folder, report = w.result
    assert json.loads((folder / "report.json").read_text())["bad_channels"] == {"O2": "marked by the user"}
    assert json.loads((folder / "bad_channels.json").read_text()) == {"O2": "marked by the user"}
    assert len(shots) == 6


@pytest.mark.lsl
def test_wizard_records_a_live_stream_with_stimuli_and_ratings(qtbot, tmp_path, output_dir):
    """A live session: the simulator's EEG over LSL, the built-in SYNTHETIC stimuli, a rating after each block."""
    from affectstream.app.calibration_wizard import RECORD
    from affectstream.calibration.protocol import CalibrationConfig

    config = CalibrationConfig(check_s=2.0, baseline_open_s=2.0, baseline_closed_s=2.0, block_s=3.0, rest_s=0.5,
                               n_blocks=8, heldout_blocks=2)
    with live_wizard(qtbot, tmp_path, config, "live01") as (w, source_id):
        page = w.subject_page
        assert "min of recording plus 8 ratings" in page.length.text()
        pick_listed_stream(qtbot, page, source_id)
        assert page.isComplete(), page.error.text()
        assert page.stream_query() == ("affectstream-sim-EEG", source_id)
        w.next()
        assert w.currentId() == RECORD
        record = w.currentPage()
        qtbot.waitUntil(lambda: record.recording, timeout=30000)
        assert "step 1 of" in record.bar.text() and "min left" in record.bar.text()
        asked = []
        w.ask_discard = lambda: asked.append(True) or False  # the user answers: keep recording
        qtbot.mouseClick(w.button(w.WizardButton.BackButton), QtCore.Qt.MouseButton.LeftButton)
        w.reject()  # Cancel / closing the window
        assert asked == [True, True] and w.currentId() == RECORD and w.isVisible() and record.recording
        rng = np.random.default_rng(0)
        for k in range(config.n_blocks):
            if k == 0:  # the stimulus is shown during its block
                qtbot.waitUntil(lambda: not record.image.pixmap().isNull(), timeout=30000)
                assert record.stimuli and next(iter(record.stimuli)).startswith("synthetic_neutral")
                assert w.grab().save(str(output_dir / "calibration_wizard_live_stimulus.png")) and _variance(w) > 50
            qtbot.waitUntil(lambda: record.sam.isVisible(), timeout=30000)
            if k == 0:  # rated as a person does: a digit for valence, a click on arousal's 3
                assert w.grab().save(str(output_dir / "calibration_wizard_live_rating.png")) and _variance(w) > 50
                qtbot.keyClick(record.valence, QtCore.Qt.Key.Key_7)
                qtbot.mouseClick(record.arousal.buttons[2], QtCore.Qt.MouseButton.LeftButton)
                assert (record.valence.value, record.arousal.value) == (7, 3)
                assert "<b" in record.valence.title.text() and ">7</b>" in record.valence.title.text()
                record.continue_button.click()
                assert record.ratings[next(iter(record.stimuli))] == (7, 3)
                continue
            record.rate(int(rng.integers(1, 10)), int(rng.integers(1, 10)))
        qtbot.waitUntil(lambda: w.session is not None, timeout=15000)
        session = w.session
        assert len(session.blocks) == config.n_blocks and sum(b.heldout for b in session.blocks) == 2
        assert all(b.end - b.start == pytest.approx(3.0, abs=0.3) for b in session.blocks)
        assert session.eeg.shape[1] == 33 and session.synthetic  # 32 channels + the counter; the simulator says so
        counter = session.eeg[:, -1]
        assert np.all(np.diff(counter) == 1)  # nothing dropped or reordered while recording
        w.next()  # the ratings, as recorded: the EEG is labelled SYNTHETIC, the ratings are not said to be simulated
        assert w.currentPage().simulated_stream_note.isVisibleTo(w) and not w.currentPage().dry_note.isVisibleTo(w)
        w.next()  # fine-tuning
        qtbot.waitUntil(lambda: w.result is not None, timeout=60000)
        folder, report = w.result
        assert report["against"] == "self_report" and np.isfinite(report["after"]["ccc"])
        assert (folder / "calibration.xdf").is_file() and (folder / "profile.json").is_file()
        w.close()
