"""Record everything a live session sees and produces into one XDF file, as LabRecorder would.

The session's EEG, video frames, the simulator's ground truth (when followed) and the session's own ``Affect`` output
go into one file (:class:`~affectstream.core.xdf_writer.XDFWriter`, flushed at least once a second, so a killed
process loses at most the last second), and so does every stream of type ``Markers`` on the machine when the
recording starts (string or numeric, each recorded in its own format) and every stream the user named
(``--record-stream``). Those are found and connected on a background thread, so that starting a recording never
stalls the session (a lookup lasts a second); a stream the session reads already is never given a second inlet.

The session's own ``Affect`` stream is declared irregular (nominal rate 0; the hop is in its ``desc``, ``hop_s``):
its estimates stop during an EEG outage, and pyxdf's default load (``dejitter_timestamps=True``) fits a regular
stream's stamps to a line, which moved estimates by seconds across such a gap, away from the markers they belong to.
Video frames are written on a thread of the recorder's own (:class:`_FrameWriter`), never on the face path's.

Timestamps are written as the *sender's* clock and the measured clock offsets as ClockOffset chunks, exactly as
LabRecorder does, so pyxdf's clock synchronisation puts every stream on this machine's clock - and a recording of
streams from several machines stays correct.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
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

#: Bytes of video frames that may wait for the recording's frame thread (about 2 s of 640x480 at 30 fps); a frame
#: beyond is left out of the recording and counted, so that a disk or CPU that cannot keep up costs frames, not
#: memory.
MAX_QUEUED_FRAME_BYTES = 64 * 2**20

#: The frame thread flushes the file after this many bytes of frames. A flush copies what is pending while it holds
#: the writer (and, for most of the copying, Python's GIL): left to the writer's once-a-second flush, 30 frames at
#: 640x480 held both for long enough to delay the face results and the EEG loop by up to a second under load.
FLUSH_FRAME_BYTES = 4 * 2**20


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


class _FrameWriter:
    """Writes video frames into the recording on a thread of its own, in the order they came.

    A frame costs about 10 ms to write (a raw 640x480 frame is 0.9 MB, copied into the writer's chunk), 30 ms under
    load: on the thread that reads frames for the face path, that delayed every face result (issue 20, item 2).
    :meth:`put` only queues; what cannot be queued (:data:`MAX_QUEUED_FRAME_BYTES`) is counted in ``dropped``. A
    failed write stops the frame thread and is kept in ``error`` for the session to report.
    """

    def __init__(self, writer: XDFWriter, fps: float) -> None:
        self.writer = writer
        self.fps = fps
        self.sid: int | None = None  #: the Video stream's id, once the first frame gave its size
        self.written = 0
        self.dropped = 0
        self.error: OSError | None = None
        self._queue: deque[tuple[np.ndarray, float]] = deque()
        self._bytes = 0
        self._unflushed = 0
        self._closing = False
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="affectstream-record-video", daemon=True)
        self._thread.start()

    def put(self, frame: np.ndarray, stamp: float) -> None:
        """Queue one frame (the caller must not change it afterwards); returns at once."""
        with self._ready:
            if self._closing or self.error is not None:
                return
            if self._queue and self._bytes + frame.nbytes > MAX_QUEUED_FRAME_BYTES:
                self.dropped += 1
                if self.dropped == 1:
                    log.warning("the recording cannot keep up with the video: frames are left out (counted)")
                return
            self._queue.append((frame, stamp))
            self._bytes += frame.nbytes
            self._ready.notify()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._closing:
                    self._ready.wait()
                if not self._queue:
                    return
                frame, stamp = self._queue[0]
            try:
                self._write(frame, stamp)
            except Exception as exc:  # noqa: BLE001 - the session reports it and stops the recording
                with self._ready:
                    self.error = exc if isinstance(exc, OSError) else OSError(f"cannot record a video frame: {exc}")
                    self._queue.clear()
                    self._bytes = 0
                return
            with self._ready:
                self._queue.popleft()  # only now: its bytes are held until written
                self._bytes -= frame.nbytes
                self.written += 1

    def _write(self, frame: np.ndarray, stamp: float) -> None:
        if self.sid is None:
            h, w = frame.shape[:2]
            fmt = bgr_format(w, h)
            self.sid = self.writer.add_stream("affectstream-video", VIDEO_TYPE, fmt.channel_count, self.fps,
                                              VIDEO_CHANNEL_FORMAT, "affectstream-video", desc=fmt.desc())
        self.writer.write(self.sid, encode_frame(frame), [stamp])
        self._unflushed += frame.nbytes
        if self._unflushed >= FLUSH_FRAME_BYTES:
            self._unflushed = 0
            self.writer.flush()

    def close(self) -> None:
        """Write what is queued, then end the thread."""
        with self._ready:
            self._closing = True
            self._ready.notify()
        self._thread.join()


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
        self.affect = self.writer.add_stream(  # irregular: see the module's docstring
            "affectstream", "Affect", len(AFFECT_CHANNELS), 0.0, "float32", session.affect_source_id,
            labels=list(AFFECT_CHANNELS),
            desc={"synthetic": "true" if synthetic else "false", "generator": "affectstream",
                  "hop_s": f"{session.pipeline.hop_s:g}", **session.affect_desc})
        source = session.worker.source if session.worker is not None else None
        self.frames = _FrameWriter(self.writer, float(getattr(source, "fps", 0.0) or 0.0))
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
        for sid in (self.affect, self.frames.sid):
            if sid is not None:
                self.writer.clock_offset(sid, now_lsl, 0.0)

    def record_poll(self, session, results) -> None:
        """Write what one :meth:`LiveSession.poll` pulled and produced, and what the other recorded streams sent.

        Raises
        ------
        OSError
            A write failed, here or on the frame thread (the recording cannot go on).
        """
        if self.frames.error is not None:
            raise self.frames.error
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
        """Queue one video frame for the recording's frame thread (returns at once; see :class:`_FrameWriter`)."""
        self.frames.put(frame, stamp)

    def close(self) -> None:
        """Stop connecting, close the recorder's own inlets, then the file (idempotent)."""
        self._stop.set()
        self._attacher.join()  # at most one lookup and one connection attempt
        with self._lock:
            extra, self._extra = self._extra, []
        for rec in extra:
            rec.inlet.close()
        self.frames.close()
        if not self.writer.closed:
            if self.frames.dropped:
                log.warning("%d video frames were left out of %s: the disk or the CPU could not keep up",
                            self.frames.dropped, self.path)
            self.writer.close()
            log.info("recording closed: %s", self.path)
