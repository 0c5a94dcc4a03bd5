"""Publish a local camera (or a video file, as a stand-in camera) as an LSL ``Video`` stream.

Once the camera is an LSL stream it is recorded, replayed and synchronised like any other LSL device (LabRecorder
writes it into the same XDF as the EEG), and the dashboard reads it with
:class:`affectstream.pipelines.sources.video.LSLVideoSource`. The stream follows the Video contract
(:mod:`affectstream.core.video`; docs/architecture.md, "Video over LSL"), one BGR frame per sample.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings

import cv2
import numpy as np

from affectstream.core.video import VIDEO_CHANNEL_FORMAT, VIDEO_TYPE, bgr_format, encode_frame
from affectstream.pipelines.sources.video import CameraSource, VideoFileSource

logger = logging.getLogger(__name__)

# mne-lsl's push_sample unpacks the sample into a ctypes array element by element (~165 ms for a 640x480 frame);
# push_chunk with one row passes the buffer without copying (~0.5 ms) but warns, and logs, on every call that
# push_sample exists. One frame per push is exactly what a video stream wants, so that hint (and only it) is
# silenced: in the log by a filter on mne-lsl's logger, as a warning inside publish_video's loop.
_SINGLE_SAMPLE_HINT = "A single sample is pushed"


class _DropSingleSampleHint(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(_SINGLE_SAMPLE_HINT)


logging.getLogger("mne_lsl").addFilter(_DropSingleSampleHint())

#: Outlet queue per consumer in whole seconds (liblsl takes an int): a 640x480 frame is 0.9 MB, a stale one useless.
OUTLET_BUFFER_S = 1
#: Nominal rate announced when the source reports none (some cameras); the timestamps are what the pipeline uses.
DEFAULT_FPS = 30.0


def video_stream_info(name: str, source_id: str, width: int, height: int, fps: float, origin: str = ""):
    """The ``StreamInfo`` of a BGR ``Video`` stream per the contract (int8 channels, desc with the frame format)."""
    from mne_lsl.lsl import StreamInfo

    fmt = bgr_format(width, height)
    info = StreamInfo(name, VIDEO_TYPE, fmt.channel_count, float(fps), VIDEO_CHANNEL_FORMAT, source_id)
    desc = info.desc
    for key, value in fmt.desc().items():
        desc.append_child_value(key, str(value))
    if origin:
        desc.append_child_value("origin", origin)
    return info


def push_frame(outlet, frame: np.ndarray, stamp: float) -> None:
    """Push one uint8 frame as one int8 sample (the fast single-row ``push_chunk``, its hint silenced)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_SINGLE_SAMPLE_HINT, category=RuntimeWarning)
        outlet.push_chunk(encode_frame(frame), timestamp=float(stamp))


def publish_video(source: CameraSource | VideoFileSource, name: str = "affectstream-webcam",
                  source_id: str | None = None, size: tuple[int, int] | None = None,
                  stop: threading.Event | None = None, duration: float | None = None) -> int:
    """Push every frame of ``source`` to a new LSL ``Video`` outlet until the source ends, ``stop`` or ``duration``.

    Parameters
    ----------
    source : CameraSource | VideoFileSource
        A real-time source (a file must be opened with ``realtime=True``, and ``loop=True`` to run forever); its
        timestamps (LSL clock) are pushed unchanged. The caller closes it.
    name : str
        Stream name.
    source_id : str | None
        Stable id that lets recorders re-attach after a restart; default ``"{name}-{source.label}"``
        (e.g. ``affectstream-webcam-camera0``).
    size : (height, width) | None
        Resize frames to this size (smaller frames mean less bandwidth); None keeps the first frame's size, and
        later frames of another size are resized to it.
    stop : threading.Event | None
        Set it to end publishing from another thread.
    duration : float | None
        Seconds to publish; None = until the source ends or ``stop`` is set.

    Returns
    -------
    int
        Frames published.

    Raises
    ------
    ValueError
        ``source`` is not real-time (a file opened with ``realtime=False`` would flood the network).
    """
    from mne_lsl.lsl import StreamOutlet

    if not getattr(source, "realtime", False):
        raise ValueError(f"{source.label}: publish_video needs a real-time source (a camera, or "
                         "VideoFileSource(..., realtime=True))")
    source_id = source_id or f"{name}-{source.label}"
    deadline = None if duration is None else time.monotonic() + duration
    outlet = None
    shape: tuple[int, int] | None = None if size is None else (int(size[0]), int(size[1]))
    count = 0
    while not (stop is not None and stop.is_set()) and (deadline is None or time.monotonic() < deadline):
        item = source.read()
        if item is None:
            break
        frame, stamp = item
        if shape is None:
            shape = frame.shape[:2]
        if frame.shape[:2] != shape:
            frame = cv2.resize(frame, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
        if outlet is None:
            info = video_stream_info(name, source_id, shape[1], shape[0], source.fps or DEFAULT_FPS, source.label)
            outlet = StreamOutlet(info, chunk_size=1, max_buffered=OUTLET_BUFFER_S)
            logger.info("publishing %s as LSL Video stream %r (source_id %r, %dx%d)", source.label, name,
                        source_id, shape[1], shape[0])
        push_frame(outlet, frame, stamp)
        count += 1
    del outlet  # closes the stream: consumers see it go away rather than stall
    logger.info("published %d frames from %s", count, source.label)
    return count
