"""The calibration wizard: subject, signal check, baseline, stimulus blocks and ratings, fine-tuning, report.

A ``QWizard`` over the headless protocol (:mod:`calibration`): every computation is the same function the
``affectstream calibrate --headless`` command runs, started on a worker thread so the window never blocks. This
version runs the dry run against the simulator (SYNTHETIC, labelled on every page); recording a live headset over
LSL is the next step of the calibration issue.

The pages let the user mark channels bad after the signal check and change any block's self-assessment (SAM 1-9)
before fine-tuning; going back and finishing again recomputes from there.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from calibration.profiles import ProfileError, default_profiles_dir, profile_dir
from calibration.protocol import CalibrationConfig, CalibrationSession

from .dashboard import theme

SYNTHETIC_NOTE = "Dry run against the simulator: the subject, the EEG and the ratings are SYNTHETIC."


class _Job(QtCore.QObject):
    """Runs one function on a thread and reports back on the GUI thread."""

    finished = QtCore.Signal(object)
    failed = QtCore.Signal(str)

    def start(self, fn, *args) -> None:
        def work() -> None:
            try:
                result = fn(*args)
            except Exception as exc:  # noqa: BLE001 - shown on the page; the user can go back
                self.failed.emit(str(exc))
            else:
                self.finished.emit(result)

        threading.Thread(target=work, daemon=True, name="affectstream-calibration").start()


def _note(text: str, colour: str = theme.WARN) -> QtWidgets.QLabel:
    label = QtWidgets.QLabel(f"<span style='color:{colour}'>{text}</span>")
    label.setWordWrap(True)
    return label


class SubjectPage(QtWidgets.QWizardPage):
    def __init__(self, profiles: Path) -> None:
        super().__init__()
        self.setTitle("Subject")
        self.setSubTitle("Who is calibrated, and where the profile goes.")
        self.subject = QtWidgets.QLineEdit()
        self.subject.setPlaceholderText("e.g. sub01")
        self.subject.textChanged.connect(self.completeChanged)
        self.profiles = QtWidgets.QLineEdit(str(profiles))
        self.fast = QtWidgets.QCheckBox("short signal check and baseline (dry runs)")
        self.fast.setChecked(True)
        form = QtWidgets.QFormLayout(self)
        form.addRow("subject id", self.subject)
        form.addRow("profiles folder", self.profiles)
        form.addRow("", self.fast)
        form.addRow(_note(SYNTHETIC_NOTE))
        self.error = _note("", theme.BAD)
        form.addRow(self.error)

    def isComplete(self) -> bool:  # noqa: N802 - Qt naming
        try:
            profile_dir(self.profiles.text() or ".", self.subject.text())
        except ProfileError as exc:
            self.error.setText(f"<span style='color:{theme.BAD}'>{exc}</span>" if self.subject.text() else "")
            return False
        self.error.setText("")
        return True


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
        self.job = _Job()
        self.job.finished.connect(self._done)
        self.job.failed.connect(lambda msg: self.status.setText(f"failed: {msg}"))

    def initializePage(self) -> None:  # noqa: N802 - Qt naming
        from calibration.protocol import simulate_session

        self.w.session = None
        self.completeChanged.emit()
        self.status.setText("recording the session (simulator) …")
        config = CalibrationConfig().fast() if self.w.subject_page.fast.isChecked() else CalibrationConfig()
        self.w.config = config
        self.job.start(simulate_session, self.w.subject_page.subject.text(), config)

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
        layout.addWidget(_note(SYNTHETIC_NOTE + " The ratings shown were simulated from the planted state."))

    def initializePage(self) -> None:  # noqa: N802 - Qt naming
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
        self.setSubTitle("The student's output heads adapt to this subject's ratings; the held-out blocks score it.")
        self.bar = QtWidgets.QProgressBar()
        self.bar.setRange(0, 0)
        self.status = QtWidgets.QLabel("fine-tuning …")
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.bar)
        self.job = _Job()
        self.job.finished.connect(self._done)
        self.job.failed.connect(self._failed)

    def initializePage(self) -> None:  # noqa: N802 - Qt naming
        from calibration.session import calibrate_session

        self.w.result = None
        self.bar.setRange(0, 0)
        self.status.setText("fine-tuning and scoring …")
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
            f"profile: {folder}")
        pixmap = QtGui.QPixmap(str(folder / "report.png"))
        self.image.setPixmap(pixmap.scaledToWidth(860, QtCore.Qt.TransformationMode.SmoothTransformation))


class CalibrationWizard(QtWidgets.QWizard):
    """The whole calibration; ``result`` holds (profile folder, report) once fine-tuning finished."""

    def __init__(self, profiles: Path | None = None) -> None:
        super().__init__()
        self.setWindowTitle("affectstream — calibration")
        self.setWizardStyle(QtWidgets.QWizard.WizardStyle.ClassicStyle)
        self.resize(960, 720)
        self.session: CalibrationSession | None = None
        self.config = CalibrationConfig()
        self.result = None
        self.subject_page = SubjectPage(profiles or default_profiles_dir())
        for page in (self.subject_page, SignalPage(self), BaselinePage(self), BlocksPage(self), FineTunePage(self),
                     ReportPage(self)):
            self.addPage(page)


def run_wizard(subject: str | None = None, profiles: Path | None = None, *, fast: bool = True) -> int:
    """Show the wizard until it is finished or cancelled; 0 when a profile was written."""
    from .dashboard import _application

    app = _application(offscreen_without_display=False)
    wizard = CalibrationWizard(profiles)
    if subject:
        wizard.subject_page.subject.setText(subject)
    wizard.subject_page.fast.setChecked(fast)
    wizard.show()
    app.exec()
    return 0 if wizard.result is not None else 1
