"""The calibration wizard's recording page: the protocol run on a live headset, images and film clips as stimuli.

The page drives the protocol's phases itself (signal check, eyes-open and eyes-closed baseline, then rest, stimulus
and rating per block) while :class:`~affectstream.calibration.live.LiveRecorder` records the EEG and stamps each
phase as a marker on the LSL clock. An image block lasts the protocol's ``block_s``; a film clip's block lasts the
clip: ``block_start/<stim>`` is sent when the clip is started and ``block_end/<stim>`` when its last frame has been
shown. The clip's first frame on screen is a marker of its own (``first_frame/<stim>``, at the time
:class:`~affectstream.app.clip_player.ClipPlayer` drew it), so the onset delay is in the recording and is shown here
and on the wizard's last page.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from affectstream.calibration.clips import Clip

from affectstream.app.clip_player import ClipPlayer, sound_support
from affectstream.app.dashboard import theme
from affectstream.app.dashboard.background_job import BackgroundJob
from affectstream.app.dashboard.calibration_subject import BLOCKS, note
from affectstream.app.dashboard.sam_scale import SamScale

__all__ = ["ClipOnset", "RecordPage"]

#: Longest the image/clip area gets (pixels): the ratings and the progress need the rest of a 720-pixel window.
STIMULUS_SIZE = (640, 360)


@dataclass
class ClipOnset:
    """What the wizard measured of one clip's onset: the first frame's delay after the onset marker (seconds), and
    the frames skipped because they were late (a clip keeps its length on a loaded machine, see
    :class:`~affectstream.app.clip_player.ClipPlayer`)."""

    delay_s: float
    dropped: int = 0


class RecordPage(QtWidgets.QWizardPage):
    """Runs the protocol on a live headset: channel check, baseline, stimuli with their ratings, all recorded.

    Attributes
    ----------
    onsets : dict[str, ClipOnset]
        Per clip stimulus shown so far, its measured onset.
    """

    def __init__(self, wizard) -> None:
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
        self.player = ClipPlayer()
        self.player.setMaximumSize(*STIMULUS_SIZE)
        self.player.first_frame.connect(self._first_frame)
        self.player.finished.connect(self._next_phase)
        self.stimulus = QtWidgets.QStackedWidget()
        self.stimulus.setMinimumHeight(240)
        self.stimulus.addWidget(self.image)
        centred = QtWidgets.QWidget()  # the player is at most STIMULUS_SIZE, centred as the images are
        row = QtWidgets.QHBoxLayout(centred)
        row.addStretch(1)
        row.addWidget(self.player, 4)
        row.addStretch(1)
        self.stimulus.addWidget(centred)
        self.error = note("", theme.BAD)  # wrapped and left-aligned: a stream listing is read whole
        self.error.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.quality = QtWidgets.QLabel("")
        self.quality.setWordWrap(True)
        self.onset_text = note("", theme.MUTED)
        self.stimulus_note = note("")
        self.valence, self.arousal = SamScale("valence"), SamScale("arousal")
        self.continue_button = QtWidgets.QPushButton("Continue")
        self.continue_button.setDefault(True)
        self.continue_button.clicked.connect(self._rated)
        self.sam = QtWidgets.QWidget()
        sam = QtWidgets.QVBoxLayout(self.sam)
        sam.addWidget(self.valence)
        sam.addWidget(self.arousal)
        sam.addWidget(self.continue_button, 0, QtCore.Qt.AlignmentFlag.AlignRight)
        self.bar = QtWidgets.QProgressBar()
        layout = QtWidgets.QVBoxLayout(self)
        for widget, stretch in ((self.instruction, 0), (self.error, 0), (self.stimulus, 1), (self.sam, 0),
                                (self.quality, 0), (self.onset_text, 0), (self.stimulus_note, 0), (self.bar, 0)):
            layout.addWidget(widget, stretch)
        self.timer = QtCore.QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self._next_phase)
        self.check_timer = QtCore.QTimer(self)
        self.check_timer.timeout.connect(self._show_quality)
        self.job = BackgroundJob()
        self.job.finished.connect(self._connected)
        self.job.failed.connect(self._failed)
        self.recorder = None
        self.phases: list[tuple[str, float, str]] = []
        self.ratings: dict[str, tuple[int, int]] = {}
        self.stimuli: dict[str, object] = {}
        self.onsets: dict[str, ClipOnset] = {}
        self.current = ""  #: the stimulus being shown or rated
        self._onset_marker = 0.0  #: LSL time of the current clip's block_start

    def nextId(self) -> int:  # noqa: N802 - Qt naming
        return BLOCKS

    def initializePage(self) -> None:  # noqa: N802 - Qt naming
        from affectstream.calibration.live import LiveRecorder, load_stimuli, synthetic_stimuli

        self.w.session = None
        self.ratings, self.onsets = {}, {}
        self.w.clip_onsets = self.onsets
        self.sam.setVisible(False)
        self.stimulus.setVisible(True)
        self.onset_text.setText("")
        self.completeChanged.emit()
        c = self.w.protocol()
        folder = self.w.subject_page.stimuli.text().strip()
        try:
            stimuli = load_stimuli(folder) if folder else synthetic_stimuli(c.n_blocks)
        except ValueError as exc:
            self.instruction.setText("cannot use the stimuli")
            self.error.setText(f"{exc}<br>Go back to pick another folder.")
            return
        stimuli = (stimuli * (c.n_blocks // len(stimuli) + 1))[:c.n_blocks]
        self.stimuli = {f"{name}#{k + 1}": stimulus for k, (name, stimulus) in enumerate(stimuli)}
        self._show_stimulus_note(bool(folder))
        self.phases = [("signal_check", c.check_s, ""), ("baseline_open", c.baseline_open_s, ""),
                       ("baseline_closed", c.baseline_closed_s, "")]
        for stim, stimulus in self.stimuli.items():
            seconds = stimulus.duration_s if isinstance(stimulus, Clip) else c.block_s
            self.phases += [("rest", c.rest_s, ""), ("block", seconds, stim), ("sam", 0.0, stim)]
        self.bar.setRange(0, len(self.phases))
        self.bar.setValue(0)
        self.error.setText("")
        self.instruction.setText("connecting to the EEG stream …")
        name, source_id = self.w.subject_page.stream_query()
        self.job.start(lambda: LiveRecorder(name, source_id=source_id))

    def _show_stimulus_note(self, from_folder: bool) -> None:
        """SYNTHETIC for the built-in faces; for clips, whether they play with sound here."""
        silent = sound_support() if any(isinstance(s, Clip) for s in self.stimuli.values()) else ""
        text = "" if from_folder else "The built-in stimuli are SYNTHETIC (rendered faces), for a dry run."
        self.stimulus_note.setText(f"<span style='color:{theme.WARN}'>{' '.join(filter(None, (text, silent)))}"
                                   "</span>")
        self.stimulus_note.setVisible(bool(text or silent))

    def _failed(self, message: str) -> None:
        self.instruction.setText("cannot record")
        self.error.setText(f"{message}<br>Go back to pick another stream, or check the headset.")

    @property
    def recording(self) -> bool:
        """Whether a recording is under way (what going back or closing would throw away)."""
        return self.recorder is not None and self.w.session is None and self.bar.value() > 0

    def _show_progress(self) -> None:
        """Where the protocol is, in steps and minutes (a percentage alone says nothing of the time left)."""
        done = self.bar.value()
        left = sum(seconds for _, seconds, _ in self.phases[done:])
        rated = sum(kind == "sam" for kind, _, _ in self.phases[:done])
        self.bar.setFormat(f"step {done} of {len(self.phases)} · {rated} of {len(self.stimuli)} ratings · about "
                           f"{max(1, round(left / 60))} min left")

    def cleanupPage(self) -> None:  # noqa: N802 - Qt naming: going back ends the recording (asked first)
        self.timer.stop()
        self.check_timer.stop()
        self.player.stop()
        if self.recorder is not None:
            self.recorder.close()
            self.recorder = None

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
            self._end_block(previous[2])
        if previous is not None and previous[0] == "baseline_closed":
            self.recorder.mark("baseline_end")
        if self.bar.value() >= len(self.phases):
            self._finish()
            return
        kind, seconds, stim = self.phases[self.bar.value()]
        self.bar.setValue(self.bar.value() + 1)
        self._show_progress()
        self.image.clear()
        self.stimulus.setCurrentIndex(0)
        texts = {"signal_check": "Sit still: checking the channels", "baseline_open": "Rest with your eyes open",
                 "baseline_closed": "Close your eyes and rest", "rest": "Rest", "block": "",
                 "sam": "How did this make you feel?"}
        self.instruction.setText(texts[kind])
        if kind in ("signal_check", "baseline_open", "baseline_closed"):
            self.recorder.mark(f"{kind}_start")
        self.sam.setVisible(kind == "sam")
        self.stimulus.setVisible(kind != "sam")  # the ratings get the room (their anchors are read, not guessed)
        self.current = stim
        if kind == "block" and isinstance(self.stimuli[stim], Clip):
            self._play(stim)
            return  # the clip's end moves on
        if kind == "block":
            self.recorder.mark(f"block_start/{stim}")
            self._show_image(self.stimuli[stim])
        if kind == "sam":
            self.valence.set_value(5)
            self.arousal.set_value(5)
            self.valence.setFocus()
            return  # waits for Continue
        self.timer.start(int(seconds * 1000))

    def _show_image(self, image) -> None:
        qimage = QtGui.QImage(image.data, image.shape[1], image.shape[0], 3 * image.shape[1],
                              QtGui.QImage.Format.Format_BGR888).copy()
        keep, smooth = QtCore.Qt.AspectRatioMode.KeepAspectRatio, QtCore.Qt.TransformationMode.SmoothTransformation
        self.image.setPixmap(QtGui.QPixmap.fromImage(qimage).scaled(*STIMULUS_SIZE, keep, smooth))

    def _play(self, stim: str) -> None:
        """Start the clip: its onset marker first, then the clip (whose first frame is drawn at the next paint)."""
        self.stimulus.setCurrentIndex(1)
        self._onset_marker = self.recorder.mark(f"block_start/{stim}")
        try:
            self.player.play(self.stimuli[stim])
        except ValueError as exc:  # the file changed or went away since the folder was loaded
            self.recorder.mark(f"block_end/{stim}")
            self.timer.stop()
            self.check_timer.stop()
            self.instruction.setText("cannot play the clip")
            self.error.setText(f"{exc}<br>Go back to pick another folder.")

    def _first_frame(self, at: float) -> None:
        """The clip's first frame is on screen: its own marker, and the delay after the onset marker shown."""
        if self.recorder is None:
            return
        self.recorder.mark(f"first_frame/{self.current}", at)
        self.onsets[self.current] = ClipOnset(at - self._onset_marker)
        self.onset_text.setText(onset_summary(self.onsets))

    def _end_block(self, stim: str) -> None:
        self.recorder.mark(f"block_end/{stim}")
        if stim in self.onsets:
            self.onsets[stim].dropped = self.player.dropped
            self.onset_text.setText(onset_summary(self.onsets))

    def _rated(self) -> None:
        self.ratings[self.current] = (self.valence.value, self.arousal.value)
        self._next_phase()

    def rate(self, valence: int, arousal: int) -> None:
        """Answer the rating shown (scripts and tests)."""
        self.valence.set_value(valence)
        self.arousal.set_value(arousal)
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


def onset_summary(onsets: dict[str, ClipOnset]) -> str:
    """One line on the clips' onsets: the first frame's delay after the onset marker (last, median and largest) and
    the frames skipped as late; "" before the first clip."""
    if not onsets:
        return ""
    delays = np.array([o.delay_s for o in onsets.values()]) * 1000
    last = delays[-1]
    dropped = sum(o.dropped for o in onsets.values())
    return (f"clip onset: first frame {last:.0f} ms after its marker (median {np.median(delays):.0f} ms, largest "
            f"{delays.max():.0f} ms over {len(delays)} clip{'s' * (len(delays) > 1)}); {dropped} late frame"
            f"{'s' * (dropped != 1)} skipped")
