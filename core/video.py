"""The project's Video stream contract, the one definition both LSL streams and XDF files follow.

A ``Video`` stream (docs/architecture.md, "Video over LSL") has type ``Video`` and channel format ``int8``
carrying uint8 pixels; one sample is one frame, row-major height x width x channels, so its channel count is
``width * height * channels``. Its ``desc`` declares ``width``, ``height``, ``channels`` and ``color_order``
(one of :data:`COLOR_ORDERS`). Writers describe a frame format with :meth:`VideoFormat.desc`; readers check a
stream against the contract with :func:`parse_video_format` and turn samples back into images with
:func:`decode_frame`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

#: Stream type of a video stream.
VIDEO_TYPE = "Video"
#: Channel format of a video stream (uint8 pixels carried as int8, the only 8-bit format LSL and XDF have).
VIDEO_CHANNEL_FORMAT = "int8"
#: ``color_order`` values and the channels each implies.
COLOR_ORDERS = {"BGR": 3, "RGB": 3, "GRAY": 1}


@dataclass(frozen=True)
class VideoFormat:
    """The frame format a Video stream declares."""

    width: int
    height: int
    channels: int
    color_order: str

    @property
    def channel_count(self) -> int:
        """Values per sample (one frame)."""
        return self.width * self.height * self.channels

    def desc(self) -> dict[str, int | str]:
        """The ``desc`` fields that declare this format, in the contract's order."""
        return {"width": self.width, "height": self.height, "channels": self.channels,
                "color_order": self.color_order}


def bgr_format(width: int, height: int) -> VideoFormat:
    """The format of the BGR frames the project's sources, renderer and recorder produce."""
    return VideoFormat(int(width), int(height), COLOR_ORDERS["BGR"], "BGR")


def parse_video_format(stream: str, stream_type: str, channel_format: str, channel_count: int,
                       desc: Mapping[str, str]) -> VideoFormat:
    """The frame format of a stream per the contract; ValueError (one line naming ``stream``) if it breaks it.

    Parameters
    ----------
    stream : str
        How the stream is named in the error (e.g. ``"LSL stream 'cam' (...)"``).
    stream_type, channel_format : str
        The stream's type and channel format (``int8``, ``float32`` ...).
    channel_count : int
        Values per sample.
    desc : mapping
        The ``desc`` text of ``width``, ``height``, ``channels`` and ``color_order`` (``""`` where absent).
        A missing ``color_order`` means BGR for 3 channels and GRAY otherwise.
    """
    def refuse(why: str) -> ValueError:
        return ValueError(f"{stream} is not a usable Video stream: {why}")

    if stream_type.lower() != VIDEO_TYPE.lower():
        raise refuse(f"its type is {stream_type!r}, not {VIDEO_TYPE!r}")
    if channel_format != VIDEO_CHANNEL_FORMAT:
        raise refuse(f"channel format {channel_format}, expected {VIDEO_CHANNEL_FORMAT} (carrying uint8 pixels)")
    raw = {key: desc.get(key, "") for key in ("width", "height", "channels", "color_order")}
    missing = [key for key in ("width", "height", "channels") if not raw[key]]
    if missing:
        raise refuse(f"desc lacks {', '.join(missing)}")
    try:
        width, height, channels = (int(raw[key]) for key in ("width", "height", "channels"))
    except ValueError:
        raise refuse(f"desc width/height/channels are not integers: {raw}") from None
    order = (raw["color_order"] or ("BGR" if channels == 3 else "GRAY")).upper()
    if COLOR_ORDERS.get(order) != channels:
        raise refuse(f"color_order {order!r} with {channels} channels (expected one of {COLOR_ORDERS})")
    if min(width, height) < 1 or channel_count != width * height * channels:
        raise refuse(f"{channel_count} channels != width {width} x height {height} x channels {channels}")
    return VideoFormat(width, height, channels, order)


def decode_frame(sample: np.ndarray, fmt: VideoFormat) -> np.ndarray:
    """One Video sample (int8 pixels) as a uint8 BGR image (h, w, 3).

    A BGR sample that is already contiguous comes back as a view of ``sample``: copy it to keep it beyond the
    life of a buffer that is reused.
    """
    pixels = np.asarray(sample).view(np.uint8).reshape(fmt.height, fmt.width, fmt.channels)
    if fmt.color_order == "RGB":
        return np.ascontiguousarray(pixels[..., ::-1])
    if fmt.color_order == "GRAY":
        return np.ascontiguousarray(np.repeat(pixels, 3, axis=2))
    return np.ascontiguousarray(pixels)


def encode_frame(frame: np.ndarray) -> np.ndarray:
    """A uint8 image as one Video sample: a (1, h * w * c) int8 row sharing the frame's memory when it can."""
    return np.ascontiguousarray(frame).reshape(1, -1).view(np.int8)
