"""Between an EEG source and the pipeline: timestamp checks, window restarts and the hops written without the EEG.

Live sessions and replays both feed the pipeline through an :class:`EEGFeed`, so a recording with duplicated stamps
or clock jumps gives the hops the live session gave. Every chunk's timestamps pass a :class:`TimingGuard`
(duplicates, reordering, clock jumps, bursts, a rate that is not the nominal one), which counts what it finds in
:class:`TimingFaults` and decides, deterministically, what the pipeline gets.

While the EEG gives no estimate (its stream stopped, was lost, or a restarted window fills) the hops go on, on the
hop grid, without it (issue 20, items 3 and 10): live, each one is written when it is due on the stream clock, so a
stopped stream shows in the output within a second, and EEG that arrives afterwards for a time already written is
left out of the output (counted): output times only ever increase.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from affectstream.core.bandpower import BAND_NAMES
from affectstream.core.montage import MONTAGE_32
from affectstream.pipelines.engine import AffectPipeline, HopResult
from affectstream.pipelines.fusion import ModalityEstimate, fuse

#: A step between consecutive timestamps longer than this many sample periods (forward or back) is a clock jump or
#: lost data: the window restarts there (and a jump back is moved forward, see :class:`TimingGuard`). 25 periods
#: (~0.1 s at 256 Hz) pass the jitter of packet-wise senders (a 12-sample Bluetooth packet spans 12 periods) yet stay
#: well below a hop.
JUMP_PERIODS = 25.0

#: Stream seconds of contiguous data over which the effective rate is measured, and the deviation from the nominal
#: rate above which it is flagged.
RATE_SPAN_S = 10.0
RATE_TOLERANCE = 0.05

#: Stream seconds a hop the EEG should deliver may be overdue (beyond the stream's usual delivery delay) before it is
#: written without the EEG. A healthy stream's chunks come every 33-100 ms (10-30 Hz), so half a second is never
#: reached by its jitter; a stream that stops is shown within hop + this, under a second.
LATE_S = 0.5
#: Stream seconds a hop written without the EEG waits for the face path's frame at its time (the face thread's lag,
#: p99 about 0.1 s under load); after that it is written with the newest frame there is.
FACE_WAIT_S = 0.25
#: Pulls over which the stream's delivery delay (stream clock at the pull minus its newest stamp) is taken, by median.
_DELAY_PULLS = 32


@dataclass
class TimingFaults:
    """Timestamp faults of one stream since the session started (shown in the status, written to the JSONL).

    Attributes
    ----------
    duplicate_stamps : int
        Samples stamped exactly like the sample before them; dropped.
    reordered_stamps : int
        Samples stamped before the sample before them (by less than a clock jump); dropped.
    clock_jumps : int
        Steps between consecutive stamps longer than :data:`JUMP_PERIODS` sample periods, forward (data lost, a
        clock that leapt) or back (a clock reset); the sample is kept and the window restarts at it.
    invalid_stamps : int
        Samples stamped NaN or infinite; dropped (a hop's time is its last sample's stamp, and an output time must be
        a number).
    burst_pulls : int
        Pulls that brought at least one hop of samples at once. Hops are counted in samples, so a burst gives the
        hops a smooth stream gives; only beyond the live backlog (``max_backlog_hops``) are the oldest skipped.
    late_hops : int
        EEG hops for a stream time already written without the EEG (a stream that stopped, then delivered what it
        had held back): computed, so the window and the estimators see every sample, but left out of the output.
    effective_rate : float
        Samples per second of stream time over the last :data:`RATE_SPAN_S` of contiguous data: NaN until the first
        such span, then the latest measurement (after a clock jump, until the next full span).
    rate_deviation : float
        ``effective_rate / nominal - 1``.
    """

    duplicate_stamps: int = 0
    reordered_stamps: int = 0
    clock_jumps: int = 0
    invalid_stamps: int = 0
    burst_pulls: int = 0
    late_hops: int = 0
    effective_rate: float = math.nan
    rate_deviation: float = math.nan

    @property
    def rate_mismatch(self) -> bool:
        """The stream delivers more than :data:`RATE_TOLERANCE` off its nominal rate."""
        return math.isfinite(self.rate_deviation) and abs(self.rate_deviation) > RATE_TOLERANCE


@dataclass(frozen=True)
class Segment:
    """A run of samples with usable timestamps; ``restart``: a clock jump precedes it (start a fresh window)."""

    data: np.ndarray
    stamps: np.ndarray
    restart: bool = False


class TimingGuard:
    """Checks the timestamps of consecutive chunks of one stream and splits them where the window must restart.

    Every rule depends only on the stamps, never on when they arrived, so the same chunks always give the same
    segments (and the pipeline the same hops):

    * a sample stamped at or before the previously accepted one, by less than a jump, is dropped and counted
      (duplicate or reordered): the window only ever sees increasing time;
    * a sample stamped NaN or infinite is dropped and counted;
    * a step longer than :data:`JUMP_PERIODS` periods, either way, is a clock jump: the sample is kept and starts a
      new segment, so the caller restarts its window there instead of computing a hop across the discontinuity. A
      jump back (a sender whose clock was reset) is repaired: that sample and every later one are moved by the same
      offset to continue one period after the last accepted stamp, so the stream's time, and every hop's ``t``, only
      ever increases (dropping everything until the reset clock caught up would lose real data, possibly for good;
      the offset is counted as a jump and forgotten when the stream reconnects);
    * a chunk of ``burst_samples`` or more counts as a burst (nothing else changes);
    * the effective rate is measured over :data:`RATE_SPAN_S` of contiguous stamps.

    Parameters
    ----------
    srate : float
        Nominal rate in Hz.
    burst_samples : int
        Chunk size from which a pull counts as a burst (the caller's hop).
    faults : TimingFaults | None
        Where to count (a fresh one by default).
    """

    def __init__(self, srate: float, burst_samples: int, faults: TimingFaults | None = None) -> None:
        self.srate = float(srate)
        self.jump_s = JUMP_PERIODS / self.srate
        self.burst_samples = max(1, int(burst_samples))
        self.faults = faults if faults is not None else TimingFaults()
        self._last: float | None = None
        self._offset = 0.0  # added to every stamp since the clock last jumped back (0 before that)
        self._rate_points: deque[tuple[float, int]] = deque()  # (stamp, index in the contiguous run)
        self._run = 0  # samples accepted since the last restart

    def reset(self) -> None:
        """Forget the previous stamp: the next chunk comes from a new connection and is not compared with the old."""
        self._last = None
        self._offset = 0.0
        self._rate_points.clear()
        self._run = 0

    def check(self, data: np.ndarray, stamps: np.ndarray) -> list[Segment]:
        """The accepted samples of one chunk, split at clock jumps (the first segment may continue the last one)."""
        stamps = np.asarray(stamps, dtype=np.float64)
        n = len(stamps)
        if n == 0:
            return []
        if n >= self.burst_samples:
            self.faults.burst_pulls += 1
        if self._offset:
            stamps = stamps + self._offset
        steps = np.diff(stamps, prepend=stamps[0] - 1.0 / self.srate if self._last is None else self._last)
        if np.all((steps > 0) & (steps <= self.jump_s)):  # the usual case: nothing to decide per sample
            segments = [Segment(data, stamps)]
        else:
            segments = self._split(data, stamps)
        for seg in segments:
            self._measure_rate(seg)
        self._last = float(segments[-1].stamps[-1]) if segments else self._last
        return segments

    def _split(self, data: np.ndarray, stamps: np.ndarray) -> list[Segment]:
        keep: list[int] = []
        starts: list[int] = []  # positions in ``keep`` where a jump restarts the window
        last = self._last
        stamps = stamps.copy()  # moved in place after a jump back
        for i, t in enumerate(stamps):
            if not math.isfinite(t):
                self.faults.invalid_stamps += 1
                continue
            if last is not None:
                step = t - last
                if abs(step) > self.jump_s:
                    self.faults.clock_jumps += 1
                    starts.append(len(keep))
                    if step < 0:  # the clock was reset: continue one period after the last stamp
                        shift = last + 1.0 / self.srate - t
                        self._offset += shift
                        stamps[i:] += shift
                        t = stamps[i]
                elif step == 0:
                    self.faults.duplicate_stamps += 1
                    continue
                elif step < 0:
                    self.faults.reordered_stamps += 1
                    continue
            keep.append(i)
            last = float(t)
        bounds = [0] + starts + [len(keep)]
        segments = []
        for a, b in itertools.pairwise(bounds):
            if b > a:
                idx = np.asarray(keep[a:b])
                segments.append(Segment(data[idx], stamps[idx], restart=a in starts))
        return segments

    def _measure_rate(self, seg: Segment) -> None:
        if seg.restart:
            self._rate_points.clear()
            self._run = 0
        if not self._rate_points:
            self._rate_points.append((float(seg.stamps[0]), self._run))
        self._run += len(seg.stamps)
        t_new = float(seg.stamps[-1])
        self._rate_points.append((t_new, self._run - 1))
        points = self._rate_points
        while len(points) > 2 and t_new - points[1][0] >= RATE_SPAN_S:
            points.popleft()
        t_ref, i_ref = points[0]
        if t_new - t_ref >= RATE_SPAN_S:
            rate = (self._run - 1 - i_ref) / (t_new - t_ref)
            self.faults.effective_rate = rate
            self.faults.rate_deviation = rate / self.srate - 1.0


class EEGFeed:
    """Between the EEG inlet and the pipeline: timestamp checks, window restarts, and the hops the EEG does not give.

    Each pulled chunk passes a :class:`TimingGuard` (duplicates and reordered samples dropped and counted; a clock
    jump restarts the window at the sample after it, so no hop spans it). A hop the EEG has no estimate for - its
    stream stopped or was lost, or a restarted window is still filling - is written on the hop grid, continued from
    the last hop written, with the EEG modality marked missing: ``estimator_eeg`` ``lost`` or ``gap``,
    ``quality_eeg`` 0, its values null, the face's as available (``status`` ``face only``, or ``eeg lost`` where no
    modality carries the hop). Output times only increase across an outage: an EEG hop at or before the last hop
    written without the EEG is computed (the window and the estimators see every sample) but left out of the
    output, and counted (:attr:`TimingFaults.late_hops`).

    Two ways to know that a hop is due:

    * from the data alone (:meth:`push`, and :meth:`fill` without ``now``; a replay): only up to the newest frame
      the face path processed and before the restarted window's first hop, so the same chunks give the same hops;
    * from the stream clock (:meth:`fill` with ``now``: live, the LSL clock the samples are stamped on): at its time
      while the EEG is known to be missing (after up to :data:`FACE_WAIT_S` for its frame), and :data:`LATE_S` after
      its time plus the stream's usual delivery delay when the EEG should have given it and has not (a stream that
      stopped sending, lost or not yet). Such a hop's ``received_at`` is when it was due, so its latency is the
      true delay.

    Parameters
    ----------
    pipeline : AffectPipeline
        The pipeline fed.
    faults : TimingFaults | None
        Where the guard counts (a session's
        :attr:`~affectstream.pipelines.sessions.base.StreamStatus.timing`).

    Attributes
    ----------
    missing : str
        Why the EEG gives no estimate now: ``""`` (its hops flow), ``"lost"`` (lost, or stopped sending) or
        ``"gap"`` (it sends again: a new window fills, or the window catches up with the hops written without it).
    last_t : float | None
        Stream time of the last hop emitted (EEG or not).
    """

    def __init__(self, pipeline: AffectPipeline, faults: TimingFaults | None = None) -> None:
        self.pipeline = pipeline
        self.guard = TimingGuard(pipeline.spec.sfreq, pipeline.n_hop, faults)
        self.missing = ""
        self.last_t: float | None = None
        self._newest: float | None = None  # newest accepted stamp since the last restart
        self._tol = 0.5 / pipeline.spec.sfreq  # two hop times closer than half a sample are one
        self._delays: deque[float] = deque(maxlen=_DELAY_PULLS)  # stream clock at a pull minus its newest stamp
        self._row_t: float | None = None  # stream time of the last hop written without the EEG

    @property
    def faults(self) -> TimingFaults:
        return self.guard.faults

    def push(self, data: np.ndarray, stamps: np.ndarray, received_at: float | None = None,
             now: float | None = None) -> tuple[list[HopResult], np.ndarray, np.ndarray]:
        """Check and feed one chunk; returns the hops in time order and the samples accepted (data, stamps).

        ``now``: the stream clock when the chunk was pulled (live), which gives the stream's delivery delay and
        writes every missing hop before the first new EEG hop; None (a replay): only those the face has frames for.
        """
        hops: list[HopResult] = []
        segments = self.guard.check(data, stamps)
        for seg in segments:
            if seg.restart:
                self.restart("gap")
            eeg = self._fresh(self.pipeline.push_eeg(seg.data, seg.stamps, received_at))
            self._newest = float(seg.stamps[-1])
            if self.missing == "lost":  # it sends again: its window catches up with the hops written without it
                self.missing = "gap"
            if self.missing and (eeg or now is None):  # with the clock, :meth:`fill` writes them when due
                hops += self._rows_before(eeg[0].t if eeg else self._next_hop_t(), received_at, now)
            if eeg:
                self.missing = ""
                self.last_t = eeg[-1].t
            hops += eeg
        if segments and now is not None:
            self._delays.append(now - float(segments[-1].stamps[-1]))
        if len(segments) == 1:
            return hops, segments[0].data, segments[0].stamps
        if not segments:
            return hops, np.empty((0, np.shape(data)[1])), np.empty(0)
        return hops, np.concatenate([g.data for g in segments]), np.concatenate([g.stamps for g in segments])

    def restart(self, reason: str, *, new_stream: bool = False) -> None:
        """Start a fresh window at the next sample; ``reason`` (``gap``) labels the EEG until its first hop.

        ``new_stream``: a re-attached connection, whose first stamp is not compared with the old stream's last
        (the outage is counted as an outage, not as a clock jump) and whose counter channel starts afresh.
        """
        self.pipeline.restart_window(new_stream=new_stream)
        if new_stream:
            self.guard.reset()
        self._newest = None
        self.missing = reason

    def mark_lost(self) -> None:
        """The EEG stream is gone: hops go on without it until it returns."""
        self._newest = None
        self.missing = "lost"

    def fill(self, received_at: float | None = None, now: float | None = None) -> list[HopResult]:
        """The hops without the EEG that are due now and were not written yet (see the class).

        ``received_at``: ``time.perf_counter()`` at ``now`` (each hop's own is moved back to when it was due).
        ``now``: the stream clock; None: only as far as the face has frames, and only while the EEG is missing.
        """
        if now is None:
            return self._rows_before(self._next_hop_t(), received_at, None) if self.missing else []
        rows = []
        while self.last_t is not None:
            t = self.last_t + self.pipeline.hop_s
            if self._expected(t):
                if now < t + self._delay() + LATE_S:
                    break
                self.missing = "lost"  # the EEG should have given this hop by now: it stopped sending
            elif now < t or not (self.pipeline.face is None or self._framed(t) or now >= t + FACE_WAIT_S):
                break
            rows.append(self._row(t, received_at, now))
        return rows

    def _fresh(self, eeg: list[HopResult]) -> list[HopResult]:
        """The EEG hops after the last hop written without the EEG; the others are counted (a backlog that came
        after its hops were written)."""
        if not eeg or self._row_t is None or eeg[0].t > self._row_t + self._tol:
            return eeg
        fresh = [h for h in eeg if h.t > self._row_t + self._tol]
        self.faults.late_hops += len(eeg) - len(fresh)
        return fresh

    def _expected(self, t: float) -> bool:
        """Whether the EEG should give the hop at ``t`` itself: its hops flow, or the restarted window is full by
        then."""
        return not self.missing or (self.missing == "gap" and t >= self._next_hop_t() - self._tol)

    def _delay(self) -> float:
        """The stream's usual delivery delay (median over the last pulls; 0 before the first)."""
        return float(np.median(self._delays)) if self._delays else 0.0

    def _framed(self, t: float) -> bool:
        """The face path has processed a frame at or after ``t``."""
        latest = self.pipeline.face.latest if self.pipeline.face is not None else None
        return latest is not None and latest.t >= t

    def _next_hop_t(self) -> float:
        """Stream time at which the restarted window's first hop will end (inf before its first sample)."""
        if self._newest is None:
            return math.inf
        p = self.pipeline
        return self._newest + (p.scheduler.next_stop - p.buffer.total) / p.spec.sfreq

    def _rows_before(self, before: float, received_at: float | None, now: float | None) -> list[HopResult]:
        """The missing hops before ``before``: all of them with the stream clock (the EEG is back and its hop
        follows), else those the face has frames for."""
        rows = []
        while self.last_t is not None:
            t = self.last_t + self.pipeline.hop_s
            if t >= before - self._tol or not (now is not None or self._framed(t)):
                break
            rows.append(self._row(t, received_at, now))
        return rows

    def _row(self, t: float, received_at: float | None, now: float | None) -> HopResult:
        """The hop at ``t`` without the EEG (the face's estimate at ``t`` where there is one); becomes the last."""
        face = self.pipeline.face
        result = face.at(t) if face is not None else None
        estimate = result.estimate() if result is not None else ModalityEstimate()
        eeg = ModalityEstimate(source=self.missing)
        fused = fuse({"eeg": eeg, "face": estimate})
        if received_at is not None and now is not None:
            received_at -= max(0.0, now - t)  # when it was due: the latency is the true delay
        self.last_t = self._row_t = t
        return HopResult(
            t=t, valence=fused.valence, arousal=fused.arousal, confidence=fused.confidence,
            status=fused.status if fused.status != "no estimate" else "eeg lost", eeg=eeg, quality_eeg=0.0,
            bad_channels={}, features=np.full((len(BAND_NAMES), len(MONTAGE_32)), np.nan),
            good=np.zeros(len(MONTAGE_32), bool), synthetic=self.pipeline.spec.synthetic, received_at=received_at,
            face=estimate, face_result=result)
