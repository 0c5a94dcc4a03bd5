"""Read any XDF file pyxdf can read into a neutral structure, and say which stream is what.

Loading
-------
``pyxdf.load_xdf(path, synchronize_clocks=True, handle_clock_resets=True, dejitter_timestamps=False)``:

* **Clock offsets are applied** (pyxdf's robust fit of the ClockOffset chunks, with clock-reset handling), so
  streams recorded from several machines share the recorder's clock and the EEG lines up with the video and the
  markers. If pyxdf's synchronisation fails on odd offsets, the file is loaded again without it and a note says so.
* **No dejittering**: the timestamps stay those the recorder received, which are what a live inlet hands the
  pipeline (:class:`affectstream.pipelines.sources.lsl.LSLInlet` uses the ``clocksync`` flag only), so a replay feeds the pipeline the
  same stream times as the live run. Hops are driven by sample counts, so jitter does not move them anyway.

Before pyxdf sees the file, :func:`scan_chunks` walks its chunk structure with seeks only, checking the magic bytes,
every chunk length against the file size, the stream headers, and every Samples chunk's declared sample count
against its length. pyxdf trusts those numbers (it allocates ``n_samples`` entries before reading them and reads
``length`` bytes at once), so a corrupt length could make it allocate gigabytes or misparse the rest; instead the
scan turns every such defect into one :class:`XDFFormatError` naming the byte offset; header XML that declares a DTD
is refused unparsed (entity expansion). pyxdf then decodes each Samples chunk from a copy of exactly that chunk's
bytes, and a chunk its decoder does not consume exactly is refused too (:func:`_isolating_read_chunk3`), so no
declared count or string length can push pyxdf off the chunk boundaries the scan checked. A file that simply ends
inside its last chunk (a recorder killed mid-write) is refused the same way unless ``allow_truncated=True``,
which loads the complete chunks before the cut and adds a note.

Classification
--------------
* **EEG**: the numeric stream of type ``EEG`` (case-insensitive) with the most channels; without one, the numeric
  stream with the most channels at >= 100 Hz nominal (a note says the choice was by shape). Channel labels may be
  missing; what the pipeline can do with them is decided by :func:`affectstream.core.montage.map_channels`.
* **Markers**: every string stream, whatever its type.
* **Video**: type ``Video`` in the project's contract (int8 carrying uint8 pixels, one frame per sample, ``desc``
  width/height/channels/color_order, channel_count = w*h*c). Another stream that looks video-related (e.g. the
  int32 ``VideoFrameIndex`` of the EEGLAB test file) is skipped with a one-line note.
* **GroundTruth** and **Affect**: by type.

Every skipped or refused stream gets one line in :attr:`XDFRecording.notes` naming it and the reason.
"""

from __future__ import annotations

import gzip
import io
import logging
import math
import struct
import threading
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError, fromstring

import numpy as np

log = logging.getLogger(__name__)

#: Bytes per value of the numeric XDF channel formats.
_ITEMSIZE = {"int8": 1, "int16": 2, "int32": 4, "int64": 8, "float32": 4, "double64": 8}
#: ``color_order`` values of the project's video contract and the channels each implies (as video_source).
COLOR_ORDERS = {"BGR": 3, "RGB": 3, "GRAY": 1}
#: Lowest nominal rate at which an untyped numeric stream may be taken for EEG.
MIN_EEG_RATE = 100.0
#: Most XML tags (``<``) the header and footer chunks of a file may hold together. Parsed XML costs a few hundred
#: bytes per element, up to ~100x its own size (pyxdf keeps every header as nested dicts), so this bounds that
#: memory (to ~100 MB); a 1000-channel stream with a label, unit, type and position per channel needs ~20,000.
MAX_XML_TAGS = 200_000


class XDFFormatError(ValueError):
    """The file is not a readable XDF file (wrong magic, truncated, corrupt chunk); one line says where and why."""


# --------------------------------------------------------------------------------------------------------------
# Structural scan (no pyxdf, no large reads)
# --------------------------------------------------------------------------------------------------------------


@dataclass
class ChunkScan:
    """What :func:`scan_chunks` found."""

    size: int  #: bytes in the (decompressed) file
    valid_end: int  #: end of the last complete chunk
    chunks: int = 0
    tags: Counter = field(default_factory=Counter)
    streams: dict[int, tuple[str, int, str]] = field(default_factory=dict)  #: id -> (name, channels, format)
    truncation: str | None = None  #: why the file stops early, when it does
    xml_tags: int = 0  #: ``<`` in the header and footer chunks so far (see :data:`MAX_XML_TAGS`)
    #: position after each Samples chunk's stream id -> (chunk start, chunk end), for :func:`_isolating_read_chunk3`
    samples: dict[int, tuple[int, int]] = field(default_factory=dict)


def _varlen(buf: bytes, pos: int) -> tuple[int, int] | None:
    """(value, new position) of the XDF varlen integer at ``buf[pos]``; None if ``buf`` is too short."""
    if pos >= len(buf):
        return None
    width = buf[pos]
    if width not in (1, 4, 8):
        raise ValueError(f"invalid variable-length integer width byte {width}")
    if pos + 1 + width > len(buf):
        return None
    return int.from_bytes(buf[pos + 1:pos + 1 + width], "little"), pos + 1 + width


def _header_field(root, key: str) -> str | None:
    el = root.find(key)
    return None if el is None or el.text is None else el.text.strip()


def scan_chunks(fh, size: int, label: str = "file") -> ChunkScan:
    """Walk the chunks of an open XDF file (positioned anywhere) and validate what pyxdf would trust.

    Raises
    ------
    XDFFormatError
        Wrong magic, an impossible chunk length, malformed header XML, a stream id without a header, or a
        Samples chunk whose declared sample count cannot fit in it. A file that ends inside a chunk is *not*
        raised here; :attr:`ChunkScan.truncation` says so.
    """
    fh.seek(0)
    if size == 0:
        raise XDFFormatError(f"{label} is empty (0 bytes), not an XDF file")
    if fh.read(4) != b"XDF:":
        raise XDFFormatError(f"{label} is not an XDF file (it does not start with the magic bytes 'XDF:')")
    scan = ChunkScan(size=size, valid_end=4)
    pos = 4
    while pos < size:
        start = pos
        head = fh.read(min(9 + 2 + 4 + 9, size - pos))  # length, tag, stream id, first varlen of the content

        def corrupt(why: str) -> XDFFormatError:
            return XDFFormatError(f"{label} is corrupt: chunk {scan.chunks + 1} at byte {start}: {why}")

        try:
            got = _varlen(head, 0)
        except ValueError as exc:
            raise corrupt(str(exc)) from None
        if got is None:
            scan.truncation = f"the file ends inside the length field of chunk {scan.chunks + 1} at byte {start}"
            break
        length, body = got
        content_start = start + body  # the tag starts here
        end = content_start + length
        if length < 2:
            raise corrupt(f"declared length {length} is shorter than the 2-byte tag")
        if end > size:
            scan.truncation = (f"chunk {scan.chunks + 1} at byte {start} declares {length} bytes but only "
                               f"{size - content_start} remain")
            break
        if len(head) < body + 2:
            raise corrupt("chunk header cut short")  # cannot happen when end <= size; kept for safety
        tag = struct.unpack_from("<H", head, body)[0]
        content_len = length - 2
        if tag in (2, 3, 4, 6):
            if content_len < 4:
                raise corrupt(f"tag {tag} chunk of {content_len} bytes has no room for its stream id")
            sid = struct.unpack_from("<I", head, body + 2)[0]
            if tag != 2 and sid not in scan.streams:
                raise corrupt(f"tag {tag} chunk refers to stream id {sid}, which has no StreamHeader before it")
        if tag in (1, 2, 6):  # the XML chunks (pyxdf parses footers too, ignoring their errors)
            kind = {1: "FileHeader", 2: "StreamHeader", 6: "StreamFooter"}[tag]
            fh.seek(content_start + 2)
            xml = fh.read(content_len)
            if tag != 1:
                xml = xml[4:]
            scan.xml_tags += xml.count(b"<")
            if scan.xml_tags > MAX_XML_TAGS:
                raise corrupt(f"the header and footer XML holds more than {MAX_XML_TAGS} tags in all; XDF headers "
                              "hold a few per channel")
            if b"<!DOCTYPE" in xml:
                # XDF headers never declare a DTD; refused before parsing because a DTD's entities can expand
                # a few hundred bytes into tens of MB before expat's amplification limit stops them.
                raise corrupt(f"{kind} XML declares a DTD (<!DOCTYPE>), which XDF headers never use")
        if tag in (1, 2):
            try:
                root = fromstring(xml.decode("utf-8", "replace"))
            except ParseError as exc:
                raise corrupt(f"{kind} XML is malformed ({exc})") from None
            if tag == 2:
                name = _header_field(root, "name") or f"<unnamed id {sid}>"
                fmt = _header_field(root, "channel_format")
                try:
                    n_ch = int(_header_field(root, "channel_count") or "")
                    float(_header_field(root, "nominal_srate") or "")
                except ValueError:
                    raise corrupt(f"StreamHeader of {name!r} (id {sid}) lacks a numeric channel_count or "
                                  "nominal_srate") from None
                if fmt not in _ITEMSIZE and fmt != "string":
                    raise corrupt(f"StreamHeader of {name!r} (id {sid}) has unknown channel_format {fmt!r}")
                if n_ch < 1:
                    raise corrupt(f"StreamHeader of {name!r} (id {sid}) declares {n_ch} channels")
                if sid in scan.streams:
                    raise corrupt(f"a second StreamHeader for stream id {sid}")
                scan.streams[sid] = (name, n_ch, fmt)
        elif tag == 3:
            name, n_ch, fmt = scan.streams[sid]
            rest = content_len - 4
            try:
                got = _varlen(head, body + 6)
            except ValueError as exc:
                raise corrupt(f"Samples chunk of {name!r}: {exc}") from None
            if got is None:
                raise corrupt(f"Samples chunk of {name!r} is too short for its sample count")
            n, after = got
            rest -= after - (body + 6)
            if rest < 0:
                raise corrupt(f"Samples chunk of {name!r} is too short for its sample count")
            if fmt == "string":
                lo, hi = n * (1 + 2 * n_ch), None
            else:
                per = n_ch * _ITEMSIZE[fmt]
                lo, hi = n * (1 + per), n * (9 + per)
                if per > max(rest, 1):
                    raise corrupt(f"stream {name!r} declares {n_ch} {fmt} channels ({per} bytes per sample), more "
                                  f"than its Samples chunk holds ({rest} bytes)")
            if rest < lo or (hi is not None and rest > hi):
                raise corrupt(f"Samples chunk of {name!r} declares {n} samples of {n_ch} {fmt} channel(s), which "
                              f"cannot occupy its {rest} bytes")
            scan.samples[content_start + 6] = (start, end)
        elif tag == 4:
            if content_len != 20:
                raise corrupt(f"ClockOffset chunk of {content_len} bytes (expected 20)")
        scan.chunks += 1
        scan.tags[tag] += 1
        scan.valid_end = end
        pos = end
        fh.seek(pos)
    return scan


class _Prefix(io.RawIOBase):
    """The first ``limit`` bytes of a binary file, as a seekable raw stream (so pyxdf never sees a torn chunk)."""

    def __init__(self, fh, limit: int) -> None:
        self._fh, self._limit, self._pos = fh, limit, 0
        fh.seek(0)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = max(0, min(len(b), self._limit - self._pos))
        if n == 0:
            return 0
        if self._fh.tell() != self._pos:
            self._fh.seek(self._pos)
        got = self._fh.readinto(memoryview(b).cast("B")[:n]) or 0
        self._pos += got
        return got

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._limit}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        if not self.closed:
            self._fh.close()
        super().close()


# --------------------------------------------------------------------------------------------------------------
# The neutral structure
# --------------------------------------------------------------------------------------------------------------


def _plain(x: Any) -> Any:
    """pyxdf's XML dict (every leaf wrapped in a list) as plain dicts, strings and lists."""
    if isinstance(x, list):
        items = [_plain(v) for v in x]
        return items[0] if len(items) == 1 else items
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    return x


def _first(d: Any, key: str, default: str = "") -> str:
    try:
        value = d[key][0]
    except (KeyError, IndexError, TypeError):
        return default
    return default if value is None else str(value).strip()


@dataclass(frozen=True)
class VideoFormat:
    width: int
    height: int
    channels: int
    color_order: str


@dataclass
class XDFStream:
    """One stream of the file, in plain Python/numpy.

    ``data`` is (n, channel_count) in the stream's dtype, or for a string stream a list of n lists of strings;
    ``timestamps`` (n,) float64 in the recorder's clock (clock offsets applied). ``labels``/``units``/``types`` are
    None when the stream declares none. ``desc`` is the header's ``desc`` as plain dicts.
    """

    stream_id: int
    name: str
    type: str
    source_id: str
    hostname: str
    srate: float
    channel_format: str
    channel_count: int
    labels: tuple[str, ...] | None
    units: tuple[str, ...] | None
    types: tuple[str, ...] | None
    desc: dict
    data: Any
    timestamps: np.ndarray
    effective_srate: float = math.nan
    clock_times: tuple[float, ...] = ()
    clock_values: tuple[float, ...] = ()

    @property
    def is_string(self) -> bool:
        return self.channel_format == "string"

    @property
    def n_samples(self) -> int:
        return len(self.timestamps)

    @property
    def duration(self) -> float:
        return float(self.timestamps[-1] - self.timestamps[0]) if self.n_samples > 1 else 0.0

    @property
    def synthetic(self) -> bool:
        return str(self.desc.get("synthetic", "")).strip().lower() == "true"

    def describe(self) -> str:
        rate = f"{self.srate:g} Hz" if self.srate else "irregular"
        return (f"{self.name!r} (id {self.stream_id}, type {self.type!r}, {self.channel_count} ch "
                f"{self.channel_format}, {rate}, {self.n_samples} samples)")

    def text_values(self) -> list[str]:
        """A string stream's samples as single strings (channels joined by ``|``)."""
        return ["|".join("" if v is None else str(v) for v in row) for row in self.data]


@dataclass
class XDFRecording:
    """Every stream of a file, classified for replay, and one note per stream that replay will not use."""

    path: Path
    header: dict
    streams: list[XDFStream]
    eeg: XDFStream | None = None
    markers: list[XDFStream] = field(default_factory=list)
    video: XDFStream | None = None
    video_format: VideoFormat | None = None
    ground_truth: list[XDFStream] = field(default_factory=list)
    affect: list[XDFStream] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    synchronized: bool = True

    def marker_events(self) -> list[tuple[float, str, str]]:
        """Every marker as (time, text, stream name), in time order."""
        events = [(float(t), text, s.name) for s in self.markers for t, text in zip(s.timestamps, s.text_values())]
        return sorted(events, key=lambda e: e[0])

    def marker_counts(self) -> Counter:
        return Counter(text for s in self.markers for text in s.text_values())

    def frame(self, i: int) -> np.ndarray:
        """Video frame ``i`` as uint8 BGR (h, w, 3)."""
        if self.video is None or self.video_format is None:
            raise ValueError(f"{self.path.name} has no project-format Video stream")
        return decode_frame(self.video.data[i], self.video_format)


def decode_frame(sample: np.ndarray, fmt: VideoFormat) -> np.ndarray:
    """One Video sample (int8 pixels) as a uint8 BGR image (h, w, 3)."""
    pixels = np.asarray(sample).view(np.uint8).reshape(fmt.height, fmt.width, fmt.channels)
    if fmt.color_order == "RGB":
        return np.ascontiguousarray(pixels[..., ::-1])
    if fmt.color_order == "GRAY":
        return np.ascontiguousarray(np.repeat(pixels, 3, axis=2))
    return np.ascontiguousarray(pixels)


def video_format(stream: XDFStream) -> VideoFormat:
    """The stream's frame format per the project's Video contract; ValueError (one line) if it breaks it."""
    def refuse(why: str) -> ValueError:
        return ValueError(f"stream {stream.describe()} is not a usable Video stream: {why}")

    if stream.type.lower() != "video":
        raise refuse(f"its type is {stream.type!r}, not 'Video'")
    if stream.channel_format != "int8":
        raise refuse(f"channel format {stream.channel_format}, expected int8 (carrying uint8 pixels)")
    raw = {k: str(stream.desc.get(k, "") or "").strip() for k in ("width", "height", "channels", "color_order")}
    missing = [k for k in ("width", "height", "channels") if not raw[k]]
    if missing:
        raise refuse(f"desc lacks {', '.join(missing)}")
    try:
        width, height, channels = (int(raw[k]) for k in ("width", "height", "channels"))
    except ValueError:
        raise refuse(f"desc width/height/channels are not integers: {raw}") from None
    order = (raw["color_order"] or ("BGR" if channels == 3 else "GRAY")).upper()
    if COLOR_ORDERS.get(order) != channels:
        raise refuse(f"color_order {order!r} with {channels} channels (expected one of {COLOR_ORDERS})")
    if min(width, height) < 1 or stream.channel_count != width * height * channels:
        raise refuse(f"{stream.channel_count} channels != width {width} x height {height} x channels {channels}")
    return VideoFormat(width, height, channels, order)


def _channel_meta(desc_raw: Any, n_ch: int, name: str, notes: list[str]):
    """(labels, units, types) from pyxdf's raw desc; None where the stream declares none."""
    try:
        channels = desc_raw[0]["channels"][0]["channel"]
    except (KeyError, IndexError, TypeError):
        return None, None, None
    if not isinstance(channels, list) or len(channels) != n_ch:
        notes.append(f"stream {name!r}: desc lists {len(channels) if isinstance(channels, list) else '?'} channel "
                     f"entries for {n_ch} channels; channel labels ignored")
        return None, None, None
    out = []
    for key in ("label", "unit", "type"):
        values = tuple(_first(ch, key) if isinstance(ch, dict) else "" for ch in channels)
        out.append(values if any(values) else None)
    return tuple(out)


def _to_stream(raw: dict, notes: list[str]) -> XDFStream:
    info = raw["info"]
    fmt = _first(info, "channel_format")
    n_ch = int(_first(info, "channel_count", "0"))
    name = _first(info, "name", f"<unnamed id {info.get('stream_id')}>")
    desc_raw = info.get("desc")
    desc = _plain(desc_raw) if desc_raw else {}
    if not isinstance(desc, dict):
        desc = {}
    labels, units, types = _channel_meta(desc_raw, n_ch, name, notes)
    series = raw["time_series"]
    if fmt == "string":
        data = [[("" if v is None else v) for v in row] for row in series]
    else:
        data = np.asarray(series)
        if data.ndim == 1:
            data = data.reshape(-1, n_ch)
    try:
        srate = float(_first(info, "nominal_srate", "0"))
    except ValueError:
        srate = 0.0
    eff = info.get("effective_srate")
    return XDFStream(
        stream_id=int(info["stream_id"]), name=name, type=_first(info, "type"), source_id=_first(info, "source_id"),
        hostname=_first(info, "hostname"), srate=srate, channel_format=fmt, channel_count=n_ch, labels=labels,
        units=units, types=types, desc=desc, data=data,
        timestamps=np.asarray(raw["time_stamps"], dtype=np.float64),
        effective_srate=float(eff) if isinstance(eff, (int, float)) else math.nan,
        clock_times=tuple(raw.get("clock_times", ())), clock_values=tuple(raw.get("clock_values", ())),
    )


_PATCH_LOCK = threading.Lock()


class _CorruptChunk(BaseException):
    """A Samples chunk that pyxdf's decoder cannot decode or does not consume exactly; stops the load.

    A BaseException on purpose: pyxdf catches every Exception its Samples decoder raises and then "scans forward"
    for the next Boundary chunk's 16 bytes, which hostile sample bytes can imitate. This one passes through pyxdf,
    and :func:`load_recording` turns it into an :class:`XDFFormatError`.
    """


class _ChunkBytes(io.BytesIO):
    """One Samples chunk's bytes for pyxdf's decoder; remembers whether a read asked for more than was left."""

    overrun = False

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        if size is not None and 0 <= size != len(data):
            self.overrun = True
        return data

    def readinto(self, buffer) -> int:
        got = super().readinto(buffer)
        if got != memoryview(buffer).nbytes:
            self.overrun = True
        return got


def _decode_packed(data: bytes, s) -> tuple[int, np.ndarray, np.ndarray] | None:
    """A numeric Samples chunk's content (after the stream id) decoded in one go, or None if it is not the
    common layout (every sample with its timestamp, nothing left over).

    pyxdf decodes a Samples chunk one sample at a time in Python (~1.5 µs a sample: 0.23 s for ten minutes of
    33-channel EEG, a sixth of a 500x replay's budget). This reads the chunk as a packed record array
    ``(flag u1, stamp <f8, values)`` and, when every flag is non-zero (timestamp present), returns exactly what
    pyxdf would (float64 stamps, values in the stream's native dtype, ``last_timestamp`` updated). Anything else
    is left to pyxdf's own decoder, so the result is always pyxdf's; the tests compare both on every file they load.
    """
    width = data[0] if data else 0
    if width not in (1, 4, 8) or len(data) < 1 + width:
        return None
    n = int.from_bytes(data[1:1 + width], "little")
    rec_dtype = np.dtype([("flag", "u1"), ("ts", "<f8"), ("v", s.dtype_le, (s.nchns,))])
    if n == 0 or len(data) - 1 - width != n * rec_dtype.itemsize:
        return None
    rec = np.frombuffer(data, dtype=rec_dtype, offset=1 + width)
    if not np.all(rec["flag"] != 0):
        return None
    stamps = rec["ts"].astype(np.float64)
    values = rec["v"].reshape(n, s.nchns).astype(s.dtype)
    s.last_timestamp = stamps[-1]
    return n, stamps, values


def _isolating_read_chunk3(original, samples: dict[int, tuple[int, int]], vectorised: bool):
    """pyxdf's Samples decoder run on exactly one chunk's bytes, and vectorised (:func:`_decode_packed`) if asked.

    pyxdf decodes a Samples chunk straight from the file, trusting its declared sample count and string lengths.
    A chunk that holds more or fewer bytes than those imply (the scan can only bound a string chunk's size) left
    pyxdf mid-chunk, reading sample bytes as the next chunk's length and then allocating that many bytes (a
    1.5 kB file raised MemoryError). Here the chunk's bytes, whose length :func:`scan_chunks` checked, are read
    first and decoded from memory, and a chunk the decoder does not consume exactly stops the load
    (:class:`_CorruptChunk`). ``samples`` maps the file position after each Samples chunk's stream id (where
    pyxdf calls the decoder) to the chunk's (start, end) bytes.
    """

    def read_chunk3(f, s):
        pos = f.tell()
        if pos not in samples:  # pyxdf lost the chunk boundaries the scan found; nothing after this can be trusted
            raise _CorruptChunk(f"pyxdf reached a Samples chunk at byte {pos} that the structural scan did not find")
        start, end = samples[pos]
        data = f.read(end - pos)
        if vectorised and s.fmt != "string":
            packed = _decode_packed(data, s)
            if packed is not None:
                return packed
        chunk_bytes = _ChunkBytes(data)
        failure = None
        try:
            result = original(chunk_bytes, s)
        except Exception as exc:  # noqa: BLE001 - whatever the decoder trips on, the chunk is corrupt
            failure = f"{type(exc).__name__}: {exc}"
        if chunk_bytes.overrun:  # how the decoder usually fails here: a count or a string length past the end
            raise _CorruptChunk(f"the Samples chunk at byte {start} declares samples that occupy more than its "
                                f"{len(data)} bytes")
        if failure is not None:
            raise _CorruptChunk(f"the Samples chunk at byte {start} cannot be decoded ({failure})")
        if chunk_bytes.tell() != len(data):
            raise _CorruptChunk(f"the Samples chunk at byte {start} declares samples that occupy "
                                f"{chunk_bytes.tell()} of its {len(data)} bytes")
        return result

    return read_chunk3


@contextmanager
def _isolated_pyxdf(samples: dict[int, tuple[int, int]], vectorised: bool):
    """Run pyxdf with :func:`_isolating_read_chunk3` (restored afterwards; plain pyxdf if its internals moved,
    which the hostile-file tests would catch). The patch is process-wide, which is safe because the project reads
    XDF only through :func:`load_recording`, one load at a time."""
    import pyxdf.pyxdf as impl

    original = getattr(impl, "_read_chunk3", None)
    if original is None:
        yield
        return
    with _PATCH_LOCK:
        impl._read_chunk3 = _isolating_read_chunk3(original, samples, vectorised)
        try:
            yield
        finally:
            impl._read_chunk3 = original


class _Capture(logging.Handler):
    """Collects pyxdf's log records so they become notes instead of stray stderr lines."""

    IGNORE = ("Segments and clock-segments differ",)  # always logged for streams without clock offsets

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage().splitlines()[0] if record.getMessage() else ""
        if msg and not any(s in msg for s in self.IGNORE) and msg not in self.lines:
            self.lines.append(msg)


def _open(path: Path):
    """(binary file object, size) of the XDF payload; .xdfz / .xdf.gz are decompressed into a temporary file."""
    if path.suffix == ".xdfz" or path.suffixes[-2:] == [".xdf", ".gz"]:
        import tempfile

        tmp = tempfile.TemporaryFile()
        try:
            with gzip.open(path, "rb") as src:
                while block := src.read(1 << 20):
                    tmp.write(block)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            tmp.close()
            raise XDFFormatError(f"{path.name} is not a readable gzip-compressed XDF file ({exc})") from None
        size = tmp.tell()
        tmp.seek(0)
        return tmp, size
    fh = path.open("rb")
    fh.seek(0, io.SEEK_END)
    size = fh.tell()
    fh.seek(0)
    return fh, size


def load_recording(path: str | Path, *, synchronize_clocks: bool = True, allow_truncated: bool = False,
                   select_video: bool = True, fast: bool = True) -> XDFRecording:
    """Load and classify an XDF file (see the module notes for the loading choices).

    Parameters
    ----------
    path : str | Path
        ``.xdf`` (or ``.xdfz`` / ``.xdf.gz``).
    synchronize_clocks : bool
        Apply the ClockOffset chunks (default).
    allow_truncated : bool
        Load the complete chunks of a file that ends inside a chunk (a recorder that was killed mid-write)
        instead of refusing it.
    select_video : bool
        Load Video streams' pixels (False skips them, saving memory when the face path is not wanted).
    fast : bool
        Decode numeric Samples chunks vectorised (same result as pyxdf; see :func:`_decode_packed`).

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    XDFFormatError
        Not an XDF file, or corrupt or truncated (one line naming the byte offset and the defect).
    """
    import pyxdf

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no XDF file at {path}")
    fh, size = _open(path)
    notes: list[str] = []
    try:
        scan = scan_chunks(fh, size, path.name)
    except BaseException:
        fh.close()
        raise
    if scan.truncation is not None:
        if not allow_truncated:
            fh.close()
            raise XDFFormatError(f"{path.name} is truncated or corrupt: {scan.truncation} (its {scan.chunks} complete "
                                 "chunks can be loaded with allow_truncated=True)")
        notes.append(f"{path.name}: {scan.truncation}; loaded the {scan.chunks} complete chunks before byte "
                     f"{scan.valid_end} ({size - scan.valid_end} bytes dropped)")
    if scan.tags[1] == 0:
        notes.append(f"{path.name} has no FileHeader chunk (not XDF-conformant; read anyway)")
    select = None
    if not select_video:
        select = [sid for sid, (name, n_ch, fmt) in scan.streams.items() if not (fmt == "int8" and n_ch > 4096)]
        skipped = [scan.streams[sid][0] for sid in scan.streams if sid not in select]
        if skipped:
            notes.append(f"video stream(s) {', '.join(map(repr, skipped))} not loaded (video not wanted)")
        if not select:
            select = None if not scan.streams else [-1]

    def load(sync: bool):
        capture = _Capture()
        pyxdf_log = logging.getLogger("pyxdf.pyxdf")
        old_propagate = pyxdf_log.propagate
        pyxdf_log.addHandler(capture)
        pyxdf_log.propagate = False
        try:
            reader = io.BufferedReader(_Prefix(fh, scan.valid_end), buffer_size=1 << 16)
            fh.seek(0)
            with _isolated_pyxdf(scan.samples, vectorised=fast):
                return pyxdf.load_xdf(reader, select_streams=select, synchronize_clocks=sync,
                                      dejitter_timestamps=False, verbose=None), capture.lines
        except _CorruptChunk as exc:
            raise XDFFormatError(f"{path.name} is corrupt: {exc}") from None
        finally:
            pyxdf_log.removeHandler(capture)
            pyxdf_log.propagate = old_propagate

    synchronized = synchronize_clocks
    try:
        try:
            (raw_streams, header), lines = load(synchronize_clocks)
        except (MemoryError, XDFFormatError):
            raise
        except Exception as exc:  # noqa: BLE001 - retry without sync, then report one line
            if not synchronize_clocks:
                raise XDFFormatError(f"{path.name} could not be read by pyxdf: {type(exc).__name__}: {exc}") \
                    from None
            fh2, _ = _open(path)
            fh = fh2
            try:
                (raw_streams, header), lines = load(False)
            except Exception as exc2:  # noqa: BLE001
                raise XDFFormatError(f"{path.name} could not be read by pyxdf: {type(exc2).__name__}: {exc2}") \
                    from None
            synchronized = False
            notes.append(f"clock synchronisation failed ({type(exc).__name__}: {exc}); timestamps are as recorded, "
                         "without clock offsets")
    finally:
        fh.close()
    notes += [f"pyxdf: {line}" for line in lines]
    streams = []
    for raw in raw_streams:
        try:
            streams.append(_to_stream(raw, notes))
        except Exception as exc:  # noqa: BLE001 - one bad stream must not hide the others
            notes.append(f"stream id {raw.get('info', {}).get('stream_id')}: could not be converted ({exc}); skipped")
    rec = XDFRecording(path=path, header=_plain((header or {}).get("info", {})) or {}, streams=streams,
                       synchronized=synchronized)
    classify(rec)
    rec.notes[:0] = notes
    return rec


def classify(rec: XDFRecording) -> None:
    """Fill ``rec.eeg``, ``markers``, ``video``, ``ground_truth``, ``affect`` and a note for every other stream."""
    notes = rec.notes
    numeric = []
    for s in rec.streams:
        kind = s.type.strip().lower()
        if s.is_string:
            rec.markers.append(s)
            if s.n_samples == 0:
                notes.append(f"marker stream {s.describe()} is empty")
            continue
        if s.n_samples == 0:
            notes.append(f"stream {s.describe()} has no samples; skipped")
            continue
        if kind == "video":
            try:
                fmt = video_format(s)
            except ValueError as exc:
                notes.append(f"{exc}; skipped")
                continue
            if rec.video is not None:
                notes.append(f"stream {s.describe()}: a second Video stream; only {rec.video.name!r} is used")
                continue
            rec.video, rec.video_format = s, fmt
        elif kind == "groundtruth":
            rec.ground_truth.append(s)
        elif kind == "affect":
            rec.affect.append(s)
        elif "video" in kind or "video" in s.name.lower():
            notes.append(f"stream {s.describe()} is not a Video stream in the project's format (type 'Video', int8 "
                         "pixels, width/height/channels in desc); skipped")
        else:
            numeric.append(s)
    typed = [s for s in numeric if s.type.strip().lower() == "eeg"]
    if typed:
        rec.eeg = max(typed, key=lambda s: s.channel_count)
    else:
        candidates = [s for s in numeric if s.srate >= MIN_EEG_RATE]
        if candidates:
            rec.eeg = max(candidates, key=lambda s: s.channel_count)
            notes.append(f"no stream of type 'EEG'; using {rec.eeg.describe()}, the numeric stream with the most "
                         f"channels at >= {MIN_EEG_RATE:g} Hz")
    for s in numeric:
        if s is not rec.eeg:
            why = ("another EEG stream (the one with the most channels is used)" if s.type.strip().lower() == "eeg"
                   else "not used by replay")
            notes.append(f"stream {s.describe()}: {why}")
    if rec.eeg is None:
        notes.append(f"{rec.path.name}: no EEG stream (no non-empty numeric stream of type 'EEG' or at >= "
                     f"{MIN_EEG_RATE:g} Hz)")
