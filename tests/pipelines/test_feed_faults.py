"""Faults in front of the pipeline (issue 10, items 1 and 2): timestamps and an EEG stream that goes away.

:class:`affectstream.pipelines.feed.EEGFeed` (the timestamp guard in front of the pipeline) is fed by hand, so no
LSL is needed: duplicated, reordered and jumping timestamps, bursts, a wrong effective rate, and an EEG stream lost
and back (face-only hops meanwhile, a fresh window after). The inlet side of a lost stream is tested in
``tests/pipelines/sources/test_supervised_inlet.py``, the whole session in
``tests/pipelines/sessions/test_stream_faults.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from fixtures.face_stub import StubFace

from affectstream.core.montage import MONTAGE_32
from affectstream.pipelines.config import PipelineConfig
from affectstream.pipelines.engine import AffectPipeline, EEGStreamSpec
from affectstream.pipelines.feed import JUMP_PERIODS, EEGFeed

SFREQ = 256.0
LABELS = tuple(MONTAGE_32) + ("SampleCounter",)
CONFIG = PipelineConfig(eeg_estimator="baseline")


def _pipeline(face=None) -> AffectPipeline:
    spec = EEGStreamSpec(sfreq=SFREQ, n_channels=len(LABELS), labels=LABELS, name="test-EEG")
    return AffectPipeline(spec, CONFIG, live=True, face=face)


def _signal(n: int, seed: int = 0) -> np.ndarray:
    """(n, 33) µV with alpha, and the sample counter in the last column."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SFREQ
    data = 10.0 * rng.standard_normal((n, len(LABELS))) + 20.0 * np.sin(2 * np.pi * 10 * t)[:, None]
    data[:, -1] = np.arange(n)
    return data.astype(np.float32)


def _feed(chunks: list[tuple[np.ndarray, np.ndarray]], face=None) -> tuple[EEGFeed, list]:
    feed = EEGFeed(_pipeline(face))
    hops = []
    for data, stamps in chunks:
        hops += feed.push(data, stamps)[0]
    return feed, hops


def _chunks(data: np.ndarray, stamps: np.ndarray, size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(data[i:i + size], stamps[i:i + size]) for i in range(0, len(stamps), size)]


def _same_hops(a: list, b: list) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.t == y.t and x.status == y.status and x.eeg.source == y.eeg.source
        np.testing.assert_array_equal(x.features, y.features)
        assert (x.valence == y.valence) or (math.isnan(x.valence) and math.isnan(y.valence))


# ------------------------------------------------------------------------------------------------- timing faults
def test_duplicated_and_out_of_order_stamps_are_dropped_counted_and_deterministic():
    n = int(6 * SFREQ)
    data, stamps = _signal(n), 100.0 + np.arange(n) / SFREQ
    faulty_d, faulty_t = data.copy(), stamps.copy()
    faulty_t[300] = faulty_t[299]  # duplicate
    faulty_t[700] = faulty_t[698] - 0.5 / SFREQ  # reordered (a little before its predecessor)
    faulty_t[701] = faulty_t[700]  # a duplicate of a sample that was itself dropped is compared with the kept one
    chunks = _chunks(faulty_d, faulty_t, 8)

    feed, hops = _feed(chunks)
    assert feed.faults.duplicate_stamps == 1
    assert feed.faults.reordered_stamps == 2  # 700 and 701 are both before the kept 699
    assert feed.faults.clock_jumps == 0
    assert np.all(np.diff([h.t for h in hops]) > 0)  # the window only ever sees increasing time
    _same_hops(hops, _feed(chunks)[1])  # same input, same hops


def test_kept_samples_are_what_the_pipeline_used():
    data, stamps = _signal(64), 5.0 + np.arange(64) / SFREQ
    stamps[10] = stamps[9]
    feed = EEGFeed(_pipeline())
    _, kept, kept_t = feed.push(data, stamps)
    assert len(kept_t) == 63 and np.all(np.diff(kept_t) > 0)
    np.testing.assert_array_equal(kept[:, -1], np.delete(np.arange(64), 10))


@pytest.mark.parametrize("jump_s", [3.0, -50.0])
def test_clock_jump_restarts_the_window_so_no_hop_spans_it(jump_s):
    n = int(8 * SFREQ)
    data, stamps = _signal(n), 1000.0 + np.arange(n) / SFREQ
    cut = int(3.3 * SFREQ)
    stamps[cut:] += jump_s
    feed, hops = _feed(_chunks(data, stamps, 8))
    assert feed.faults.clock_jumps == 1
    assert feed.pipeline.stats.counter_gaps == 0  # the counter says nothing was lost: only the clock jumped
    window = feed.pipeline.n_window
    pre = set(stamps[:cut].tolist())
    before = [h for h in hops if h.t in pre]
    after = hops[len(before):]
    assert before and after and not any(h.t in pre for h in after) and before[-1].t < stamps[cut - 1] + 1e-9
    # the first hop after the jump ends exactly one window after the jump: its window holds no earlier sample. A jump
    # back (a reset clock) is moved to continue one period after the last stamp, so t never goes back
    moved = 0.0 if jump_s > 0 else stamps[cut - 1] + 1 / SFREQ - stamps[cut]
    assert after[0].t == pytest.approx(stamps[cut + window - 1] + moved)
    assert np.all(np.diff([h.t for h in hops]) > 0)
    assert all(h.eeg.source == "baseline" for h in hops)


def test_small_jitter_is_not_a_clock_jump():
    n = int(4 * SFREQ)
    rng = np.random.default_rng(1)
    stamps = 3.0 + np.arange(n) / SFREQ + rng.uniform(0, 0.4 / SFREQ, n)  # jitter below one period
    stamps[500:] += (JUMP_PERIODS - 2) / SFREQ  # a late packet, but not a jump
    feed, _ = _feed(_chunks(_signal(n), stamps, 8))
    assert feed.faults.clock_jumps == 0 and feed.faults.duplicate_stamps == feed.faults.reordered_stamps == 0


def test_bursts_give_the_hops_of_a_smooth_stream():
    n = int(10 * SFREQ)
    data, stamps = _signal(n, seed=2), 50.0 + np.arange(n) / SFREQ
    smooth_feed, smooth = _feed(_chunks(data, stamps, 8))
    burst_feed, bursty = _feed(_chunks(data, stamps, 128))  # half a second at once
    _same_hops(smooth, bursty)
    assert burst_feed.faults.burst_pulls == math.ceil(n / 128) and smooth_feed.faults.burst_pulls == 0
    assert burst_feed.pipeline.stats.skipped_hops == 0


def test_a_burst_beyond_the_live_backlog_skips_only_the_oldest_hops():
    n = int(8 * SFREQ)
    data, stamps = _signal(n, seed=3), np.arange(n) / SFREQ
    head = int(3 * SFREQ)
    feed, hops = _feed(_chunks(data[:head], stamps[:head], 8) + [(data[head:], stamps[head:])])  # 5 s at once
    pipe = feed.pipeline
    hop, window = pipe.n_hop, pipe.n_window
    expected = (n - window) // hop + 1  # hops a replay would give
    assert pipe.stats.skipped_hops > 0
    assert len(hops) + pipe.stats.skipped_hops == expected
    assert hops[-1].t == pytest.approx(stamps[window - 1 + (expected - 1) * hop])  # the newest is never skipped


@pytest.mark.parametrize("true_rate, mismatch", [(256.0, False), (243.0, True), (270.0, True), (250.0, False)])
def test_effective_rate_is_measured_over_ten_seconds_and_flagged(true_rate, mismatch):
    n = int(12 * true_rate)
    stamps = 7.0 + np.arange(n) / true_rate
    feed = EEGFeed(_pipeline())
    data = _signal(n)
    feed.push(data[: int(9 * true_rate)], stamps[: int(9 * true_rate)])
    assert math.isnan(feed.faults.effective_rate) and not feed.faults.rate_mismatch  # not 10 s yet
    for d, t in _chunks(data[int(9 * true_rate):], stamps[int(9 * true_rate):], 16):
        feed.push(d, t)
    assert feed.faults.effective_rate == pytest.approx(true_rate, rel=1e-3)
    assert feed.faults.rate_mismatch is mismatch


# ------------------------------------------------------------------------------------------------- gaps and face
def test_lost_eeg_gives_face_only_hops_until_the_new_window_is_full():
    face = StubFace()
    face.add_frames(0.0, 4.0)
    n = int(4 * SFREQ)
    data, stamps = _signal(n), np.arange(n) / SFREQ
    feed = EEGFeed(_pipeline(face))
    hops = []
    for d, t in _chunks(data, stamps, 8):
        hops += feed.push(d, t)[0]
    assert hops and all(h.status == "fused" for h in hops)
    last_eeg_t = hops[-1].t

    feed.mark_lost()
    face.add_frames(4.0, 7.0)
    lost = feed.fill()
    assert lost and all(h.eeg.source == "lost" and h.status == "face only" for h in lost)
    assert all(h.to_json()["valence_eeg"] is None and h.to_json()["valence_face"] == pytest.approx(0.3) for h in lost)
    assert all(h.quality_eeg == 0.0 and not h.good.any() for h in lost)
    np.testing.assert_allclose(np.diff([last_eeg_t] + [h.t for h in lost]), feed.pipeline.hop_s)
    assert lost[-1].t <= face.latest.t
    assert feed.fill() == []  # nothing new from the face: nothing to add

    feed.restart("gap", new_stream=True)  # the stream is back on a new connection: counter and clock start afresh
    face.add_frames(7.0, 12.0)
    m = int(5 * SFREQ)
    new_data, new_stamps = _signal(m, seed=9), 7.5 + np.arange(m) / SFREQ
    after = []
    for d, t in _chunks(new_data, new_stamps, 8):
        after += feed.push(d, t)[0]
    gap = [h for h in after if h.eeg.source == "gap"]
    eeg = [h for h in after if h.eeg.source == "baseline"]
    # face-only hops while the new window fills, then the EEG again
    assert gap and eeg and [h.eeg.source for h in after] == ["gap"] * len(gap) + ["baseline"] * len(eeg)
    assert eeg[0].t == pytest.approx(new_stamps[feed.pipeline.n_window - 1])
    times = [h.t for h in hops + lost + after]
    assert np.all(np.diff(times) > 0)  # hop times never go back
    assert feed.faults.clock_jumps == 0 and feed.pipeline.stats.counter_reorders == 0
    assert feed.missing == ""


def test_no_face_path_means_no_hops_while_lost():
    feed = EEGFeed(_pipeline())
    n = int(3 * SFREQ)
    feed.push(_signal(n), np.arange(n) / SFREQ)
    feed.mark_lost()
    assert feed.fill() == []
