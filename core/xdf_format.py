"""The XDF 1.0 file format (https://github.com/sccn/xdf/wiki/Specifications): chunks, channel formats, header XML.

A file is the magic ``XDF:`` followed by chunks ``[varlen length][uint16 tag][content]``:

==== ============ =======================================================================================
tag  chunk        content
==== ============ =======================================================================================
1    FileHeader   XML ``<info><version>1.0</version>...``
2    StreamHeader uint32 stream id + XML ``<info>`` (name, type, channel_count, nominal_srate, channel_format,
                  source_id, created_at, uid, session_id, hostname, ``<desc>`` with channels and extra fields)
3    Samples      uint32 stream id + varlen n + per sample ``0x08`` + float64 timestamp + values (numeric: one
                  little-endian row; string: varlen byte length + UTF-8 per channel)
4    ClockOffset  uint32 stream id + float64 collection time + float64 offset
5    Boundary     16 fixed bytes (lets a reader resynchronise after a damaged chunk)
6    StreamFooter uint32 stream id + XML (first/last timestamp, sample count, clock offsets)
==== ============ =======================================================================================
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

#: XDF channel formats and the numpy dtypes they carry (little-endian on disk; None for strings).
CHANNEL_FORMATS: dict[str, np.dtype | None] = {
    "int8": np.dtype("i1"), "int16": np.dtype("<i2"), "int32": np.dtype("<i4"), "int64": np.dtype("<i8"),
    "float32": np.dtype("<f4"), "double64": np.dtype("<f8"), "string": None,
}

TAG_FILE_HEADER, TAG_STREAM_HEADER, TAG_SAMPLES, TAG_CLOCK_OFFSET, TAG_BOUNDARY, TAG_STREAM_FOOTER = 1, 2, 3, 4, 5, 6
BOUNDARY_UUID = bytes.fromhex("43a546dccbf5410fb30ed5467383cbe4")

_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def varlen(n: int) -> bytes:
    """XDF variable-length unsigned integer: one width byte (1, 4 or 8), then the little-endian value."""
    if n < 0:
        raise ValueError(f"varlen needs a non-negative integer, got {n}")
    if n < 256:
        return b"\x01" + struct.pack("<B", n)
    if n < 2 ** 32:
        return b"\x04" + struct.pack("<I", n)
    return b"\x08" + struct.pack("<Q", n)


def read_varlen(buf: bytes, pos: int) -> tuple[int, int] | None:
    """(value, new position) of the varlen integer at ``buf[pos]``; None if ``buf`` is too short.

    Raises
    ------
    ValueError
        The width byte is not 1, 4 or 8.
    """
    if pos >= len(buf):
        return None
    width = buf[pos]
    if width not in (1, 4, 8):
        raise ValueError(f"invalid variable-length integer width byte {width}")
    if pos + 1 + width > len(buf):
        return None
    return int.from_bytes(buf[pos + 1:pos + 1 + width], "little"), pos + 1 + width


def chunk(tag: int, content: bytes) -> bytes:
    """One chunk: ``[varlen(len(content) + 2)][uint16 tag][content]``."""
    return varlen(len(content) + 2) + struct.pack("<H", tag) + content


def _xml_text(x: Any) -> str:
    """Text of an XML leaf: floats keep full precision (``repr``), bools are ``true``/``false``."""
    if isinstance(x, (bool, np.bool_)):
        return "true" if x else "false"
    if isinstance(x, (float, np.floating)):
        return repr(float(x))
    if isinstance(x, np.integer):
        return str(int(x))
    return str(x)


def xml_element(tag: str, value: Any) -> str:
    """``value`` as XML: a mapping becomes child elements, a list repeats ``tag``, anything else is escaped text."""
    if not _XML_NAME.match(tag) or tag.lower().startswith("xml"):
        raise ValueError(f"desc key {tag!r} is not a valid XML element name")
    if isinstance(value, Mapping):
        return f"<{tag}>" + "".join(xml_element(str(k), v) for k, v in value.items()) + f"</{tag}>"
    if isinstance(value, (list, tuple)):
        return "".join(xml_element(tag, v) for v in value)
    if value is None:
        return f"<{tag}/>"
    return f"<{tag}>{escape(_xml_text(value))}</{tag}>"
