"""A replay's summary stays short, printable and sane on hostile files (issue 20, items 11 and 12).

The files are small **synthetic** 8-channel 256 Hz recordings (random values) whose timestamps are then damaged;
the expected durations are worked out by hand from the sample count and rate.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from affectstream.pipelines.bench.hostile import numeric_samples, stream_header, string_samples, xdf_file
from affectstream.pipelines.sessions.replay import ReplaySummary, covered_s, replay
from fixtures.hostile import BASELINE

LABELS = ("Fp1", "Fp2", "F3", "F4", "C3", "C4", "O1", "O2")
N, SRATE = 2560, 256.0  # 10 s


def _recording(path, damage: dict[int, float], markers: list[str] = ()):
    """10 s of synthetic EEG stamped from t = 1000 s at 256 Hz, with the stamps at ``damage``'s indices replaced."""
    stamps = 1000.0 + np.arange(N) / SRATE
    for i, t in damage.items():
        stamps[i] = t
    values = (np.random.default_rng(0).standard_normal((N, 8)) * 10).astype(np.float32)
    chunks = [stream_header(1, "eeg", "EEG", 8, "256", "float32", LABELS), numeric_samples(1, values, stamps)]
    if markers:
        chunks += [stream_header(2, "m", "Markers", 1, "0", "string"), string_samples(2, len(markers), markers)]
    path.write_bytes(xdf_file(*chunks))
    return path


@pytest.mark.parametrize("damage, left_out", [
    ({N - 1: 970.0}, "gaps or clock jumps 1"),  # was "-30.0 s of recording (-328x real time)"
    ({N - 1: math.inf}, "non-finite stamps 1"),  # was "inf s"
    ({N - 1: 1e300}, "gaps or clock jumps 1"),  # was a 300-digit duration
    ({0: -math.inf}, "non-finite stamps 1"),
])
def test_replay_summary_duration_is_finite_and_says_what_it_left_out(tmp_path, damage, left_out):
    summary = replay(_recording(tmp_path / "bad.xdf", damage), config=BASELINE, with_video=False)
    # one stamp damaged at an end: the other 2559 samples cover 2558 periods of 1/256 s
    assert summary.duration_s == 2558 / 256
    assert math.isfinite(summary.x_realtime) and summary.x_realtime > 0
    note = next(n for n in summary.notes if n.startswith("duration:"))
    assert note == f"duration: 10.0 s of stream time with samples, leaving out {left_out}"
    assert len(f"{summary.duration_s:.1f} s ({summary.x_realtime:.0f}x real time)") < 40


def test_a_well_formed_file_keeps_last_minus_first_and_gets_no_note(tmp_path):
    summary = replay(_recording(tmp_path / "ok.xdf", {}), config=BASELINE, with_video=False)
    assert summary.duration_s == (N - 1) / SRATE and not any(n.startswith("duration:") for n in summary.notes)


def test_covered_time_leaves_out_gaps_repeats_and_reordering():
    t = 10.0 + np.arange(1000) / 100.0  # 100 Hz: a jump is a step over 25 periods (0.25 s)
    t[500:] += 3.0  # a 3 s gap: the step from sample 499 to 500 is 3.01 s, left out
    t[200] = t[199]  # repeated: one step of 0 (left out) and one of 0.02 s (kept, 2 periods)
    t[300], t[301] = t[301], t[300]  # swapped: steps +0.02, -0.01 (left out), +0.02
    covered, note = covered_s(t, 100.0)
    # the steps telescope to the span, 12.99 s; left out are the gap's 3.01 s, the repeat's 0 and the swap's -0.01
    assert covered == pytest.approx(12.99 - 3.01 - 0.0 + 0.01)
    assert note == "duration: 10.0 s of stream time with samples, leaving out repeated or reordered stamps 2, " \
                   "gaps or clock jumps 1"
    assert covered_s(np.array([np.nan, np.nan]), 100.0) == (0.0, "duration: 0.0 s of stream time with samples, "
                                                                   "leaving out non-finite stamps 2")


def test_markers_line_is_short_and_printable_with_many_odd_markers(tmp_path):
    """20,000 distinct labels with NUL bytes here (the issue's 200,000 gave a 3.7 MB stderr line)."""
    markers = [f"odd\x00{k}" for k in range(20_000)] + ["go"] * 3 + ["stop\x07\n\tnow"] * 2
    summary = replay(_recording(tmp_path / "markers.xdf", {}, markers), config=BASELINE, with_video=False)
    assert summary.n_markers == 20_005 and len(summary.markers) == 20_002
    line = summary.markers_line()
    assert line.startswith("go x3, stop\\x07 now x2, odd\\x000 x1, odd\\x001 x1, ")
    assert line.endswith(", and 19990 other labels x19990")  # 12 shown: go, stop, 10 of the odd ones
    assert line.isprintable() and len(line) < 400  # it was 270 kB with NUL bytes


def test_markers_line_keeps_short_lists_whole():
    summary = ReplaySummary(path="f.xdf", eeg_stream="eeg", markers={"square": 80, "rt": 74, "x" * 50: 1})
    assert summary.markers_line() == "square x80, rt x74, " + "x" * 37 + "... x1"
    assert ReplaySummary(path="f.xdf", eeg_stream="eeg").markers_line() == "no markers"
