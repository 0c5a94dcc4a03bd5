"""Replay an XDF recording through exactly the live pipeline, at any speed, with identical numbers.

:func:`replay` loads the file (:mod:`affectstream.core.xdf_reader`), and a :class:`HeadlessReplay` builds the same
:class:`~affectstream.pipelines.engine.AffectPipeline` a live run builds (plus
:class:`~affectstream.pipelines.face.path.FacePath` when the file holds a Video stream in the project's format) and
feeds it the recording in stream-time order (:mod:`affectstream.pipelines.sessions.recorded`). Only the clock differs
from a live run (docs/architecture.md): ``speed=None`` runs as fast as possible, ``speed=k`` sleeps so that stream
time advances k times faster than wall time. Nothing computed depends on the wall clock, so the JSONL written at any
speed is identical (``latency_ms`` aside: here the processing time of each hop, see
:meth:`~affectstream.pipelines.sessions.base.HopOutputs.emit`).

The EEG channels are matched onto the montage; the missing ones are reported in :class:`ReplaySummary` and the log.
Markers (string and numeric marker streams, :mod:`affectstream.core.xdf_recording`) are counted into the summary; the
JSONL records carry the recorded EEG stream's status under ``eeg_stream``, with the keys a live run writes.
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

from affectstream.core.xdf_recording import XDFRecording
from affectstream.pipelines.config import PipelineConfig
from affectstream.core.montage import MIN_SOURCES
from affectstream.pipelines.engine import COUNTER_LABEL, AffectPipeline, HopResult, StreamStats
from affectstream.pipelines.face.path import FacePath
from affectstream.pipelines.feed import JUMP_PERIODS
from affectstream.pipelines.sessions.recorded import (HopFeeder, RecordedStream, RecordingSession, RecordingView,
                                                      eeg_spec, load_replayable, recorded_status)

log = logging.getLogger(__name__)


@dataclass
class ReplaySummary:
    """What a replay did.

    Attributes
    ----------
    path : str
        The file.
    eeg_stream : str
        One line describing the EEG stream used.
    hops : int
        Hop results produced (one JSONL line each).
    duration_s : float
        Stream time covered by the EEG's samples (:func:`covered_s`: finite, never negative; what it leaves out of
        a hostile or gappy file is said in ``notes``).
    wall_s : float
        Wall time of the whole replay, loading included.
    speed : float | None
        The requested speed (None = as fast as possible).
    mapping : str
        The montage mapping in one line; ``missing_channels`` lists what the model lacks.
    markers : dict
        Label -> count over every marker stream (string, or numeric values as text); ``n_markers`` their total.
    video : str | None
        The Video stream used, if any; ``frames`` frames went through the face path.
    notes : list of str
        One line per stream not used and every other remark of the reader.
    eeg_model_trained_on : str | None
        What the EEG student was trained on (``synthetic``, ``real``, ``subject``); None for the baseline.
    model_warning : str | None
        Why the EEG estimates must not be read as a validated measure (a simulator-trained student on a recording
        that is not the simulator's), or None.
    """

    path: str
    eeg_stream: str
    hops: int = 0
    duration_s: float = 0.0
    wall_s: float = 0.0
    load_s: float = 0.0
    speed: float | None = None
    estimator: str = ""
    mapping: str = ""
    missing_channels: tuple[str, ...] = ()
    unused_channels: tuple[str, ...] = ()
    synthetic: bool = False
    markers: dict[str, int] = field(default_factory=dict)
    n_markers: int = 0
    marker_streams: list[str] = field(default_factory=list)
    video: str | None = None
    frames: int = 0
    face_found_ratio: float = math.nan
    ground_truth: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stats: StreamStats = field(default_factory=StreamStats)
    out_jsonl: str | None = None
    stopped: bool = False
    timing: dict[str, int] = field(default_factory=dict)  #: duplicated / reordered stamps and clock jumps
    eeg_model_trained_on: str | None = None
    model_warning: str | None = None

    @property
    def x_realtime(self) -> float:
        """Stream seconds replayed per wall second."""
        return self.duration_s / self.wall_s if self.wall_s > 0 else math.nan

    def markers_line(self, most: int = 12) -> str:
        """``square x80, rt x74``: the ``most`` most frequent labels, each shortened to 40 printable characters, then
        how many others there were, so that a file with 200,000 distinct markers gives one short line."""
        if not self.markers:
            return "no markers"
        ranked = sorted(self.markers.items(), key=lambda kv: -kv[1])
        line = ", ".join(f"{_short(k)} x{v}" for k, v in ranked[:most])
        if len(ranked) > most:
            rest = sum(v for _, v in ranked[most:])
            line += f", and {len(ranked) - most} other labels x{rest}"
        return line


def _short(text: str, n: int = 40) -> str:
    """One line of at most ``n`` printable characters: whitespace runs become one space and any other control or
    unprintable character its escape (a NUL is shown as ``\\x00``, never written raw to a terminal or log)."""
    text = " ".join(str(text).split())
    text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
    return text if len(text) <= n else text[:n - 3] + "..."


def covered_s(stamps: np.ndarray, srate: float) -> tuple[float, str | None]:
    """Seconds of stream time that the samples cover, and a note on what was left out (None when nothing was).

    The sum of the steps between consecutive finite stamps that go forward by at most a clock jump
    (:data:`~affectstream.pipelines.feed.JUMP_PERIODS` sample periods, the rule of the live feed's timing guard):
    on a well-formed file, the last stamp minus the first. A hostile file cannot make it negative, infinite or
    huge (a stamp at 1e300 is a jump, left out): it is at most ``JUMP_PERIODS / srate`` per sample. Non-finite
    stamps, repeated or reordered ones and the gaps or clock jumps (either way) are counted into the note instead.
    """
    stamps = np.asarray(stamps, dtype=np.float64)
    jump = JUMP_PERIODS / srate if srate > 0 else math.inf
    finite = np.isfinite(stamps)
    steps = np.diff(stamps[finite])
    covered = float(steps[(steps > 0) & (steps <= jump)].sum())
    left_out = {"non-finite stamps": int((~finite).sum()),
                "repeated or reordered stamps": int(((steps <= 0) & (steps >= -jump)).sum()),
                "gaps or clock jumps": int((np.abs(steps) > jump).sum())}
    if not any(left_out.values()):
        return covered, None
    return covered, (f"duration: {covered:.1f} s of stream time with samples, leaving out "
                     + ", ".join(f"{k} {v}" for k, v in left_out.items() if v))


class HeadlessReplay(RecordingSession):
    """A loaded recording fed through the live pipeline, ``hops_per_poll`` hops each time :meth:`poll` is called.

    Parameters
    ----------
    rec : XDFRecording
        The recording, checked by :func:`~affectstream.pipelines.sessions.recorded.load_replayable`.
    config : PipelineConfig
        Pipeline settings (the same as live).
    with_video : bool
        Run the face path on the file's Video stream, when it has one in the project's format.
    publish : bool
        Publish the estimates on the ``Affect`` LSL outlet, as a live run does.
    out_jsonl : path | None
        Write one JSON object per hop: the pipeline's record with the recorded EEG stream's status, as live.
    hops_per_poll : int
        Hops fed per poll; more than one only without video (frames interleave hop by hop). The hops are the same
        either way, because they are counted in samples.
    """

    def __init__(self, rec: XDFRecording, config: PipelineConfig = PipelineConfig(), *, with_video: bool = True,
                 publish: bool = False, out_jsonl: str | Path | None = None, hops_per_poll: int = 1) -> None:
        self.recording = rec
        self.eeg = rec.eeg
        self.spec = eeg_spec(self.eeg)
        self.face = FacePath(device=config.device, precision=config.visual_precision) \
            if with_video and rec.video is not None else None
        self.pipeline = AffectPipeline(self.spec, config, live=False, face=self.face)
        self.status = recorded_status(self.eeg)
        self.feeder = HopFeeder(rec, self.eeg, self.pipeline, faults=self.status.timing)
        if hops_per_poll > 1 and self.feeder.frames is not None:
            raise ValueError("a replay with video feeds one hop per poll (frames interleave hop by hop)")
        self.hops_per_poll = int(hops_per_poll)
        self.inlet = RecordedStream(self.eeg)
        self._view = RecordingView(rec)
        self.latest_eeg = (np.empty((0, self.eeg.channel_count)), np.empty(0))
        self.new_markers: list[tuple[float, str]] = []
        self.new_truth = (np.empty(0), np.empty((0, 2)))
        self.outputs = self._outputs(Path(rec.path), self.eeg, publish=publish, hop_s=self.pipeline.hop_s,
                                     out=out_jsonl)

    @property
    def done(self) -> bool:
        """Every hop of the recording was fed."""
        return self.feeder.done

    def next_time(self) -> float:
        """Stream time at which the next poll's hops would be complete in a live run."""
        return self.feeder.next_time(self.hops_per_poll)

    def poll(self) -> list[HopResult]:
        if self.feeder.done:
            return []
        results = self.outputs.emit(*self.feeder.feed(self.hops_per_poll), eeg_stream=self.status, batch=True)
        fed = self.feeder.start
        self.latest_eeg, self.new_markers, self.new_truth = self._view.show(fed, float(self.eeg.timestamps[fed - 1]))
        self.status.samples += len(self.latest_eeg[1])
        return results


def replay(path: str | Path, *, speed: float | None = None, out_jsonl: str | Path | None = None,
           publish: bool = False, config: PipelineConfig = PipelineConfig(), with_video: bool = True,
           on_result: Callable[[HopResult], None] | None = None, allow_truncated: bool = False,
           stop: threading.Event | None = None, recording: XDFRecording | None = None,
           on_start: Callable[[ReplaySummary], None] | None = None) -> ReplaySummary:
    """Feed an XDF recording through the live pipeline; returns a :class:`ReplaySummary`.

    Parameters
    ----------
    path : str | Path
        The XDF file.
    speed : float | None
        None: as fast as possible; k > 0: k x real time (sleeps between hops). Never changes the numbers.
    out_jsonl : path | None
        Write one JSON object per hop: the pipeline's record with the recorded EEG stream's status, as live.
    publish : bool
        Also publish the estimates on the ``Affect`` LSL outlet, as a live run does.
    config : PipelineConfig
        Pipeline settings (the same as live).
    with_video : bool
        Run the face path on the file's Video stream, when it has one in the project's format.
    on_result : callable | None
        Called with every :class:`HopResult` (dashboard, progress).
    allow_truncated : bool
        Replay the complete part of a file cut off mid-chunk (see
        :func:`~affectstream.core.xdf_reader.load_recording`).
    stop : threading.Event | None
        Set it to end the replay early (``summary.stopped``).
    recording : XDFRecording | None
        An already loaded recording of ``path`` (skips loading).
    on_start : callable | None
        Called with the summary once the pipeline is built, before the first hop: what will be used, the model
        warning included (the command line prints it before the replay runs).

    Raises
    ------
    XDFFormatError, StreamFormatError
        As :func:`~affectstream.pipelines.sessions.recorded.load_replayable`.
    """
    if speed is not None and not (math.isfinite(speed) and speed > 0):
        raise ValueError(f"speed must be a positive number or None (as fast as possible), got {speed}")
    wall0 = time.perf_counter()
    rec = load_replayable(path, config, with_video=with_video, allow_truncated=allow_truncated, recording=recording)
    load_s = time.perf_counter() - wall0
    # Nothing to interleave and no pacing: larger chunks give the same hops with less per-call overhead; 64 hops
    # (16 s) keep ``stop`` responsive.
    step = 64 if not (with_video and rec.video is not None) and speed is None else 1
    with HeadlessReplay(rec, config, with_video=with_video, publish=publish, out_jsonl=out_jsonl,
                        hops_per_poll=step) as session:
        summary = _summary(path, rec, session.pipeline, with_video=with_video, speed=speed, out_jsonl=out_jsonl,
                           load_s=load_s)
        if on_start is not None:
            on_start(summary)
        _run(session, summary, speed, on_result, stop)
    if session.pipeline.estimator_name != summary.estimator:  # the student failed on a hop and the baseline took over
        summary.notes.append(f"the EEG {summary.estimator} failed during the replay; the "
                             f"{session.pipeline.estimator_name} estimator gave the later hops (the log says why)")
        summary.estimator = session.pipeline.estimator_name
        summary.eeg_model_trained_on = session.pipeline.eeg_model_trained_on
    summary.stats = session.pipeline.stats
    faults = session.feeder.eeg_feed.faults
    summary.timing = {k: getattr(faults, k) for k in ("duplicate_stamps", "reordered_stamps", "clock_jumps",
                                                      "invalid_stamps")}
    if any(summary.timing.values()):
        summary.notes.append("timing faults in the EEG stream (handled as live): " +
                             ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in summary.timing.items() if v))
    if session.face is not None:
        summary.frames = session.face.frames
        summary.face_found_ratio = session.face.found_ratio
    summary.wall_s = time.perf_counter() - wall0
    log.info("replayed %d hops of %.1f s in %.2f s (%.0fx real time)", summary.hops, summary.duration_s,
             summary.wall_s, summary.x_realtime)
    return summary


def _summary(path: str | Path, rec: XDFRecording, pipeline: AffectPipeline, *, with_video: bool,
             speed: float | None, out_jsonl: str | Path | None, load_s: float) -> ReplaySummary:
    """The summary of a replay about to start (and the log lines that say what it will use)."""
    eeg, mapping = rec.eeg, pipeline.mapping
    summary = ReplaySummary(
        path=str(path), eeg_stream=eeg.describe(), speed=speed, estimator=pipeline.estimator_name,
        mapping=mapping.describe(), missing_channels=mapping.missing,
        unused_channels=tuple(u for u in mapping.unused if u != COUNTER_LABEL), synthetic=eeg.synthetic,
        markers=dict(rec.marker_counts()), marker_streams=[s.describe() for s in rec.markers],
        video=rec.video.describe() if pipeline.face is not None else None,
        ground_truth=[s.describe() for s in rec.ground_truth], notes=list(rec.notes),
        out_jsonl=str(out_jsonl) if out_jsonl is not None else None, load_s=load_s,
        eeg_model_trained_on=pipeline.eeg_model_trained_on, model_warning=pipeline.model_warning,
    )
    summary.n_markers = sum(summary.markers.values())
    summary.duration_s, note = covered_s(eeg.timestamps, eeg.srate)
    if note is not None:
        summary.notes.append(note)
    if rec.video is not None and not with_video:
        summary.notes.append(f"video stream {rec.video.describe()} not replayed (with_video=False)")
    log.info("replaying %s: %s", eeg.describe(), mapping.describe())
    if mapping.missing:
        log.warning("EEG stream %r does not measure %d of the %d montage channels (%s): %s", eeg.name,
                    len(mapping.missing), len(mapping.model_labels), ", ".join(mapping.missing),
                    "interpolated from its electrodes" if len(mapping.electrodes) >= MIN_SOURCES else "left out")
    log.info("markers: %s", summary.markers_line())
    return summary


def _run(session: HeadlessReplay, summary: ReplaySummary, speed: float | None,
         on_result: Callable[[HopResult], None] | None, stop: threading.Event | None) -> None:
    """Poll the session to the end of the recording (or ``stop``), paced at ``speed``; counts into ``summary``."""
    t_start = float(session.eeg.timestamps[0])
    wall_start = time.perf_counter()
    while not session.done:
        if stop is not None and stop.is_set():
            summary.stopped = True
            break
        if speed is not None:
            delay = wall_start + (session.next_time() - t_start) / speed - time.perf_counter()
            if delay > 0 and (stop.wait(delay) if stop is not None else time.sleep(delay)):
                summary.stopped = True
                break
        for result in session.poll():
            summary.hops += 1
            if on_result is not None:
                on_result(result)
