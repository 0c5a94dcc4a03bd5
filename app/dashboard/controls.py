"""Toolbar pieces: the LSL stream picker (listed off the GUI thread) and the manual-marker outlet."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from PySide6 import QtCore, QtWidgets

from affectstream.app.dashboard.worker import SourceSpec

log = logging.getLogger(__name__)

#: The outlet that carries markers added from the dashboard (hotkey M).
MARKER_STREAM_NAME = "affectstream-markers"
MARKER_SOURCE_ID = "affectstream-markers"


@dataclass(frozen=True)
class StreamEntry:
    """A visible LSL stream, as the picker lists it."""

    name: str
    stype: str
    source_id: str
    hostname: str
    n_channels: int
    sfreq: float

    @classmethod
    def from_sinfo(cls, s) -> StreamEntry:
        return cls(s.name, s.stype, s.source_id, s.hostname, int(s.n_channels), float(s.sfreq or 0.0))

    @property
    def text(self) -> str:
        if self.stype == "Video":
            return f"{self.name} @ {self.hostname}  ({self.sfreq:g} fps)" if self.sfreq else \
                f"{self.name} @ {self.hostname}"
        rate = f"{self.sfreq:g} Hz" if self.sfreq else "irregular"
        return f"{self.name} @ {self.hostname}  ({self.n_channels} ch, {rate})"

    @property
    def prefix(self) -> str | None:
        """The simulator-style prefix of the source_id (``<prefix>-eeg``), or None."""
        head, sep, _ = self.source_id.rpartition("-")
        return head if sep else None


class StreamPicker(QtWidgets.QWidget):
    """EEG and video stream choosers with a refresh button.

    Lists ``affectstream.pipelines.sources.lsl.list_streams`` results.
    """

    listed = QtCore.Signal(object)

    def __init__(self, parent: QtWidgets.QWidget | None = None, wait: float = 1.0) -> None:
        super().__init__(parent)
        self.wait = wait
        self.entries: list[StreamEntry] = []
        self._listing = False
        self.eeg_box = QtWidgets.QComboBox()
        self.eeg_box.setMinimumWidth(260)
        self.eeg_box.setToolTip("EEG stream (LSL streams on this machine; host in the name)")
        self.eeg_box.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.eeg_box.setMinimumContentsLength(30)
        self.video_box = QtWidgets.QComboBox()
        self.video_box.setMinimumWidth(180)
        self.video_box.setToolTip("Video stream for the face path (optional)")
        self.video_box.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.video_box.setMinimumContentsLength(22)
        self.video_box.addItem("no video", None)
        self.refresh_button = QtWidgets.QToolButton()
        self.refresh_button.setText("⟳")
        self.refresh_button.setToolTip("List the LSL streams on this machine again")
        self.refresh_button.clicked.connect(self.refresh)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(QtWidgets.QLabel("EEG"))
        layout.addWidget(self.eeg_box)
        layout.addWidget(QtWidgets.QLabel("Video"))
        layout.addWidget(self.video_box)
        layout.addWidget(self.refresh_button)
        self.listed.connect(self._fill)

    def refresh(self) -> None:
        """List streams in a background thread (resolving takes ``wait`` seconds); the combos fill when done."""
        if self._listing:
            return
        self._listing = True
        self.refresh_button.setEnabled(False)
        self.refresh_button.setText("…")

        def work() -> None:
            try:
                from affectstream.pipelines.sources.lsl import list_streams
                entries = [StreamEntry.from_sinfo(s) for s in list_streams(wait=self.wait)]
            except Exception as exc:  # noqa: BLE001 - a failed listing leaves the picker as it was
                log.warning("listing LSL streams failed: %s", exc)
                entries = None
            try:
                self.listed.emit(entries)
            except RuntimeError:  # the widget was deleted meanwhile
                pass

        threading.Thread(target=work, name="affectstream-list-streams", daemon=True).start()

    def _fill(self, entries) -> None:
        self._listing = False
        self.refresh_button.setEnabled(True)
        self.refresh_button.setText("⟳")
        if entries is None:
            return
        self.entries = sorted(entries, key=lambda e: (e.stype, e.name, e.source_id))
        for box, stype, none_text in ((self.eeg_box, "EEG", None), (self.video_box, "Video", "no video")):
            current = box.currentData()
            box.blockSignals(True)
            box.clear()
            if none_text:
                box.addItem(none_text, None)
            for e in self.entries:
                if e.stype == stype:
                    box.addItem(e.text, e)
            if isinstance(current, StreamEntry):
                self._select(box, current.source_id, current)
            box.blockSignals(False)
        if self.eeg_box.count() == 0:
            self.eeg_box.addItem("no EEG stream found", None)

    @staticmethod
    def _select(box: QtWidgets.QComboBox, source_id: str, fallback: StreamEntry | None = None) -> None:
        for i in range(box.count()):
            e = box.itemData(i)
            if isinstance(e, StreamEntry) and e.source_id == source_id:
                box.setCurrentIndex(i)
                return
        if fallback is not None:
            box.addItem(fallback.text if fallback.hostname else f"{fallback.source_id}  (not listed yet)", fallback)
            box.setCurrentIndex(box.count() - 1)

    def show_spec(self, spec: SourceSpec) -> None:
        """Select (or add a placeholder for) the streams of ``spec``, before any listing finished."""
        if spec.eeg_source_id:
            placeholder = StreamEntry(spec.eeg or "EEG", "EEG", spec.eeg_source_id, "", 0, 0.0)
            self._select(self.eeg_box, spec.eeg_source_id, placeholder)
        if spec.video_source_id:
            placeholder = StreamEntry(spec.video or "Video", "Video", spec.video_source_id, "", 0, 0.0)
            self._select(self.video_box, spec.video_source_id, placeholder)

    def spec(self, resolve_timeout: float = 10.0) -> SourceSpec | None:
        """The streams picked, with the matching Markers/GroundTruth streams of the same device when listed."""
        eeg = self.eeg_box.currentData()
        if not isinstance(eeg, StreamEntry):
            return None
        video = self.video_box.currentData()
        others = [e for e in self.entries if e.source_id != MARKER_SOURCE_ID]  # our own markers are drawn directly
        same = [e for e in others if eeg.prefix is not None and e.prefix == eeg.prefix]
        markers = next((e.source_id for e in same if e.stype == "Markers"), None) or \
            next((e.source_id for e in others if e.stype == "Markers" and e.hostname == eeg.hostname), None)
        truth = next((e.source_id for e in same if e.stype == "GroundTruth"), None)
        return SourceSpec(eeg=eeg.name, eeg_source_id=eeg.source_id,
                          video=video.name if isinstance(video, StreamEntry) else None,
                          video_source_id=video.source_id if isinstance(video, StreamEntry) else None,
                          markers_source_id=markers, truth_source_id=truth, resolve_timeout=resolve_timeout)


class MarkerPublisher:
    """The ``Markers`` outlet for markers added from the dashboard (created on first use)."""

    def __init__(self, name: str = MARKER_STREAM_NAME, source_id: str = MARKER_SOURCE_ID) -> None:
        self.name = name
        self.source_id = source_id
        self._outlet = None
        self.count = 0

    def push(self, text: str) -> float:
        """Publish ``text`` now; returns its LSL timestamp."""
        from mne_lsl.lsl import StreamInfo, StreamOutlet, local_clock

        if self._outlet is None:
            info = StreamInfo(self.name, "Markers", 1, 0.0, "string", self.source_id)
            info.desc.append_child_value("generator", "affectstream dashboard")
            self._outlet = StreamOutlet(info)
        t = local_clock()
        self._outlet.push_sample([text], timestamp=t)
        self.count += 1
        return t

    def close(self) -> None:
        self._outlet = None
