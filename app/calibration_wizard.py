"""The calibration wizard: subject, signal check, baseline, stimulus blocks and ratings, fine-tuning, report.

A ``QWizard`` over the headless protocol (:mod:`calibration`): every computation is the same function the
``affectstream calibrate`` command runs, started on a worker thread so the window never blocks. Two sources:

* a **live headset** (an LSL EEG stream): the wizard runs the protocol itself
  (:mod:`~affectstream.app.dashboard.calibration_record`) -- live channel check, resting baseline, each stimulus (the
  images and film clips of a folder, or the built-in SYNTHETIC faces) followed by the SAM rating -- while
  :class:`affectstream.calibration.live.LiveRecorder` records the EEG and stamps every event on the LSL clock;
* the **simulator** (a dry run, SYNTHETIC, labelled on every page).

The pages let the user mark channels bad after the signal check (dry run) and change any block's rating (SAM 1-9)
before fine-tuning; going back and finishing again recomputes from there. The ratings are asked on the SAM's nine
points (:class:`~affectstream.app.dashboard.sam_scale.SamScale`); going back, Cancel or closing the window while a
live session is recorded asks before the recording is thrown away. The first page is
:mod:`affectstream.app.dashboard.calibration_subject`.
"""

from __future__ import annotations

import dataclasses
import html
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from affectstream.calibration.profiles import default_profiles_dir
from affectstream.calibration.protocol import CalibrationConfig, CalibrationSession

from affectstream.app.dashboard import theme
from affectstream.app.dashboard.background_job import BackgroundJob
from affectstream.app.dashboard.calibration_record import RecordPage, onset_summary
from affectstream.app.dashboard.calibration_subject import (BASELINE, BLOCKS, FINETUNE, RECORD, REPORT, SIGNAL,
                                                            SUBJECT, SYNTHETIC_NOTE, SubjectPage, note as _note)


class SignalPage(QtWidgets.QWizardPage):
    """Records (simulates) the session and shows the per-channel check; channels can be marked bad."""

    def __init__(self, wizard: CalibrationWizard) -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("Signal check")
        self.setSubTitle("Each channel's quality over the check period; tick a channel to leave it out.")
        self.status = QtWidgets.QLabel("recording the session …")
        self.grid = QtWidgets.QGridLayout()
        self.boxes: dict[str, QtWidgets.QCheckBox] = {}
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addLayout(self.grid)
        layout.addWidget(_note(SYNTHETIC_NOTE))
        self.job = BackgroundJob()
        self.job.finished.connect(self._done)
        self.job.failed.connect(lambda msg: self.status.setText(f"failed: {msg}"))

    def initializePage(self) -> None:  # noqa: N802 - Qt naming
        from affectstream.calibration.protocol import simulate_session

        self.w.session = None
        self.completeChanged.emit()
        self.status.setText("recording the session (simulator) …")
        self.job.start(simulate_session, self.w.subject_page.subject.text(), self.w.protocol())

    def _done(self, session: CalibrationSession) -> None:
        self.w.session = session
        for box in self.boxes.values():
            box.deleteLater()
        self.boxes.clear()
        for i, label in enumerate(session.ch_names):
            reason = session.bad_channels.get(label, "")
            box = QtWidgets.QCheckBox(f"{label}" + (f" ({reason})" if reason else ""))
            box.setChecked(bool(reason))
            box.setStyleSheet(f"color: {theme.BAD if reason else theme.OK}")
            self.grid.addWidget(box, i // 8, i % 8)
            self.boxes[label] = box
        self.status.setText(f"{len(session.ch_names) - len(session.bad_channels)} of {len(session.ch_names)} "
                            "channels pass (ticked = left out)")
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802 - Qt naming
        return self.w.session is not None

    def validatePage(self) -> bool:  # noqa: N802 - Qt naming
        bad = {label: self.w.session.bad_channels.get(label, "marked by the user")
               for label, box in self.boxes.items() if box.isChecked()}
        self.w.session.bad_channels = bad
        return True


class BaselinePage(QtWidgets.QWizardPage):
    def __init__(self, wizard: CalibrationWizard) -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("Resting baseline")
        self.setSubTitle("Eyes open, then eyes closed: it fixes the per-subject normalisation of the band powers.")
        self.text = QtWidgets.QLabel("")
        self.bar = QtWidgets.QProgressBar()
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(self.bar)
        layout.addWidget(_note(SYNTHETIC_NOTE))

    def nextId(self) -> int:  # noqa: N802 - Qt naming
        return BLOCKS

    def initializePage(self) -> None:  # noqa: N802 - Qt naming
        c = self.w.config
        lo, hi = self.w.session.baseline
        self.text.setText(f"eyes open {c.baseline_open_s:g} s, eyes closed {c.baseline_closed_s:g} s "
                          f"(recorded from {lo:g} s to {hi:g} s of the session)")
        self.bar.setValue(100)


class BlocksPage(QtWidgets.QWizardPage):
    """The blocks and their self-assessments; any rating can be changed (redo) before fine-tuning."""

    def __init__(self, wizard: CalibrationWizard) -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("Stimulus blocks and self-assessment")
        self.setSubTitle("SAM valence and arousal (1-9) after each block; held-out blocks only score the result.")
        self.table = QtWidgets.QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["stimulus", "valence (SAM)", "arousal (SAM)", "use"])
        self.table.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Stretch)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.table)
        self.dry_note = _note(SYNTHETIC_NOTE + " The ratings shown were simulated from the planted state.")
        self.simulated_stream_note = _note("The EEG stream declares itself simulated: the EEG is SYNTHETIC (the "
                                           "ratings are the ones given).")
        layout.addWidget(self.dry_note)
        layout.addWidget(self.simulated_stream_note)

    def initializePage(self) -> None:  # noqa: N802 - Qt naming
        live = self.w.subject_page.live
        self.dry_note.setVisible(not live)
        self.simulated_stream_note.setVisible(live and self.w.session.synthetic)
        blocks = self.w.session.blocks
        self.table.setRowCount(len(blocks))
        for r, b in enumerate(blocks):
            self.table.setItem(r, 0, QtWidgets.QTableWidgetItem(b.stimulus))
            for c, value in ((1, b.sam_valence), (2, b.sam_arousal)):
                spin = QtWidgets.QSpinBox()
                spin.setRange(1, 9)
                spin.setValue(value)
                self.table.setCellWidget(r, c, spin)
            self.table.setItem(r, 3, QtWidgets.QTableWidgetItem("held out (scoring)" if b.heldout else "fine-tuning"))

    def validatePage(self) -> bool:  # noqa: N802 - Qt naming
        self.w.session.blocks = [dataclasses.replace(b, sam_valence=self.table.cellWidget(r, 1).value(),
                                                     sam_arousal=self.table.cellWidget(r, 2).value())
                                 for r, b in enumerate(self.w.session.blocks)]
        return True

    def cleanupPage(self) -> None:  # noqa: N802 - Qt naming: going back keeps the ratings entered so far
        self.validatePage()


class FineTunePage(QtWidgets.QWizardPage):
    def __init__(self, wizard: CalibrationWizard) -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("Fine-tuning")
        self.setSubTitle("Per-subject models are fitted on the training blocks; the best of them, the uncalibrated "
                         "student and the baseline estimator is kept, and the held-out blocks score each.")
        self.bar = QtWidgets.QProgressBar()
        self.bar.setRange(0, 0)
        self.status = QtWidgets.QLabel("fitting …")
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.bar)
        self.job = BackgroundJob()
        self.job.finished.connect(self._done)
        self.job.failed.connect(self._failed)

    def initializePage(self) -> None:  # noqa: N802 - Qt naming
        from affectstream.calibration.session import calibrate_session

        self.w.result = None
        self.bar.setRange(0, 0)
        self.status.setText("fitting the per-subject models, testing against chance and scoring …")
        self.completeChanged.emit()
        root = Path(self.w.subject_page.profiles.text())
        self.job.start(calibrate_session, self.w.session, root)

    def _done(self, result) -> None:
        self.w.result = result
        self.bar.setRange(0, 1)
        self.bar.setValue(1)
        self.status.setText(f"profile written to {result[0]}")
        self.completeChanged.emit()

    def _failed(self, message: str) -> None:
        self.bar.setRange(0, 1)
        self.status.setText(f"<span style='color:{theme.BAD}'>failed: {message}</span>")

    def isComplete(self) -> bool:  # noqa: N802 - Qt naming
        return self.w.result is not None


class ReportPage(QtWidgets.QWizardPage):
    def __init__(self, wizard: CalibrationWizard) -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("Before and after")
        self.summary = QtWidgets.QLabel("")
        self.summary.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.image = QtWidgets.QLabel()
        self.image.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.image, 1)

    def initializePage(self) -> None:  # noqa: N802 - Qt naming
        folder, report = self.w.result
        b, a = report["before"], report["after"]
        tag = " <b>(SYNTHETIC)</b>" if report["data"] == "synthetic" else ""
        self.summary.setText(
            f"held-out blocks: {report['heldout_blocks']} of {report['blocks']}, scored against the "
            f"{report['against']}{tag}<br>"
            f"<table cellpadding=4><tr><th></th><th>CCC</th><th>RMSE</th></tr>"
            f"<tr><td>before</td><td>{b['ccc']:.3f}</td><td>{b['rmse']:.3f}</td></tr>"
            f"<tr><td>after</td><td>{a['ccc']:.3f}</td><td>{a['rmse']:.3f}</td></tr></table>"
            f"{html.escape(report['kept_line'])}<br><b>{html.escape(report['chance_line'])}</b><br>"
            + (f"<span style='color:{theme.WARN}'>{html.escape(report['default_use_notice'])}</span><br>"
               if report["default_use_notice"] else "")
            + (f"{onset_summary(self.w.clip_onsets)}<br>" if self.w.clip_onsets else "")
            + f"profile: {html.escape(str(folder))}")
        pixmap = QtGui.QPixmap(str(folder / "report.png"))
        self.image.setPixmap(pixmap.scaledToWidth(860, QtCore.Qt.TransformationMode.SmoothTransformation))


class CalibrationWizard(QtWidgets.QWizard):
    """The whole calibration; ``result`` holds (profile folder, report) once fine-tuning finished."""

    def __init__(self, profiles: Path | None = None, config: CalibrationConfig | None = None) -> None:
        super().__init__()
        self.setWindowTitle("affectstream — calibration")
        self.setWizardStyle(QtWidgets.QWizard.WizardStyle.ClassicStyle)
        self.resize(960, 720)
        self.session: CalibrationSession | None = None
        self._config = config  #: a fixed protocol (tests, scripts); else the subject page's "short" choice
        self.config = CalibrationConfig()
        self.result = None
        self.recorders: list = []
        self.clip_onsets: dict = {}  #: the live session's clip onsets (:class:`~.calibration_record.ClipOnset`)
        self.subject_page = SubjectPage(profiles or default_profiles_dir(), self)
        for page_id, page in ((SUBJECT, self.subject_page), (SIGNAL, SignalPage(self)), (BASELINE, BaselinePage(self)),
                              (RECORD, RecordPage(self)), (BLOCKS, BlocksPage(self)), (FINETUNE, FineTunePage(self)),
                              (REPORT, ReportPage(self))):
            self.setPage(page_id, page)
        back = self.button(QtWidgets.QWizard.WizardButton.BackButton)
        back.clicked.disconnect()  # asks first while a recording is under way
        back.clicked.connect(lambda: self.back() if self.may_discard() else None)

    def may_discard(self) -> bool:
        """True unless a recording is under way and the user does not want it thrown away (going back, Cancel or
        closing the window would end it)."""
        page = self.currentPage()
        if not (isinstance(page, RecordPage) and page.recording):
            return True
        return self.ask_discard()

    def ask_discard(self) -> bool:
        buttons = QtWidgets.QMessageBox.StandardButton
        answer = QtWidgets.QMessageBox.question(
            self, "Stop the recording?", "The calibration is being recorded. Stopping now throws the recording "
            "away; the protocol would start again from the beginning.", buttons.Discard | buttons.Cancel,
            buttons.Cancel)
        return answer == buttons.Discard

    def reject(self) -> None:  # noqa: D102 - Cancel, Escape and closing the window ask first while recording
        if self.may_discard():
            super().reject()

    def protocol(self) -> CalibrationConfig:
        """The protocol's lengths for this run (remembered for the later pages)."""
        if self._config is not None:
            self.config = self._config
        else:
            self.config = CalibrationConfig().fast() if self.subject_page.fast.isChecked() else CalibrationConfig()
        return self.config

    def done(self, result: int) -> None:  # noqa: D102 - closes a recording left open by a cancelled session
        for recorder in self.recorders:
            recorder.close()
        self.recorders.clear()
        super().done(result)


def run_wizard(subject: str | None = None, profiles: Path | None = None, *, fast: bool = True) -> int:
    """Show the wizard until it is finished or cancelled; 0 when a profile was written."""
    from affectstream.app.dashboard import _application

    app = _application(offscreen_without_display=False)
    wizard = CalibrationWizard(profiles)
    if subject:
        wizard.subject_page.subject.setText(subject)
    wizard.subject_page.fast.setChecked(fast)
    wizard.show()
    app.exec()
    return 0 if wizard.result is not None else 1
