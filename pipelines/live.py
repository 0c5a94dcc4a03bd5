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
from .face_detect import FaceDetector
from .face_path import FacePath
from .lsl_source import LSLInlet, describe, find_stream
from .recorder import SessionRecorder
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
        self.on_frame: Callable[[np.ndarray, float], None] | None = None  #: e.g. the recorder's frame sink
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
                if self.on_frame is not None:
                    self.on_frame(frame, stamp)
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


@dataclass
class StreamStatus:
    """What the status bar shows for one input stream."""

    name: str
    nominal_rate: float
    measured_rate: float = math.nan
    backlog_s: float = math.nan  #: LSL clock now minus the newest sample's timestamp
    clock_offset_s: float = math.nan
    last_sample_age_s: float = math.inf  #: wall seconds since a sample last arrived
    samples: int = 0

    @property
    def stalled(self) -> bool:
        """No sample for a second: shown within a second of the stream stopping."""
        return self.last_sample_age_s > 1.0


class LiveSession:
    """One live session: EEG inlet (+ optional video, markers, ground truth) -> pipeline -> outlet and JSONL.

    The headless run and the dashboard's worker thread both drive it by calling :meth:`poll` in a loop, so they
    share every line of the processing; only what they do with the results differs.

    Parameters
    ----------
    eeg : str | None
        Name or type of the EEG stream.
    source_id : str | None
        Restrict the EEG search to this ``source_id``.
    config : PipelineConfig
        Pipeline settings.
    video_source : frame source | None
        From :func:`open_video_source`; adds the face path (the session closes it).
    markers, ground_truth : str | None
        ``source_id`` of a ``Markers`` / ``GroundTruth`` stream to follow (the simulator's, for example).
    publish : bool
        Publish the ``Affect`` LSL outlet.
    out : path | None
        JSONL file, one object per hop.
    resolve_timeout : float
        Seconds to wait for each stream.
    """

    def __init__(self, eeg: str | None = "EEG", *, source_id: str | None = None,
                 config: PipelineConfig = PipelineConfig(), video_source=None, markers: str | None = None,
                 ground_truth: str | None = None, publish: bool = True, out: str | Path | None = None,
                 resolve_timeout: float = 10.0) -> None:
        self._closers: list[Callable[[], None]] = []
        self.worker: FaceWorker | None = None
        self.recorder: SessionRecorder | None = None
        try:
            self.inlet = LSLInlet(find_stream(eeg, source_id=source_id, timeout=resolve_timeout))
            self._closers.append(self.inlet.close)
            self.spec = self.inlet.eeg_spec()
            self.face = FacePath(FaceDetector(config.face_model), device=config.device,
                                 precision=config.visual_precision) if video_source is not None else None
            self.pipeline = AffectPipeline(self.spec, config, live=True, face=self.face)
            self.markers = self._optional_inlet("Markers", markers, resolve_timeout)
            self.truth = self._optional_inlet("GroundTruth", ground_truth, resolve_timeout)
            if self.face is not None:
                self.worker = FaceWorker(video_source, self.face)  # from here on the worker closes the source
                self.worker.start()
                self._closers.append(self.worker.stop)
            self.outlet = AffectOutlet(hop_s=self.pipeline.hop_s, synthetic=self.spec.synthetic) if publish else None
            if self.outlet is not None:
                self._closers.insert(0, self.outlet.close)  # closed last (closers run in reverse)
            self.sink = JsonlSink(out) if out is not None else None
            if self.sink is not None:
                self._closers.append(self.sink.close)
        except BaseException:
            if video_source is not None and self.worker is None:
                video_source.close()
            self.close()
            raise
        logger.info("reading %s: %s", describe(self.inlet.info), self.pipeline.mapping.describe())
        self.status = StreamStatus(self.inlet.info.name, self.spec.sfreq)
        self.new_markers: list[tuple[float, str]] = []
        self.new_truth: tuple[np.ndarray, np.ndarray] = (np.empty(0), np.empty((0, 2)))
        self.latest_eeg: tuple[np.ndarray, np.ndarray] = (np.empty((0, self.spec.n_channels)), np.empty(0))
        self._arrivals: list[tuple[float, int]] = []
        self._last_arrival = time.monotonic()
        self._next_offset_check = 0.0

    def start_recording(self, path: str | Path) -> Path:
        """Record every stream of this session (and its Affect output) into the XDF file ``path``."""
        self.stop_recording()
        self.recorder = SessionRecorder(Path(path), self)
        if self.worker is not None:
            self.worker.on_frame = self.recorder.record_frame
        return self.recorder.path

    def stop_recording(self) -> None:
        if self.recorder is not None:
            if self.worker is not None:
                self.worker.on_frame = None
            self.recorder.close()
            self.recorder = None

    def _optional_inlet(self, stype: str, source_id: str | None, timeout: float) -> LSLInlet | None:
        if source_id is None:
            return None
        inlet = LSLInlet(find_stream(None, stype=stype, source_id=source_id, timeout=timeout))
        self._closers.append(inlet.close)
        return inlet

    @property
    def synthetic(self) -> bool:
        return self.spec.synthetic

    def poll(self) -> list[HopResult]:
        """Drain every inlet once; returns the hops completed (already pushed to the outlet and JSONL)."""
        data, stamps = self.inlet.pull()
        self.latest_eeg = (data, stamps)
        now = time.monotonic()
        results: list[HopResult] = []
        if len(stamps):
            received = time.perf_counter()
            for result in self.pipeline.push_eeg(data, stamps, received):
                if self.outlet is not None:
                    self.outlet.push(result)
                result.latency_ms = (time.perf_counter() - received) * 1e3
                if self.sink is not None:
                    self.sink.write(result.to_json())
                results.append(result)
            self._update_status(now, len(stamps), float(stamps[-1]))
        else:
            self.status.last_sample_age_s = now - self._last_arrival
        if self.markers is not None:
            values, times = self.markers.pull()
            self.new_markers = [(float(t), str(v[0])) for v, t in zip(values, times)]
        if self.truth is not None:
            values, times = self.truth.pull()
            self.new_truth = (times, values)
        if self.recorder is not None:
            self.recorder.record_poll(self, results)
        return results

    def _update_status(self, now: float, n: int, newest: float) -> None:
        from mne_lsl.lsl import local_clock

        self._last_arrival = now
        self._arrivals.append((now, n))
        while self._arrivals and now - self._arrivals[0][0] > 5.0:
            self._arrivals.pop(0)
        span = now - self._arrivals[0][0]
        status = self.status
        status.samples += n
        status.last_sample_age_s = 0.0
        if span > 0.5:
            status.measured_rate = sum(k for _, k in self._arrivals[1:]) / span
        status.backlog_s = local_clock() - newest
        if now >= self._next_offset_check:  # liblsl refreshes its estimate every few seconds; so do we
            status.clock_offset_s = self.inlet.clock_offset
            self._next_offset_check = now + 5.0

    def close(self) -> None:
        """Stop the face thread and close recording, sinks, inlets and the outlet (inlets before the outlet)."""
        self.stop_recording()
        while self._closers:
            self._closers.pop()()


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
    record: str | Path | None = None,
    markers: str | None = None,
    ground_truth: str | None = None,
) -> RunSummary:
    """Read a live EEG stream and write/publish one estimate per hop (a :class:`LiveSession` in a loop).

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
    record : path | None
        XDF file to record every stream into (see :mod:`.recorder`).
    markers, ground_truth : str | None
        ``source_id`` of Markers / GroundTruth streams to follow (and record).
    """
    session = LiveSession(eeg, source_id=source_id, config=config, video_source=video_source, publish=publish,
                          out=out, resolve_timeout=resolve_timeout, markers=markers, ground_truth=ground_truth)
    if record is not None:
        session.start_recording(record)
    summary = RunSummary(stream=describe(session.inlet.info), hops=0, synthetic=session.synthetic,
                         mapping=session.pipeline.mapping.describe())
    t_end = math.inf
    no_data_deadline = time.monotonic() + resolve_timeout
    try:
        while time.monotonic() < t_end and not (stop is not None and stop.is_set()):
            for result in session.poll():
                summary.latencies_ms.append(result.latency_ms)
                summary.hops += 1
                if on_result is not None:
                    on_result(result)
            if t_end == math.inf:
                if session.status.samples and duration is not None:
                    t_end = time.monotonic() + duration
                elif not session.status.samples and time.monotonic() > no_data_deadline:
                    raise NoDataError(f"{summary.stream} sent no sample within {resolve_timeout:g} s")
            time.sleep(poll_s)
    finally:
        session.close()
        summary.stats = session.pipeline.stats
        if session.face is not None:
            summary.face_found_ratio = session.face.found_ratio
    return summary
