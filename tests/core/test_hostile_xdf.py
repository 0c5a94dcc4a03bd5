"""Hostile and broken XDF files (issue 10, item 4): each loads or gives one XDFFormatError line, in bounded memory.

Property tests (hypothesis) mutate a small valid XDF file written by the project's own writer: flipped, inserted and
deleted bytes, truncation, wrong magic, rewritten chunk lengths and sample counts, bad header XML, wrong tags and
stream ids, shuffled chunks. Example tests cover what fuzzing found. How fast the refusals are is a figure of
``affectstream bench`` (``hostile``); docs/THREAT_MODEL.md says what these tests prove and what they do not.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from affectstream.core.xdf_format import varlen
from affectstream.core.xdf_reader import XDFFormatError, load_recording
from affectstream.core.xdf_recording import XDFRecording
from affectstream.pipelines.bench.hostile import allowed_peak, misread_xdf_cases
from fixtures.hostile import one_line, traced_peak, valid_xdf, write


def _chunks(data: bytes) -> list[tuple[int, bytes]]:
    """(tag, content) of every chunk of a well-formed file."""
    out, pos = [], 4
    while pos < len(data):
        width = data[pos]
        length = int.from_bytes(data[pos + 1:pos + 1 + width], "little")
        start = pos + 1 + width
        out.append((struct.unpack_from("<H", data, start)[0], data[start + 2:start + length]))
        pos = start + length
    return out


_HUGE = [2 ** 31, 2 ** 32 - 1, 2 ** 40, 2 ** 62, 2 ** 64 - 1]
_XML_FIELDS = ["name", "type", "channel_count", "nominal_srate", "channel_format", "width", "height", "channels",
               "color_order", "label"]
_XML_VALUES = ["nan", "inf", "-inf", "-1", "0", "1e308", "1e-310", str(10 ** 20), "", "  7 ", "1_0", "abc",
               "string", "int8", "int64", "double64", "Video", "EEG", "GRAY", "<", "&", "]]>", "<x>"]


@st.composite
def _mutated_bytes(draw) -> bytes:
    """The valid file with 1-3 byte-level edits: flips, truncation, insertions, deletions, a new magic.

    Flips are drawn most often: about half of them leave a loadable file (a changed value or timestamp), so the
    reader's decoding paths are exercised too, not only its refusals.
    """
    data = bytearray(valid_xdf())
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["flip"] * 6 + ["truncate", "insert", "delete", "magic"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "truncate":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 32))]
        else:
            data[:4] = draw(st.sampled_from([b"", b"XDF", b"xdf:", b"XDF;", b"\0\0\0\0", b"XDF:XDF:"]))
    return bytes(data)


#: The chunk tags each structural edit applies to (edits not listed apply to any chunk).
_EDIT_TAGS = {"count": (3,), "xml_field": (1, 2, 6), "xml_bytes": (1, 2, 6), "stream_id": (2, 3, 4, 6)}


@st.composite
def _mutated_chunks(draw) -> bytes:
    """The valid file with 1-2 structural edits: lengths, sample counts, XML, tags, stream ids, chunk order.

    Sample counts are drawn twice as often as the other edits: a count that disagrees with its chunk's bytes is
    what pyxdf trusts most (it once made the reader raise MemoryError on a 1.5 kB file).
    """
    chunks = [[None, tag, content] for tag, content in _chunks(valid_xdf())]  # [length field or None, tag, content]
    for _ in range(draw(st.integers(1, 2))):
        op = draw(st.sampled_from(["length", "count", "count", "xml_field", "xml_bytes", "tag", "stream_id",
                                   "duplicate", "drop", "swap", "content"]))
        candidates = [j for j, (_, tag, _) in enumerate(chunks) if tag in _EDIT_TAGS.get(op, (tag,))]
        if not candidates:  # an earlier edit removed or retagged every chunk this edit applies to
            continue
        i = draw(st.sampled_from(candidates))
        _, tag, content = chunks[i]
        if op == "length":
            real = len(content) + 2
            value = draw(st.one_of(st.sampled_from(_HUGE), st.integers(0, 3), st.integers(real - 16, real + 16)))
            chunks[i][0] = draw(st.sampled_from([varlen(max(0, value)), b"\x08" + struct.pack("<Q", max(0, value)),
                                                 bytes([draw(st.sampled_from([0, 2, 3, 9, 255]))])]))
        elif op == "count" and len(content) > 5 and content[4] in (1, 4, 8):
            width = content[4]
            n = int.from_bytes(content[5:5 + width], "little")
            count = draw(st.one_of(st.sampled_from([0, max(0, n - 1), min(n + 1, 2 ** 64 - 1)]), st.integers(0, 64),
                                   st.sampled_from(_HUGE)))
            chunks[i][2] = content[:4] + varlen(count) + content[5 + width:]
        elif op == "xml_field":
            head, xml = (b"", content) if tag == 1 else (content[:4], content[4:])
            field_name = draw(st.sampled_from(_XML_FIELDS))
            value = draw(st.one_of(st.sampled_from(_XML_VALUES), st.text(max_size=12)))
            replacement = f"<{field_name}>{value}</{field_name}>".encode("utf-8", "surrogatepass")
            new = re.sub(rf"<{field_name}>[^<]*</{field_name}>".encode(), lambda _, r=replacement: r, xml,
                         count=draw(st.sampled_from([0, 1])))  # a function: the value may hold backslashes
            chunks[i][2] = head + new
        elif op == "xml_bytes":
            at = draw(st.integers(0, len(content)))
            chunks[i][2] = content[:at] + draw(st.binary(max_size=8)) + content[at + draw(st.integers(0, 8)):]
        elif op == "tag":
            chunks[i][1] = draw(st.one_of(st.integers(0, 7), st.integers(0, 65535)))
        elif op == "stream_id" and len(content) >= 4:
            sid = draw(st.one_of(st.integers(0, 4), st.just(2 ** 32 - 1)))
            chunks[i][2] = struct.pack("<I", sid) + content[4:]
        elif op == "duplicate":
            chunks.insert(draw(st.integers(0, len(chunks))), list(chunks[i]))
        elif op == "drop" and len(chunks) > 1:
            del chunks[i]
        elif op == "swap":
            j = draw(st.integers(0, len(chunks) - 1))
            chunks[i], chunks[j] = chunks[j], chunks[i]
        elif op == "content" and content:
            at = draw(st.integers(0, len(content) - 1))
            chunks[i][2] = content[:at] + bytes([draw(st.integers(0, 255))]) + content[at + 1:]
    return b"XDF:" + b"".join((lf if lf is not None else varlen(len(c) + 2)) + struct.pack("<H", t) + c
                              for lf, t, c in chunks)


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory) -> Path:
    load_recording(write(tmp_path_factory.mktemp("warm") / "warm.xdf", valid_xdf()))  # imports, outside the traces
    return tmp_path_factory.mktemp("hostile")


def _check_xdf(path: Path, allow_truncated: bool) -> None:
    """load_recording returns a usable recording or raises one XDFFormatError line, in bounded memory."""
    size = path.stat().st_size

    def load_and_use() -> XDFRecording:
        rec = load_recording(path, allow_truncated=allow_truncated)
        assert all(s.describe() for s in rec.streams)  # what replay and the CLI print must work on what loaded
        rec.marker_events()
        if rec.video is not None:
            assert rec.frame(0).shape == (rec.video_format.height, rec.video_format.width, 3)
        return rec

    outcome, peak = traced_peak(load_and_use)
    event("refused" if isinstance(outcome, Exception) else "loaded")  # --hypothesis-show-statistics shows the mix
    if isinstance(outcome, Exception):
        assert type(outcome) is XDFFormatError, f"{type(outcome).__name__}: {outcome}"
        assert path.name in one_line(outcome)
    else:
        assert isinstance(outcome, XDFRecording)
        assert all("\n" not in note for note in outcome.notes)
    assert peak <= allowed_peak(size), f"peak {peak / 2 ** 20:.1f} MiB for a {size}-byte file"


# No example database: it would write .hypothesis/ into the checkout. A failure prints how to reproduce it. The
# deadline only turns a hang (a decoding loop gone quadratic) into a failure; an example takes milliseconds.
_XDF_SETTINGS = settings(max_examples=150, deadline=20_000, database=None)


@_XDF_SETTINGS
@given(data=_mutated_bytes(), allow_truncated=st.booleans())
def test_xdf_reader_survives_byte_level_damage(work_dir, data, allow_truncated):
    _check_xdf(write(work_dir / "bytes.xdf", data), allow_truncated)


@_XDF_SETTINGS
@given(data=_mutated_chunks(), allow_truncated=st.booleans())
def test_xdf_reader_survives_structural_damage(work_dir, data, allow_truncated):
    _check_xdf(write(work_dir / "chunks.xdf", data), allow_truncated)


@pytest.mark.parametrize("name", sorted(misread_xdf_cases()))
def test_chunks_that_pyxdf_would_misread_are_refused(tmp_path, work_dir, name):
    """The cases of :func:`affectstream.pipelines.bench.hostile.misread_xdf_cases` (what fuzzing found)."""
    data, expect = misread_xdf_cases()[name]
    path = write(tmp_path / f"{name}.xdf", data)
    outcome, peak = traced_peak(lambda: load_recording(path))  # work_dir did the imports
    assert type(outcome) is XDFFormatError, (name, outcome)
    msg = one_line(outcome)
    assert path.name in msg and expect in msg, (name, msg)
    assert peak <= allowed_peak(len(data)), (name, peak)
