"""Read any XDF file pyxdf can read into a neutral structure (:mod:`affectstream.core.xdf_recording`).

Loading
-------
``pyxdf.load_xdf(path, synchronize_clocks=True, handle_clock_resets=True, dejitter_timestamps=False)``:

* **Clock offsets are applied** (pyxdf's robust fit of the ClockOffset chunks, with clock-reset handling), so
  streams recorded from several machines share the recorder's clock and the EEG lines up with the video and the
  markers. If pyxdf's synchronisation fails on odd offsets, the file is loaded again without it and a note says so.
* **No dejittering**: the timestamps stay those the recorder received, which are what a live inlet hands the
  pipeline (:class:`affectstream.pipelines.sources.lsl.LSLInlet` uses the ``clocksync`` flag only), so a replay
  feeds the pipeline the same stream times as the live run. Hops are driven by sample counts, so jitter does not
  move them anyway.

Before pyxdf sees the file, :func:`scan_chunks` walks its chunk structure with seeks only, checking the magic bytes,
every chunk length against the file size, the stream headers, and every Samples chunk's declared sample count
against its length. pyxdf trusts those numbers (it allocates ``n_samples`` entries before reading them and reads
``length`` bytes at once), so a corrupt length could make it allocate gigabytes or misparse the rest; instead the
scan turns every such defect into one :class:`XDFFormatError` naming the byte offset; header XML that declares a DTD
is refused unparsed (entity expansion). pyxdf then decodes each Samples chunk from a copy of exactly that chunk's
bytes, and a chunk its decoder does not consume exactly is refused too (:mod:`affectstream.core.xdf_samples`), so no
declared count or string length can push pyxdf off the chunk boundaries the scan checked. A file that simply ends
inside its last chunk (a recorder killed mid-write) is refused the same way unless ``allow_truncated=True``,
which loads the complete chunks before the cut and adds a note.
"""

from __future__ import annotations

import gzip
import io
import logging
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import ParseError, fromstring

from affectstream.core.files import regular_file
from affectstream.core.video import VIDEO_CHANNEL_FORMAT
from affectstream.core.xdf_format import (CHANNEL_FORMATS, TAG_CLOCK_OFFSET, TAG_FILE_HEADER, TAG_SAMPLES,
                                          TAG_STREAM_FOOTER, TAG_STREAM_HEADER, read_varlen)
from affectstream.core.xdf_recording import XDFRecording, classify, plain_xml, stream_from_pyxdf
from affectstream.core.xdf_samples import CorruptChunk, isolated_pyxdf

log = logging.getLogger(__name__)

#: Most XML tags (``<``) the header and footer chunks of a file may hold together. Parsed XML costs a few hundred
#: bytes per element, up to ~100x its own size (pyxdf keeps every header as nested dicts), so this bounds that
#: memory (to ~100 MB); a 1000-channel stream with a label, unit, type and position per channel needs ~20,000.
MAX_XML_TAGS = 200_000
#: Values per sample above which an int8 stream is taken for video (skipped when video is not wanted).
_VIDEO_MIN_VALUES = 4096


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
    #: position after each Samples chunk's stream id -> (chunk start, chunk end), for the isolated pyxdf decoder
    samples: dict[int, tuple[int, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Chunk:
    """Where one chunk lies, and the first bytes of it (length, tag, stream id, first varlen of the content)."""

    start: int
    end: int
    content_start: int  #: where the tag starts
    content_len: int  #: bytes after the tag
    head: bytes
    body: int  #: offset of the tag in ``head``
    sid: int | None  #: stream id of the chunks that carry one


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
        end = _scan_chunk(fh, scan, pos, label)
        if end is None:
            break
        scan.valid_end = pos = end
        fh.seek(pos)
    return scan


def _scan_chunk(fh, scan: ChunkScan, start: int, label: str) -> int | None:
    """Check the chunk at ``start`` (the file positioned there); its end, or None when the file ends inside it."""
    head = fh.read(min(9 + 2 + 4 + 9, scan.size - start))  # length, tag, stream id, first varlen of the content

    def corrupt(why: str) -> XDFFormatError:
        return XDFFormatError(f"{label} is corrupt: chunk {scan.chunks + 1} at byte {start}: {why}")

    try:
        got = read_varlen(head, 0)
    except ValueError as exc:
        raise corrupt(str(exc)) from None
    if got is None:
        scan.truncation = f"the file ends inside the length field of chunk {scan.chunks + 1} at byte {start}"
        return None
    length, body = got
    content_start = start + body  # the tag starts here
    end = content_start + length
    if length < 2:
        raise corrupt(f"declared length {length} is shorter than the 2-byte tag")
    if end > scan.size:
        scan.truncation = (f"chunk {scan.chunks + 1} at byte {start} declares {length} bytes but only "
                           f"{scan.size - content_start} remain")
        return None
    if len(head) < body + 2:
        raise corrupt("chunk header cut short")  # cannot happen when end <= size; kept for safety
    tag = struct.unpack_from("<H", head, body)[0]
    content_len = length - 2
    sid = None
    if tag in (TAG_STREAM_HEADER, TAG_SAMPLES, TAG_CLOCK_OFFSET, TAG_STREAM_FOOTER):
        if content_len < 4:
            raise corrupt(f"tag {tag} chunk of {content_len} bytes has no room for its stream id")
        sid = struct.unpack_from("<I", head, body + 2)[0]
        if tag != TAG_STREAM_HEADER and sid not in scan.streams:
            raise corrupt(f"tag {tag} chunk refers to stream id {sid}, which has no StreamHeader before it")
    found = _Chunk(start, end, content_start, content_len, head, body, sid)
    if tag in (TAG_FILE_HEADER, TAG_STREAM_HEADER, TAG_STREAM_FOOTER):
        _check_xml(fh, scan, tag, found, corrupt)
    elif tag == TAG_SAMPLES:
        _check_samples(scan, found, corrupt)
    elif tag == TAG_CLOCK_OFFSET and content_len != 20:
        raise corrupt(f"ClockOffset chunk of {content_len} bytes (expected 20)")
    scan.chunks += 1
    scan.tags[tag] += 1
    return end


def _check_xml(fh, scan: ChunkScan, tag: int, found: _Chunk, corrupt: Callable[[str], XDFFormatError]) -> None:
    """Bound and parse the XML of a header or footer chunk (pyxdf parses footers too, ignoring their errors)."""
    kind = {TAG_FILE_HEADER: "FileHeader", TAG_STREAM_HEADER: "StreamHeader", TAG_STREAM_FOOTER: "StreamFooter"}[tag]
    fh.seek(found.content_start + 2)
    xml = fh.read(found.content_len)
    if tag != TAG_FILE_HEADER:
        xml = xml[4:]
    scan.xml_tags += xml.count(b"<")
    if scan.xml_tags > MAX_XML_TAGS:
        raise corrupt(f"the header and footer XML holds more than {MAX_XML_TAGS} tags in all; XDF headers "
                      "hold a few per channel")
    if b"<!DOCTYPE" in xml:
        # XDF headers never declare a DTD; refused before parsing because a DTD's entities can expand
        # a few hundred bytes into tens of MB before expat's amplification limit stops them.
        raise corrupt(f"{kind} XML declares a DTD (<!DOCTYPE>), which XDF headers never use")
    if tag == TAG_STREAM_FOOTER:
        return
    try:
        root = fromstring(xml.decode("utf-8", "replace"))
    except ParseError as exc:
        raise corrupt(f"{kind} XML is malformed ({exc})") from None
    if tag == TAG_STREAM_HEADER:
        _register_stream(scan, root, found.sid, corrupt)


def _register_stream(scan: ChunkScan, root, sid: int, corrupt: Callable[[str], XDFFormatError]) -> None:
    """Record a StreamHeader's name, channel count and format, which the stream's Samples chunks are checked by."""
    name = _header_field(root, "name") or f"<unnamed id {sid}>"
    fmt = _header_field(root, "channel_format")
    try:
        n_ch = int(_header_field(root, "channel_count") or "")
        float(_header_field(root, "nominal_srate") or "")
    except ValueError:
        raise corrupt(f"StreamHeader of {name!r} (id {sid}) lacks a numeric channel_count or "
                      "nominal_srate") from None
    if fmt not in CHANNEL_FORMATS:
        raise corrupt(f"StreamHeader of {name!r} (id {sid}) has unknown channel_format {fmt!r}")
    if n_ch < 1:
        raise corrupt(f"StreamHeader of {name!r} (id {sid}) declares {n_ch} channels")
    if sid in scan.streams:
        raise corrupt(f"a second StreamHeader for stream id {sid}")
    scan.streams[sid] = (name, n_ch, fmt)


def _check_samples(scan: ChunkScan, found: _Chunk, corrupt: Callable[[str], XDFFormatError]) -> None:
    """Check that a Samples chunk's declared sample count can occupy its bytes, and note where it lies."""
    name, n_ch, fmt = scan.streams[found.sid]
    body = found.body
    rest = found.content_len - 4
    try:
        got = read_varlen(found.head, body + 6)
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
        per = n_ch * CHANNEL_FORMATS[fmt].itemsize
        lo, hi = n * (1 + per), n * (9 + per)
        if per > max(rest, 1):
            raise corrupt(f"stream {name!r} declares {n_ch} {fmt} channels ({per} bytes per sample), more "
                          f"than its Samples chunk holds ({rest} bytes)")
    if rest < lo or (hi is not None and rest > hi):
        raise corrupt(f"Samples chunk of {name!r} declares {n} samples of {n_ch} {fmt} channel(s), which "
                      f"cannot occupy its {rest} bytes")
    scan.samples[found.content_start + 6] = (found.start, found.end)


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
# Loading
# --------------------------------------------------------------------------------------------------------------


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
        Decode numeric Samples chunks vectorised (same result as pyxdf; see :mod:`affectstream.core.xdf_samples`).

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    XDFFormatError
        Not an XDF file, or corrupt or truncated (one line naming the byte offset and the defect); a folder, device
        or pipe, or a file this process may not read (one line naming the path).
    """
    path = Path(path)
    regular_file(path, "XDF file", XDFFormatError)  # a pipe would block the read; no permission, a traceback
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
    if scan.tags[TAG_FILE_HEADER] == 0:
        notes.append(f"{path.name} has no FileHeader chunk (not XDF-conformant; read anyway)")
    select = None if select_video else _streams_without_video(scan, notes)
    raw_streams, header, synchronized = _read_with_pyxdf(path, fh, scan, select, synchronize_clocks, fast, notes)
    streams = []
    for raw in raw_streams:
        try:
            streams.append(stream_from_pyxdf(raw, notes))
        except Exception as exc:  # noqa: BLE001 - one bad stream must not hide the others
            notes.append(f"stream id {raw.get('info', {}).get('stream_id')}: could not be converted ({exc}); skipped")
    rec = XDFRecording(path=path, header=plain_xml((header or {}).get("info", {})) or {}, streams=streams,
                       synchronized=synchronized)
    classify(rec)
    rec.notes[:0] = notes
    return rec


def _streams_without_video(scan: ChunkScan, notes: list[str]) -> list[int] | None:
    """pyxdf's ``select_streams`` for every stream but the video ones (None: all of them)."""
    select = [sid for sid, (name, n_ch, fmt) in scan.streams.items()
              if not (fmt == VIDEO_CHANNEL_FORMAT and n_ch > _VIDEO_MIN_VALUES)]
    skipped = [scan.streams[sid][0] for sid in scan.streams if sid not in select]
    if skipped:
        notes.append(f"video stream(s) {', '.join(map(repr, skipped))} not loaded (video not wanted)")
    if not select:
        return None if not scan.streams else [-1]
    return select


def _pyxdf_load(fh, scan: ChunkScan, select: list[int] | None, sync: bool, fast: bool,
                name: str) -> tuple[tuple[list, Any], list[str]]:
    """``pyxdf.load_xdf`` on the complete chunks of ``fh``, isolated; returns its result and its log lines."""
    import pyxdf

    capture = _Capture()
    pyxdf_log = logging.getLogger("pyxdf.pyxdf")
    old_propagate = pyxdf_log.propagate
    pyxdf_log.addHandler(capture)
    pyxdf_log.propagate = False
    try:
        reader = io.BufferedReader(_Prefix(fh, scan.valid_end), buffer_size=1 << 16)
        fh.seek(0)
        with isolated_pyxdf(scan.samples, vectorised=fast):
            return pyxdf.load_xdf(reader, select_streams=select, synchronize_clocks=sync,
                                  dejitter_timestamps=False, verbose=None), capture.lines
    except CorruptChunk as exc:
        raise XDFFormatError(f"{name} is corrupt: {exc}") from None
    finally:
        pyxdf_log.removeHandler(capture)
        pyxdf_log.propagate = old_propagate


def _read_with_pyxdf(path: Path, fh, scan: ChunkScan, select: list[int] | None, synchronize_clocks: bool,
                     fast: bool, notes: list[str]) -> tuple[list, Any, bool]:
    """(pyxdf's streams, its header, whether clocks were synchronised); retries without clock synchronisation
    when it fails, and closes ``fh``."""
    synchronized = synchronize_clocks
    try:
        try:
            (raw_streams, header), lines = _pyxdf_load(fh, scan, select, synchronize_clocks, fast, path.name)
        except (MemoryError, XDFFormatError):
            raise
        except Exception as exc:  # noqa: BLE001 - retry without sync, then report one line
            if not synchronize_clocks:
                raise XDFFormatError(f"{path.name} could not be read by pyxdf: {type(exc).__name__}: {exc}") \
                    from None
            fh.close()
            fh, _ = _open(path)
            try:
                (raw_streams, header), lines = _pyxdf_load(fh, scan, select, False, fast, path.name)
            except Exception as exc2:  # noqa: BLE001
                raise XDFFormatError(f"{path.name} could not be read by pyxdf: {type(exc2).__name__}: {exc2}") \
                    from None
            synchronized = False
            notes.append(f"clock synchronisation failed ({type(exc).__name__}: {exc}); timestamps are as recorded, "
                         "without clock offsets")
    finally:
        fh.close()
    notes += [f"pyxdf: {line}" for line in lines]
    return raw_streams, header, synchronized
