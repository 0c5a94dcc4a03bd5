"""Frame sources for the face path: an LSL ``Video`` stream, a local camera, or a video file.

Every source yields ``(frame, timestamp)``: ``frame`` a fresh uint8 (h, w, 3) BGR array the caller may keep,
``timestamp`` in LSL-clock seconds, so the pipeline can pair frames with EEG by stream time alone
(docs/architecture.md, "Only the clock differs").

An LSL ``Video`` stream follows the project's Video contract (:mod:`affectstream.core.video`; docs/architecture.md,
"Video over LSL"); :func:`affectstream.pipelines.sources.webcam_publisher.publish_video` writes such streams.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from affectstream.core.files import regular_file
from affectstream.core.video import VideoFormat, decode_frame, parse_video_format
from affectstream.pipelines.sources.lsl import destroy_inlet

logger = logging.getLogger(__name__)

Frame = tuple[np.ndarray, float]

#: Seconds without a frame after which :class:`LSLVideoSource` checks whether its stream still exists (the EEG
#: inlet's threshold too: a lost stream shows within about a second).
LOST_CHECK_S = 1.0

#: Length of one lookup of the stream's ``source_id`` (see :data:`affectstream.pipelines.sources.lsl.LOOKUP_S` for
#: why 1 s).
SEARCH_S = 1.0


class VideoSourceError(OSError, ValueError):
    """A frame source that cannot be used: a camera that cannot be opened, a file that is not a video OpenCV
    decodes, a stream that breaks the Video contract; the message names the source.

    Both an OSError (an absent device, as before) and a ValueError (content of the wrong kind), as
    :class:`io.UnsupportedOperation` is, so that callers written for either keep working; the command line reports
    it as one line.
    """


class _FrameSource:
    """Iteration and ``with`` support shared by the sources, built on their ``read`` (None = ended) and ``close``."""

    def __iter__(self) -> Iterator[Frame]:
        while (item := self.read()) is not None:
            yield item

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class CameraSource(_FrameSource):
    """A local camera read with OpenCV, each frame stamped with the LSL clock when it was grabbed.

    Parameters
    ----------
    index : int
        OpenCV camera index (0 = the first camera).
    size : (height, width) | None
        Resolution to request from the driver (which may pick the nearest it supports); None keeps its default.

    Raises
    ------
    VideoSourceError
        The camera cannot be opened (absent, or held by another program); an OSError.
    """

    realtime = True

    def __init__(self, index: int = 0, *, size: tuple[int, int] | None = None) -> None:
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # OpenCV's own backend-probing warnings
        try:
            self._cap = cv2.VideoCapture(int(index))
        finally:
            cv2.utils.logging.setLogLevel(level)
        if not self._cap.isOpened():
            self._cap.release()
            raise VideoSourceError(f"cannot open camera {index}: no such camera, or another program is using it")
        if size is not None:
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[0])
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[1])
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps: float | None = fps if math.isfinite(fps) and fps > 0 else None
        self.label = f"camera{index}"

    def read(self) -> Frame | None:
        """The next frame, or None when the camera stops delivering (unplugged)."""
        from mne_lsl.lsl import local_clock

        if not self._cap.grab():
            return None
        stamp = local_clock()  # grab() returns when the frame is captured; decoding (retrieve) comes after
        ok, frame = self._cap.retrieve()
        return (frame, stamp) if ok else None

    def close(self) -> None:
        self._cap.release()


class VideoFileSource(_FrameSource):
    """A video file read with OpenCV, stamped from its frame rate: frame ``i`` has time ``t0 + i / fps``.

    Parameters
    ----------
    path : str | Path
    realtime : bool
        False: ``t0 = start`` and frames come as fast as they are read, so an offline run is deterministic.
        True: ``t0`` is the LSL clock at the first read and :meth:`read` waits until each frame is due, as a
        camera would deliver it (what :func:`affectstream.pipelines.sources.webcam_publisher.publish_video` needs).
    loop : bool
        Start over at the end of the file (timestamps keep increasing).
    fps : float | None
        Overrides the file's frame rate (needed when the container does not declare one).
    start : float
        ``t0`` when not ``realtime``.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    VideoSourceError
        Not a regular file, unreadable, OpenCV cannot decode a frame from it, or its frame rate is unknown and
        ``fps`` was not given (a ValueError).
    """

    def __init__(self, path: str | Path, realtime: bool = False, *, loop: bool = False, fps: float | None = None,
                 start: float = 0.0) -> None:
        self.path = Path(path)
        regular_file(self.path, "video file", VideoSourceError)  # a folder or a pipe: OpenCV would block or guess
        self.realtime = bool(realtime)
        self.loop = bool(loop)
        self.label = self.path.name
        self._cap = self._open()
        ok, first = self._cap.read()
        if not ok:
            self._cap.release()
            raise VideoSourceError(f"cannot read video file {self.path}: OpenCV decodes no frame from it")
        rate = float(fps) if fps is not None else self._cap.get(cv2.CAP_PROP_FPS)
        if not (math.isfinite(rate) and rate > 0):
            self._cap.release()
            raise VideoSourceError(f"video file {self.path} declares no frame rate; pass fps=")
        self.fps = rate
        self._pending: np.ndarray | None = first
        self._index = 0
        self._t0: float | None = None if self.realtime else float(start)

    def _open(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise VideoSourceError(f"cannot open video file {self.path}: not a video OpenCV can decode")
        return cap

    def read(self) -> Frame | None:
        """The next frame with its timestamp, or None at the end of a non-looping file."""
        frame, self._pending = self._pending, None
        if frame is None:
            ok, frame = self._cap.read()
            if not ok and self.loop and self._index > 0:
                self._cap.release()
                self._cap = self._open()
                ok, frame = self._cap.read()
            if not ok:
                return None
        due = self._index / self.fps
        self._index += 1
        if not self.realtime:
            return frame, self._t0 + due
        from mne_lsl.lsl import local_clock

        if self._t0 is None:
            self._t0 = local_clock()
        wait = self._t0 + due - local_clock()
        if wait > 0:
            time.sleep(wait)
        return frame, self._t0 + due

    @property
    def start(self) -> float | None:
        """The first frame's stamp: ``start`` as given, or for a ``realtime`` source the LSL clock at the first read
        (None before it)."""
        return self._t0

    def close(self) -> None:
        self._cap.release()


def _video_format(info) -> VideoFormat:
    """The frame format of an LSL ``Video`` stream per the contract, or :class:`VideoSourceError` naming the stream."""
    from affectstream.pipelines.sources.lsl import describe

    desc = {key: info.desc.child_value(key) for key in ("width", "height", "channels", "color_order")}
    try:
        return parse_video_format(f"LSL stream {describe(info)}", info.stype, np.dtype(info.dtype).name,
                                  info.n_channels, desc)
    except ValueError as exc:
        raise VideoSourceError(str(exc)) from None


class LSLVideoSource(_FrameSource):
    """The newest frame of an LSL ``Video`` stream; older frames that queued up are dropped and counted.

    Parameters
    ----------
    sinfo_or_query : StreamInfo | str
        A resolved stream, or a name/type to resolve among ``Video`` streams (with ``source_id`` if given).
    source_id : str | None
        Restricts resolution to this source.
    timeout : float
        Seconds to wait for the stream and its connection.
    first_match : bool
        When several ``Video`` streams match the query equally, take the first instead of refusing to guess.
    max_buffered : int
        Seconds of frames liblsl may queue for us (each 640x480 BGR frame is 0.9 MB).

    Raises
    ------
    VideoSourceError
        The stream breaks the contract (wrong type or format, missing desc, channel count != w*h*c); one line
        naming the stream (a ValueError).
    affectstream.pipelines.sources.lsl.StreamNotFoundError
        No matching stream appeared within ``timeout`` (:class:`~.discovery.AmbiguousStreamError`: several did).

    Attributes
    ----------
    received, dropped : int
        Frames pulled from the stream, and those among them skipped because a newer one was already waiting.
    connection : str
        ``connected``, ``lost`` or ``reconnecting`` (see :meth:`recover`).
    outages : int
        Times the stream was lost and :meth:`recover` began.
    last_gap_s : float
        Stream seconds between the last frame before the latest outage and the first frame after it.
    """

    def __init__(self, sinfo_or_query, *, source_id: str | None = None, timeout: float = 5.0,
                 max_buffered: int = 1, first_match: bool = False) -> None:
        from affectstream.pipelines.sources.discovery import find_stream

        sinfo = sinfo_or_query
        if isinstance(sinfo, str):
            sinfo = find_stream(sinfo, stype="Video", source_id=source_id, timeout=timeout, first_match=first_match,
                                pick_option="--video-source-id")
        self._max_buffered = max_buffered
        self._open(sinfo, timeout)
        self.label = self.info.name
        self.fps: float | None = self.info.sfreq or None
        self.received = 0
        self.dropped = 0
        self.connection = "connected"
        self.outages = 0
        self.last_gap_s = math.nan
        self._last_stamp: float | None = None

    def _open(self, sinfo, timeout: float) -> None:
        from mne_lsl.lsl import StreamInlet

        # recover=False: a lost camera must end the iteration, not silently stall it (as in lsl_source.LSLInlet).
        self._inlet = StreamInlet(sinfo, max_buffered=self._max_buffered, recover=False,
                                  processing_flags=("clocksync",))
        try:
            self._inlet.open_stream(timeout=timeout)
            self.info = self._inlet.get_sinfo(timeout=timeout)  # desc arrives only with the connection
            self.format = _video_format(self.info)
        except Exception:
            self.close()
            raise

    def read(self, timeout: float = 0.0) -> Frame | None:
        """Wait up to ``timeout`` s for a frame, then drain the queue; the newest frame, or None if none came.

        Raises
        ------
        LostError
            (``mne_lsl.lsl._utils.LostError``, a RuntimeError) the stream's outlet went away.
        """
        sample, stamp = self._inlet.pull_sample(timeout=timeout)
        if stamp is None:
            return None
        n = 1
        while True:  # pull_sample reuses one buffer: the newest frame is whatever it holds when the queue is empty
            nxt, nxt_stamp = self._inlet.pull_sample(timeout=0.0)
            if nxt_stamp is None:
                break
            sample, stamp, n = nxt, nxt_stamp, n + 1
        self.received += n
        self.dropped += n - 1
        if self.connection == "reconnecting":
            self.connection = "connected"
            if self._last_stamp is not None:
                self.last_gap_s = float(stamp) - self._last_stamp
            logger.info("video stream %s re-attached after a gap of %.2f s", self.label, self.last_gap_s)
        self._last_stamp = float(stamp)
        return decode_frame(sample.copy(), self.format), float(stamp)  # the copy: pull_sample reuses its buffer

    def __iter__(self) -> Iterator[Frame]:
        """The newest frame each time one arrives (stale ones dropped and counted), until the stream is lost.

        liblsl reports a lost outlet through ``LostError`` on most, but not all, disconnections (measured: about one
        in four in-process outlet teardowns left the inlet waiting silently). So after ``LOST_CHECK_S`` without a
        frame the stream is also looked up by its ``source_id``; when it is no longer announced, it is lost.
        """
        from mne_lsl.lsl._utils import LostError  # not re-exported by mne_lsl.lsl

        quiet_since = time.monotonic()
        try:
            while True:
                item = self.read(timeout=0.5)
                if item is not None:
                    quiet_since = time.monotonic()
                    yield item
                elif time.monotonic() - quiet_since > LOST_CHECK_S:
                    if not self.announced():
                        break
                    quiet_since = time.monotonic()
        except LostError:
            pass
        logger.info("video stream %s was lost", self.label)

    def announced(self, timeout: float = SEARCH_S) -> bool:
        """Whether the stream's ``source_id`` is still announced (blocks up to ``timeout`` s when it is not)."""
        from mne_lsl.lsl import resolve_streams

        return bool(resolve_streams(timeout=timeout, source_id=self.info.source_id))

    def recover(self, stop: threading.Event) -> bool:
        """Close the lost inlet and wait for the same ``source_id`` to return, then read from it again.

        Blocks the calling thread (the face thread: the EEG loop never waits for video) in lookup rounds of
        :data:`SEARCH_S`. A returning stream must keep its frame size (a recording's Video stream has one), else it
        is not re-attached. Returns False when ``stop`` was set first.
        """
        from mne_lsl.lsl import resolve_streams

        size = self.format
        self.close()  # recover=False inlets are destroyed safely (sccn/liblsl#220 is liblsl's own recovery)
        self.connection = "lost"
        self.outages += 1
        logger.warning("video stream %s lost; looking for source_id %r again", self.label, self.info.source_id)
        refused = ""
        while not stop.is_set():
            found = resolve_streams(timeout=SEARCH_S, source_id=self.info.source_id)
            if not found or stop.is_set():
                continue
            self.connection = "reconnecting"
            try:
                self._open(found[0], timeout=2.0)
                fmt = self.format
                if (fmt.width, fmt.height, fmt.channels) != (size.width, size.height, size.channels):
                    raise ValueError(f"its frames are now {fmt.width}x{fmt.height}x{fmt.channels} instead of "
                                     f"{size.width}x{size.height}x{size.channels}")
            except Exception as exc:  # noqa: BLE001 - it may vanish again or break the contract; keep looking
                if str(exc) != refused:
                    logger.warning("video stream %s is announced again but not re-attached: %s", self.label, exc)
                    refused = str(exc)
                self.close()
                self.connection = "lost"
                stop.wait(SEARCH_S)
                continue
            return True
        return False

    def close(self) -> None:
        inlet, self._inlet = getattr(self, "_inlet", None), None
        if inlet is not None:
            destroy_inlet(inlet)
