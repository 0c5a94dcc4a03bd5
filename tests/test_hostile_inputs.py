"""Hostile and broken inputs: one clear error, no traceback, bounded memory and time (issue 10, item 4).

Property tests (hypothesis) mutate a small valid XDF file written by the project's own writer (flipped, inserted and
deleted bytes, truncation, wrong magic, rewritten chunk lengths and sample counts, bad header XML, wrong tags and
stream ids, shuffled chunks) and feed random TOML to the config loader. Example tests cover EEG with NaN/inf/railed
values, absurd rates and channel counts, video frames of the wrong size, model files with a wrong hash, pickles, LSL
discovery and the command line. docs/THREAT_MODEL.md says what these tests prove and what they do not.
"""

from __future__ import annotations

import ast
import configparser
import functools
import json
import math
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from affectstream.app.cli.common import USER_ERROR
from affectstream.app.cli.main import main
from affectstream.models.deploy.manifest import ModelIntegrityError, save_entry, verified_path
from affectstream.core.montage import MONTAGE_32
from affectstream.pipelines.config import MAX_CONFIG_BYTES, ConfigError, PipelineConfig, load_config
from affectstream.pipelines.engine import MAX_EEG_RATE, AffectPipeline, EEGStreamSpec, StreamFormatError
from affectstream.pipelines.sessions.replay import replay
from affectstream.core.xdf_reader import XDFFormatError, XDFRecording, load_recording
from affectstream.core.xdf_writer import XDFWriter, chunk, varlen
from affectstream.core.paths import REPO

ROOT = REPO
BASELINE = PipelineConfig(eeg_estimator="baseline")  # the student's ONNX session is not what these tests are about


def _allowed_peak(size: int) -> int:
    """Most Python memory a file of ``size`` bytes may make the program allocate: 20x its size plus 16 MiB."""
    return 20 * size + 16 * 2 ** 20


def _measured(fn: Callable[[], Any]) -> tuple[Any, int, float]:
    """(result or the exception raised, peak traced allocation in bytes, seconds) of ``fn()``."""
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        outcome = fn()
    except Exception as exc:  # noqa: BLE001 - the caller asserts which exceptions are acceptable
        outcome = exc
    finally:
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return outcome, peak, seconds


def _one_line(exc: BaseException) -> str:
    msg = str(exc)
    assert msg and "\n" not in msg and "Traceback" not in msg, repr(msg)
    return msg


# --------------------------------------------------------------------------------------------------------------
# XDF: a small valid file and its mutations
# --------------------------------------------------------------------------------------------------------------


@functools.cache
def _valid_xdf() -> bytes:
    """A small valid file from the project's writer: EEG, markers, a project-format video, clock offsets, footers."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "valid.xdf"
        with XDFWriter(path, flush_interval_s=None) as w:
            eeg = w.add_stream("eeg", "EEG", 4, 100.0, "float32", "e", labels=list("abcd"))
            mrk = w.add_stream("mrk", "Markers", 1, 0.0, "string", "m")
            vid = w.add_stream("vid", "Video", 4 * 3 * 3, 10.0, "int8", "v",
                               desc={"width": 4, "height": 3, "channels": 3, "color_order": "BGR"})
            for k in range(3):
                w.write(eeg, np.full((20, 4), k, np.float32), k + np.arange(20) / 100.0)
                w.write(mrk, [f"m{k}"], [k + 0.05])
                w.write(vid, np.full((2, 36), 40 * k, np.uint8), [k, k + 0.1])
                w.clock_offset(eeg, float(k), 0.01)
                w.flush()
        return path.read_bytes()


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
    data = bytearray(_valid_xdf())
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
    chunks = [[None, tag, content] for tag, content in _chunks(_valid_xdf())]  # [length field or None, tag, content]
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
            count = draw(st.one_of(st.sampled_from([0, max(0, n - 1), n + 1]), st.integers(0, 64),
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
    load_recording(_write(tmp_path_factory.mktemp("warm") / "warm.xdf", _valid_xdf()))  # imports, outside the traces
    return tmp_path_factory.mktemp("hostile")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _check_xdf(path: Path, allow_truncated: bool) -> None:
    """load_recording returns a usable recording or raises one XDFFormatError line, within time and memory."""
    size = path.stat().st_size

    def load_and_use() -> XDFRecording:
        rec = load_recording(path, allow_truncated=allow_truncated)
        assert all(s.describe() for s in rec.streams)  # what replay and the CLI print must work on what loaded
        rec.marker_events()
        if rec.video is not None:
            assert rec.frame(0).shape == (rec.video_format.height, rec.video_format.width, 3)
        return rec

    outcome, peak, seconds = _measured(load_and_use)
    event("refused" if isinstance(outcome, Exception) else "loaded")  # --hypothesis-show-statistics shows the mix
    if isinstance(outcome, Exception):
        assert type(outcome) is XDFFormatError, f"{type(outcome).__name__}: {outcome}"
        assert path.name in _one_line(outcome)
    else:
        assert isinstance(outcome, XDFRecording)
        assert all("\n" not in note for note in outcome.notes)
    assert peak <= _allowed_peak(size), f"peak {peak / 2 ** 20:.1f} MiB for a {size}-byte file"
    assert seconds < 2.0


# No example database: it would write .hypothesis/ into the checkout. A failure prints how to reproduce it.
_XDF_SETTINGS = settings(max_examples=150, deadline=3000, database=None)


@_XDF_SETTINGS
@given(data=_mutated_bytes(), allow_truncated=st.booleans())
def test_xdf_reader_survives_byte_level_damage(work_dir, data, allow_truncated):
    _check_xdf(_write(work_dir / "bytes.xdf", data), allow_truncated)


@_XDF_SETTINGS
@given(data=_mutated_chunks(), allow_truncated=st.booleans())
def test_xdf_reader_survives_structural_damage(work_dir, data, allow_truncated):
    _check_xdf(_write(work_dir / "chunks.xdf", data), allow_truncated)


def _xdf_file(*chunks_: bytes) -> bytes:
    return b"XDF:" + chunk(1, b'<?xml version="1.0"?><info><version>1.0</version></info>') + b"".join(chunks_)


def _header(sid: int, name: str, stype: str, n_ch: int | str, srate: str, fmt: str,
            labels: tuple[str, ...] | None = None, desc: str = "") -> bytes:
    """A StreamHeader chunk with any field text (the writer refuses the absurd ones, which is the point here)."""
    channels = "<channels>" + "".join(f"<channel><label>{lab}</label></channel>" for lab in labels) + \
        "</channels>" if labels else ""
    xml = (f'<?xml version="1.0"?><info><name>{name}</name><type>{stype}</type><channel_count>{n_ch}'
           f"</channel_count><nominal_srate>{srate}</nominal_srate><channel_format>{fmt}</channel_format>"
           f"<source_id>{name}-1</source_id><hostname>lab-pc</hostname><desc>{desc}{channels}</desc></info>")
    return chunk(2, struct.pack("<I", sid) + xml.encode())


def _samples(sid: int, values: np.ndarray, stamps: np.ndarray) -> bytes:
    """One Samples chunk of numeric ``values`` (n, channels), every timestamp explicit."""
    rec = np.empty(len(stamps), [("flag", "u1"), ("ts", "<f8"), ("v", values.dtype.newbyteorder("<"),
                                                                    (values.shape[1],))])
    rec["flag"], rec["ts"], rec["v"] = 8, stamps, values
    return chunk(3, struct.pack("<I", sid) + varlen(len(stamps)) + rec.tobytes())


def _string_samples(sid: int, n_declared: int, texts: list[str]) -> bytes:
    body = b"".join(b"\x08" + struct.pack("<d", float(i)) + varlen(len(t.encode())) + t.encode()
                    for i, t in enumerate(texts))
    return chunk(3, struct.pack("<I", sid) + varlen(n_declared) + body)


def test_chunks_that_pyxdf_would_misread_are_refused(tmp_path, work_dir):
    """Found by fuzzing the reader: a string Samples chunk whose count covers fewer samples than it holds sent pyxdf
    reading sample bytes as the next chunk's length, and a 1.5 kB file raised MemoryError (a count covering more
    samples loaded silently wrong data). Also DTD entities and XML that parses into ~100x its size."""
    marker_header = _header(1, "mrk", "Markers", 1, "0", "string")
    entities = '<!DOCTYPE info [<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {c} "' + f"&{p};" * 10 + '">' for p, c in zip("abcdefg", "bcdefgh")) + "]>"
    cases = {  # name: (file, what the message must say)
        "fewer_strings_declared": (_xdf_file(marker_header, _string_samples(1, 1, ["a", "b"])), "occupy"),
        "more_strings_declared": (_xdf_file(marker_header, _string_samples(1, 3, ["a", "b"]),
                                            _string_samples(1, 1, ["c"])), "occupy more than"),
        "none_declared": (_xdf_file(marker_header, _string_samples(1, 0, ["x" * 40])), "occupy"),
        "string_longer_than_chunk": (_xdf_file(marker_header, chunk(3, struct.pack("<I", 1) + varlen(1) + b"\x08"
                                                                    + struct.pack("<d", 0.0) + b"\x08"
                                                                    + struct.pack("<Q", 2 ** 60) + b"abc")),
                                     "occupy more than"),
        "implicit_stamps_leave_bytes_over": (_xdf_file(
            _header(1, "x", "EEG", 1, "100", "float32"),
            chunk(3, struct.pack("<I", 1) + varlen(2) + b"\x00" + b"\0" * 4 + b"\x00" + b"\0" * 4 + b"\0" * 8)),
            "occupy 12 of its 20 bytes"),
        "dtd_entities": (_xdf_file(chunk(2, struct.pack("<I", 1) + (
            entities + "<info><name>&h;</name><channel_count>1</channel_count><nominal_srate>1</nominal_srate>"
                       "<channel_format>float32</channel_format></info>").encode())), "declares a DTD"),
        "too_many_xml_tags": (_xdf_file(_header(1, "x", "EEG", 1, "100", "float32", desc="<a/>" * 200_001)),
                              "tags in all"),
        "deep_xml": (_xdf_file(_header(1, "x", "EEG", 1, "100", "float32", desc="<a>" * 3000 + "</a>" * 3000)),
                     "RecursionError"),
    }
    for name, (data, expect) in cases.items():
        path = _write(tmp_path / f"{name}.xdf", data)
        outcome, peak, seconds = _measured(lambda p=path: load_recording(p))  # work_dir did the imports
        assert type(outcome) is XDFFormatError, (name, outcome)
        msg = _one_line(outcome)
        assert path.name in msg and expect in msg, (name, msg)
        assert peak <= _allowed_peak(len(data)) and seconds < 2.0, (name, peak, seconds)


# --------------------------------------------------------------------------------------------------------------
# Config: random TOML and random key/value tables
# --------------------------------------------------------------------------------------------------------------

_TEXT = st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=16)
_BARE_KEY = st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)
_SCALARS = st.one_of(st.booleans(), st.integers(-2 ** 63, 2 ** 63 - 1), st.floats(), _TEXT)
_JUNK = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(_BARE_KEY, inner, max_size=3)), max_leaves=6)
_ANY_OF = {"reference": ["average", "none"], "band_kind": ["log", "relative", "absolute"],
           "eeg_estimator": ["auto", "student", "baseline"], "device": ["cpu", "cuda", "auto"],
           "visual_precision": ["int8", "fp32"]}
#: What the loader must accept, key by key (the documented ranges).
_VALID: dict[str, st.SearchStrategy] = {
    "window_s": st.floats(1.0, 60.0),
    "hop_s": st.one_of(st.floats(0.01, 60.0), st.integers(1, 60)),
    "bandpass": st.tuples(st.floats(0.1, 10.0), st.floats(11.0, 100.0)).map(list),
    "max_backlog_hops": st.integers(1, 1000),
    "face_model": _TEXT,
    "saliency_every_hops": st.integers(-100, 100),
    "quality": st.fixed_dictionaries({}, optional={
        "flat_std_uv": st.floats(0.0, 1e6), "noisy_std_uv": st.floats(0.0, 1e6), "rail_uv": st.floats(0.0, 1e6),
        "rail_fraction": st.floats(0.0, 1.0)}),
    "baseline": st.fixed_dictionaries({}, optional={
        "warmup_s": st.floats(0.0, 1e6), "memory_s": st.floats(0.0, 1e6), "smoothing_s": st.floats(0.0, 1e6),
        "squash": st.floats(0.1, 100.0)}),
    **{k: st.sampled_from(v) for k, v in _ANY_OF.items()},
}
_NEAR_MISSES = ["hop", "window", "Window_s", "hop-s", "bandpass_hz", "qualities", "flat_std_uv", "squash"]


def _toml(value: Any) -> str:
    """``value`` as a TOML value (inline tables and arrays; floats by repr, which TOML reads back exactly)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON's escapes are TOML's (no control characters drawn)
    if isinstance(value, list):
        return "[" + ", ".join(map(_toml, value)) + "]"
    return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"


@st.composite
def _config_tables(draw) -> tuple[dict[str, Any], set[str]]:
    """A config table whose keys are each absent, valid, or junk, plus unknown keys; and the offending keys."""
    data: dict[str, Any] = {}
    offending: set[str] = set()
    for key, valid in _VALID.items():
        kind = draw(st.sampled_from(["absent", "valid", "valid", "junk"]))
        if kind == "valid":
            data[key] = draw(valid)
        elif kind == "junk":
            data[key] = draw(_JUNK)
            offending.add(key)
    for key in draw(st.lists(st.one_of(st.sampled_from(_NEAR_MISSES), _BARE_KEY), max_size=2)):
        if key not in _VALID:
            data[key] = draw(_JUNK)
            offending.add(key)
    return data, offending


def _named_keys(message: str) -> set[str]:
    """The top-level keys a ConfigError message blames (``unknown key a, b; ...`` or ``a.b[0]: expected ...``)."""
    head = message.split("; valid keys here")[0]
    if head.startswith("unknown key"):
        names = head.split(" ", 2)[2].split(", ")
    else:
        names = [head.split(":")[0]]
    return {re.split(r"[.\[]", n)[0] for n in names if n != "..."}


@settings(max_examples=150, deadline=1000, database=None)
@given(table=_config_tables())
def test_config_loader_names_the_offending_key(work_dir, table):
    data, offending = table
    valid_only = {k: v for k, v in data.items() if k not in offending}
    assert isinstance(load_config(_write(work_dir / "valid.toml", "\n".join(
        f"{k} = {_toml(v)}" for k, v in valid_only.items()).encode())), PipelineConfig)
    path = _write(work_dir / "fuzz.toml", "\n".join(f"{k} = {_toml(v)}" for k, v in data.items()).encode())
    try:
        config = load_config(path)
    except ConfigError as exc:
        named = _named_keys(_one_line(exc))
        assert named and named <= offending, (str(exc), offending)
        return
    assert not (offending - _VALID.keys()), "an unknown key was accepted"
    for key, value in data.items():  # junk that happens to be valid (e.g. 3 for hop_s) is taken as given
        got = getattr(config, key)
        if isinstance(value, dict):
            assert all(getattr(got, k) == v for k, v in value.items())
        else:
            assert got == (tuple(value) if isinstance(value, list) else value)


@settings(max_examples=150, deadline=1000, database=None)
@given(raw=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(lambda t: t.encode()),
                     st.lists(st.sampled_from(["[quality]", "[baseline]", "hop_s = 0.5", "window_s=", "a.b.c = 1",
                                               "= 1", "[[x]]", "x = {", "\"k\" = 'v'", "hop_s = nan", "#", "\\"]),
                              max_size=6).map(lambda lines: "\n".join(lines).encode())))
def test_config_loader_refuses_random_text_in_one_line(work_dir, raw):
    path = _write(work_dir / "random.toml", raw)
    try:
        assert isinstance(load_config(path), PipelineConfig)
    except ConfigError as exc:
        _one_line(exc)


@pytest.mark.parametrize("name, text, expect", [
    ("dotted_key_bomb", "a." * 30_000 + "b = 1", "dotted key"),
    ("quoted_dotted_key_bomb", '"a".' * 15_000 + "b = 1", "dotted key"),
    ("table_header_bomb", "[" + "a." * 30_000 + "b]", "dotted key"),
    ("inline_table_bomb", "x = {" + "a." * 30_000 + "b = 1}", "dotted key"),
    ("nested_arrays", "x = " + "[" * 5000 + "]" * 5000, "nested too deeply"),
    ("nested_inline_tables", "x = " + "{a = " * 3000 + "1" + "}" * 3000, "nested too deeply"),
    ("oversized", "# " + "x" * MAX_CONFIG_BYTES, "KiB"),
    ("long_array", "x = [" + "1," * 30_000 + "]", "unknown key x"),
    ("nan", "hop_s = nan", "hop_s: expected a finite number"),
    ("inf_window", "window_s = inf", "window_s: expected a finite number"),
    ("huge_int", "max_backlog_hops = 99999999999999999999", "max_backlog_hops: expected a number in"),
    ("absurd_window", "window_s = 1e9", "window_s: expected a number in"),
    ("zero_backlog", "max_backlog_hops = 0", "max_backlog_hops"),
    ("zero_squash", "[baseline]\nsquash = 0", "baseline.squash"),
    ("negative_threshold", "quality = {noisy_std_uv = -1}", "quality.noisy_std_uv"),
    ("fraction", "[quality]\nrail_fraction = 2", "quality.rail_fraction"),
    ("newline_key", '"a\\nb" = 1', "unknown key 'a\\nb'"),
    ("huge_value", 'reference = "' + "x" * 50_000 + '"', "reference: expected one of"),
    ("wrong_table", "quality = 3", "quality: expected a table"),
    ("not_utf8", b"hop_s = 0.5 # \xff\xfe", "not valid TOML"),
])
def test_pathological_configs_are_refused_quickly(tmp_path, name, text, expect):
    path = _write(tmp_path / f"{name}.toml", text if isinstance(text, bytes) else text.encode())
    outcome, peak, seconds = _measured(lambda: load_config(path))
    assert type(outcome) is ConfigError, outcome
    msg = _one_line(outcome)
    assert expect in msg and len(msg) < 400, msg
    assert peak <= _allowed_peak(path.stat().st_size) and seconds < 2.0, (peak, seconds)


def test_config_that_is_a_directory_is_a_user_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path)


# --------------------------------------------------------------------------------------------------------------
# EEG values: NaN, inf, railed, huge, flat
# --------------------------------------------------------------------------------------------------------------

_SFREQ = 128.0


@st.composite
def _corrupted_eeg(draw) -> tuple[np.ndarray, int]:
    """Six seconds of 32-channel EEG with 1-4 corrupted patches, and a chunk size to push it in."""
    n = int(6 * _SFREQ)
    x = (np.random.default_rng(draw(st.integers(0, 2 ** 16))).standard_normal((n, 32)) * 10).astype(np.float32)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["nan", "inf", "-inf", "railed", "huge", "flat", "tiny", "spike"]))
        channels = draw(st.one_of(st.lists(st.integers(0, 31), min_size=1, max_size=8, unique=True),
                                  st.just(list(range(32)))))
        start = draw(st.integers(0, n - 1))
        stop = min(n, start + draw(st.integers(1, n)))
        patch = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf, "huge": 3e38, "flat": 7.0, "tiny": 1e-40,
                 "spike": 1e6}.get(kind)
        if kind == "railed":  # amplifier clipping: full scale, alternating sign
            patch = np.where(np.arange(start, stop) % 2, 5000.0, -5000.0)[:, None]
        if kind == "spike":
            stop = start + 1
        x[start:stop, channels] = patch
    return x, draw(st.integers(1, 400))


def _check_hops(x: np.ndarray, results: list, n_window: int) -> None:
    """Every hop: estimates finite in [-1, 1] or NaN with status 'no estimate'; corrupted channels flagged."""
    finite = np.isfinite(x)
    extreme = finite & (np.abs(x) >= 1e5)
    for r in results:
        end = round(r.t * _SFREQ) + 1
        window = slice(end - n_window, end)
        if math.isfinite(r.valence) or math.isfinite(r.arousal):
            assert -1 <= r.valence <= 1 and -1 <= r.arousal <= 1 and 0 <= r.confidence <= 1
        else:
            assert r.status == "no estimate" and r.confidence == 0
        assert np.isfinite(r.features[:, r.good]).all()
        for c in np.flatnonzero(~finite[window].all(axis=0)):
            assert r.bad_channels.get(MONTAGE_32[c]) == "nonfinite", (r.t, MONTAGE_32[c], r.bad_channels)
        for c in np.flatnonzero(extreme[window].any(axis=0)):
            assert MONTAGE_32[c] in r.bad_channels, (r.t, MONTAGE_32[c], r.bad_channels)
        json.dumps(r.to_json(), allow_nan=False)  # the JSONL output stays valid JSON


@settings(max_examples=40, deadline=3000, database=None)
@given(case=_corrupted_eeg())
def test_nonfinite_railed_and_huge_eeg_is_flagged_never_fatal(case):
    x, chunk_size = case
    spec = EEGStreamSpec(sfreq=_SFREQ, n_channels=32, labels=MONTAGE_32, name="hostile")
    pipe = AffectPipeline(spec, BASELINE)
    ts = np.arange(len(x)) / _SFREQ
    results = [r for i in range(0, len(x), chunk_size) for r in pipe.push_eeg(x[i:i + chunk_size],
                                                                             ts[i:i + chunk_size])]
    assert len(results) == 1 + (len(x) - pipe.n_window) // pipe.n_hop
    _check_hops(x, results, pipe.n_window)
    assert pipe.stats.nonfinite_samples == int((~np.isfinite(x)).any(axis=1).sum())


def test_hostile_eeg_through_the_default_estimator():
    """The same checks with the default estimator (the bundled student when it verifies)."""
    n = int(20 * _SFREQ)
    x = (np.random.default_rng(1).standard_normal((n, 32)) * 10).astype(np.float32)
    x[300:900, :5] = np.nan
    x[1000:1100, 5:9] = np.inf
    x[:, 10] = np.where(np.arange(n) % 2, 5000.0, -5000.0)
    x[1500:, :] = 3e38
    pipe = AffectPipeline(EEGStreamSpec(sfreq=_SFREQ, n_channels=32, labels=MONTAGE_32, name="hostile"))
    results = pipe.push_eeg(x, np.arange(n) / _SFREQ)
    _check_hops(x, results, pipe.n_window)
    assert any(math.isfinite(r.valence) for r in results) and results[-1].status == "no estimate"


# --------------------------------------------------------------------------------------------------------------
# EEG streams: absurd rates and channel counts, wrong-size video
# --------------------------------------------------------------------------------------------------------------


def _eeg_file(path: Path, srate: str = "128", n_ch: int = 32, labels: tuple[str, ...] | None = MONTAGE_32,
              seconds: float = 3.0, extra: bytes = b"") -> Path:
    """A file with one float32 EEG stream (samples stamped at 128 Hz whatever rate it declares), plus ``extra``."""
    n = int(seconds * 128)
    values = (np.random.default_rng(0).standard_normal((n, n_ch)) * 10).astype(np.float32)
    return _write(path, _xdf_file(_header(1, "eeg", "EEG", n_ch, srate, "float32", labels),
                                  _samples(1, values, 100.0 + np.arange(n) / 128), extra))


@pytest.mark.parametrize("srate, why", [
    ("0", "irregular"), ("-256", "irregular"), ("nan", "irregular"), ("inf", "irregular"), ("0.001", "too low"),
    ("60", "gamma band"),
])
def test_replay_refuses_unusable_rates_in_one_line(tmp_path, srate, why):
    path = _eeg_file(tmp_path / "rate.xdf", srate)
    with pytest.raises(StreamFormatError) as info:
        replay(path, config=BASELINE)
    assert "'eeg'" in _one_line(info.value) and why in str(info.value)


def test_replay_refuses_an_absurdly_high_rate(tmp_path):
    with pytest.raises(StreamFormatError, match="Hz"):
        replay(_eeg_file(tmp_path / "fast.xdf", "1e308"), config=BASELINE)


@pytest.mark.parametrize("sfreq", [MAX_EEG_RATE * 1.01, 1e5, 1e7, 1e308])
def test_pipeline_refuses_absurd_rates_before_allocating(sfreq):
    """Found here: a header declaring 1e5 Hz made the band-power set-up ask for 18.6 GiB (20 kHz: 1.6 GB, 5 s)."""
    spec = EEGStreamSpec(sfreq=sfreq, n_channels=32, labels=MONTAGE_32, name="fast")
    outcome, peak, seconds = _measured(lambda: AffectPipeline(spec, BASELINE))
    assert type(outcome) is StreamFormatError and "resample" in _one_line(outcome)
    assert peak < 2 ** 20 and seconds < 0.5


def test_bandpass_above_nyquist_is_refused_at_start():
    """Found here: a configured band-pass above the stream's Nyquist frequency raised ValueError in the first hop."""
    spec = EEGStreamSpec(sfreq=128.0, n_channels=32, labels=MONTAGE_32, name="eeg")
    with pytest.raises(StreamFormatError, match="bandpass 1-70 Hz is not inside"):
        AffectPipeline(spec, PipelineConfig(eeg_estimator="baseline", bandpass=(1.0, 70.0)))


def test_zero_and_a_thousand_channels(tmp_path):
    with pytest.raises(XDFFormatError, match="declares 0 channels"):  # refused by the reader already
        replay(_eeg_file(tmp_path / "zero.xdf", n_ch=0, labels=None, seconds=0), config=BASELINE)
    with pytest.raises(StreamFormatError, match="1000 channels and no channel labels") as info:
        replay(_eeg_file(tmp_path / "unlabeled.xdf", n_ch=1000, labels=None), config=BASELINE)
    _one_line(info.value)
    labels = MONTAGE_32 + tuple(f"AUX{i}" for i in range(968))  # a legitimate high-density recording
    path = _eeg_file(tmp_path / "wide.xdf", n_ch=1000, labels=labels, seconds=4.0)
    replay(path, config=BASELINE)  # warm-up: imports outside the trace
    summary, peak, _ = _measured(lambda: replay(path, config=BASELINE))
    assert summary.hops == 9 and len(summary.unused_channels) == 968 and not summary.missing_channels
    assert peak <= _allowed_peak(path.stat().st_size)


@pytest.mark.parametrize("desc, n_ch", [
    ("<width>32</width><height>24</height><channels>3</channels>", 32 * 24 * 3 - 5),
    ("<width>0</width><height>24</height><channels>3</channels>", 0 * 24 * 3 + 1),
    ("<width>-4</width><height>-3</height><channels>3</channels>", 36),
    ("<width>4.5</width><height>2</height><channels>3</channels>", 27),
    ("<width>4</width><height>3</height><channels>4</channels>", 48),
    ("<width>4</width><height>3</height><channels>3</channels><color_order>CMYK</color_order>", 36),
    ("<width>4</width><height>3</height>", 36),
])
def test_wrong_size_video_is_skipped_with_a_note(tmp_path, desc, n_ch):
    video = (_header(2, "cam", "Video", n_ch, "15", "int8", desc=desc)
             + _samples(2, np.zeros((3, n_ch), np.int8), 100.0 + np.arange(3) / 15))
    path = _eeg_file(tmp_path / "video.xdf", extra=video)
    summary = replay(path, config=BASELINE)
    assert summary.video is None and summary.frames == 0 and summary.hops > 0
    assert sum("'cam'" in note and "not a usable Video stream" in note for note in summary.notes) == 1


# --------------------------------------------------------------------------------------------------------------
# Models and pickles
# --------------------------------------------------------------------------------------------------------------


def test_model_files_are_refused_unless_their_hash_matches(tmp_path):
    model = _write(tmp_path / "m.onnx", b"pretend onnx bytes")
    manifest = tmp_path / "manifest.json"
    save_entry("m", {"file": "m.onnx"}, manifest)
    assert verified_path("m", manifest)[0] == model
    _write(model, b"pretend onnx bytez")  # one byte differs
    with pytest.raises(ModelIntegrityError, match="does not match its manifest entry"):
        verified_path("m", manifest)
    model.unlink()
    with pytest.raises(ModelIntegrityError, match="missing"):
        verified_path("m", manifest)
    for broken in ['{"models": {"m": "m.onnx"}}', '{"models": {"m": {"sha256": "00"}}}',
                   '{"models": {"m": {"file": 3, "sha256": "00"}}}', "{not json", b"\xff\xfe"]:
        _write(manifest, broken if isinstance(broken, bytes) else broken.encode())
        with pytest.raises(ModelIntegrityError) as info:  # found here: the first three raised TypeError/KeyError
            verified_path("m", manifest)
        _one_line(info.value)


def test_a_weights_file_cannot_run_code(tmp_path, capsys):
    """``export`` loads user-supplied weights with ``weights_only=True``: a pickle that runs code is refused."""
    import torch

    ran = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):
            return os.mkdir, (str(ran),)

    weights = tmp_path / "evil.pt"
    torch.save({"weight": Payload()}, weights)
    assert main(["export", "--eeg-weights", str(weights), "--out", str(tmp_path / "out"), "--data", "real"]) \
        == USER_ERROR
    err = capsys.readouterr().err
    assert "is not an EEG student state dict" in err and "Traceback" not in err and not ran.exists()
    torch.load(weights, weights_only=False)  # the control: a plain load runs the payload
    assert ran.exists()


#: The one documented plain unpickling: DEAP's own pickles, only when the caller passes ``trusted_pickle=True``
#: (after a warning); by default DEAP and SEED-V go through the numpy-only ``restricted_unpickle``.
_DOCUMENTED_PICKLE = {("models/datasets/deap.py", "pickle.load")}


def test_no_code_from_data_in_the_source():
    """Every torch.load is weights-only, every np.load refuses pickles, and nothing else unpickles (one exception)."""
    offences = []
    for file in sorted(p for d in ("app", "pipelines", "models", "calibration") for p in (ROOT / d).rglob("*.py")):
        rel = file.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name)):
                continue
            owner, name = node.func.value.id, node.func.attr
            kw = {k.arg: k.value for k in node.keywords}
            if owner == "torch" and name == "load" and not (
                    isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True):
                offences.append(f"{rel}:{node.lineno} torch.load without weights_only=True")
            if owner in ("np", "numpy") and name == "load" and not (
                    isinstance(kw.get("allow_pickle"), ast.Constant) and kw["allow_pickle"].value is False):
                offences.append(f"{rel}:{node.lineno} np.load without allow_pickle=False")
            if owner in ("pickle", "joblib", "dill", "cloudpickle", "marshal", "shelve") \
                    and (rel, f"{owner}.{name}") not in _DOCUMENTED_PICKLE:
                offences.append(f"{rel}:{node.lineno} {owner}.{name}")
            if owner in ("pd", "pandas") and name == "read_pickle":
                offences.append(f"{rel}:{node.lineno} pandas.read_pickle")
    assert not offences, offences


# --------------------------------------------------------------------------------------------------------------
# LSL discovery
# --------------------------------------------------------------------------------------------------------------


def test_lsl_discovery_stays_on_this_machine_unless_asked(monkeypatch):
    from affectstream.pipelines.sources import lsl as lsl_source

    cfg = configparser.ConfigParser(inline_comment_prefixes=(";",))
    cfg.read(lsl_source.LSL_CONFIG)
    assert cfg["multicast"]["ResolveScope"].strip() == "machine"
    monkeypatch.delenv("LSLAPICFG", raising=False)
    lsl_source.use_local_lsl_config()
    assert Path(os.environ["LSLAPICFG"]) == lsl_source.LSL_CONFIG
    monkeypatch.setenv("LSLAPICFG", "/etc/my-lab-lsl.cfg")  # the user asked for the network: respected
    lsl_source.use_local_lsl_config()
    assert os.environ["LSLAPICFG"] == "/etc/my-lab-lsl.cfg"

    class Info:
        name, stype, n_channels, sfreq, source_id, hostname = "EEG", "EEG", 32, 256.0, "amp-7", "lab-pc-3"

    assert "host 'lab-pc-3'" in lsl_source.describe(Info) and "source_id 'amp-7'" in lsl_source.describe(Info)


# --------------------------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------------------------


def _cli_hostile_files(tmp_path: Path) -> dict[str, Path]:
    valid = _valid_xdf()
    marker_header = _header(1, "mrk", "Markers", 1, "0", "string")
    return {
        "wrong_magic": _write(tmp_path / "magic.xdf", b"PK\x03\x04" + valid[4:]),
        "truncated": _write(tmp_path / "cut.xdf", valid[:len(valid) // 2]),
        "huge_chunk": _write(tmp_path / "huge.xdf", valid[:4] + b"\x08" + struct.pack("<Q", 2 ** 63) + valid[5:]),
        "bad_xml": _write(tmp_path / "xml.xdf", _xdf_file(chunk(2, struct.pack("<I", 1) + b"<info><name>x</nam"))),
        "desync": _write(tmp_path / "desync.xdf", _xdf_file(marker_header, _string_samples(1, 1, ["a", "b"]))),
        "zero_rate": _eeg_file(tmp_path / "rate.xdf", "0"),
        "nan_rate": _eeg_file(tmp_path / "nan.xdf", "nan"),
        "unlabeled_1000": _eeg_file(tmp_path / "wide.xdf", n_ch=1000, labels=None),
        "no_eeg": _write(tmp_path / "mrk.xdf", _xdf_file(marker_header)),
    }


def _assert_one_clear_line(code: int, err: str, command: str) -> None:
    assert code == USER_ERROR, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"affectstream {command}: ") and "Traceback" not in err, err


def test_cli_replay_of_hostile_files_is_one_line_and_exit_2(tmp_path, capsys):
    for path in _cli_hostile_files(tmp_path).values():
        code = main(["replay", str(path), "--headless"])
        _assert_one_clear_line(code, capsys.readouterr().err, "replay")


@pytest.mark.parametrize("text", ["hop = 3", "hop_s = 'fast'", "window_s = nan", "a." * 20_000 + "b = 1",
                                  "x = " + "[" * 3000 + "]" * 3000, "\x00\x01"])
def test_cli_run_with_a_hostile_config_is_one_line_and_exit_2(tmp_path, capsys, text):
    cfg = _write(tmp_path / "bad.toml", text.encode())
    code = main(["run", "--headless", "--config", str(cfg), "--timeout", "0.1"])
    _assert_one_clear_line(code, capsys.readouterr().err, "run")


def test_cli_run_with_a_directory_as_config(tmp_path, capsys):
    code = main(["run", "--headless", "--config", str(tmp_path), "--timeout", "0.1"])
    _assert_one_clear_line(code, capsys.readouterr().err, "run")


def test_cli_in_a_real_process(tmp_path):
    """The same through the console entry point, so stderr is exactly what a user sees."""
    files = _cli_hostile_files(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "affectstream", "replay", str(files["desync"]), "--headless"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    _assert_one_clear_line(proc.returncode, proc.stderr, "replay")
    assert "desync.xdf is corrupt: the Samples chunk at byte" in proc.stderr
