"""A minimal, crash-safe XDF 1.0 writer (ours: no general XDF writer exists on PyPI).

LabRecorder (bundled with ``mne-lsl[record]``) records only what arrives over the network; affectstream must also
write files offline (simulated sessions, converted data, benchmarks) and record the live session's own streams, so
it writes XDF itself, in the chunk layout of :mod:`affectstream.core.xdf_format`.

Crash safety
------------
:meth:`XDFWriter.write` only buffers; :meth:`XDFWriter.flush` encodes every buffered sample and clock offset into
complete chunks, appends a Boundary chunk, and hands the whole bundle to the kernel with unbuffered ``os.write``
calls. After ``flush()`` returns, the bytes are in the operating system's page cache, so a process killed with
SIGKILL (or a Python crash) loses nothing that was flushed; ``fsync=True`` also survives a power cut, at the
cost of a disk sync per flush. The header chunks are written at once, so the file is a valid XDF from the first
flush on, and ``pyxdf.load_xdf`` reads a file that never got its footers (footers are optional). By default
``write`` and a small background thread also flush by themselves once ``flush_interval_s`` (1 s) has passed since the
last flush, so a caller that forgets to flush, or whose streams stall, still loses at most about a second. Each
flush is a single ``os.write`` of complete chunks, so a kill can only tear the file if it lands inside that system
call; :func:`affectstream.core.xdf_reader.load_recording` then refuses the file with a message naming the torn
chunk, and ``allow_truncated=True`` loads everything before it.

Errors
------
Every failure to write (disk full, file system gone read-only, I/O error) raises :class:`XDFWriteError`, an
``OSError`` whose message names the file, the cause and how much of the recording is safely on disk; the writer
then refuses further writes (a chunk may be half-written, and appending after it would corrupt the file).
"""

from __future__ import annotations

import errno
import math
import os
import re
import socket
import struct
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from affectstream.core.xdf_format import (BOUNDARY_UUID, CHANNEL_FORMATS, TAG_BOUNDARY, TAG_CLOCK_OFFSET,
                                          TAG_FILE_HEADER, TAG_SAMPLES, TAG_STREAM_FOOTER, TAG_STREAM_HEADER,
                                          chunk, varlen, xml_element)

#: Buffered samples above this many bytes are flushed at once, so recording video never holds much in memory.
MAX_BUFFER_BYTES = 32 * 2 ** 20

class XDFWriteError(OSError):
    """Writing the XDF file failed (disk full, I/O error, closed writer); the message says what is safely stored."""


def lsl_clock() -> float:
    """The LSL clock when liblsl is already loaded, else ``time.monotonic()`` (the same clock on Linux).

    liblsl's ``local_clock`` is ``std::chrono::steady_clock``, which on Linux is CLOCK_MONOTONIC, as is
    ``time.monotonic``; importing liblsl just for a header field would cost a second.
    """
    lsl = sys.modules.get("mne_lsl.lsl")
    if lsl is not None:
        try:
            return float(lsl.local_clock())
        except Exception:  # noqa: BLE001 - fall back to the same clock read by Python
            pass
    return time.monotonic()


@dataclass
class _Stream:
    stream_id: int
    name: str
    channel_count: int
    channel_format: str
    dtype: np.dtype | None
    pending_data: list = field(default_factory=list)
    pending_times: list = field(default_factory=list)
    pending_bytes: int = 0
    pending_offsets: list = field(default_factory=list)
    offsets: list = field(default_factory=list)  #: every (collection_time, offset), for the footer
    first_timestamp: float = math.nan
    last_timestamp: float = math.nan
    sample_count: int = 0  #: samples written to disk


class XDFWriter:
    """Write an XDF 1.0 file stream by stream, crash-safely (see the module notes).

    Parameters
    ----------
    path : str | Path
        The file to create (parent folders are made). An existing file is replaced unless ``overwrite=False``.
    overwrite : bool
        Refuse to replace an existing file when False.
    flush_interval_s : float | None
        Buffered data is flushed by itself once it is this many wall seconds old: by :meth:`write`, and by a
        background thread when no write comes (a stalled stream must not keep its last second in memory). None
        only flushes when asked (and when the buffer exceeds ``MAX_BUFFER_BYTES``), with no thread.
    fsync : bool
        ``os.fsync`` after every flush (survives a power cut, not only a crash).
    header : dict | None
        Extra FileHeader fields (e.g. ``{"subject": "01"}``).

    Examples
    --------
    >>> with XDFWriter("rec.xdf") as w:                                   # doctest: +SKIP
    ...     eeg = w.add_stream("EEG", "EEG", 32, 256.0, "float32", "amp-1", labels=names)
    ...     w.write(eeg, data, stamps)   # data (n, 32), stamps (n,)
    ...     w.flush()                    # at least once a second
    """

    def __init__(self, path: str | Path, *, overwrite: bool = True, flush_interval_s: float | None = 1.0,
                 fsync: bool = False, header: Mapping[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.flush_interval_s = flush_interval_s
        self.fsync = fsync
        self._streams: dict[int, _Stream] = {}
        self._lock = threading.RLock()
        self._fd: int | None = None
        self._broken: str | None = None
        self.bytes_written = 0
        self._dirty = False
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, flags | getattr(os, "O_CLOEXEC", 0), 0o644)
        except FileExistsError:
            raise XDFWriteError(errno.EEXIST, f"{self.path} already exists (overwrite=False)") from None
        except OSError as exc:
            raise XDFWriteError(exc.errno, f"cannot create XDF file {self.path}: {exc.strerror or exc}") from None
        info = {"version": "1.0", "datetime": datetime.now().astimezone().isoformat(timespec="seconds"),
                "writer": "affectstream XDFWriter", **(header or {})}
        xml = '<?xml version="1.0"?><info>' + "".join(xml_element(k, v) for k, v in info.items()) + "</info>"
        self._last_flush = time.monotonic()
        self._write_bytes(b"XDF:" + chunk(TAG_FILE_HEADER, xml.encode("utf-8")))
        self._stop_flusher = threading.Event()
        self._flusher: threading.Thread | None = None
        if flush_interval_s is not None:
            if not flush_interval_s > 0:
                raise ValueError(f"flush_interval_s must be > 0 or None, got {flush_interval_s}")
            self._flusher = threading.Thread(target=self._flush_loop, name=f"xdf-flush-{self.path.name}",
                                             daemon=True)
            self._flusher.start()

    # -- streams -----------------------------------------------------------------------------------------------

    def add_stream(self, name: str, stype: str, channel_count: int, nominal_srate: float, channel_format: str,
                   source_id: str, labels: Sequence[str] | None = None, units: Sequence[str] | None = None,
                   types: Sequence[str] | None = None, desc: Mapping[str, Any] | None = None, *,
                   stream_id: int | None = None, hostname: str | None = None,
                   created_at: float | None = None) -> int:
        """Declare a stream and write its StreamHeader now; returns its stream id.

        Parameters
        ----------
        name, stype : str
            Stream name and type (``EEG``, ``Markers``, ``Video``, ``GroundTruth``, ``Affect`` ...).
        channel_count : int
            Values per sample (a video stream: width x height x channels).
        nominal_srate : float
            Hz; 0 for an irregular stream (markers).
        channel_format : str
            ``int8``, ``int16``, ``int32``, ``int64``, ``float32``, ``double64`` or ``string``.
        source_id : str
            The device's stable id.
        labels, units, types : sequence of str | None
            Per-channel metadata, written as ``desc/channels/channel/{label,unit,type}``.
        desc : dict | None
            Further ``desc`` fields (``synthetic``, video ``width``/``height``/``channels``/``color_order`` ...);
            nested dicts become nested elements, lists repeat the element.
        stream_id : int | None
            Explicit id (uint32); by default 1, 2, 3 ...
        hostname, created_at : optional
            Default: this machine's name and the LSL clock now.
        """
        if channel_format not in CHANNEL_FORMATS:
            raise ValueError(f"channel_format {channel_format!r} is not an XDF format; use one of "
                             f"{', '.join(CHANNEL_FORMATS)}")
        if int(channel_count) < 1:
            raise ValueError(f"stream {name!r}: channel_count must be >= 1, got {channel_count}")
        if not (math.isfinite(nominal_srate) and nominal_srate >= 0):
            raise ValueError(f"stream {name!r}: nominal_srate must be >= 0 (0 = irregular), got {nominal_srate}")
        channel_count = int(channel_count)
        for what, seq in (("labels", labels), ("units", units), ("types", types)):
            if seq is not None and len(seq) != channel_count:
                raise ValueError(f"stream {name!r}: {len(seq)} {what} for {channel_count} channels")
        with self._lock:
            self._check_open()
            sid = (max(self._streams, default=0) + 1) if stream_id is None else int(stream_id)
            if not 0 <= sid < 2 ** 32:
                raise ValueError(f"stream id must fit in uint32, got {sid}")
            if sid in self._streams:
                raise ValueError(f"stream id {sid} is already used by {self._streams[sid].name!r}")
            info: dict[str, Any] = {
                "name": name, "type": stype, "channel_count": channel_count, "nominal_srate": float(nominal_srate),
                "channel_format": channel_format, "source_id": source_id, "version": 1.1,
                "created_at": lsl_clock() if created_at is None else float(created_at),
                "uid": str(uuid.uuid4()), "session_id": "default",
                "hostname": socket.gethostname() if hostname is None else hostname,
            }
            desc_xml = ""
            if labels is not None or units is not None or types is not None:
                channels = []
                for i in range(channel_count):
                    ch = {}
                    for key, seq in (("label", labels), ("unit", units), ("type", types)):
                        if seq is not None:
                            ch[key] = seq[i]
                    channels.append(ch)
                desc_xml += xml_element("channels", {"channel": channels})
            for key, value in (desc or {}).items():
                if key == "channels" and desc_xml.startswith("<channels>"):
                    raise ValueError(f"stream {name!r}: give channel metadata either as labels/units/types or as "
                                     "desc['channels'], not both")
                desc_xml += xml_element(str(key), value)
            xml = ('<?xml version="1.0"?><info>' + "".join(xml_element(k, v) for k, v in info.items())
                   + f"<desc>{desc_xml}</desc></info>")
            self._write_bytes(chunk(TAG_STREAM_HEADER, struct.pack("<I", sid) + xml.encode("utf-8")))
            self._streams[sid] = _Stream(sid, name, channel_count, channel_format, CHANNEL_FORMATS[channel_format])
            return sid

    # -- data ----------------------------------------------------------------------------------------------------

    def write(self, stream_id: int, data, timestamps) -> None:
        """Buffer samples with their timestamps (written at the next :meth:`flush`).

        ``data`` is an array (n, channel_count) (one sample may be given as (channel_count,)) or, for a string
        stream, a list of n strings (one channel) or of n lists of strings. An int8 stream accepts uint8 data
        as-is (the project's video contract: uint8 pixels carried as int8), reinterpreting the bytes.
        """
        with self._lock:
            self._check_open()
            s = self._stream(stream_id)
            stamps = np.atleast_1d(np.asarray(timestamps, dtype=np.float64))
            if stamps.ndim != 1:
                raise ValueError(f"stream {s.name!r}: timestamps must be 1-D, got shape {stamps.shape}")
            if s.dtype is None:
                rows = self._string_rows(s, data)
                nbytes = sum(len(v) + 9 for row in rows for v in row)
            else:
                rows = self._numeric_rows(s, data)
                nbytes = rows.nbytes
            if len(rows) != len(stamps):
                raise ValueError(f"stream {s.name!r}: {len(rows)} samples but {len(stamps)} timestamps")
            if len(stamps) == 0:
                return
            if not np.isfinite(stamps).all():
                raise ValueError(f"stream {s.name!r}: timestamps must be finite")
            s.pending_data.append(rows)
            s.pending_times.append(stamps)
            s.pending_bytes += nbytes + 9 * len(stamps)
            if sum(x.pending_bytes for x in self._streams.values()) > MAX_BUFFER_BYTES or (
                    self.flush_interval_s is not None
                    and time.monotonic() - self._last_flush >= self.flush_interval_s):
                self.flush()

    @staticmethod
    def _numeric_rows(s: _Stream, data) -> np.ndarray:
        arr = np.asarray(data)
        if arr.ndim == 1 and arr.shape[0] == s.channel_count:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != s.channel_count:
            raise ValueError(f"stream {s.name!r} has {s.channel_count} channels; got data of shape {arr.shape}")
        if s.channel_format == "int8" and arr.dtype == np.uint8:
            arr = arr.view(np.int8)
        elif arr.dtype != s.dtype:
            if s.dtype.kind == "i" and arr.dtype.kind == "f":
                raise ValueError(f"stream {s.name!r} is {s.channel_format}; refusing to truncate float data "
                                 "silently (convert it first)")
            arr = arr.astype(s.dtype)
        return np.ascontiguousarray(arr, dtype=s.dtype)

    @staticmethod
    def _string_rows(s: _Stream, data) -> list[list[bytes]]:
        if isinstance(data, (str, bytes)):
            data = [data]
        rows = []
        for item in data:
            row = [item] if isinstance(item, (str, bytes)) else list(item)
            if len(row) != s.channel_count:
                raise ValueError(f"string stream {s.name!r} has {s.channel_count} channels; got a sample of "
                                 f"{len(row)}")
            rows.append([v if isinstance(v, bytes) else str(v).encode("utf-8") for v in row])
        return rows

    def clock_offset(self, stream_id: int, collection_time: float, offset: float) -> None:
        """Record a clock offset (recorder clock minus the stream's clock at ``collection_time``)."""
        with self._lock:
            self._check_open()
            s = self._stream(stream_id)
            s.pending_offsets.append((float(collection_time), float(offset)))
            s.pending_bytes += 24

    def flush(self) -> None:
        """Write every buffered sample and clock offset as complete chunks, then a Boundary chunk."""
        with self._lock:
            self._check_open()
            parts = []
            for s in self._streams.values():
                if s.pending_times:
                    parts.append(self._samples_chunk(s))
                for t, off in s.pending_offsets:
                    parts.append(chunk(TAG_CLOCK_OFFSET, struct.pack("<Idd", s.stream_id, t, off)))
                s.offsets += s.pending_offsets
                s.pending_offsets = []
                s.pending_bytes = 0
            if parts:
                parts.append(chunk(TAG_BOUNDARY, BOUNDARY_UUID))
                self._write_bytes(b"".join(parts))
                if self.fsync:
                    self._sync()
            self._last_flush = time.monotonic()

    def _samples_chunk(self, s: _Stream) -> bytes:
        stamps = np.concatenate(s.pending_times)
        n = len(stamps)
        if s.dtype is None:
            body = bytearray()
            for row, ts in zip((r for rows in s.pending_data for r in rows), stamps):
                body += b"\x08" + struct.pack("<d", ts)
                for v in row:
                    body += varlen(len(v)) + v
            payload = bytes(body)
        else:
            values = np.concatenate(s.pending_data) if len(s.pending_data) > 1 else s.pending_data[0]
            rec = np.empty(n, dtype=np.dtype([("flag", "u1"), ("ts", "<f8"),
                                              ("v", s.dtype, (s.channel_count,))]))  # packed: no padding
            rec["flag"] = 8
            rec["ts"] = stamps
            rec["v"] = values
            payload = rec.tobytes()
        s.pending_data, s.pending_times = [], []
        if s.sample_count == 0:
            s.first_timestamp = float(stamps[0])
        s.last_timestamp = float(stamps[-1])
        s.sample_count += n
        return chunk(TAG_SAMPLES, struct.pack("<I", s.stream_id) + varlen(n) + payload)

    def _flush_loop(self) -> None:
        """Background flush of data that waited ``flush_interval_s`` (errors surface on the next call)."""
        while not self._stop_flusher.wait(self.flush_interval_s / 4):
            with self._lock:
                if self._fd is None or self._broken is not None:
                    return
                pending = any(st.pending_times or st.pending_offsets for st in self._streams.values())
                if pending and time.monotonic() - self._last_flush >= self.flush_interval_s:
                    try:
                        self.flush()
                    except OSError:
                        return  # _broken is set: the next write/flush/close raises XDFWriteError

    def close(self) -> None:
        """Flush, write one StreamFooter per stream and close the file (idempotent)."""
        self._stop_flusher.set()
        if self._flusher is not None and self._flusher is not threading.current_thread():
            self._flusher.join(5.0)
        with self._lock:
            if self._fd is None:
                return
            try:
                if self._broken is None:
                    self.flush()
                    footers = []
                    for s in self._streams.values():
                        offsets = "".join(f"<offset><time>{t!r}</time><value>{v!r}</value></offset>"
                                          for t, v in s.offsets)
                        first = s.first_timestamp if s.sample_count else 0.0
                        last = s.last_timestamp if s.sample_count else 0.0
                        xml = (f'<?xml version="1.0"?><info><first_timestamp>{first!r}</first_timestamp>'
                               f"<last_timestamp>{last!r}</last_timestamp><sample_count>{s.sample_count}"
                               f"</sample_count><clock_offsets>{offsets}</clock_offsets></info>")
                        footers.append(chunk(TAG_STREAM_FOOTER, struct.pack("<I", s.stream_id) + xml.encode()))
                    if footers:
                        self._write_bytes(b"".join(footers))
                    self._sync()
            finally:
                fd, self._fd = self._fd, None
                os.close(fd)

    # -- plumbing ------------------------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._fd is None

    def sample_count(self, stream_id: int) -> int:
        """Samples of ``stream_id`` already written to disk (buffered ones not included)."""
        return self._stream(stream_id).sample_count

    def _stream(self, stream_id: int) -> _Stream:
        try:
            return self._streams[stream_id]
        except KeyError:
            raise ValueError(f"no stream with id {stream_id} in {self.path} (known: {list(self._streams)})") \
                from None

    def _check_open(self) -> None:
        if self._broken is not None:
            raise XDFWriteError(errno.EIO, f"{self.path}: an earlier write failed ({self._broken}); the recording "
                                           f"stopped at {self.bytes_written} bytes and the writer accepts no more data")
        if self._fd is None:
            raise XDFWriteError(errno.EBADF, f"{self.path}: the XDF writer is closed")

    def _write_bytes(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
                self.bytes_written += n
        except OSError as exc:
            self._broken = exc.strerror or str(exc)
            hint = " (disk full)" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else ""
            raise XDFWriteError(
                exc.errno, f"cannot write XDF file {self.path}: {exc.strerror or exc}{hint}; the recording up to "
                           f"the last complete flush ({self.bytes_written} bytes) stays readable") from None
        self._dirty = True

    def _sync(self) -> None:
        if not self._dirty:
            return
        try:
            os.fsync(self._fd)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.EROFS):  # special files (pipes, /dev/null) cannot sync
                self._broken = exc.strerror or str(exc)
                raise XDFWriteError(exc.errno, f"cannot sync XDF file {self.path}: {exc.strerror or exc}") \
                    from None
        self._dirty = False

    def __enter__(self) -> XDFWriter:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is not None and self._fd is not None and self._broken is None:
            try:
                self.close()
            except OSError:
                fd, self._fd = self._fd, None
                if fd is not None:
                    os.close(fd)
            return
        self.close()

    def __del__(self) -> None:
        stop = getattr(self, "_stop_flusher", None)
        if stop is not None:
            stop.set()
        fd = getattr(self, "_fd", None)
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass


_ID_RE = re.compile(r"[^A-Za-z0-9]")


def _bids_label(value: str | int, what: str) -> str:
    text = _ID_RE.sub("", str(value))
    if not text:
        raise ValueError(f"{what} {value!r} has no letters or digits to put in a file name")
    return text


def recording_path(root: str | Path = "recordings", subject: str | int = "01", session: str | int = 1,
                   task: str = "affect", when: datetime | None = None) -> Path:
    """``<root>/sub-<id>_ses-<n>_task-<name>_<YYYYmmddTHHMMSS>.xdf`` (BIDS-like entities, alphanumeric only).

    Characters other than letters and digits are dropped from each entity (BIDS forbids ``_``, ``-`` and spaces
    inside labels); the local time stamp keeps two recordings of the same session apart.
    """
    when = when or datetime.now()
    name = (f"sub-{_bids_label(subject, 'subject')}_ses-{_bids_label(session, 'session')}_"
            f"task-{_bids_label(task, 'task')}_{when.strftime('%Y%m%dT%H%M%S')}.xdf")
    return Path(root) / name
