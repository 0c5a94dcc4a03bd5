"""Our XDF 1.0 writer against pyxdf, its crash safety under SIGKILL, and the reader's defences against bad files."""

from __future__ import annotations

import os
import re
import signal
import struct
import subprocess
import sys
import textwrap
import time
import tracemalloc
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from affectstream.core.xdf_reader import XDFFormatError, load_recording
from affectstream.core.xdf_format import BOUNDARY_UUID, chunk, varlen
from affectstream.core.xdf_writer import XDFWriteError, XDFWriter, recording_path
from affectstream.core.paths import REPO

ROOT = REPO
LABELS = [f"ch{i}" for i in range(8)]


def _load(path, **kw):
    import pyxdf

    kw.setdefault("dejitter_timestamps", False)
    streams, header = pyxdf.load_xdf(str(path), **kw)
    return {s["info"]["name"][0]: s for s in streams}, header


def _write_example(path: Path) -> dict:
    """A file with every channel format, a video frame, markers, clock offsets and desc fields; returns the truth."""
    rng = np.random.default_rng(0)
    eeg = rng.standard_normal((700, 8)).astype(np.float32)
    eeg_t = 100.0 + np.arange(700) / 256.0
    frames = rng.integers(0, 256, (3, 24 * 32 * 3), dtype=np.uint8)
    frame_t = 100.0 + np.arange(3) / 15.0
    markers = ["start", "ünïcode <&> \"quoted\"", "a|b"]
    marker_t = [100.1, 100.5, 101.0]
    dbl = rng.standard_normal((5, 2))
    i64 = np.array([[2 ** 40], [-(2 ** 40)], [7]], dtype=np.int64)
    with XDFWriter(path, header={"subject": "01"}) as w:
        s_eeg = w.add_stream("eeg", "EEG", 8, 256.0, "float32", "amp-1", labels=LABELS, units=["microvolts"] * 8,
                             types=["EEG"] * 7 + ["misc"], desc={"synthetic": True, "manufacturer": {"name": "X&Y"}})
        s_mrk = w.add_stream("mrk", "Markers", 1, 0.0, "string", "mrk-1")
        s_vid = w.add_stream("vid", "Video", 24 * 32 * 3, 15.0, "int8", "cam-1",
                             desc={"width": 32, "height": 24, "channels": 3, "color_order": "BGR"})
        s_i16 = w.add_stream("i16", "Misc", 3, 10.0, "int16", "x", stream_id=46202862)
        s_dbl = w.add_stream("dbl", "Misc", 2, 0.0, "double64", "y")
        s_i64 = w.add_stream("i64", "Misc", 1, 0.0, "int64", "z")
        w.write(s_eeg, eeg[:300], eeg_t[:300])
        w.write(s_mrk, markers[:2], marker_t[:2])
        w.clock_offset(s_eeg, 100.0, 0.25)
        w.flush()
        w.write(s_eeg, eeg[300:], eeg_t[300:])
        w.write(s_mrk, [markers[2]], marker_t[2:])
        w.write(s_vid, frames, frame_t)  # uint8 pixels into an int8 stream: the bytes are kept
        w.write(s_i16, np.array([[1, -2, 3], [32767, -32768, 0]], dtype=np.int16), [100.0, 100.1])
        w.write(s_dbl, dbl, 100.0 + np.arange(5))
        w.write(s_i64, i64, [1.0, 2.0, 3.0])
        w.clock_offset(s_eeg, 101.0, 0.25)
    return dict(eeg=eeg, eeg_t=eeg_t, frames=frames, frame_t=frame_t, markers=markers, marker_t=marker_t, dbl=dbl,
                i64=i64)


def test_round_trip_through_pyxdf(tmp_path):
    path = tmp_path / "all.xdf"
    truth = _write_example(path)
    raw, _ = _load(path, synchronize_clocks=False)
    streams, header = _load(path)  # clock offsets applied
    assert header["info"]["version"] == ["1.0"] and header["info"]["subject"] == ["01"]

    eeg = streams["eeg"]
    np.testing.assert_array_equal(eeg["time_series"], truth["eeg"])  # bit-exact
    assert eeg["time_series"].dtype == np.float32
    np.testing.assert_array_equal(raw["eeg"]["time_stamps"], truth["eeg_t"])
    np.testing.assert_allclose(eeg["time_stamps"], truth["eeg_t"] + 0.25, rtol=0, atol=1e-9)
    assert eeg["clock_times"] == [100.0, 101.0] and eeg["clock_values"] == [0.25, 0.25]
    info = eeg["info"]
    assert (info["type"][0], info["channel_count"][0], info["nominal_srate"][0], info["channel_format"][0],
            info["source_id"][0]) == ("EEG", "8", "256.0", "float32", "amp-1")
    assert info["hostname"][0] and float(info["created_at"][0]) > 0
    channels = info["desc"][0]["channels"][0]["channel"]
    assert [c["label"][0] for c in channels] == LABELS
    assert channels[0]["unit"][0] == "microvolts" and channels[7]["type"][0] == "misc"
    assert info["desc"][0]["synthetic"] == ["true"]
    assert info["desc"][0]["manufacturer"][0]["name"] == ["X&Y"]
    footer = eeg["footer"]["info"]
    assert footer["sample_count"] == ["700"] and float(footer["last_timestamp"][0]) == truth["eeg_t"][-1]

    mrk = streams["mrk"]
    assert mrk["time_series"] == [[m] for m in truth["markers"]]
    np.testing.assert_array_equal(mrk["time_stamps"], truth["marker_t"])

    vid = streams["vid"]
    assert vid["time_series"].dtype == np.int8
    np.testing.assert_array_equal(vid["time_series"].view(np.uint8), truth["frames"])
    desc = vid["info"]["desc"][0]
    assert (desc["width"], desc["height"], desc["channels"], desc["color_order"]) == (["32"], ["24"], ["3"], ["BGR"])

    i16 = streams["i16"]
    assert i16["info"]["stream_id"] == 46202862
    np.testing.assert_array_equal(i16["time_series"], [[1, -2, 3], [32767, -32768, 0]])
    np.testing.assert_array_equal(streams["dbl"]["time_series"], truth["dbl"])
    np.testing.assert_array_equal(streams["i64"]["time_series"], truth["i64"])

    rec = load_recording(path)  # the neutral structure
    assert rec.eeg.name == "eeg" and rec.eeg.labels == tuple(LABELS) and rec.eeg.synthetic
    assert rec.video.name == "vid" and (rec.video_format.width, rec.video_format.height) == (32, 24)
    np.testing.assert_array_equal(rec.frame(1), truth["frames"][1].reshape(24, 32, 3))
    assert rec.marker_counts()["a|b"] == 1
    assert any("'i16'" in n and "not used" in n for n in rec.notes)


def test_writer_refuses_bad_input(tmp_path):
    with XDFWriter(tmp_path / "x.xdf") as w:
        sid = w.add_stream("s", "EEG", 2, 100.0, "int16", "s")
        with pytest.raises(ValueError, match="2 channels"):
            w.write(sid, np.zeros((3, 3)), np.arange(3))
        with pytest.raises(ValueError, match="timestamps"):
            w.write(sid, np.zeros((3, 2), np.int16), np.arange(2))
        with pytest.raises(ValueError, match="truncate float"):
            w.write(sid, np.zeros((3, 2)), np.arange(3))
        with pytest.raises(ValueError, match="channel_format"):
            w.add_stream("bad", "EEG", 2, 100.0, "float16", "b")
        with pytest.raises(ValueError, match="already used"):
            w.add_stream("dup", "EEG", 2, 100.0, "float32", "d", stream_id=sid)
        with pytest.raises(ValueError, match="XML element name"):
            w.add_stream("d", "EEG", 1, 1.0, "float32", "d", desc={"bad key": 1})
    with pytest.raises(XDFWriteError, match="closed"):
        w.write(sid, np.zeros((1, 2), np.int16), [0.0])


def test_background_flush_when_writes_stop(tmp_path):
    """Data written just before a stall reaches the file within the flush interval, without another write."""
    path = tmp_path / "stall.xdf"
    w = XDFWriter(path, flush_interval_s=0.2)
    try:
        sid = w.add_stream("s", "EEG", 2, 100.0, "float32", "s")
        w.write(sid, np.ones((10, 2), np.float32), np.arange(10) / 100.0)
        deadline = time.monotonic() + 3.0
        while w.sample_count(sid) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        streams, _ = _load(path)  # read while the writer is still open
        assert len(streams["s"]["time_stamps"]) == 10
    finally:
        w.close()
    assert not w._flusher.is_alive()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_disk_full_raises_a_clear_oserror():
    with pytest.raises(XDFWriteError) as info:
        XDFWriter("/dev/full")
    assert isinstance(info.value, OSError)
    assert "disk full" in str(info.value) and "/dev/full" in str(info.value)


def test_recording_path():
    p = recording_path("recordings", subject="S-01", session=2, task="film clips", when=datetime(2026, 1, 2, 3, 4, 5))
    assert p == Path("recordings/sub-S01_ses-2_task-filmclips_20260102T030405.xdf")
    assert re.fullmatch(r"sub-7_ses-1_task-rest_\d{8}T\d{6}\.xdf", recording_path(subject=7, task="rest").name)
    with pytest.raises(ValueError):
        recording_path(subject="--")


_CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np
    from affectstream.core.xdf_writer import XDFWriter
    w = XDFWriter(sys.argv[1], flush_interval_s=None)
    sid = w.add_stream("crash", "EEG", 4, 100.0, "float32", "crash-test", labels=["a", "b", "c", "d"])
    mrk = w.add_stream("crash-markers", "Markers", 1, 0.0, "string", "crash-test-m")
    t0 = time.monotonic()
    print("ready", flush=True)
    sent, last_flush = 0, t0
    while True:
        now = time.monotonic()
        due = int((now - t0) * 100)
        if due > sent:
            idx = np.arange(sent, due)
            w.write(sid, np.repeat(idx[:, None], 4, axis=1).astype(np.float32), idx / 100.0)
            w.write(mrk, [f"m{i}" for i in idx if i % 50 == 0], [i / 100.0 for i in idx if i % 50 == 0])
            sent = due
        if now - last_flush >= 0.5:
            w.flush()
            print(f"flushed {sent}", flush=True)
            last_flush = now
        time.sleep(0.005)
""")


def test_sigkill_loses_at_most_the_last_second(tmp_path):
    import pyxdf

    path = tmp_path / "crash.xdf"
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        t_ready = time.monotonic()
        flushed = 0
        kill_at = 3.0 + np.random.default_rng().uniform(0, 0.5)  # anywhere in the flush cycle
        while time.monotonic() - t_ready < kill_at - 0.5:
            line = proc.stdout.readline()
            assert line.startswith("flushed"), line
            flushed = int(line.split()[1])
        time.sleep(max(0.0, kill_at - (time.monotonic() - t_ready)))
        generated = (time.monotonic() - t_ready) * 100  # samples the child had produced (upper bound)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == -signal.SIGKILL

    streams, _ = _load(path)  # no footers: the writer never closed
    s = streams["crash"]
    n = len(s["time_stamps"])
    assert n >= flushed >= 200, "everything flushed before the kill must be readable"
    assert generated - n <= 100, f"lost {generated - n:.0f} samples (> 1 s at 100 Hz)"
    np.testing.assert_array_equal(s["time_series"][:, 0], np.arange(n))  # nothing reordered or corrupted
    np.testing.assert_allclose(s["time_stamps"], np.arange(n) / 100.0)
    assert "footer" not in s
    assert [m[0] for m in streams["crash-markers"]["time_series"]][:3] == ["m0", "m50", "m100"]
    rec = load_recording(path)
    assert rec.eeg.n_samples == n and rec.eeg.labels == ("a", "b", "c", "d")
    pyxdf.load_xdf(str(path))  # the default (dejittered) load works too


# ---- the reader ----------------------------------------------------------------------------------------------


def _pyxdf_streams(path):
    import pyxdf

    streams, _ = pyxdf.load_xdf(str(path), dejitter_timestamps=False)
    return {s["info"]["stream_id"]: s for s in streams}


def _shared_files(shared_data):
    files = sorted((shared_data / "xdf").glob("*.xdf"))
    if not files:
        pytest.skip("no XDF files in shared/data/xdf")
    return files


def test_vectorised_decoding_equals_pyxdf(tmp_path, shared_data):
    """The reader's fast path must give pyxdf's result exactly, on our files and on other tools' files."""
    mine = tmp_path / "mine.xdf"
    _write_example(mine)
    for path in [mine, *_shared_files(shared_data)]:
        ref = _pyxdf_streams(path)
        rec = load_recording(path)
        assert {s.stream_id for s in rec.streams} == set(ref)
        for s in rec.streams:
            r = ref[s.stream_id]
            np.testing.assert_array_equal(s.timestamps, r["time_stamps"], err_msg=f"{path.name} {s.name}")
            if s.is_string:
                assert s.data == r["time_series"]
            else:
                assert s.data.dtype == r["time_series"].dtype
                np.testing.assert_array_equal(s.data, r["time_series"], err_msg=f"{path.name} {s.name}")


def test_odd_but_valid_files_load(tmp_path):
    """Empty streams, clock resets, multi-channel strings, unlabeled streams: loaded, with notes, no crash."""
    path = tmp_path / "odd.xdf"
    with XDFWriter(path) as w:
        w.add_stream("empty", "EEG", 32, 256.0, "float32", "e")
        eeg = w.add_stream("nolabels", "EEG", 8, 1000.0, "float32", "n")
        strs = w.add_stream("pairs", "Events", 2, 0.0, "string", "p")
        acc = w.add_stream("acc", "Accelerometer", 3, 50.0, "int16", "a")
        cam = w.add_stream("cam", "Video", 12, 30.0, "float32", "c")  # type Video, but not the project's format
        t = np.arange(2000) / 1000.0
        t[1000:] += 3600.0  # a clock reset / break in the timestamps
        w.write(eeg, np.ones((2000, 8), np.float32), t)
        for k, ct in enumerate([0.0, 5.0, 10.0, 3600.0, 3605.0]):
            w.clock_offset(eeg, ct, 0.001 if k < 3 else 2.0)
        w.write(strs, [["a", "b"], ["", "é"]], [0.1, 0.2])
        w.write(acc, np.zeros((4, 3), np.int16), np.arange(4) / 50.0)
        w.write(cam, np.zeros((2, 12), np.float32), [0.0, 0.1])
    rec = load_recording(path)
    assert rec.eeg.name == "nolabels" and rec.eeg.labels is None and rec.eeg.n_samples == 2000
    assert rec.markers[0].text_values() == ["a|b", "|é"]
    assert any("'empty'" in n and "no samples" in n for n in rec.notes)
    assert any("'acc'" in n for n in rec.notes)
    assert rec.video is None and any("'cam'" in n and "float32" in n and "not a usable Video" in n for n in rec.notes)
    assert all("\n" not in n for n in rec.notes)

    bare = tmp_path / "bare.xdf"  # no FileHeader, no stream: pyxdf reads it, so do we
    bare.write_bytes(b"XDF:" + chunk(5, BOUNDARY_UUID))
    rec = load_recording(bare)
    assert rec.streams == [] and rec.eeg is None and any("FileHeader" in n for n in rec.notes)


def _valid_bytes(tmp_path) -> bytes:
    path = tmp_path / "valid.xdf"
    with XDFWriter(path) as w:
        sid = w.add_stream("eeg", "EEG", 4, 100.0, "float32", "v", labels=list("abcd"))
        for k in range(5):
            w.write(sid, np.full((100, 4), k, np.float32), k + np.arange(100) / 100.0)
            w.flush()
    return path.read_bytes()


def _header_and_stream(nch: int = 4, fmt: str = "float32") -> bytes:
    xml = (f'<?xml version="1.0"?><info><name>x</name><type>EEG</type><channel_count>{nch}</channel_count>'
           f"<nominal_srate>100</nominal_srate><channel_format>{fmt}</channel_format></info>").encode()
    return (b"XDF:" + chunk(1, b'<?xml version="1.0"?><info><version>1.0</version></info>')
            + chunk(2, struct.pack("<I", 1) + xml))


def _hostile(tmp_path) -> dict[str, bytes]:
    valid = _valid_bytes(tmp_path)
    rng = np.random.default_rng(1)
    sample = b"\x08" + struct.pack("<d", 1.0) + b"\x00" * 16
    return {
        "empty": b"",
        "wrong_magic": b"XDX:" + valid[4:],
        "random": rng.integers(0, 256, 20000, dtype=np.uint8).tobytes(),
        "magic_then_random": b"XDF:" + rng.integers(0, 256, 20000, dtype=np.uint8).tobytes(),
        "truncated": valid[: len(valid) * 2 // 3],
        "huge_chunk_length": _header_and_stream() + b"\x08" + struct.pack("<Q", 2 ** 62) + b"\x03\x00" + b"\0" * 64,
        "huge_sample_count": _header_and_stream() + chunk(3, struct.pack("<I", 1) + varlen(2 ** 40) + sample),
        "huge_string_count": _header_and_stream(1, "string") + chunk(3, struct.pack("<I", 1) + varlen(10 ** 9)
                                                                     + b"\x08" + b"\0" * 10),
        "huge_channel_count": _header_and_stream(10 ** 12) + chunk(3, struct.pack("<I", 1) + varlen(1) + sample),
        "bad_header_xml": b"XDF:" + chunk(1, b"<info><version>1.0</version></info>")
                          + chunk(2, struct.pack("<I", 1) + b"<info><name>x</broken>"),
        "orphan_clock_offset": _header_and_stream() + chunk(4, struct.pack("<Idd", 9, 1.0, 0.0)),
        "short_clock_offset": _header_and_stream() + chunk(4, struct.pack("<Id", 1, 1.0)),
        "bad_varlen": _header_and_stream() + b"\x03\x05\x00\x03\x00",
    }


def test_hostile_files_give_one_clear_error(tmp_path):
    from affectstream.pipelines.sessions.replay import replay

    tracemalloc.start()
    try:
        for name, data in _hostile(tmp_path).items():
            path = tmp_path / f"{name}.xdf"
            path.write_bytes(data)
            with pytest.raises(XDFFormatError) as info:  # how fast: affectstream bench, hostile
                load_recording(path)
            msg = str(info.value)
            assert "\n" not in msg and path.name in msg, (name, msg)
            with pytest.raises(ValueError):  # replay says the same, as a ValueError
                replay(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2 ** 20, f"peak Python allocation {peak / 2 ** 20:.0f} MiB"
    with pytest.raises(FileNotFoundError):
        load_recording(tmp_path / "nope.xdf")


def test_truncated_file_can_be_salvaged(tmp_path):
    valid = _valid_bytes(tmp_path)
    path = tmp_path / "cut.xdf"
    path.write_bytes(valid[: len(valid) - 700])  # inside the last Samples chunk
    with pytest.raises(XDFFormatError, match="truncated"):
        load_recording(path)
    rec = load_recording(path, allow_truncated=True)
    assert rec.eeg.n_samples == 400
    assert any("bytes dropped" in n for n in rec.notes)
