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
    from app.calibration_wizard import CalibrationWizard
    from app.dashboard import _application

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
