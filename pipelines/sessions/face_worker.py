"""The face thread of a live session: the newest frame of a video source through the face path, beside the EEG loop.

Part of :mod:`affectstream.pipelines.sessions.live` (the session starts and stops it); a module of its own because
the thread's loop, with its re-attachment of a lost LSL video stream, is independent of the EEG side.

Two threads, so that the face path never falls behind its source (issue 20, item 2). A *reader* takes every frame
the source delivers, hands it to the recording (``on_frame``: the recorder only queues it) and leaves it in a
one-frame slot; the *face* thread takes whatever frame is in the slot when it is free, so it always works on the
newest frame, and a frame replaced in the slot before the face thread got to it is dropped and counted. With one
thread reading every frame (as before), a face path slower than the camera fell further behind every second: under
load its results were older than :attr:`FacePath.max_age_s` at every hop, and no hop had a face.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from affectstream.pipelines.face.path import FacePath
from affectstream.pipelines.sources.video import LOST_CHECK_S, LSLVideoSource

logger = logging.getLogger(__name__)

#: Processed frames whose lag the summary's percentiles cover (the newest ones: about 55 minutes at 30 fps).
LAG_HISTORY = 100_000


class FaceWorker(threading.Thread):
    """Feeds the newest frame of a video source through the face path, on its own thread (see the module).

    The face path costs several milliseconds per frame; running it beside the EEG loop (OpenCV and onnxruntime
    release the GIL, and the team machines have two cores) keeps it out of the EEG hop's latency. Each hop pairs
    with the newest face result at or before its stream time (:meth:`FacePath.at`). A lost LSL video stream is
    re-attached on the reader thread (:meth:`.video_source.LSLVideoSource.recover`), so the worker outlives the
    outage and the EEG loop never waits for it; meanwhile hops find no recent face and go on with the EEG alone.

    Attributes
    ----------
    on_frame : callable | None
        Called on the reader thread with every frame the source delivers and its stamp (the recorder's frame
        sink); it must return quickly, or it delays the frames the face path sees.
    frames_read : int
        Frames the source delivered.
    frames_processed : int
        Frames the face path processed.
    lag_s : float
        Of the newest processed frame: LSL-clock seconds from the frame's stamp to its face result being ready
        (NaN before the first). A hop pairs with a face result only while this stays under ``max_age_s``.
    error : BaseException | None
        Why the worker stopped early (a lost stream that could not be read, a face path failure).
    """

    def __init__(self, source, face: FacePath) -> None:
        super().__init__(name="affectstream-face", daemon=True)
        self.source = source
        self.face = face
        self.on_frame: Callable[[np.ndarray, float], None] | None = None
        self.stop_event = threading.Event()
        self.error: BaseException | None = None
        self.frames_read = 0
        self.frames_processed = 0
        self.lag_s = math.nan
        self._replaced = 0  # frames replaced in the slot before the face thread took them
        self._lags: deque[float] = deque(maxlen=LAG_HISTORY)
        self._newest: tuple[np.ndarray, float] | None = None
        self._reading = True
        self._slot = threading.Condition()
        self._reader = threading.Thread(target=self._read_frames, name="affectstream-video-read", daemon=True)

    @property
    def dropped(self) -> int:
        """Frames the face path never saw: replaced by a newer one while it was busy, plus those an LSL video source
        skipped when it found several queued (:attr:`.LSLVideoSource.dropped`)."""
        return self._replaced + int(getattr(self.source, "dropped", 0) or 0)

    def status(self) -> dict:
        """The face path's counters and newest lag (ms; null before the first result), JSON-ready and cheap enough
        for every hop's record."""
        return {"frames_read": self.frames_read, "frames_processed": self.frames_processed, "dropped": self.dropped,
                "lag_ms": _ms(self.lag_s)}

    def lag_percentiles(self) -> dict:
        """p50 and p99 of the lag (ms; null before any result) over the last :data:`LAG_HISTORY` processed frames,
        for a run's summary."""
        lags = np.fromiter(self._lags.copy(), dtype=float)  # copy: the face thread appends meanwhile
        p50, p99 = np.percentile(lags, [50, 99]) if lags.size else (math.nan, math.nan)
        return {"lag_p50_ms": _ms(p50), "lag_p99_ms": _ms(p99)}

    def run(self) -> None:
        from mne_lsl.lsl import local_clock

        self._reader.start()
        try:
            while (item := self._take()) is not None:
                frame, stamp = item
                self.face.process(frame, stamp)
                self.lag_s = local_clock() - stamp
                self._lags.append(self.lag_s)
                self.frames_processed += 1
        except Exception as exc:  # noqa: BLE001 - reported by the run; the EEG path keeps going
            self._fail(exc)

    def _take(self) -> tuple[np.ndarray, float] | None:
        """The frame in the slot, waiting for one; None once the reader ended (a frame left in the slot first)."""
        with self._slot:
            while self._newest is None:
                if not self._reading or self.stop_event.is_set():
                    return None
                self._slot.wait()
            item, self._newest = self._newest, None
            return item

    def _read_frames(self) -> None:
        """The reader thread: every frame to ``on_frame`` and into the slot, until the source ends or ``stop``."""
        stream = isinstance(self.source, LSLVideoSource)  # polled with a timeout; files and cameras block
        self._quiet_since = time.monotonic()
        try:
            while not self.stop_event.is_set():
                item = self._read_stream() if stream else self.source.read()
                if item is None:
                    if stream:
                        continue
                    break  # a file or camera that ended
                with self._slot:
                    self.frames_read += 1
                    self._replaced += self._newest is not None
                    self._newest = item
                    self._slot.notify()
                on_frame = self.on_frame
                if on_frame is not None:
                    on_frame(*item)
        except Exception as exc:  # noqa: BLE001 - as in run()
            self._fail(exc)
        finally:
            with self._slot:
                self._reading = False
                self._slot.notify()

    def _fail(self, exc: BaseException) -> None:
        """Keep the first error and end both threads."""
        if self.error is None:
            self.error = exc
            logger.error("the face path stopped: %s", exc)
        self.stop_event.set()
        with self._slot:
            self._slot.notify()

    def _read_stream(self) -> tuple[np.ndarray, float] | None:
        """The newest frame of the LSL stream, or None; re-attaches the stream when it is lost.

        Lost means liblsl's ``LostError``, or no frame for ``LOST_CHECK_S`` while the ``source_id`` is no longer
        announced (liblsl does not raise on every disconnection).
        """
        from mne_lsl.lsl._utils import LostError

        try:
            item = self.source.read(timeout=0.1)
        except LostError:
            lost = True
        else:
            now = time.monotonic()
            if item is not None or now - self._quiet_since <= LOST_CHECK_S:
                if item is not None:
                    self._quiet_since = now
                return item
            lost = not self.source.announced()
            self._quiet_since = time.monotonic()  # still announced: a stalled camera; look again later
        if lost:
            self.source.recover(self.stop_event)
            self._quiet_since = time.monotonic()
        return None

    def stop(self) -> None:
        """End both threads and close the source."""
        self.stop_event.set()
        with self._slot:
            self._slot.notify()
        self.join(5.0)  # at most one frame through the face path
        if self._reader.ident is not None:
            # a re-attachment in progress first ends its lookup (1 s) and connection attempt (2 + 2 s)
            self._reader.join(5.0)
        self.source.close()


def _ms(seconds: float) -> float | None:
    """Seconds as milliseconds to 0.1 ms, None when not finite (JSON has no NaN)."""
    return round(float(seconds) * 1e3, 1) if math.isfinite(seconds) else None
