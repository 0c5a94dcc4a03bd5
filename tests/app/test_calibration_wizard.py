"""The calibration wizard, driven page by page offscreen against the simulator (SYNTHETIC); a screenshot of every
page is written to tests/output/ and checked not to be blank."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("pytestqt")


def _variance(widget) -> float:
    from PySide6 import QtGui

    img = widget.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGBA8888)
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine() // 4, 4)
    return float(arr[:, :img.width(), :3].astype(float).mean(axis=2).var())


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
    import uuid

    from affectstream.app.calibration_wizard import RECORD, CalibrationWizard
    from affectstream.app.dashboard import _application
    from affectstream.calibration.protocol import CalibrationConfig
    from affectstream.pipelines.synthetic.publisher import start_simulator_process, stop_process

    _application()
    prefix = f"calwiz-{uuid.uuid4().hex[:8]}"
    sim = start_simulator_process(0, "sim04", 120.0, video=False, prefix=prefix)
    config = CalibrationConfig(check_s=2.0, baseline_open_s=2.0, baseline_closed_s=2.0, block_s=3.0, rest_s=0.5,
                               n_blocks=8, heldout_blocks=2)
    try:
        w = CalibrationWizard(tmp_path / "profiles", config=config)
        qtbot.addWidget(w)
        w.show()
        page = w.subject_page
        page.subject.setText("live01")
        page.source.setCurrentIndex(page.source.findData("live"))
        page.stream.setText("EEG")
        page.source_id = f"{prefix}-eeg"
        w.next()
        assert w.currentId() == RECORD
        record = w.currentPage()
        rng = np.random.default_rng(0)
        for k in range(config.n_blocks):
            if k == 0:  # the stimulus is shown during its block
                qtbot.waitUntil(lambda: not record.image.pixmap().isNull(), timeout=30000)
                assert record.stimuli and next(iter(record.stimuli)).startswith("synthetic_neutral")
                assert w.grab().save(str(output_dir / "calibration_wizard_live_stimulus.png")) and _variance(w) > 50
            qtbot.waitUntil(lambda: record.sam.isVisible(), timeout=30000)
            if k == 0:
                assert w.grab().save(str(output_dir / "calibration_wizard_live_rating.png")) and _variance(w) > 50
            record.rate(int(rng.integers(1, 10)), int(rng.integers(1, 10)))
        qtbot.waitUntil(lambda: w.session is not None, timeout=15000)
        session = w.session
        assert len(session.blocks) == config.n_blocks and sum(b.heldout for b in session.blocks) == 2
        assert all(b.end - b.start == pytest.approx(3.0, abs=0.3) for b in session.blocks)
        assert session.eeg.shape[1] == 33 and session.synthetic  # 32 channels + the counter; the simulator says so
        counter = session.eeg[:, -1]
        assert np.all(np.diff(counter) == 1)  # nothing dropped or reordered while recording
        w.next()  # the ratings, as recorded
        w.next()  # fine-tuning
        qtbot.waitUntil(lambda: w.result is not None, timeout=60000)
        folder, report = w.result
        assert report["against"] == "self_report" and np.isfinite(report["after"]["ccc"])
        assert (folder / "calibration.xdf").is_file() and (folder / "profile.json").is_file()
        w.close()
    finally:
        stop_process(sim)
