"""Record everything a live session sees and produces into one XDF file, as LabRecorder would.

The session's EEG, video frames, the simulator's ground truth (when followed) and the session's own ``Affect`` output
go into one file (:class:`~affectstream.core.xdf_writer.XDFWriter`, flushed at least once a second, so a killed
process loses at most the last second), and so does every stream of type ``Markers`` on the machine when the
recording starts (string or numeric, each recorded in its own format) and every stream the user named
(``--record-stream``). Those are found and connected on a background thread, so that starting a recording never
stalls the session (a lookup lasts a second); a stream the session reads already is never given a second inlet.

Timestamps are written as the *sender's* clock and the measured clock offsets as ClockOffset chunks, exactly as
LabRecorder does, so pyxdf's clock synchronisation puts every stream on this machine's clock - and a recording of
streams from several machines stays correct.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from affectstream.core.video import VIDEO_CHANNEL_FORMAT, VIDEO_TYPE, bgr_format, encode_frame
from affectstream.core.xdf_writer import XDFWriter
from affectstream.pipelines.sinks.outputs import AFFECT_CHANNELS
from affectstream.pipelines.sources.discovery import LOOKUP_S, describe, find_streams
from affectstream.pipelines.sources.lsl import SupervisedInlet, desc_value

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


def _stream_key(info) -> str:
    """What tells two streams apart: the ``source_id``, or the outlet's ``uid`` for a stream without one."""
    return info.source_id or info.uid


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

    def write(self, writer: XDFWriter, data, stamps: np.ndarray) -> None:
        """Write samples back on the sender's clock (the offset goes into the file as ClockOffset chunks)."""
        if len(stamps):
            writer.write(self.sid, data, np.asarray(stamps) - self.offset)


class SessionRecorder:
    """Writes a :class:`~affectstream.pipelines.sessions.live.LiveSession`'s streams to ``path`` as they flow.

    Parameters
    ----------
    path : Path
        The XDF file to create.
    session : LiveSession
        The session whose inlets (EEG, markers, ground truth) are recorded; video frames and Affect samples are
        handed in by the session as they are produced. Its ``affect_source_id`` and ``affect_desc`` describe the
        Affect stream as its outlet does, and its ``record_sinfos`` are the streams the user named.
    markers : list | None
        The Markers streams on the machine, when the session looked them up already (as it does for a recording
        that starts with it: they are connected at once); a lookup on the recorder's thread adds the others.
    """

    def __init__(self, path: Path, session, markers: list | None = None) -> None:
        self.path = Path(path)
        self.writer = XDFWriter(self.path, header={"generator": "affectstream",
                                                   "synthetic": "true" if session.synthetic else "false"})
        synthetic = session.synthetic
        self.eeg = _Inlet(self.writer, session.inlet, synthetic)
        self.markers = _Inlet(self.writer, session.markers, synthetic) if session.markers is not None else None
        self.truth = _Inlet(self.writer, session.truth, synthetic) if session.truth is not None else None
        self.affect = self.writer.add_stream(
            "affectstream", "Affect", len(AFFECT_CHANNELS), 1.0 / session.pipeline.hop_s, "float32",
            session.affect_source_id, labels=list(AFFECT_CHANNELS),
            desc={"synthetic": "true" if synthetic else "false", "generator": "affectstream", **session.affect_desc})
        self._video: int | None = None
        source = session.worker.source if session.worker is not None else None
        self._video_fps = float(getattr(source, "fps", 0.0) or 0.0)
        self._next_offsets = 0.0
        self._extra: list[_Inlet] = []  #: the Markers and named streams, as the background thread connects them
        self._lock = threading.Lock()
        self._stop = threading.Event()
        own = [session.inlet.info, getattr(source, "info", None)] + [
            rec.inlet.info for rec in (self.markers, self.truth) if rec is not None]
        skip = {_stream_key(info) for info in own if info is not None} | {session.affect_source_id}
        self._attacher = threading.Thread(target=self._attach, args=(list(session.record_sinfos), markers, skip),
                                          name="affectstream-record-attach", daemon=True)
        self._attacher.start()
        log.info("recording to %s", self.path)

    def _attach(self, named: list, markers: list | None, skip: set[str]) -> None:
        """Connect the named streams and the Markers streams found already (``markers``), then those a lookup
        finds now (announced since), except those in ``skip``."""
        self._connect_all(named + (markers or []), skip)
        try:
            found = find_streams(None, stype="Markers", timeout=LOOKUP_S)
        except Exception as exc:  # noqa: BLE001 - the session's own streams are recorded all the same
            log.warning("looking for Markers streams to record failed: %s", exc)
            return
        self._connect_all(found, skip)

    def _connect_all(self, found: list, skip: set[str]) -> None:
        """Connect each stream of ``found`` not in ``skip`` (then added to it), all at once (a connection takes
        half a second)."""
        todo = {}
        for sinfo in found:
            key = _stream_key(sinfo)
            if key not in skip:
                skip.add(key)
                todo[key] = sinfo
        if todo and not self._stop.is_set():
            with ThreadPoolExecutor(max_workers=len(todo), thread_name_prefix="affectstream-record") as pool:
                list(pool.map(self._connect, todo.values()))

    def _connect(self, sinfo) -> None:
        """Open an inlet on ``sinfo`` and add its stream to the file (not once the recording has stopped)."""
        if self._stop.is_set():
            return
        try:
            inlet = SupervisedInlet(sinfo)
            inlet.sync_clock()  # here, not in the session's next poll
        except Exception as exc:  # noqa: BLE001 - it may have gone since the lookup: record the others
            log.warning("not recording %s: %s", describe(sinfo), exc)
            return
        with self._lock:
            try:
                if self._stop.is_set():
                    raise InterruptedError("the recording stopped")
                synthetic = desc_value(inlet.info, "synthetic").lower() == "true"
                self._extra.append(_Inlet(self.writer, inlet, synthetic))
            except OSError as exc:  # stopped, or the file cannot be written (the session reports that)
                inlet.close()
                log.debug("not recording %s: %s", describe(sinfo), exc)
                return
        log.info("recording %s", describe(inlet.info))

    def _offsets(self, extra: list[_Inlet]) -> None:
        """Measure each inlet's clock offset every few seconds and record it."""
        now = time.monotonic()
        if now < self._next_offsets:
            return
        self._next_offsets = now + OFFSET_INTERVAL_S
        from mne_lsl.lsl import local_clock

        now_lsl = local_clock()
        for rec in [self.eeg, self.markers, self.truth, *extra]:
            if rec is not None:
                rec.offset = rec.inlet.clock_offset
                self.writer.clock_offset(rec.sid, now_lsl, rec.offset)
        # Our own streams are stamped on this machine's clock already: their offset is 0, recorded all the same so
        # that readers treat every stream alike.
        for sid in (self.affect, self._video):
            if sid is not None:
                self.writer.clock_offset(sid, now_lsl, 0.0)

    def record_poll(self, session, results) -> None:
        """Write what one :meth:`LiveSession.poll` pulled and produced, and what the other recorded streams sent."""
        with self._lock:
            extra = list(self._extra)
        self._offsets(extra)
        self.eeg.write(self.writer, *session.latest_eeg)
        if self.markers is not None:
            self.markers.write(self.writer, *session.latest_markers)
        if self.truth is not None:
            times, values = session.new_truth
            self.truth.write(self.writer, values, times)
        for rec in extra:
            rec.write(self.writer, *rec.inlet.pull())
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
        """Stop connecting, close the recorder's own inlets, then the file (idempotent)."""
        self._stop.set()
        self._attacher.join()  # at most one lookup and one connection attempt
        with self._lock:
            extra, self._extra = self._extra, []
        for rec in extra:
            rec.inlet.close()
        if not self.writer.closed:
            self.writer.close()
            log.info("recording closed: %s", self.path)
