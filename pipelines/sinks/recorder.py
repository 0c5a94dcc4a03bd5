"""Record everything a live session sees and produces into one XDF file.

EEG, video frames, markers, the simulator's ground truth and the session's own ``Affect`` output go into one file
(:class:`~affectstream.core.xdf_writer.XDFWriter`, flushed at least once a second, so a killed process loses at
most the last second). Timestamps are written as the *sender's* clock and the measured clock offsets as ClockOffset
chunks, exactly as LabRecorder does, so pyxdf's clock synchronisation puts every stream on this machine's clock - and a
recording of streams from several machines stays correct.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from affectstream.core.video import VIDEO_CHANNEL_FORMAT, VIDEO_TYPE, bgr_format, encode_frame
from affectstream.core.xdf_writer import XDFWriter
from affectstream.pipelines.sinks.outputs import AFFECT_CHANNELS, AFFECT_SOURCE_ID

log = logging.getLogger(__name__)

#: numpy dtype name -> XDF channel_format
_FORMATS = {"float32": "float32", "float64": "double64", "int8": "int8", "int16": "int16", "int32": "int32",
            "int64": "int64"}

#: Seconds between ClockOffset measurements (LabRecorder's interval).
OFFSET_INTERVAL_S = 5.0


def _channel_format(info) -> str:
    dtype = info.dtype
    if dtype is str or getattr(dtype, "__name__", "") in ("str", "c_char_p") or str(dtype) == "string":
        return "string"
    return _FORMATS.get(np.dtype(dtype).name, "double64")


class _Inlet:
    """A recorded inlet: its XDF stream id and the offset that turns its (clock-synced) stamps back into its own."""

    def __init__(self, writer: XDFWriter, inlet, synthetic: bool) -> None:
        info = inlet.info
        labels = info.get_channel_names()
        labels = list(labels) if labels and all(labels) else None
        desc = {"synthetic": "true"} if synthetic else None
        self.inlet = inlet
        self.format = _channel_format(info)
        self.sid = writer.add_stream(info.name, info.stype, info.n_channels, info.sfreq, self.format,
                                     info.source_id, labels=labels, desc=desc, hostname=info.hostname)
        self.offset = 0.0


class SessionRecorder:
    """Writes a :class:`~affectstream.pipelines.sessions.live.LiveSession`'s streams to ``path`` as they flow.

    Parameters
    ----------
    path : Path
        The XDF file to create.
    session : LiveSession
        The session whose inlets (EEG, markers, ground truth) are recorded; video frames and Affect samples are
        handed in by the session as they are produced.
    """

    def __init__(self, path: Path, session) -> None:
        self.path = Path(path)
        self.writer = XDFWriter(self.path, header={"generator": "affectstream",
                                                   "synthetic": "true" if session.synthetic else "false"})
        synthetic = session.synthetic
        self.eeg = _Inlet(self.writer, session.inlet, synthetic)
        self.markers = _Inlet(self.writer, session.markers, synthetic) if session.markers is not None else None
        self.truth = _Inlet(self.writer, session.truth, synthetic) if session.truth is not None else None
        self.affect = self.writer.add_stream(
            "affectstream", "Affect", len(AFFECT_CHANNELS), 1.0 / session.pipeline.hop_s, "float32",
            AFFECT_SOURCE_ID, labels=list(AFFECT_CHANNELS),
            desc={"synthetic": "true" if synthetic else "false", "generator": "affectstream"})
        self._video: int | None = None
        source = session.worker.source if session.worker is not None else None
        self._video_fps = float(getattr(source, "fps", 0.0) or 0.0)
        self._next_offsets = 0.0
        log.info("recording to %s", self.path)

    def _offsets(self) -> None:
        """Measure each inlet's clock offset every few seconds and record it."""
        now = time.monotonic()
        if now < self._next_offsets:
            return
        self._next_offsets = now + OFFSET_INTERVAL_S
        from mne_lsl.lsl import local_clock

        now_lsl = local_clock()
        for rec in (self.eeg, self.markers, self.truth):
            if rec is not None:
                rec.offset = rec.inlet.clock_offset
                self.writer.clock_offset(rec.sid, now_lsl, rec.offset)
        # Our own streams are stamped on this machine's clock already: their offset is 0, recorded all the same so
        # that readers treat every stream alike.
        for sid in (self.affect, self._video):
            if sid is not None:
                self.writer.clock_offset(sid, now_lsl, 0.0)

    def _write(self, rec: _Inlet, data, stamps: np.ndarray) -> None:
        if len(stamps):
            self.writer.write(rec.sid, data, np.asarray(stamps) - rec.offset)

    def record_poll(self, session, results) -> None:
        """Write what one :meth:`LiveSession.poll` pulled and produced."""
        self._offsets()
        data, stamps = session.latest_eeg
        self._write(self.eeg, data, stamps)
        if self.markers is not None and session.new_markers:
            self._write(self.markers, [text for _, text in session.new_markers],
                        np.array([t for t, _ in session.new_markers]))
        if self.truth is not None:
            times, values = session.new_truth
            self._write(self.truth, values, times)
        if results:
            rows = np.array([[r.valence, r.arousal, r.eeg.valence, r.face.valence, r.confidence, r.eeg.arousal,
                              r.face.arousal, r.quality_eeg] for r in results], dtype=np.float32)
            self.writer.write(self.affect, rows, np.array([r.t for r in results]))

    def record_frame(self, frame: np.ndarray, stamp: float) -> None:
        """Write one video frame (called from the face thread; the writer is thread-safe)."""
        if self._video is None:
            h, w = frame.shape[:2]
            fmt = bgr_format(w, h)
            self._video = self.writer.add_stream(
                "affectstream-video", VIDEO_TYPE, fmt.channel_count, self._video_fps, VIDEO_CHANNEL_FORMAT,
                "affectstream-video", desc=fmt.desc())
        self.writer.write(self._video, encode_frame(frame), [stamp])

    def close(self) -> None:
        if not self.writer.closed:
            self.writer.close()
            log.info("recording closed: %s", self.path)
