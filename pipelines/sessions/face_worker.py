"""The face thread of a live session: the newest frame of a video source through the face path, beside the EEG loop.

Part of :mod:`affectstream.pipelines.sessions.live` (the session starts and stops it); a module of its own because
the thread's loop, with its re-attachment of a lost LSL video stream, is independent of the EEG side.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import numpy as np

from affectstream.pipelines.face.path import FacePath
from affectstream.pipelines.sources.video import LOST_CHECK_S, LSLVideoSource

logger = logging.getLogger(__name__)


class FaceWorker(threading.Thread):
    """Feeds the newest frame of a video source through the face path, on its own thread.

    The face path costs several milliseconds per frame; running it beside the EEG loop (OpenCV and onnxruntime
    release the GIL, and the team machines have two cores) keeps it out of the EEG hop's latency. Each hop pairs
    with the newest face result at or before its stream time (:meth:`FacePath.at`). A lost LSL video stream is
    re-attached on this thread (:meth:`.video_source.LSLVideoSource.recover`), so the thread outlives the outage and
    the EEG loop never waits for it; meanwhile hops find no recent face and go on with the EEG alone.
    """

    def __init__(self, source, face: FacePath) -> None:
        super().__init__(name="affectstream-face", daemon=True)
        self.source = source
        self.face = face
        self.on_frame: Callable[[np.ndarray, float], None] | None = None  #: e.g. the recorder's frame sink
        self.stop_event = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        stream = isinstance(self.source, LSLVideoSource)  # polled with a timeout; files and cameras block
        self._quiet_since = time.monotonic()
        try:
            while not self.stop_event.is_set():
                item = self._read_stream() if stream else self.source.read()
                if item is None:
                    if stream:
                        continue
                    break  # a file or camera that ended
                frame, stamp = item
                if self.on_frame is not None:
                    self.on_frame(frame, stamp)
                self.face.process(frame, stamp)
        except Exception as exc:  # noqa: BLE001 - reported by the run; the EEG path keeps going
            self.error = exc
            logger.error("the face path stopped: %s", exc)

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
        self.stop_event.set()
        self.join(5.0)  # a re-attachment in progress first ends its lookup (1 s) and connection attempt (2 + 2 s)
        self.source.close()
