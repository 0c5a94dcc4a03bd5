"""The calibration wizard's first page (:mod:`affectstream.app.calibration_wizard`): the subject, where the profile
goes, the source (the simulator, or a live headset's stream picked from those on this machine), the stimuli, and
how long the protocol takes (issue 22, item 6).

It lives beside the dashboard's widgets because it shares them (the stream picker, the theme); the wizard's other
pages are in the wizard's module.
"""

from __future__ import annotations

from pathlib import Path
from PySide6 import QtWidgets

from affectstream.calibration.profiles import ProfileError, profile_dir
from affectstream.calibration.protocol import CalibrationConfig

from affectstream.app.dashboard import theme
from affectstream.app.dashboard.controls import StreamPicker

SYNTHETIC_NOTE = "Dry run against the simulator: the subject, the EEG and the ratings are SYNTHETIC."

#: Page ids: the dry run goes SUBJECT, SIGNAL, BASELINE, BLOCKS; a live session SUBJECT, RECORD, BLOCKS; both end
#: with FINETUNE, REPORT.
SUBJECT, SIGNAL, BASELINE, RECORD, BLOCKS, FINETUNE, REPORT = range(7)


def note(text: str, colour: str = theme.WARN) -> QtWidgets.QLabel:
    label = QtWidgets.QLabel(f"<span style='color:{colour}'>{text}</span>")
    label.setWordWrap(True)
    return label


def protocol_text(c: CalibrationConfig) -> str:
    """How long the protocol takes, in words: the recording's minutes and the ratings the subject gives."""
    seconds = c.check_s + c.baseline_s + c.n_blocks * (c.rest_s + c.block_s)
    return (f"About {seconds / 60:.0f} min of recording plus {c.n_blocks} ratings: a {c.check_s:g} s signal check, "
            f"{c.baseline_open_s:g} s eyes open and {c.baseline_closed_s:g} s eyes closed, then {c.n_blocks} "
            f"stimuli of {c.block_s:g} s (a film clip: its own length), each after {c.rest_s:g} s of rest and "
            "followed by a rating (valence and arousal, 1-9).")


def _with_browse(edit: QtWidgets.QLineEdit, title: str) -> QtWidgets.QWidget:
    """``edit`` with a Browse… button that picks a folder into it."""
    box = QtWidgets.QWidget()
    row = QtWidgets.QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    button = QtWidgets.QPushButton("Browse…")

    def browse() -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(box, title, edit.text() or str(Path.home()))
        if folder:
            edit.setText(folder)

    button.clicked.connect(browse)
    row.addWidget(edit, 1)
    row.addWidget(button)
    box.browse = button
    return box


class SubjectPage(QtWidgets.QWizardPage):
    def __init__(self, profiles: Path, wizard: QtWidgets.QWizard) -> None:
        """``wizard`` is the ``CalibrationWizard`` (its ``protocol()`` gives the lengths shown)."""
        super().__init__()
        self.w = wizard
        self.setTitle("Subject")
        self.setSubTitle("Who is calibrated, and where the profile goes.")
        self.subject = QtWidgets.QLineEdit()
        self.subject.setPlaceholderText("e.g. sub01")
        self.subject.textChanged.connect(self.completeChanged)
        self.profiles = QtWidgets.QLineEdit(str(profiles))
        self.fast = QtWidgets.QCheckBox("short signal check and baseline (dry runs)")
        self.fast.setChecked(True)
        self.source = QtWidgets.QComboBox()
        self.source.addItem("simulator (dry run, SYNTHETIC)", "simulator")
        self.source.addItem("live EEG stream (LSL)", "live")
        self.stream = StreamPicker(video=False)  # the headset's stream, picked from those on this machine
        self.stream.eeg_box.setToolTip("The headset's LSL EEG stream (⟳ lists the streams on this machine)")
        self.source_id: str | None = None  #: pins the stream to one source_id (scripts, tests)
        self.stimuli = QtWidgets.QLineEdit()
        self.stimuli.setPlaceholderText("a folder of images or film clips (empty: the built-in SYNTHETIC faces)")
        self.length = note("", theme.MUTED)
        form = QtWidgets.QFormLayout(self)
        form.addRow("subject id", self.subject)
        form.addRow("profiles folder", _with_browse(self.profiles, "Folder for the calibration profiles"))
        form.addRow("source", self.source)
        form.addRow("EEG stream", self.stream)
        form.addRow("stimuli", _with_browse(self.stimuli, "Folder of stimulus images or film clips"))
        form.addRow("", self.fast)
        form.addRow(self.length)
        self.synthetic_note = note(SYNTHETIC_NOTE)
        form.addRow(self.synthetic_note)
        self.source.currentIndexChanged.connect(self._source_changed)
        self.stream.listed.connect(lambda _: self.completeChanged.emit())
        self.stream.eeg_box.currentIndexChanged.connect(lambda _: self.completeChanged.emit())
        self.fast.toggled.connect(self._show_length)
        self.error = note("", theme.BAD)
        form.addRow(self.error)
        self._source_changed()

    @property
    def live(self) -> bool:
        return self.source.currentData() == "live"

    def _source_changed(self, *_) -> None:
        self.synthetic_note.setVisible(not self.live)
        self.stream.setEnabled(self.live)
        if self.live and not self.stream.entries:
            self.stream.refresh()
        self._show_length()
        self.completeChanged.emit()

    def _show_length(self, *_) -> None:
        self.length.setText(protocol_text(self.w.protocol()) if self.live else
                            "The dry run simulates the whole protocol in a few seconds; fine-tuning takes about a "
                            "minute.")

    def stream_query(self) -> tuple[str, str | None]:
        """The live stream to record: (name or type, source_id); the source_id of the picked stream."""
        picked = self.stream.spec()
        if self.source_id is not None or picked is None:
            return (picked.eeg if picked is not None else "EEG") or "EEG", self.source_id
        return picked.eeg or "EEG", picked.eeg_source_id

    def nextId(self) -> int:  # noqa: N802 - Qt naming
        return RECORD if self.live else SIGNAL

    def isComplete(self) -> bool:  # noqa: N802 - Qt naming
        try:
            profile_dir(self.profiles.text() or ".", self.subject.text())
        except ProfileError as exc:
            self.error.setText(f"<span style='color:{theme.BAD}'>{exc}</span>" if self.subject.text() else "")
            return False
        if self.live and self.source_id is None and self.stream.spec() is None:
            self.error.setText("Pick the headset's EEG stream (⟳ lists the streams on this machine)")
            return False
        self.error.setText("")
        return True
