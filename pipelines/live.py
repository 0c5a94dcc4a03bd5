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
from .face_path import FacePath
from .lsl_source import LSLInlet, describe, find_stream
from .sinks import AffectOutlet, JsonlSink

logger = logging.getLogger(__name__)


class NoDataError(RuntimeError):
    """The stream was found but sent no sample in time."""


class FaceWorker(threading.Thread):
    """Feeds the newest frame of a video source through the face path, on its own thread.

    The face path costs several milliseconds per frame; running it beside the EEG loop (OpenCV and onnxruntime
    release the GIL, and the team machines have two cores) keeps it out of the EEG hop's latency. Each hop pairs
    with the newest face result at or before its stream time (:meth:`FacePath.at`).
    """

    def __init__(self, source, face: FacePath) -> None:
        super().__init__(name="affectstream-face", daemon=True)
        self.source = source
        self.face = face
        self.stop_event = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        from .video_source import LSLVideoSource

        stream = isinstance(self.source, LSLVideoSource)  # polled with a timeout; files and cameras block
        try:
            while not self.stop_event.is_set():
                item = self.source.read(timeout=0.1) if stream else self.source.read()
                if item is None:
                    if stream:
                        continue
                    break  # a file or camera that ended
                frame, stamp = item
                self.face.process(frame, stamp)
        except Exception as exc:  # noqa: BLE001 - reported by the run; the EEG path keeps going
            self.error = exc
            logger.error("the face path stopped: %s", exc)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(2.0)
        self.source.close()


def open_video_source(video: str | None = None, *, video_source_id: str | None = None, camera: int | None = None,
                      video_file: str | Path | None = None, timeout: float = 10.0):
    """The frame source the user asked for (an LSL Video stream, a camera or a file played in real time)."""
    from .video_source import CameraSource, LSLVideoSource, VideoFileSource

    if camera is not None:
        return CameraSource(camera)
    if video_file is not None:
        return VideoFileSource(video_file, realtime=True, loop=True)
    if video is not None or video_source_id is not None:
        return LSLVideoSource(video or "Video", source_id=video_source_id, timeout=timeout)
    return None


@dataclass
class RunSummary:
    """What a headless run did: hop count, latencies and the stream's counters."""

    stream: str
    hops: int
    latencies_ms: list[float] = field(default_factory=list)
    stats: StreamStats = field(default_factory=StreamStats)
    synthetic: bool = False
    mapping: str = ""
    face_found_ratio: float = math.nan

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
    video_source=None,
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
    video_source : frame source | None
        From :func:`open_video_source`; adds the face path (the run closes it).
    """
    sinfo = find_stream(eeg, source_id=source_id, timeout=resolve_timeout)
    inlet = LSLInlet(sinfo)
    spec = inlet.eeg_spec()
    face = FacePath(device=config.device) if video_source is not None else None
    pipeline = AffectPipeline(spec, config, live=True, face=face)
    worker = FaceWorker(video_source, face) if face is not None else None
    if worker is not None:
        worker.start()
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
        if worker is not None:
            worker.stop()
            summary.face_found_ratio = face.found_ratio
        summary.stats = pipeline.stats
        if sink is not None:
            sink.close()
        # Inlet before outlet: closing an outlet that still has a consumer makes liblsl log a broken connection.
        inlet.close()
        if outlet is not None:
            outlet.close()
    return summary
