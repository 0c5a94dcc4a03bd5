"""The headless live run: LSL inlet -> pipeline -> Affect outlet + JSONL.

The loop drains the inlet every few milliseconds, hands each chunk to :class:`~.engine.AffectPipeline`, and pushes
every completed hop at once. Latency is measured from the moment the chunk that completed a window was pulled to the
moment the estimate was pushed to the outlet, which is the part of the delay this program controls.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import PipelineConfig
from .engine import AffectPipeline, HopResult, StreamStats
from .lsl_source import LSLInlet, describe, find_stream
from .sinks import AffectOutlet, JsonlSink

logger = logging.getLogger(__name__)


class NoDataError(RuntimeError):
    """The stream was found but sent no sample in time."""


@dataclass
class RunSummary:
    """What a headless run did: hop count, latencies and the stream's counters."""

    stream: str
    hops: int
    latencies_ms: list[float] = field(default_factory=list)
    stats: StreamStats = field(default_factory=StreamStats)
    synthetic: bool = False
    mapping: str = ""

    def latency_percentiles(self) -> dict[str, float]:
        lat = np.asarray(self.latencies_ms, dtype=float)
        if lat.size == 0:
            return {"p50_ms": math.nan, "p99_ms": math.nan, "n": 0}
        return {"p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)), "n": int(lat.size)}


def run_headless(
    eeg: str | None = "EEG",
    *,
    source_id: str | None = None,
    duration: float | None = None,
    out: str | Path | None = None,
    config: PipelineConfig = PipelineConfig(),
    resolve_timeout: float = 10.0,
    publish: bool = True,
    poll_s: float = 0.004,
    on_result: Callable[[HopResult], None] | None = None,
    stop: threading.Event | None = None,
) -> RunSummary:
    """Read a live EEG stream and write/publish one estimate per hop.

    Parameters
    ----------
    eeg : str | None
        Name or type of the EEG stream.
    source_id : str | None
        Restrict the search to this ``source_id``.
    duration : float | None
        Seconds to run from the first received sample (None: until ``stop`` is set or Ctrl-C). Counting from the
        first sample rather than from the start makes "15 s" mean 15 s of data, however long discovery took.
    out : path | None
        JSONL file to write (one object per hop).
    config : PipelineConfig
        Pipeline settings.
    publish : bool
        Publish the ``Affect`` LSL outlet.
    on_result : callable | None
        Called with every :class:`HopResult` (progress display, tests).
    stop : threading.Event | None
        Set it to end the run early.
    """
    sinfo = find_stream(eeg, source_id=source_id, timeout=resolve_timeout)
    inlet = LSLInlet(sinfo)
    spec = inlet.eeg_spec()
    pipeline = AffectPipeline(spec, config, live=True)
    logger.info("reading %s: %s", describe(inlet.info), pipeline.mapping.describe())
    summary = RunSummary(stream=describe(inlet.info), hops=0, synthetic=spec.synthetic,
                         mapping=pipeline.mapping.describe())
    outlet = AffectOutlet(hop_s=pipeline.hop_s, synthetic=spec.synthetic) if publish else None
    sink = JsonlSink(out) if out is not None else None
    t_end = math.inf
    no_data_deadline = time.monotonic() + resolve_timeout
    try:
        while time.monotonic() < t_end and not (stop is not None and stop.is_set()):
            data, stamps = inlet.pull()
            if t_end == math.inf and not len(stamps) and time.monotonic() > no_data_deadline:
                raise NoDataError(f"{describe(inlet.info)} sent no sample within {resolve_timeout:g} s")
            if len(stamps):
                received = time.perf_counter()
                if t_end == math.inf and duration is not None:
                    t_end = time.monotonic() + duration
                for result in pipeline.push_eeg(data, stamps, received):
                    if outlet is not None:
                        outlet.push(result)
                    result.latency_ms = (time.perf_counter() - received) * 1e3
                    summary.latencies_ms.append(result.latency_ms)
                    summary.hops += 1
                    if sink is not None:
                        sink.write(result.to_json())
                    if on_result is not None:
                        on_result(result)
            time.sleep(poll_s)
    finally:
        summary.stats = pipeline.stats
        if sink is not None:
            sink.close()
        # Inlet before outlet: closing an outlet that still has a consumer makes liblsl log a broken connection.
        inlet.close()
        if outlet is not None:
            outlet.close()
    return summary
