"""pyxdf's Samples-chunk decoder, confined to the bytes of one chunk and vectorised where the layout allows.

:func:`affectstream.core.xdf_reader.load_recording` runs pyxdf inside :func:`isolated_pyxdf`: every Samples chunk
is decoded from a copy of exactly the bytes the structural scan checked, so no declared sample count or string
length can push pyxdf off the chunk boundaries, and the common numeric layout is decoded in one numpy call.
"""

from __future__ import annotations

import io
import threading
from contextlib import contextmanager

import numpy as np

_PATCH_LOCK = threading.Lock()


class CorruptChunk(BaseException):
    """A Samples chunk that pyxdf's decoder cannot decode or does not consume exactly; stops the load.

    A BaseException on purpose: pyxdf catches every Exception its Samples decoder raises and then "scans forward"
    for the next Boundary chunk's 16 bytes, which hostile sample bytes can imitate. This one passes through pyxdf,
    and :func:`~affectstream.core.xdf_reader.load_recording` turns it into an
    :class:`~affectstream.core.xdf_reader.XDFFormatError`.
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

    pyxdf decodes a Samples chunk one sample at a time in Python, which dominates the loading of a long EEG
    recording (``affectstream bench`` measures the replay). This reads the chunk as a packed record array
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
    1.5 kB file raised MemoryError). Here the chunk's bytes, whose length
    :func:`~affectstream.core.xdf_reader.scan_chunks` checked, are read first and decoded from memory, and a chunk
    the decoder does not consume exactly stops the load (:class:`CorruptChunk`). ``samples`` maps the file position
    after each Samples chunk's stream id (where pyxdf calls the decoder) to the chunk's (start, end) bytes.
    """

    def read_chunk3(f, s):
        pos = f.tell()
        if pos not in samples:  # pyxdf lost the chunk boundaries the scan found; nothing after this can be trusted
            raise CorruptChunk(f"pyxdf reached a Samples chunk at byte {pos} that the structural scan did not find")
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
            raise CorruptChunk(f"the Samples chunk at byte {start} declares samples that occupy more than its "
                               f"{len(data)} bytes")
        if failure is not None:
            raise CorruptChunk(f"the Samples chunk at byte {start} cannot be decoded ({failure})")
        if chunk_bytes.tell() != len(data):
            raise CorruptChunk(f"the Samples chunk at byte {start} declares samples that occupy "
                               f"{chunk_bytes.tell()} of its {len(data)} bytes")
        return result

    return read_chunk3


@contextmanager
def isolated_pyxdf(samples: dict[int, tuple[int, int]], vectorised: bool):
    """Run pyxdf with :func:`_isolating_read_chunk3` (restored afterwards; plain pyxdf if its internals moved,
    which the hostile-file tests would catch). The patch is process-wide, which is safe because the project reads
    XDF only through :func:`~affectstream.core.xdf_reader.load_recording`, one load at a time."""
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
