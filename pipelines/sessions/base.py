"""What every session is: the interface its drivers poll, its input's status, and where each hop's result goes.

A session turns one source into hops of :class:`~affectstream.pipelines.engine.AffectPipeline`: LSL inlets
(:class:`~affectstream.pipelines.sessions.live.LiveSession`), or an XDF recording played as fast as it is polled
(:class:`~affectstream.pipelines.sessions.replay.HeadlessReplay`) or under a play clock
(:class:`~affectstream.pipelines.sessions.replay_session.ReplaySession`). The headless loops and the dashboard's
worker drive any of them the same way, by calling :meth:`Session.poll`; only the clock differs between live and
replay (docs/architecture.md). Every session hands each hop's result to :class:`HopOutputs`, in the same order.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from affectstream.pipelines.engine import AffectPipeline, EEGStreamSpec, HopResult
from affectstream.pipelines.face.path import FacePath
from affectstream.pipelines.feed import TimingFaults
from affectstream.pipelines.sinks.outputs import AFFECT_SOURCE_ID, AffectOutlet, JsonlSink
from affectstream.pipelines.sources.lsl import CONNECTED


@dataclass
class StreamStatus:
    """What the status bar shows for one input stream; :meth:`to_json` is the part each JSONL record carries."""

    name: str
    nominal_rate: float
    measured_rate: float = math.nan
    backlog_s: float = math.nan  #: LSL clock now minus the newest sample's timestamp
    clock_offset_s: float = math.nan
    last_sample_age_s: float = math.inf  #: wall seconds since a sample last arrived
    samples: int = 0
    connection: str = CONNECTED  #: connected, lost (its source_id is searched for), reconnecting (found, no data yet)
    outages: int = 0  #: times the stream was lost
    lost_for_s: float = 0.0  #: wall seconds since the current outage was detected (0 while connected)
    last_gap_s: float = math.nan  #: stream seconds missing in the latest outage (last sample before -> first after)
    timing: TimingFaults = field(default_factory=TimingFaults)  #: duplicates, reordering, clock jumps, bursts, rate
    #: A recorded stream played back: it is never lost or reconnected and is not pulled, so the counters of a live
    #: connection (``outages``, ``last_gap_s``, ``burst_pulls``) do not apply to it.
    recorded: bool = False

    @property
    def stalled(self) -> bool:
        """No sample for a second: shown within a second of the stream stopping."""
        return self.last_sample_age_s > 1.0

    def to_json(self) -> dict:
        """Connection and timing-fault counters (NaN as null), for the JSONL records and tests.

        The same keys for a live and a recorded stream, so that live and replay JSONL share one schema: a recorded
        stream's ``connection`` is ``"recorded"`` and the counters that only a live connection has are null.
        """
        def num(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        t, live = self.timing, not self.recorded
        return {"connection": self.connection if live else "recorded",
                "outages": self.outages if live else None, "last_gap_s": num(self.last_gap_s) if live else None,
                "duplicate_stamps": t.duplicate_stamps, "reordered_stamps": t.reordered_stamps,
                "clock_jumps": t.clock_jumps, "invalid_stamps": t.invalid_stamps,
                "burst_pulls": t.burst_pulls if live else None, "late_hops": t.late_hops if live else None,
                "effective_rate": num(t.effective_rate), "rate_mismatch": t.rate_mismatch}


class HopOutputs:
    """Where each hop's result goes, in this order: the ``Affect`` outlet, its ``latency_ms``, the JSONL line.

    Live, latency runs from the moment the chunk that completed the hop was received to the moment its estimate was
    pushed to the outlet: the part of the delay this program controls; for a hop written without the EEG (its stream
    stopped or lost), from the moment the hop was due (its ``received_at``,
    :class:`~affectstream.pipelines.feed.EEGFeed`). A replay's chunks are read from a file, not received, so there
    it is the hop's processing time instead (see :meth:`emit`).

    Parameters
    ----------
    publish : bool
        Publish the ``Affect`` LSL outlet (irregular, the hop in its desc; ``synthetic`` goes into its desc).
    out : path | None
        JSONL file, one object per hop.
    source_id : str
        The outlet's ``source_id``: a live session's own, derived from its input
        (:func:`~affectstream.pipelines.sinks.outputs.affect_source_id`), so that instances do not collide.
    desc : mapping | None
        Further fields of the outlet's ``desc`` (what the EEG model was trained on, the input, the subject).
    """

    def __init__(self, *, publish: bool, hop_s: float, synthetic: bool, out: str | Path | None = None,
                 source_id: str = AFFECT_SOURCE_ID, desc: Mapping[str, str] | None = None) -> None:
        self.outlet = AffectOutlet(source_id, hop_s=hop_s, synthetic=synthetic, desc=desc) if publish else None
        try:
            self.sink = JsonlSink(out) if out is not None else None
        except BaseException:
            self.close()
            raise

    def emit(self, results: list[HopResult], received: float, eeg_stream: StreamStatus | None = None, *,
             batch: bool = False) -> list[HopResult]:
        """Send ``results`` (received at ``time.perf_counter()`` = ``received``) on; returns them.

        Every estimate is pushed to the outlet before any JSONL line is written, so a hop's latency never includes
        the file writes of the hops before it.

        Parameters
        ----------
        results : list of HopResult
            The hops that one input chunk completed, in time order.
        received : float
            ``time.perf_counter()`` when the chunk was received (live) or handed to the pipeline (replay).
        eeg_stream : StreamStatus | None
            The EEG stream's status, written into every JSONL record (``eeg_stream``), live and replay alike.
        batch : bool
            The hops were computed together from one chunk read from a file (a replay): each one's ``latency_ms``
            is then the chunk's processing time (``received`` to the last push) divided by the hops in it, the
            processing time of one hop. Without it (live), ``latency_ms`` is the time from the hop's own
            ``received_at`` (``received`` where it has none) to the push of its estimate.
        """
        for result in results:
            if self.outlet is not None:
                self.outlet.push(result)
            since = received if batch or result.received_at is None else result.received_at
            result.latency_ms = (time.perf_counter() - since) * 1e3
        if batch and results:
            per_hop = results[-1].latency_ms / len(results)
            for result in results:
                result.latency_ms = per_hop
        if self.sink is not None and results:
            extra = {"eeg_stream": eeg_stream.to_json()} if eeg_stream is not None else {}
            for result in results:
                self.sink.write({**result.to_json(), **extra})
        return results

    def close(self) -> None:
        """Close the JSONL file and the outlet (idempotent)."""
        sink, self.sink = getattr(self, "sink", None), None
        outlet, self.outlet = self.outlet, None
        if sink is not None:
            sink.close()
        if outlet is not None:
            outlet.close()


class Session(ABC):
    """One source of hops, driven by calling :meth:`poll` in a loop (a headless run, or the dashboard's worker).

    Attributes
    ----------
    pipeline : AffectPipeline
        The pipeline computing the hops (a replay that seeks starts a fresh one).
    spec : EEGStreamSpec
        The EEG stream as the pipeline sees it.
    status : StreamStatus
        The EEG stream's status.
    inlet
        The EEG source; its ``info`` names the stream (``name``, ``hostname``) in the status bar.
    face : FacePath | None
        The face path, when the session has video.
    latest_eeg : (ndarray, ndarray)
        The EEG samples (n, n_channels) and stamps (n,) the last poll brought, for display and recording.
    new_markers : list of (float, str)
        The markers the last poll brought.
    new_truth : (ndarray, ndarray)
        Ground-truth times (n,) and (valence, arousal) rows (n, 2) the last poll brought.
    """

    pipeline: AffectPipeline
    spec: EEGStreamSpec
    status: StreamStatus
    inlet: Any
    face: FacePath | None = None
    latest_eeg: tuple[np.ndarray, np.ndarray]
    new_markers: list[tuple[float, str]]
    new_truth: tuple[np.ndarray, np.ndarray]

    @property
    def synthetic(self) -> bool:
        """The EEG stream declares itself simulated (every output then says so)."""
        return self.spec.synthetic

    @abstractmethod
    def poll(self) -> list[HopResult]:
        """Take in what the source has now; returns the hops completed (already sent to the session's outputs)."""

    @abstractmethod
    def start_recording(self, path: str | Path) -> Path:
        """Record the session into the XDF file ``path``; OSError where it cannot be."""

    @abstractmethod
    def stop_recording(self) -> None:
        """Stop a recording (nothing when none runs)."""

    @abstractmethod
    def close(self) -> None:
        """Release every inlet, thread, file and outlet the session holds."""

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
