"""One row per hop through an EEG outage, on time and never back in time (issue 20, items 3 and 10).

:class:`affectstream.pipelines.feed.EEGFeed` is driven as :meth:`LiveSession.poll` drives it - a push when a pull
brought samples, then :meth:`~EEGFeed.fill` with the stream clock - on a made-up clock, so no LSL is needed and
every time is exact. A stream that stops gets a row per hop (``eeg lost``, EEG values null) from half a second after
the first missing hop, each stamped on the hop grid with its true delay; what the stream sends afterwards for times
already written is left out and counted; a healthy stream, however irregular its chunks or late its delivery, never
gets such a row. The same outages over LSL, with a frozen simulator: ``test_stream_faults.py``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from fixtures.face_stub import StubFace

from affectstream.core.montage import MONTAGE_32
from affectstream.pipelines.config import PipelineConfig
from affectstream.pipelines.engine import AffectPipeline, EEGStreamSpec
from affectstream.pipelines.feed import FACE_WAIT_S, LATE_S, EEGFeed
from affectstream.pipelines.sessions.base import HopOutputs, StreamStatus

SFREQ = 256.0
POLL_S = 0.004


class _Run:
    """SYNTHETIC noise EEG (33 channels, counter last) fed as a live poll loop on a made-up stream clock.

    ``step(now, samples_until)``: one poll at stream time ``now`` that pulls the samples stamped up to
    ``samples_until`` not pulled yet (None: nothing arrives). ``received_at`` is ``now`` too (the perf clock of the
    test is the stream clock), so a hop's ``now - received_at`` is its true delay.
    """

    def __init__(self, face: StubFace | None = None) -> None:
        labels = tuple(MONTAGE_32) + ("SampleCounter",)
        spec = EEGStreamSpec(sfreq=SFREQ, n_channels=len(labels), labels=labels, name="test-EEG", synthetic=True)
        self.feed = EEGFeed(AffectPipeline(spec, PipelineConfig(eeg_estimator="baseline"), live=True, face=face))
        self.face = face
        self.rng = np.random.default_rng(0)
        self.sent = 0  # samples pulled of the current stream
        self.t0 = 0.0  # stamp of its sample 0
        self.hops: list = []
        self.written_at: list[float] = []

    def step(self, now: float, samples_until: float | None) -> None:
        if self.face is not None:
            self.face.add_until(now - 0.03)  # the face thread lags 30 ms
        hops = []
        if samples_until is not None:
            n = int(np.floor((samples_until - self.t0) * SFREQ)) + 1 - self.sent
            if n > 0:
                data = (10 * self.rng.standard_normal((n, 33))).astype(np.float32)
                data[:, -1] = np.arange(self.sent, self.sent + n)
                stamps = self.t0 + np.arange(self.sent, self.sent + n) / SFREQ
                self.sent += n
                hops += self.feed.push(data, stamps, now, now)[0]
        hops += self.feed.fill(now, now)
        self.hops += hops
        self.written_at += [now] * len(hops)

    def run(self, t_from: float, t_to: float, delivered, chunk_s: float = 1 / 32) -> None:
        """Poll every 4 ms; ``delivered(now)``: the newest stamp the stream has delivered by ``now`` (or None),
        pulled every ``chunk_s``."""
        for k in range(int(round((t_to - t_from) / POLL_S))):
            now = t_from + k * POLL_S
            until = delivered(now)
            pulls = until is not None and int(now / chunk_s) != int((now - POLL_S) / chunk_s)
            self.step(now, until if pulls else None)


def _steady(delay: float = 0.005):
    return lambda now: now - delay


def _lost_rows(hops: list) -> list:
    return [h for h in hops if h.eeg.source in ("lost", "gap")]


def test_a_stopped_stream_without_a_face_gets_one_row_per_hop_on_time():
    """Item 10: no face source, the EEG stops at 5 s for 3 s: every hop is still written, the first within 1 s."""
    run = _Run()
    stop, back = 5.0, 8.0
    run.run(0.0, 12.0, lambda now: now - 0.005 if not stop <= now < back else (stop if now < back else now - 0.005))
    times = np.array([h.t for h in run.hops])
    assert np.all(np.diff(times) > 0)
    steps = np.diff(times)
    assert steps.max() <= run.feed.pipeline.hop_s + 1e-6  # not one hop missing from the output, outage or not
    rows = _lost_rows(run.hops)
    first = run.hops.index(rows[0])
    assert rows[0].t > stop and run.written_at[first] - stop < 1.0  # shown within a second of the last sample
    for h in rows:
        record = h.to_json()
        assert h.status == "eeg lost" and record["estimator_eeg"] == "lost" and record["valence_eeg"] is None
        assert record["valence"] is None and record["quality_eeg"] == 0.0
    # each row carries its true delay: written when due (the first one LATE_S late), received_at = due time
    i = [run.hops.index(h) for h in rows]
    delays = np.array([run.written_at[k] - run.hops[k].t for k in i])
    assert np.allclose([run.hops[k].received_at for k in i], times[i], atol=1e-9)
    assert LATE_S <= delays[0] <= LATE_S + 0.05  # + the stream's usual delay; the rows due by then come with it
    assert np.all(delays[1:3] < LATE_S) and np.all(delays[3:] <= POLL_S + 1e-9)  # then each on the poll it is due
    # the stream resumes with what it held back, stamped in the past: left out, counted; its new hops follow
    # (3 s come in one pull: the hops the live backlog computes are late, those it skips are counted as skipped)
    late, skipped = run.feed.faults.late_hops, run.feed.pipeline.stats.skipped_hops
    assert late >= 4 and late + skipped >= 11
    assert run.hops[-1].eeg.source == "baseline" and run.feed.missing == ""


def test_a_lost_stream_returning_with_a_backlog_never_steps_back_with_a_face():
    """Item 3: the face goes on alone while the EEG is lost; the re-attached stream first delivers the 3 s it held
    back (stamped where rows were already written): output t never goes back, the same span is not written twice."""
    face = StubFace()
    run = _Run(face)
    run.run(0.0, 5.0, _steady())
    run.feed.mark_lost()  # the inlet gave up on the stream at 5.0 s (its last sample: 4.995)
    run.run(5.0, 8.1, lambda now: None)
    rows = _lost_rows(run.hops)
    assert rows and all(h.status == "face only" and h.to_json()["valence_face"] == pytest.approx(0.3) for h in rows)
    assert all(0 <= h.to_json()["face_age_s"] <= 0.1 + 1e-6 for h in rows)  # a fresh frame on every row
    # re-attached at 8.1 s: a new connection whose first samples are those held back since 4.995 s
    run.feed.restart("gap", new_stream=True)
    run.sent, run.t0 = 0, 4.995 + 1 / SFREQ
    run.run(8.1, 13.0, _steady())
    times = np.array([h.t for h in run.hops])
    assert np.all(np.diff(times) > 0)
    assert np.diff(times).max() <= run.feed.pipeline.hop_s + 1e-6
    assert run.feed.faults.late_hops > 0 and run.hops[-1].eeg.source == "baseline"
    latencies = np.array(run.written_at) - times
    assert latencies[[run.hops.index(h) for h in _lost_rows(run.hops)]].max() <= LATE_S + FACE_WAIT_S


@pytest.mark.parametrize("delay", [0.005, 0.7])
def test_a_healthy_stream_never_gets_a_row_without_the_eeg(delay):
    """Chunks 10 times a second with 90 ms of jitter, delivered 5 ms or 0.7 s after their stamps (a stream's own
    latency, which is not an outage): every hop comes from the EEG."""
    rng = np.random.default_rng(1)
    jitter = {}

    def delivered(now: float) -> float:
        k = int(now * 10)
        jitter.setdefault(k, rng.uniform(0, 0.09))
        return now - delay - jitter[k]

    run = _Run()
    run.run(0.0, 15.0, delivered, chunk_s=0.1)
    assert run.hops and not _lost_rows(run.hops) and run.feed.faults.late_hops == 0
    assert np.all(np.diff([h.t for h in run.hops]) > 0)


def test_rows_keep_their_true_latency_and_the_face_age_in_the_jsonl(tmp_path):
    """HopOutputs measures a row's latency from when it was due (its received_at), an EEG hop's from its chunk."""
    run = _Run(StubFace())
    run.run(0.0, 4.0, _steady())
    run.run(4.0, 5.0, lambda now: 3.995)  # stopped after 3.995
    rows = _lost_rows(run.hops)
    import time

    now = time.perf_counter()
    for h in rows:
        h.received_at = now - (5.0 - h.t)  # on the perf clock: due (5.0 - t) s before this emit
    outputs = HopOutputs(publish=False, hop_s=0.25, synthetic=True, out=tmp_path / "o.jsonl")
    outputs.emit(rows, now, eeg_stream=StreamStatus("test-EEG", SFREQ))
    outputs.close()
    records = [json.loads(line) for line in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert [r["latency_ms"] for r in records] == pytest.approx([(5.0 - h.t) * 1e3 for h in rows], abs=50)
    assert all(r["eeg_stream"]["late_hops"] == 0 and r["face_age_s"] is not None for r in records)
