"""The calibration wizard: subject, signal check, baseline, stimulus blocks and ratings, fine-tuning, report.

A ``QWizard`` over the headless protocol (:mod:`calibration`): every computation is the same function the
``affectstream calibrate`` command runs, started on a worker thread so the window never blocks. Two sources:

* a **live headset** (an LSL EEG stream): the wizard runs the protocol itself -- live channel check, resting
  baseline, each stimulus (the images of a folder, or the built-in SYNTHETIC faces) followed by the SAM rating --
  while :class:`affectstream.calibration.live.LiveRecorder` records the EEG and stamps every event on the LSL clock;
* the **simulator** (a dry run, SYNTHETIC, labelled on every page).

The pages let the user mark channels bad after the signal check (dry run) and change any block's rating (SAM 1-9)
before fine-tuning; going back and finishing again recomputes from there.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from affectstream.calibration.profiles import ProfileError, default_profiles_dir, profile_dir
from affectstream.calibration.protocol import CalibrationConfig, CalibrationSession

from affectstream.app.dashboard import theme

SYNTHETIC_NOTE = "Dry run against the simulator: the subject, the EEG and the ratings are SYNTHETIC."

#: Page ids: the dry run goes SUBJECT, SIGNAL, BASELINE, BLOCKS; a live session SUBJECT, RECORD, BLOCKS; both end
#: with FINETUNE, REPORT.
SUBJECT, SIGNAL, BASELINE, RECORD, BLOCKS, FINETUNE, REPORT = range(7)


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
        self.fast = QtWidgets.QCheckBox("short signal check and baseline")
        self.fast.setChecked(True)
        self.source = QtWidgets.QComboBox()
        self.source.addItem("simulator (dry run, SYNTHETIC)", "simulator")
        self.source.addItem("live EEG stream (LSL)", "live")
        self.stream = QtWidgets.QLineEdit("EEG")
        self.stream.setToolTip("Name or type of the headset's LSL stream")
        self.source_id: str | None = None  #: pins the stream to one source_id (scripts, tests)
        self.stimuli = QtWidgets.QLineEdit()
        self.stimuli.setPlaceholderText("a folder of images (empty: the built-in SYNTHETIC faces)")
        form = QtWidgets.QFormLayout(self)
        form.addRow("subject id", self.subject)
        form.addRow("profiles folder", self.profiles)
        form.addRow("source", self.source)
        form.addRow("EEG stream", self.stream)
        form.addRow("stimuli", self.stimuli)
        form.addRow("", self.fast)
        self.synthetic_note = _note(SYNTHETIC_NOTE)
        form.addRow(self.synthetic_note)
        self.source.currentIndexChanged.connect(lambda _: self.synthetic_note.setVisible(not self.live))
        self.error = _note("", theme.BAD)
        form.addRow(self.error)

    @property
    def live(self) -> bool:
        return self.source.currentData() == "live"

    def nextId(self) -> int:  # noqa: N802 - Qt naming
        return RECORD if self.live else SIGNAL

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


class RecordPage(QtWidgets.QWizardPage):
    """Runs the protocol on a live headset: channel check, baseline, stimuli with their ratings, all recorded."""

    def __init__(self, wizard: CalibrationWizard) -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("Recording")
        self.setSubTitle("Follow the instructions; rate each stimulus when asked.")
        self.instruction = QtWidgets.QLabel("")
        self.instruction.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        font = self.instruction.font()
        font.setPointSize(font.pointSize() + 6)
        self.instruction.setFont(font)
        self.image = QtWidgets.QLabel()
        self.image.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.image.setMinimumHeight(360)
        self.quality = QtWidgets.QLabel("")
        self.quality.setWordWrap(True)
        self.stimulus_note = _note("The built-in stimuli are SYNTHETIC (rendered faces), for a dry run.")
        self.valence, self.arousal = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal), \
            QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        sam = QtWidgets.QFormLayout()
        for label, slider in (("valence (1 unpleasant - 9 pleasant)", self.valence),
                              ("arousal (1 calm - 9 excited)", self.arousal)):
            slider.setRange(1, 9)
            slider.setValue(5)
            slider.setTickPosition(QtWidgets.QSlider.TickPosition.TicksBelow)
            sam.addRow(label, slider)
        self.continue_button = QtWidgets.QPushButton("Continue")
        self.continue_button.clicked.connect(self._rated)
        sam.addRow("", self.continue_button)
        self.sam = QtWidgets.QWidget()
        self.sam.setLayout(sam)
        self.bar = QtWidgets.QProgressBar()
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.instruction)
        layout.addWidget(self.image, 1)
        layout.addWidget(self.sam)
        layout.addWidget(self.quality)
        layout.addWidget(self.stimulus_note)
        layout.addWidget(self.bar)
        self.timer = QtCore.QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self._next_phase)
        self.check_timer = QtCore.QTimer(self)
        self.check_timer.timeout.connect(self._show_quality)
        self.job = _Job()
        self.job.finished.connect(self._connected)
        self.job.failed.connect(lambda msg: self.instruction.setText(f"cannot record: {msg}"))
        self.recorder = None
        self.phases: list[tuple[str, float, str]] = []
        self.ratings: dict[str, tuple[int, int]] = {}
        self.stimuli: dict[str, object] = {}
        self.current = ""  #: the stimulus being rated

    def nextId(self) -> int:  # noqa: N802 - Qt naming
        return BLOCKS

    def initializePage(self) -> None:  # noqa: N802 - Qt naming
        from affectstream.calibration.live import LiveRecorder, load_stimuli, synthetic_stimuli

        self.w.session = None
        self.ratings = {}
        self.sam.setVisible(False)
        self.completeChanged.emit()
        c = self.w.protocol()
        folder = self.w.subject_page.stimuli.text().strip()
        try:
            stimuli = load_stimuli(folder) if folder else synthetic_stimuli(c.n_blocks)
        except ValueError as exc:
            self.instruction.setText(str(exc))
            return
        self.stimulus_note.setVisible(not folder)
        stimuli = (stimuli * (c.n_blocks // len(stimuli) + 1))[:c.n_blocks]
        self.stimuli = {f"{name}#{k + 1}": image for k, (name, image) in enumerate(stimuli)}
        self.phases = [("signal_check", c.check_s, ""), ("baseline_open", c.baseline_open_s, ""),
                       ("baseline_closed", c.baseline_closed_s, "")]
        for stim in self.stimuli:
            self.phases += [("rest", c.rest_s, ""), ("block", c.block_s, stim), ("sam", 0.0, stim)]
        self.bar.setRange(0, len(self.phases))
        self.bar.setValue(0)
        self.instruction.setText("connecting to the EEG stream …")
        page = self.w.subject_page
        self.job.start(lambda: LiveRecorder(page.stream.text() or "EEG", source_id=page.source_id))

    def _connected(self, recorder) -> None:
        self.recorder = recorder
        self.w.recorders.append(recorder)
        self.check_timer.start(1000)
        self._next_phase()

    def _show_quality(self) -> None:
        if self.recorder is not None:
            bad = self.recorder.channel_check(2.0)
            self.quality.setText("all channels pass" if not bad else
                                 "failing: " + ", ".join(f"{k} ({v})" for k, v in bad.items()))

    def _next_phase(self) -> None:
        previous = self.phases[self.bar.value() - 1] if self.bar.value() else None
        if previous is not None and previous[0] == "block":
            self.recorder.mark(f"block_end/{previous[2]}")
        if previous is not None and previous[0] == "baseline_closed":
            self.recorder.mark("baseline_end")
        if self.bar.value() >= len(self.phases):
            self._finish()
            return
        kind, seconds, stim = self.phases[self.bar.value()]
        self.bar.setValue(self.bar.value() + 1)
        self.image.clear()
        texts = {"signal_check": "Sit still: checking the channels", "baseline_open": "Rest with your eyes open",
                 "baseline_closed": "Close your eyes and rest", "rest": "Rest", "block": "",
                 "sam": "How did this make you feel?"}
        self.instruction.setText(texts[kind])
        if kind in ("signal_check", "baseline_open", "baseline_closed"):
            self.recorder.mark(f"{kind}_start")
        if kind == "block":
            self.recorder.mark(f"block_start/{stim}")
            image = self.stimuli[stim]
            qimage = QtGui.QImage(image.data, image.shape[1], image.shape[0], 3 * image.shape[1],
                                  QtGui.QImage.Format.Format_BGR888).copy()
            self.image.setPixmap(QtGui.QPixmap.fromImage(qimage).scaled(
                640, 360, QtCore.Qt.AspectRatioMode.KeepAspectRatio, QtCore.Qt.TransformationMode.SmoothTransformation))
        self.sam.setVisible(kind == "sam")
        if kind == "sam":
            self.valence.setValue(5)
            self.arousal.setValue(5)
            self.current = stim
            return  # waits for Continue
        self.timer.start(int(seconds * 1000))

    def _rated(self) -> None:
        self.ratings[self.current] = (self.valence.value(), self.arousal.value())
        self._next_phase()

    def rate(self, valence: int, arousal: int) -> None:
        """Answer the rating shown (scripts and tests)."""
        self.valence.setValue(valence)
        self.arousal.setValue(arousal)
        self.continue_button.click()

    def _finish(self) -> None:
        self.check_timer.stop()
        c = self.w.protocol()
        try:
            self.w.session = self.recorder.session(self.w.subject_page.subject.text(), self.ratings,
                                                   c.heldout_blocks, c.check_s)
        except ValueError as exc:
            self.instruction.setText(f"cannot use the recording: {exc}")
            return
        self.recorder.close()
        self.instruction.setText(f"recorded {len(self.w.session.blocks)} rated blocks")
        self.sam.setVisible(False)
        self.completeChanged.emit()

    def isComplete(self) -> bool:  # noqa: N802 - Qt naming
        return self.w.session is not None


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
        from affectstream.calibration.session import calibrate_session

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
        self.subject_page = SubjectPage(profiles or default_profiles_dir())
        for page_id, page in ((SUBJECT, self.subject_page), (SIGNAL, SignalPage(self)), (BASELINE, BaselinePage(self)),
                              (RECORD, RecordPage(self)), (BLOCKS, BlocksPage(self)), (FINETUNE, FineTunePage(self)),
                              (REPORT, ReportPage(self))):
            self.setPage(page_id, page)

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
