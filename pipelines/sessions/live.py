"""The headless live run: LSL inlet -> pipeline -> Affect outlet + JSONL.

The loop drains the inlet every few milliseconds, hands each chunk to
:class:`~affectstream.pipelines.engine.AffectPipeline`, and pushes every completed hop at once
(:class:`~affectstream.pipelines.sessions.base.HopOutputs`: latency runs from the moment the chunk that completed
a window was pulled to the moment the estimate was pushed to the outlet).

Streams come and go. The EEG inlet is a :class:`~affectstream.pipelines.sources.lsl.SupervisedInlet`: when its
stream stops or is lost the session keeps writing one hop per hop time, on time, without the EEG (the face's estimate
where there is one, the EEG shown as missing), and when the same ``source_id`` returns the pipeline starts a fresh
window and the recording gets a Boundary chunk at the gap. Every
chunk's timestamps pass an :class:`~affectstream.pipelines.feed.EEGFeed` first (duplicates and reordering dropped,
clock jumps restart the window), with the counts in :class:`~affectstream.pipelines.sessions.base.StreamStatus`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from affectstream.pipelines.config import PipelineConfig
from affectstream.pipelines.engine import AffectPipeline, HopResult, StreamStats
from affectstream.pipelines.face.detect import FaceDetector
from affectstream.pipelines.face.path import FacePath
from affectstream.pipelines.feed import EEGFeed
from affectstream.pipelines.sessions.base import HopOutputs, Session, StreamStatus
from affectstream.pipelines.sessions.face_worker import FaceWorker
from affectstream.pipelines.sinks.outputs import affect_source_id
from affectstream.pipelines.sinks.recorder import SessionRecorder
from affectstream.pipelines.sources.discovery import find_and_open, find_named, find_stream, list_streams
from affectstream.pipelines.sources.lsl import LOST, SupervisedInlet, describe
from affectstream.pipelines.sources.video import CameraSource, LSLVideoSource, VideoFileSource

logger = logging.getLogger(__name__)


class NoDataError(RuntimeError):
    """The stream was found but sent no sample in time."""


def open_video_source(video: str | None = None, *, video_source_id: str | None = None, camera: int | None = None,
                      video_file: str | Path | None = None, timeout: float = 10.0, first_match: bool = False):
    """The frame source the user asked for (an LSL Video stream, a camera or a file played in real time), or None."""
    if camera is not None:
        return CameraSource(camera)
    if video_file is not None:
        return VideoFileSource(video_file, realtime=True, loop=True)
    if video is not None or video_source_id is not None:
        return LSLVideoSource(video or "Video", source_id=video_source_id, timeout=timeout, first_match=first_match)
    return None


@dataclass
class RunSummary:
    """What a headless run did: hop count, latencies, the stream's counters and what the EEG model was trained on
    (with the pipeline's warning when that does not fit the input, for the closing line)."""

    stream: str
    hops: int
    latencies_ms: list[float] = field(default_factory=list)
    stats: StreamStats = field(default_factory=StreamStats)
    synthetic: bool = False
    mapping: str = ""
    face_found_ratio: float = math.nan  #: of the frames the face path processed
    face_found_hops: int = 0  #: hops paired with a face (``face_found`` true in the JSONL)
    #: the face path's frames read, processed and dropped, and its lag (:meth:`FaceWorker.status`, ``lag_p50_ms``,
    #: ``lag_p99_ms``)
    face: dict = field(default_factory=dict)
    eeg_model_trained_on: str | None = None  #: see :attr:`AffectPipeline.eeg_model_trained_on` (None: baseline)
    model_warning: str | None = None  #: see :attr:`AffectPipeline.model_warning`

    def latency_percentiles(self) -> dict[str, float]:
        lat = np.asarray(self.latencies_ms, dtype=float)
        if lat.size == 0:
            return {"p50_ms": math.nan, "p99_ms": math.nan, "n": 0}
        return {"p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)), "n": int(lat.size)}


class LiveSession(Session):
    """One live session: EEG inlet (+ optional video, markers, ground truth) -> pipeline -> outlet and JSONL.

    A :class:`~affectstream.pipelines.sessions.base.Session`: the headless run and the dashboard's worker thread
    both drive it by calling :meth:`poll` in a loop, so they share every line of the processing; only what they do
    with the results differs.

    Opening overlaps every independent wait (each LSL lookup lasts a second): the EEG stream is looked up (and
    connected at its first answer, :func:`~affectstream.pipelines.sources.discovery.find_and_open`) while the video,
    markers, ground truth and named streams are looked up and the announced Affect streams are listed on other
    threads; the models load once the EEG inlet is open, while its first window fills.

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
    first_match : bool
        When several streams match ``eeg`` equally, take the first instead of refusing to guess.
    subject : str | None
        The subject's id: part of the Affect outlet's ``source_id`` and ``desc``.
    record_streams : sequence of str
        Names or ``source_id`` of further streams every recording of this session also writes (looked up now, so a
        name that matches nothing fails here).
    open_video : callable | None
        Instead of ``video_source``: a function that opens it (:func:`open_video_source` with its arguments),
        called on a thread beside the EEG lookup.
    record : path | None
        Start recording into this XDF file as soon as the session is open (:meth:`start_recording`); the Markers
        streams on the machine are then looked up beside the EEG stream, so that the file has their markers from
        its first second.
    """

    def __init__(self, eeg: str | None = "EEG", *, source_id: str | None = None,
                 config: PipelineConfig = PipelineConfig(), video_source=None, markers: str | None = None,
                 ground_truth: str | None = None, publish: bool = True, out: str | Path | None = None,
                 resolve_timeout: float = 10.0, first_match: bool = False, subject: str | None = None,
                 record_streams: Sequence[str] = (), open_video: Callable[[], object] | None = None,
                 record: str | Path | None = None) -> None:
        self._closers: list[Callable[[], None]] = []
        self.worker: FaceWorker | None = None
        self.recorder: SessionRecorder | None = None
        self.recording_error: str = ""  #: why the last recording stopped by itself (disk full, ...), else ""
        self.record_sinfos: list = []  #: the streams every recording adds (``record_streams``)
        try:
            with ThreadPoolExecutor(max_workers=5, thread_name_prefix="affectstream-open") as pool:
                video = pool.submit(self._own, open_video) if open_video is not None else None
                # every stream now: the Affect ids taken, and the Markers streams a recording adds
                everything = pool.submit(list_streams) if publish or record is not None else None
                followed = [pool.submit(self._optional_inlet, stype, sid, resolve_timeout)
                            for stype, sid in (("Markers", markers), ("GroundTruth", ground_truth))]
                named = pool.submit(find_named, record_streams, resolve_timeout) if record_streams else None
                self.inlet = find_and_open(SupervisedInlet, eeg, source_id=source_id, timeout=resolve_timeout,
                                           first_match=first_match)
                self._closers.append(self.inlet.close)
                self.spec = self.inlet.eeg_spec()
                self._open_pipeline(config, video.result() if video is not None else video_source)
                self.markers, self.truth = (f.result() for f in followed)
                self.record_sinfos = named.result() if named is not None else []
                seen = everything.result() if everything is not None else []
            self._open_outputs(publish, out, subject, {s.source_id for s in seen if s.stype == "Affect"})
            self._init_state()
            if record is not None:
                self.start_recording(record, markers=[s for s in seen if s.stype == "Markers"])
            if self.worker is not None:  # now that a recording's frame sink is attached: it gets the first frame
                self.worker.start()  # from here on the worker closes the source
                self._closers.append(self.worker.stop)
        except BaseException:
            if video_source is not None and not self._face_started():
                video_source.close()
            self.close()
            raise
        logger.info("reading %s: %s", describe(self.inlet.info), self.pipeline.mapping.describe())

    def _init_state(self) -> None:
        """What :meth:`poll` keeps between calls, before the first."""
        self.status = StreamStatus(self.inlet.info.name, self.spec.sfreq)
        self.feed = EEGFeed(self.pipeline, self.status.timing)
        self._generation = self.inlet.generation
        self.new_markers: list[tuple[float, str]] = []
        self.latest_markers: tuple[np.ndarray, np.ndarray] = (np.empty((0, 1)), np.empty(0))  #: as pulled
        self.new_truth: tuple[np.ndarray, np.ndarray] = (np.empty(0), np.empty((0, 2)))
        self.latest_eeg: tuple[np.ndarray, np.ndarray] = (np.empty((0, self.spec.n_channels)), np.empty(0))
        self._arrivals: list[tuple[float, int]] = []
        self._last_arrival = time.monotonic()
        self._next_offset_check = 0.0
        self._startup = True  #: the next non-empty pull is the first one (see :meth:`poll`)

    def _own(self, open_source: Callable[[], object]):
        """Run ``open_source`` and close what it returns when the session closes (until the face thread owns it)."""
        source = open_source()
        if source is not None:
            self._closers.append(lambda: None if self._face_started() else source.close())
        return source

    def _face_started(self) -> bool:
        """Whether the face thread has started (from then on it closes the video source)."""
        return self.worker is not None and self.worker.ident is not None

    def _open_pipeline(self, config: PipelineConfig, video_source) -> None:
        """The face path (with video), the pipeline, and the face thread, which :meth:`__init__` starts last (frames
        it read before a recording that starts with the session is attached would be missing from the file)."""
        self.face = FacePath(FaceDetector(config.face_model), device=config.device,
                             precision=config.visual_precision) if video_source is not None else None
        self.pipeline = AffectPipeline(self.spec, config, live=True, face=self.face)
        if self.face is not None:
            self.worker = FaceWorker(video_source, self.face)

    def _open_outputs(self, publish: bool, out: str | Path | None, subject: str | None, taken: set[str]) -> None:
        """The Affect outlet (an id of its own: not one of ``taken``) and the JSONL file."""
        spec = self.spec
        self.affect_source_id = affect_source_id(spec.source_id or f"{spec.name}@{spec.hostname}", subject, taken)
        self.affect_desc = {"eeg_model_trained_on": self.pipeline.eeg_model_trained_on or "none",
                            "eeg_source_id": spec.source_id, **({"subject": subject} if subject else {})}
        self.outputs = HopOutputs(publish=publish, hop_s=self.pipeline.hop_s, synthetic=spec.synthetic, out=out,
                                  source_id=self.affect_source_id, desc=self.affect_desc)
        self._closers.insert(0, self.outputs.close)  # closed last (closers run in reverse): after the inlets

    def start_recording(self, path: str | Path, markers: list | None = None) -> Path:
        """Record every stream of this session, its Affect output, every Markers stream on the machine (``markers``
        when looked up already) and the named ``record_streams`` into the XDF file ``path``."""
        self.stop_recording()
        self.recorder = SessionRecorder(Path(path), self, markers=markers)
        self.recording_error = ""
        if self.worker is not None:
            # only queues: the recorder writes frames on its own thread (a failed write shows in record_poll)
            self.worker.on_frame = self.recorder.record_frame
        return self.recorder.path

    def stop_recording(self) -> None:
        if self.recorder is not None:
            if self.worker is not None:
                self.worker.on_frame = None
            self.recorder.close()
            self.recorder = None

    def _optional_inlet(self, stype: str, source_id: str | None, timeout: float) -> SupervisedInlet | None:
        if source_id is None:
            return None
        inlet = SupervisedInlet(find_stream(None, stype=stype, source_id=source_id, timeout=timeout))
        self._closers.append(inlet.close)
        return inlet

    def poll(self) -> list[HopResult]:
        """Drain every inlet once; returns the hops completed (already pushed to the outlet and JSONL).

        Never blocks on a lost stream: the inlet looks for it in the background. Meanwhile, and whenever the EEG
        stops sending, every hop is still written when it is due on the LSL clock, without the EEG (the face's
        estimate where there is one; see :class:`EEGFeed`).
        """
        from mne_lsl.lsl import local_clock

        data, stamps = self.inlet.pull()
        now = time.monotonic()
        received = time.perf_counter()
        clock = local_clock()  # the stream clock: the samples are stamped on it (clocksync)
        if self.inlet.generation != self._generation:
            self._reattached()
        elif self.inlet.connection == LOST:
            self.feed.mark_lost()
        self._update_status(now, stamps)
        if len(stamps) and self._startup:
            # What queued while the models loaded (the inlet opens first: the pipeline needs its channel labels) is
            # one start-up backlog, not a pipeline falling behind: compute all of it once instead of skipping hops.
            self._startup = False
            scheduler = self.pipeline.scheduler
            cap, scheduler.max_backlog = scheduler.max_backlog, None
            try:
                hops, kept, kept_stamps = self.feed.push(data, stamps, received, clock)
            finally:
                scheduler.max_backlog = cap
            self.latest_eeg = (kept, kept_stamps)
        elif len(stamps):
            hops, kept, kept_stamps = self.feed.push(data, stamps, received, clock)
            self.latest_eeg = (kept, kept_stamps)
        else:
            hops = []
            self.latest_eeg = (data, stamps)
        # the hops the EEG did not give in time; what it sends for them later is left out (t only increases)
        hops += self.feed.fill(received, clock)
        results = self.outputs.emit(hops, received, eeg_stream=self.status)
        if self.markers is not None:
            values, times = self.latest_markers = self.markers.pull()
            self.new_markers = [(float(t), str(v[0])) for v, t in zip(values, times)]
        if self.truth is not None:
            values, times = self.truth.pull()
            self.new_truth = (times, values)
        if self.recorder is not None:
            try:
                self.recorder.record_poll(self, results)
            except Exception as exc:  # disk full, drive gone, a writer fault: the recording stops, the session goes on
                self._recording_failed(exc)
        return results

    def _recording_failed(self, exc: Exception) -> None:
        """Stop a recording that can no longer be written, keep what is on disk, and say why."""
        path = self.recorder.path
        self.recording_error = f"recording to {path} stopped: {exc}"
        logger.error("%s (what was written before is readable)", self.recording_error)
        if self.worker is not None:
            self.worker.on_frame = None
        try:
            self.recorder.close()
        except OSError:
            pass  # the file keeps every chunk flushed before the failure
        self.recorder = None

    def _reattached(self) -> None:
        """The EEG stream is back on a new connection: fresh window, fresh rate estimate, a Boundary at the gap."""
        self._generation = self.inlet.generation
        self.feed.restart("gap", new_stream=True)
        self._arrivals.clear()
        if self.recorder is not None:
            from mne_lsl.lsl import local_clock

            # flush() ends with a Boundary chunk; the ClockOffset (the offset in use until the recorder's next
            # measurement) gives it something to write even right after a background flush, so the Boundary lands
            # between the samples before the gap and those after it.
            eeg = self.recorder.eeg
            self.recorder.writer.clock_offset(eeg.sid, local_clock(), eeg.offset)
            self.recorder.writer.flush()

    def _update_status(self, now: float, stamps: np.ndarray) -> None:
        from mne_lsl.lsl import local_clock

        status, inlet = self.status, self.inlet
        status.connection = inlet.connection
        status.outages = inlet.outages
        status.last_gap_s = inlet.last_gap_s
        status.lost_for_s = now - inlet.lost_at if inlet.lost_at is not None else 0.0
        n = len(stamps)
        if n == 0:
            status.last_sample_age_s = now - self._last_arrival
            return
        newest = float(stamps[-1])
        self._last_arrival = now
        self._arrivals.append((now, n))
        while self._arrivals and now - self._arrivals[0][0] > 5.0:
            self._arrivals.pop(0)
        span = now - self._arrivals[0][0]
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
    first_match: bool = False,
    subject: str | None = None,
    record_streams: Sequence[str] = (),
    open_video: Callable[[], object] | None = None,
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
    first_match, subject, record_streams, open_video
        As :class:`LiveSession`'s.
    """
    session = LiveSession(eeg, source_id=source_id, config=config, video_source=video_source, publish=publish,
                          out=out, resolve_timeout=resolve_timeout, markers=markers, ground_truth=ground_truth,
                          first_match=first_match, subject=subject, record_streams=record_streams,
                          open_video=open_video, record=record)
    pipeline = session.pipeline
    summary = RunSummary(stream=describe(session.inlet.info), hops=0, synthetic=session.synthetic,
                         mapping=pipeline.mapping.describe(), eeg_model_trained_on=pipeline.eeg_model_trained_on,
                         model_warning=pipeline.model_warning)
    try:
        _poll_until_done(session, summary, duration, resolve_timeout, poll_s, on_result, stop)
    finally:
        session.close()
        summary.stats = session.pipeline.stats
        if session.face is not None:
            summary.face_found_ratio = session.face.found_ratio
        if session.worker is not None:
            summary.face = {**session.worker.status(), **session.worker.lag_percentiles()}
    return summary


def _poll_until_done(session: LiveSession, summary: RunSummary, duration: float | None, resolve_timeout: float,
                     poll_s: float, on_result: Callable[[HopResult], None] | None,
                     stop: threading.Event | None) -> None:
    """:func:`run_headless`'s loop: poll until ``duration`` seconds after the first sample, or ``stop``."""
    t_end = math.inf
    no_data_deadline = time.monotonic() + resolve_timeout
    while time.monotonic() < t_end and not (stop is not None and stop.is_set()):
        for result in session.poll():
            summary.latencies_ms.append(result.latency_ms)
            summary.hops += 1
            summary.face_found_hops += int(result.face_result is not None and result.face_result.found)
            if on_result is not None:
                on_result(result)
        if t_end == math.inf:
            if session.status.samples and duration is not None:
                t_end = time.monotonic() + duration
            elif not session.status.samples and time.monotonic() > no_data_deadline:
                raise NoDataError(f"{summary.stream} sent no sample within {resolve_timeout:g} s")
        time.sleep(poll_s)
