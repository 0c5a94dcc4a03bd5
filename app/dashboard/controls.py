"""Toolbar pieces: the LSL stream picker (listed off the GUI thread) and the manual-marker outlet."""

from __future__ import annotations

import logging
import threading

from PySide6 import QtCore, QtWidgets

from affectstream.app.dashboard.model import StreamEntry
from affectstream.app.dashboard.worker import SourceSpec

log = logging.getLogger(__name__)

#: The outlet that carries markers added from the dashboard (hotkey M).
MARKER_STREAM_NAME = "affectstream-markers"
MARKER_SOURCE_ID = "affectstream-markers"

#: The choosers' tooltips while they list live streams.
LIVE_TIPS = ("EEG stream (LSL streams on this machine; host in the name)", "Video stream for the face path (optional)",
             "List the LSL streams on this machine again")


class StreamPicker(QtWidgets.QWidget):
    """EEG and video stream choosers with a refresh button.

    Live, each chooser lists every LSL stream of its type on this machine (``list_streams``, resolved for at least
    a second in a background thread, so the GUI never waits on liblsl), one item per stream: two streams with the
    same name are both listed, their ``source_id`` added to tell them apart. While a recording plays
    (:meth:`show_recording`), the choosers show the recording's streams instead, and nothing live; :meth:`show_live`
    returns to the live listing.
    """

    listed = QtCore.Signal(object)

    def __init__(self, parent: QtWidgets.QWidget | None = None, wait: float = 1.0, video: bool = True) -> None:
        super().__init__(parent)
        self.wait = max(1.0, wait)  # liblsl answers a lookup after ~0.5 s: a shorter one misses streams
        self.entries: list[StreamEntry] = []
        self.recorded: tuple[StreamEntry, ...] | None = None  #: the replayed streams shown (None: live listing)
        self._listing = False
        self.eeg_box = QtWidgets.QComboBox()
        self.eeg_box.setMinimumWidth(220)
        self.eeg_box.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.eeg_box.setMinimumContentsLength(26)
        self.video_box = QtWidgets.QComboBox()
        self.video_box.setMinimumWidth(180)
        self.video_box.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.video_box.setMinimumContentsLength(22)
        self.video_box.addItem("no video", None)
        self.refresh_button = QtWidgets.QToolButton()
        self.refresh_button.setText("⟳")
        self.refresh_button.clicked.connect(self.refresh)
        self.choosers = (self.eeg_box, self.video_box, self.refresh_button)
        for widget, tip in zip(self.choosers, LIVE_TIPS):
            widget.setToolTip(tip)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(QtWidgets.QLabel("EEG"))
        layout.addWidget(self.eeg_box)
        if video:  # without: an EEG chooser only (the calibration wizard); spec() then names no video
            layout.addWidget(QtWidgets.QLabel("Video"))
            layout.addWidget(self.video_box)
        else:
            self.video_box.setParent(self)
            self.video_box.hide()
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
        self.refresh_button.setEnabled(self.recorded is None)
        self.refresh_button.setText("⟳")
        if entries is None:
            return
        self.entries = sorted(entries, key=lambda e: (e.stype, e.name, e.source_id, e.hostname))
        if self.recorded is None:  # a replay keeps showing the recording's streams
            self._show(self.entries, "no EEG stream found", keep_choice=True)

    def _show(self, entries: list[StreamEntry] | tuple[StreamEntry, ...], no_eeg: str, keep_choice: bool) -> None:
        """Fill both combos with ``entries`` of their type; ``keep_choice``: the live stream chosen stays chosen
        (added as not listed when it is gone)."""
        for box, stype, none_text in ((self.eeg_box, "EEG", None), (self.video_box, "Video", "no video")):
            current = box.currentData()
            matching = [e for e in entries if e.stype.lower() == stype.lower()]
            texts = [e.text for e in matching]
            box.blockSignals(True)
            box.clear()
            if none_text:
                box.addItem(none_text, None)
            for e, text in zip(matching, texts):
                box.addItem(f"{text}  · {e.source_id or 'no source_id'}" if texts.count(text) > 1 else text, e)
            if keep_choice and isinstance(current, StreamEntry) and not current.recorded:
                self._select(box, current)
            box.blockSignals(False)
        if self.eeg_box.count() == 0:
            self.eeg_box.addItem(no_eeg, None)

    def show_recording(self, streams: tuple[StreamEntry, ...]) -> None:
        """Show the replayed recording's streams (empty while it loads), and no live stream, until
        :meth:`show_live`; the choosers are locked meanwhile (the recording decides what is played)."""
        if streams == self.recorded:
            return
        self.recorded = tuple(streams)
        self._show(self.recorded, "loading the recording …", keep_choice=False)
        if self.recorded:  # the played video, or that the recording has none
            self.video_box.setCurrentIndex(self.video_box.count() - 1)
            if self.video_box.count() == 1:
                self.video_box.setItemText(0, "no video in the recording")
        for widget in self.choosers:
            widget.setEnabled(False)
            widget.setToolTip("The recording's streams (Stop the replay to pick live streams)")

    def show_live(self) -> None:
        """Back to the live streams of the last listing (after a replay), and list them again."""
        if self.recorded is None:
            return
        self.recorded = None
        for widget, tip in zip(self.choosers, LIVE_TIPS):
            widget.setEnabled(widget is not self.refresh_button or not self._listing)
            widget.setToolTip(tip)
        self._show(self.entries, "no EEG stream found", keep_choice=False)
        self.refresh()

    @staticmethod
    def _select(box: QtWidgets.QComboBox, wanted: StreamEntry) -> None:
        """Select the listed stream ``wanted`` (the same source_id, and host when both are known), or add it."""
        for i in range(box.count()):
            e = box.itemData(i)
            if isinstance(e, StreamEntry) and e.source_id == wanted.source_id and \
                    (e.hostname == wanted.hostname or not wanted.hostname):
                box.setCurrentIndex(i)
                return
        box.addItem(wanted.text if wanted.hostname else f"{wanted.source_id}  (not listed yet)", wanted)
        box.setCurrentIndex(box.count() - 1)

    def show_spec(self, spec: SourceSpec) -> None:
        """Select (or add a placeholder for) the streams of ``spec``, before any listing finished."""
        if spec.eeg_source_id:
            self._select(self.eeg_box, StreamEntry(spec.eeg or "EEG", "EEG", spec.eeg_source_id, "", 0, 0.0))
        if spec.video_source_id:
            self._select(self.video_box, StreamEntry(spec.video or "Video", "Video", spec.video_source_id, "", 0, 0.0))

    def spec(self, resolve_timeout: float = 10.0) -> SourceSpec | None:
        """The live streams picked, with the matching Markers/GroundTruth streams of the same device when listed;
        None when no live EEG stream is picked (or a recording's streams are shown)."""
        eeg = self.eeg_box.currentData()
        if not isinstance(eeg, StreamEntry) or eeg.recorded:
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
