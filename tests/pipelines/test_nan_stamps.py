"""A NaN timestamp on the sample that ends a hop (issue 20, item 1): the sample is dropped and counted, the replay
ends normally, and no output time is NaN."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from fixtures.hostile import write

from affectstream.app.cli.main import main
from affectstream.pipelines.bench.hostile import numeric_samples, stream_header, xdf_file
from affectstream.pipelines.feed import TimingGuard

LABELS = ("Fp1", "Fp2", "C3", "C4", "P3", "P4", "O1", "O2")


def test_the_guard_drops_and_counts_non_finite_stamps():
    guard = TimingGuard(256.0, 64)
    stamps = np.arange(8) / 256.0
    stamps[3], stamps[5] = np.nan, np.inf
    (segment,) = guard.check(np.arange(8.0)[:, None], stamps)
    assert segment.stamps.tolist() == [0, 1 / 256, 2 / 256, 4 / 256, 6 / 256, 7 / 256]
    assert guard.faults.invalid_stamps == 2


def test_replay_with_a_nan_stamp_at_a_hop_end_writes_finite_times(tmp_path, capsys):
    n = 256 * 8
    values = (np.random.default_rng(0).standard_normal((n, 8)) * 10).astype(np.float32)
    stamps = 100.0 + np.arange(n) / 256.0
    stamps[1023] = np.nan  # the last sample of the hop that ends at 4 s
    path = write(tmp_path / "nan.xdf", xdf_file(stream_header(1, "eeg", "EEG", 8, "256", "float32", LABELS),
                                                numeric_samples(1, values, stamps)))
    out = tmp_path / "x.jsonl"
    assert main(["replay", str(path), "--headless", "--out", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    times = [r["t"] for r in records]
    assert len(records) > 20 and all(isinstance(t, float) and math.isfinite(t) for t in times)
    assert all(b > a for a, b in zip(times, times[1:]))  # strictly increasing
    assert records[-1]["eeg_stream"]["invalid_stamps"] == 1


def test_replay_of_a_clock_reset_keeps_every_hop_and_t_increasing(tmp_path, capsys):
    """A sender whose clock is reset 1000 s back mid-recording: the samples after the reset are moved to continue the
    stream's time (one period after the last stamp), so t never steps back and the data after it is not lost."""
    n = 256 * 10
    values = (np.random.default_rng(1).standard_normal((n, 8)) * 10).astype(np.float32)
    stamps = 2000.0 + np.arange(n) / 256.0
    stamps[n // 2:] -= 1000.0
    path = write(tmp_path / "reset.xdf", xdf_file(stream_header(1, "eeg", "EEG", 8, "256", "float32", LABELS),
                                                  numeric_samples(1, values, stamps)))
    out = tmp_path / "x.jsonl"
    assert main(["replay", str(path), "--headless", "--out", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    times = np.array([r["t"] for r in records])
    assert np.all(np.diff(times) > 0) and times[-1] == pytest.approx(2000.0 + (n - 1) / 256.0)
    # each 5 s half gives its hops once its 2 s window is full: 13 each
    assert len(records) == 2 * 13 and records[-1]["eeg_stream"]["clock_jumps"] == 1


def test_a_hostile_counter_channel_is_no_count_of_lost_samples():
    from affectstream.core.montage import MONTAGE_32
    from affectstream.pipelines.config import PipelineConfig
    from affectstream.pipelines.engine import COUNTER_LABEL, AffectPipeline, EEGStreamSpec

    spec = EEGStreamSpec(sfreq=256.0, n_channels=33, labels=(*MONTAGE_32, COUNTER_LABEL), synthetic=True)
    pipe = AffectPipeline(spec, PipelineConfig(eeg_estimator="baseline"))
    data = np.zeros((8, 33), np.float32)
    data[:, 32] = [1, 2, np.inf, 3, 1e30, 6, np.nan, 7]  # float32: 1e300 would already be inf
    pipe.push_eeg(data, np.arange(8) / 256.0)
    # finite counts 1 2 3 1e30 6 7: no gap from 2 to 3, the 1e30 jumps are no sample count (two "reorders"), 6 -> 7 ok
    assert pipe.stats.counter_gaps == 0 and pipe.stats.counter_reorders == 2
