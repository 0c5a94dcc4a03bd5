"""Replay an XDF recording through exactly the live pipeline, at any speed, with identical numbers.

:func:`replay` loads the file (:mod:`affectstream.core.xdf_reader`), builds the same :class:`~.engine.AffectPipeline` a live run
builds (plus :class:`~.face_path.FacePath` when the file holds a Video stream in the project's format), and feeds
it the recording in stream-time order. Only the clock differs from a live run (docs/architecture.md): ``speed=None``
runs as fast as possible, ``speed=k`` sleeps so that stream time advances k times faster than wall time. Nothing
computed depends on the wall clock, so the JSONL written at any speed is identical (``latency_ms`` aside).

Event order
-----------
The EEG is cut at the hop boundaries (hop ``k`` ends at sample ``window + k * hop``; :mod:`.scheduler`), so every
chunk completes exactly one hop. Before the chunk that completes a hop, every video frame stamped at or before that
hop's stream time (the timestamp of its last EEG sample) goes through the face path, in recorded order. The hop
then pairs with the newest face result at or before its time (``FacePath.at``), as in a live run.

Frames
------
Replay runs the face path on **every** frame of the recording, because the tracker carries state from frame to
frame. A live run processes the newest frame whenever its face thread is free (a slow machine skips frames), so
live and replay pair EEG hops with the same *frames* only when the live face path kept up; on the team machines
(320x240 at 15 fps, ~3 ms a frame) it does. Replay results never depend on the replay speed either way.

EEG that does not fit
---------------------
Labels are matched onto the montage by :func:`affectstream.core.montage.map_channels`: channels that match are used, the missing
ones are reported (summary and log). A stream without labels that is not 32 channels in montage order, or whose
rate is too low for the gamma band, is refused with one line naming the stream and every reason
(:class:`~.engine.StreamFormatError`).

Markers (string streams) are counted into :class:`ReplaySummary`; the JSONL records stay exactly as the pipeline
makes them. :func:`publish_recording` re-publishes every stream of a file as LSL outlets, for the dashboard or any
LSL tool.
"""

from __future__ import annotations

import logging
import math
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from affectstream.pipelines.config import PipelineConfig
from affectstream.pipelines.engine import (COUNTER_LABEL, MAX_EEG_RATE, AffectPipeline, EEGStreamSpec, HopResult, StreamFormatError,
                     StreamStats)
from affectstream.core.xdf_reader import XDFRecording, XDFStream, decode_frame, load_recording

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
        Stream time covered by the EEG (last minus first timestamp).
    wall_s : float
        Wall time of the whole replay, loading included.
    speed : float | None
        The requested speed (None = as fast as possible).
    mapping : str
        The montage mapping in one line; ``missing_channels`` lists what the model lacks.
    markers : dict
        Label -> count over every marker (string) stream; ``n_markers`` their total.
    video : str | None
        The Video stream used, if any; ``frames`` frames went through the face path.
    notes : list of str
        One line per stream not used and every other remark of the reader.
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

    @property
    def x_realtime(self) -> float:
        """Stream seconds replayed per wall second."""
        return self.duration_s / self.wall_s if self.wall_s > 0 else math.nan

    def markers_line(self) -> str:
        """``square x80, rt x74`` (labels shortened to 40 characters)."""
        if not self.markers:
            return "no markers"
        return ", ".join(f"{_short(k)} x{v}" for k, v in sorted(self.markers.items(), key=lambda kv: -kv[1]))


def _short(text: str, n: int = 40) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[:n - 3] + "..."


def eeg_spec(stream: XDFStream) -> EEGStreamSpec:
    """The pipeline's view of an XDF EEG stream (labels None when it declares none)."""
    labels = stream.labels
    if labels is not None and not any(lab.strip() for lab in labels):
        labels = None
    return EEGStreamSpec(sfreq=stream.srate, n_channels=stream.channel_count, labels=labels, name=stream.name,
                         source_id=stream.source_id, hostname=stream.hostname, synthetic=stream.synthetic)


def check_eeg(stream: XDFStream, config: PipelineConfig = PipelineConfig()) -> None:
    """Refuse, in one line listing every reason, an EEG stream the pipeline cannot use."""
    from affectstream.core.bandpower import WelchBandPower, WelchConfig
    from affectstream.core.montage import map_channels

    reasons = []
    if stream.n_samples == 0:
        reasons.append("it has no samples")
    if not (math.isfinite(stream.srate) and stream.srate > 0):
        reasons.append(f"its nominal rate is {stream.srate:g} Hz (irregular); a regular rate is needed")
    elif stream.srate > MAX_EEG_RATE:  # before any rate-sized allocation (the Welch weights grow with it)
        reasons.append(f"its rate of {stream.srate:g} Hz is above the {MAX_EEG_RATE:g} Hz this pipeline accepts; "
                       "resample the recording first")
    else:
        try:
            WelchBandPower(WelchConfig(sfreq=stream.srate, window_s=config.window_s, kind="log"))
        except ValueError as exc:
            reasons.append(f"its rate of {stream.srate:g} Hz is too low ({exc})")
    try:
        map_channels(eeg_spec(stream).labels, stream.channel_count)
    except ValueError as exc:
        reasons.append(f"its channels cannot be mapped onto the montage ({exc})")
    if reasons:
        raise StreamFormatError(f"EEG stream {stream.describe()} cannot be replayed: " + "; ".join(reasons))


def load_replayable(path: str | Path, config: PipelineConfig = PipelineConfig(), *, with_video: bool = True,
                    allow_truncated: bool = False, recording: XDFRecording | None = None) -> XDFRecording:
    """Load ``path`` (unless ``recording`` is given) and make sure its EEG stream can be replayed.

    Raises
    ------
    affectstream.core.xdf_reader.XDFFormatError
        The file is not a readable XDF file.
    StreamFormatError
        No usable EEG stream (one line with the reason).
    """
    rec = recording if recording is not None else load_recording(path, allow_truncated=allow_truncated,
                                                                  select_video=with_video)
    for note in rec.notes:
        log.info("%s", note)
    if rec.eeg is None:
        raise StreamFormatError(f"{Path(path).name} has no EEG stream to replay"
                                + (f" ({'; '.join(rec.notes)})" if rec.notes else ""))
    check_eeg(rec.eeg, config)
    return rec


def _hop_stops(n: int, n_window: int, n_hop: int) -> list[int]:
    """Chunk ends (exclusive) that make every EEG chunk complete exactly one hop, plus the tail."""
    stops = list(range(n_window, n + 1, n_hop)) if n >= n_window else []
    if not stops or stops[-1] != n:
        stops.append(n)
    return stops


def replay(path: str | Path, *, speed: float | None = None, out_jsonl: str | Path | None = None,
           publish: bool = False, config: PipelineConfig = PipelineConfig(), with_video: bool = True,
           on_result: Callable[[HopResult], None] | None = None, allow_truncated: bool = False,
           stop: threading.Event | None = None, recording: XDFRecording | None = None) -> ReplaySummary:
    """Feed an XDF recording through the live pipeline; returns a :class:`ReplaySummary`.

    Parameters
    ----------
    path : str | Path
        The XDF file.
    speed : float | None
        None: as fast as possible; k > 0: k x real time (sleeps between hops). Never changes the numbers.
    out_jsonl : path | None
        Write one JSON object per hop (the pipeline's record, unchanged).
    publish : bool
        Also publish the estimates on the ``Affect`` LSL outlet, as a live run does.
    config : PipelineConfig
        Pipeline settings (the same as live).
    with_video : bool
        Run the face path on the file's Video stream, when it has one in the project's format.
    on_result : callable | None
        Called with every :class:`HopResult` (dashboard, progress).
    allow_truncated : bool
        Replay the complete part of a file cut off mid-chunk (see :func:`~affectstream.core.xdf_reader.load_recording`).
    stop : threading.Event | None
        Set it to end the replay early (``summary.stopped``).
    recording : XDFRecording | None
        An already loaded recording of ``path`` (skips loading).

    Raises
    ------
    XDFFormatError, StreamFormatError
        As :func:`load_replayable`.
    """
    if speed is not None and not (math.isfinite(speed) and speed > 0):
        raise ValueError(f"speed must be a positive number or None (as fast as possible), got {speed}")
    wall0 = time.perf_counter()
    rec = load_replayable(path, config, with_video=with_video, allow_truncated=allow_truncated, recording=recording)
    load_s = time.perf_counter() - wall0
    eeg = rec.eeg
    face = None
    if with_video and rec.video is not None:
        from affectstream.pipelines.face.path import FacePath

        face = FacePath(device=config.device, precision=config.visual_precision)
    pipeline = AffectPipeline(eeg_spec(eeg), config, live=False, face=face)
    mapping = pipeline.mapping
    summary = ReplaySummary(
        path=str(path), eeg_stream=eeg.describe(), speed=speed, estimator=pipeline.estimator_name,
        mapping=mapping.describe(), missing_channels=mapping.missing,
        unused_channels=tuple(u for u in mapping.unused if u != COUNTER_LABEL), synthetic=eeg.synthetic,
        markers=dict(rec.marker_counts()), marker_streams=[s.describe() for s in rec.markers],
        video=rec.video.describe() if face is not None else None, ground_truth=[s.describe() for s in rec.ground_truth],
        notes=list(rec.notes), out_jsonl=str(out_jsonl) if out_jsonl is not None else None, load_s=load_s,
    )
    summary.n_markers = sum(summary.markers.values())
    summary.duration_s = eeg.duration
    if rec.video is not None and not with_video:
        summary.notes.append(f"video stream {rec.video.describe()} not replayed (with_video=False)")
    log.info("replaying %s: %s", eeg.describe(), mapping.describe())
    if mapping.missing:
        log.warning("EEG stream %r lacks montage channels %s (masked)", eeg.name, ", ".join(mapping.missing))
    log.info("markers: %s", summary.markers_line())

    sink = outlet = None
    try:
        if out_jsonl is not None:
            from affectstream.pipelines.sinks.outputs import JsonlSink

            sink = JsonlSink(out_jsonl)
        if publish:
            from affectstream.pipelines.sinks.outputs import AffectOutlet

            outlet = AffectOutlet(hop_s=pipeline.hop_s, synthetic=eeg.synthetic)
        feeder_faults = _run(rec, eeg, pipeline, summary, speed, sink, outlet, on_result, stop)
    finally:
        if sink is not None:
            sink.close()
        if outlet is not None:
            outlet.close()
    summary.stats = pipeline.stats
    summary.timing = {k: getattr(feeder_faults, k) for k in ("duplicate_stamps", "reordered_stamps", "clock_jumps")}
    if any(summary.timing.values()):
        summary.notes.append("timing faults in the EEG stream (handled as live): " +
                             ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in summary.timing.items() if v))
    if face is not None:
        summary.frames = face.frames
        summary.face_found_ratio = face.found_ratio
    summary.wall_s = time.perf_counter() - wall0
    log.info("replayed %d hops of %.1f s in %.2f s (%.0fx real time)", summary.hops, summary.duration_s,
             summary.wall_s, summary.x_realtime)
    return summary


class HopFeeder:
    """Feeds a loaded recording into a pipeline one hop at a time, in the event order described above.

    The one place that decides what goes into the pipeline and when, used by :func:`replay` and by the dashboard's
    :class:`~.replay_session.ReplaySession`, so both give the same numbers for the same stretch of a file.

    Parameters
    ----------
    rec : XDFRecording
        The loaded file (its Video stream is used when ``pipeline.face`` is set).
    eeg : XDFStream
        The EEG stream of ``rec``.
    pipeline : AffectPipeline
        A fresh pipeline (``live=False``).
    start : int
        First EEG sample fed (after a seek, the window before the seek point); frames from then on.
    """

    def __init__(self, rec: XDFRecording, eeg: XDFStream, pipeline: AffectPipeline, start: int = 0) -> None:
        from affectstream.pipelines.sessions.live import EEGFeed

        self.rec, self.eeg, self.pipeline = rec, eeg, pipeline
        # The live path's timestamp checks: a recording with duplicated stamps or clock jumps gives the hops the live
        # session gave (window restarts at jumps, face-only hops while the new window fills).
        self.eeg_feed = EEGFeed(pipeline)
        self.frames = rec.video if pipeline.face is not None else None
        self.frame_t = self.frames.timestamps if self.frames is not None else np.empty(0)
        self.start = int(start)
        self.next_frame = int(np.searchsorted(self.frame_t, eeg.timestamps[self.start])) if self.start else 0
        self.stops = [self.start + s for s in _hop_stops(eeg.n_samples - self.start, pipeline.n_window,
                                                         pipeline.n_hop)]
        self.k = 0  #: index into :attr:`stops` of the next chunk end

    @property
    def done(self) -> bool:
        return self.k >= len(self.stops)

    def next_time(self, n: int = 1) -> float:
        """Stream time of the last sample of the next ``n`` hops' chunk (when it would be complete live)."""
        return float(self.eeg.timestamps[self.stops[min(self.k + n, len(self.stops)) - 1] - 1])

    def feed(self, n: int = 1) -> tuple[list[HopResult], float]:
        """Push the next ``n`` hops' EEG (and the frames due before it); returns the results and when it started.

        ``n > 1`` only without video (frames must interleave hop by hop); the hops are the same either way,
        because they are counted in samples.
        """
        end = self.stops[min(self.k + n, len(self.stops)) - 1]
        t_hop = float(self.eeg.timestamps[end - 1])
        frames, j = self.frames, self.next_frame
        while j < len(self.frame_t) and self.frame_t[j] <= t_hop:
            self.pipeline.push_video(decode_frame(frames.data[j], self.rec.video_format), float(self.frame_t[j]))
            j += 1
        self.next_frame = j
        received = time.perf_counter()
        results, _, _ = self.eeg_feed.push(self.eeg.data[self.start:end], self.eeg.timestamps[self.start:end],
                                           received)
        self.start = end
        self.k = min(self.k + n, len(self.stops))
        return results, received


def _run(rec: XDFRecording, eeg: XDFStream, pipeline: AffectPipeline, summary: ReplaySummary,
         speed: float | None, sink, outlet, on_result, stop):
    """Feed the whole recording; returns the EEG stream's timing-fault counters."""
    feeder = HopFeeder(rec, eeg, pipeline)
    t_start = float(eeg.timestamps[0])
    wall_start = time.perf_counter()
    # Nothing to interleave and no pacing: larger chunks give the same hops with less per-call overhead; 64 hops
    # (16 s) keep ``stop`` responsive.
    step = 64 if feeder.frames is None and speed is None else 1
    while not feeder.done:
        if stop is not None and stop.is_set():
            summary.stopped = True
            break
        if speed is not None:
            delay = wall_start + (feeder.next_time(step) - t_start) / speed - time.perf_counter()
            if delay > 0 and (stop.wait(delay) if stop is not None else time.sleep(delay)):
                summary.stopped = True
                break
        results, received = feeder.feed(step)
        for result in results:
            if outlet is not None:
                outlet.push(result)
            result.latency_ms = (time.perf_counter() - received) * 1e3
            if sink is not None:
                sink.write(result.to_json())
            summary.hops += 1
            if on_result is not None:
                on_result(result)
    return feeder.eeg_feed.faults


# --------------------------------------------------------------------------------------------------------------
# Re-publishing a recording as LSL streams
# --------------------------------------------------------------------------------------------------------------

_LSL_DTYPE = {"double64": "float64"}


def _desc_into(element, value) -> None:
    """Append a plain desc value (dict / list / scalar) under an LSL XML element."""
    for key, item in value.items():
        for v in (item if isinstance(item, list) else [item]):
            if isinstance(v, dict):
                _desc_into(element.append_child(str(key)), v)
            else:
                element.append_child_value(str(key), "" if v is None else str(v))


def _stream_info(s: XDFStream, source_prefix: str | None):
    from mne_lsl.lsl import StreamInfo

    source_id = s.source_id or f"{s.name}-{s.stream_id}"
    if source_prefix:
        source_id = f"{source_prefix}-{source_id}"
    info = StreamInfo(s.name, s.type, s.channel_count, s.srate, _LSL_DTYPE.get(s.channel_format, s.channel_format),
                      source_id)
    if s.labels is not None:
        info.set_channel_names([lab or f"ch{i}" for i, lab in enumerate(s.labels)])
    if s.types is not None:
        info.set_channel_types([t or "misc" for t in s.types])
    if s.units is not None:
        info.set_channel_units([u or "none" for u in s.units])
    extra = {k: v for k, v in s.desc.items() if not (k == "channels" and isinstance(v, dict))}
    _desc_into(info.desc, extra)
    info.desc.append_child_value("replayed_from", "xdf")
    return info


def publish_recording(path: str | Path, speed: float = 1.0, *, loop: bool = False, source_prefix: str | None = None,
                      stop: threading.Event | None = None, duration: float | None = None,
                      wait_for_consumers: float = 0.0, linger_s: float = 1.0,
                      recording: XDFRecording | None = None) -> dict[str, int]:
    """Re-publish every non-empty stream of an XDF file as an LSL outlet, paced at ``speed`` x real time.

    Each sample keeps its recorded timestamp shifted by one constant (now minus the recording's first timestamp),
    so at 1x the stamps follow the LSL clock and the streams stay aligned with one another; at other speeds the
    samples arrive faster or slower but keep their recorded spacing (the nominal rates stay true).

    Parameters
    ----------
    path : str | Path
        The XDF file.
    speed : float
        Real-time factor (> 0).
    loop : bool
        Start again from the beginning at the end (the shift grows by the recording's length each time).
    source_prefix : str | None
        Prefix every ``source_id`` (so a replayed device is not mistaken for the live one); default: unchanged.
    stop : threading.Event | None
        Set it to stop.
    duration : float | None
        Wall seconds to publish (None: to the end, or forever with ``loop``).
    wait_for_consumers : float
        Wait up to this many seconds for a consumer of the EEG outlet before starting the clock.
    linger_s : float
        Keep the outlets open this long after the last sample, so consumers receive the tail before the streams
        disappear.

    Returns
    -------
    dict
        Stream name -> samples pushed.
    """
    from mne_lsl.lsl import StreamOutlet, local_clock

    if not (math.isfinite(speed) and speed > 0):
        raise ValueError(f"speed must be a positive number, got {speed}")
    rec = recording if recording is not None else load_recording(path)
    streams = [s for s in rec.streams if s.n_samples > 0]
    if not streams:
        raise StreamFormatError(f"{Path(path).name} has no stream with samples to publish")
    for note in rec.notes:
        log.info("%s", note)
    outlets = {s.stream_id: StreamOutlet(_stream_info(s, source_prefix),
                                         chunk_size=1 if s.is_string or s.channel_count > 4096 else 8)
               for s in streams}
    if wait_for_consumers > 0 and rec.eeg is not None and rec.eeg.stream_id in outlets:
        outlets[rec.eeg.stream_id].wait_for_consumers(timeout=wait_for_consumers)
    t_first = min(float(s.timestamps[0]) for s in streams)
    t_last = max(float(s.timestamps[-1]) for s in streams)
    envelope = {s.stream_id: np.maximum.accumulate(s.timestamps) for s in streams}  # robust to clock resets
    pushed = {s.name: 0 for s in streams}
    wall0 = local_clock()
    shift = wall0 - t_first
    pos = {s.stream_id: 0 for s in streams}
    try:
        while not (stop is not None and stop.is_set()):
            now = local_clock()
            if duration is not None and now - wall0 >= duration:
                break
            t_rec = t_first + (now - wall0) * speed - (shift - (wall0 - t_first))
            for s in streams:
                i0 = pos[s.stream_id]
                i1 = int(np.searchsorted(envelope[s.stream_id], t_rec, side="right"))
                if i1 <= i0:
                    continue
                outlet = outlets[s.stream_id]
                ts = s.timestamps[i0:i1] + shift
                if s.is_string:
                    for row, t in zip(s.data[i0:i1], ts):
                        outlet.push_sample([str(v) for v in row], timestamp=float(t))
                elif i1 - i0 == 1 or s.channel_count > 4096:
                    for k in range(i0, i1):
                        outlet.push_sample(np.ascontiguousarray(s.data[k]), timestamp=float(ts[k - i0]))
                else:
                    outlet.push_chunk(np.ascontiguousarray(s.data[i0:i1]), timestamp=ts)
                pushed[s.name] += i1 - i0
                pos[s.stream_id] = i1
            if all(pos[s.stream_id] >= s.n_samples for s in streams):
                if not loop:
                    if stop is not None:
                        stop.wait(linger_s)
                    else:
                        time.sleep(linger_s)
                    break
                shift += (t_last - t_first) + 1.0 / max(max(s.srate for s in streams), 1.0)
                pos = {s.stream_id: 0 for s in streams}
            time.sleep(0.005)
    finally:
        outlets.clear()
    return pushed


# --------------------------------------------------------------------------------------------------------------
# Simulated recordings and the replay benchmark
# --------------------------------------------------------------------------------------------------------------


def write_simulated_recording(path: str | Path, duration_s: float, *, config=None, video: bool = False,
                              counter: bool = True, t0: float = 1000.0, flush_s: float = 1.0,
                              face_crop: int | None = None) -> Path:
    """Write a SYNTHETIC session from :class:`~.simulator.SessionSimulator` to XDF with :class:`XDFWriter`.

    Streams as the simulator publishes them (``sim_publisher``): 32-ch EEG (µV, labels) + ``SampleCounter`` at
    ``srate``, ``Markers``, ``GroundTruth`` (valence, arousal at ``truth_rate``) and optionally ``Video`` (the
    rendered face at ``video_fps``, BGR, project contract); every stream says ``synthetic=true``. Sample ``i`` is
    stamped ``t0 + i / srate``; one flush per ``flush_s`` of stream time, as a live recorder would.
    ``face_crop`` keeps only the centre square of that many pixels of each frame: the renderer centres the face,
    so this is an aligned face crop, as a dataset of preprocessed face crops stores them.
    """
    from affectstream.core.montage import MONTAGE_32
    from affectstream.pipelines.synthetic.simulator import SessionSimulator, SimulatorConfig
    from affectstream.core.xdf_writer import XDFWriter

    config = config or SimulatorConfig()
    sim = SessionSimulator(config)
    meta = {"synthetic": "true", "generator": "affectstream simulator", "subject": config.subject_name,
            "seed": str(config.seed)}
    labels = list(MONTAGE_32) + ([COUNTER_LABEL] if counter else [])
    n_total = int(round(duration_s * config.srate))
    with XDFWriter(path, flush_interval_s=None, header={"synthetic": "true"}) as w:
        eeg = w.add_stream("affectstream-sim-EEG", "EEG", len(labels), config.srate, "float32", "sim-eeg",
                           labels=labels, units=["microvolts"] * 32 + ["none"] * counter,
                           types=["EEG"] * 32 + ["misc"] * counter, desc=meta)
        mrk = w.add_stream("affectstream-sim-Markers", "Markers", 1, 0.0, "string", "sim-markers", desc=meta)
        truth = w.add_stream("affectstream-sim-GroundTruth", "GroundTruth", 2, config.truth_rate, "float32",
                             "sim-truth", labels=["valence", "arousal"], desc=meta)
        vid = None
        if video:
            h, wd = config.video_size if face_crop is None else (face_crop, face_crop)
            if h > config.video_size[0] or wd > config.video_size[1]:
                raise ValueError(f"face_crop {face_crop} is larger than the frames {config.video_size}")
            y0, x0 = (config.video_size[0] - h) // 2, (config.video_size[1] - wd) // 2
            vid = w.add_stream("affectstream-sim-Video", "Video", h * wd * 3, config.video_fps, "int8", "sim-video",
                               desc={**meta, "width": wd, "height": h, "channels": 3, "color_order": "BGR"})
        block = max(1, int(round(flush_s * config.srate)))
        done = k_truth = k_frame = 0
        while done < n_total:
            n = min(block, n_total - done)
            x, idx = sim.read_eeg(n)
            t_a, t_b = done / config.srate, (done + n) / config.srate
            if counter:
                x = np.column_stack([x, idx.astype(np.float32)])
            w.write(eeg, x, t0 + idx / config.srate)
            events = sim.markers_between(t_a, t_b)
            if events:
                w.write(mrk, [text for _, text in events], [t0 + t for t, _ in events])
            k_end = int(math.ceil(t_b * config.truth_rate - 1e-9))
            if k_end > k_truth:
                k = np.arange(k_truth, k_end)
                v, a = sim.truth_at(k / config.truth_rate)
                w.write(truth, np.column_stack([v, a]).astype(np.float32), t0 + k / config.truth_rate)
                k_truth = k_end
            if vid is not None:
                f_end = int(math.ceil(t_b * config.video_fps - 1e-9))
                for k in range(k_frame, f_end):
                    frame = sim.frame_at(k / config.video_fps)[y0:y0 + h, x0:x0 + wd]
                    w.write(vid, np.ascontiguousarray(frame).reshape(1, -1), [t0 + k / config.video_fps])
                k_frame = max(k_frame, f_end)
            w.flush()
            done += n
    return Path(path)


def bench_replay(minutes: float = 10.0, *, video_minutes: float | None = 2.0, repeats: int = 3, seed: int = 0,
                 config: PipelineConfig | None = None, workdir: str | Path | None = None) -> dict[str, float]:
    """Replay speed as fast as possible, EEG only and with the face video (docs/architecture.md, budgets: 500x and 10x).

    Writes two SYNTHETIC recordings with :func:`write_simulated_recording` into a temporary folder (EEG + counter
    + markers + ground truth for ``minutes``; the same plus the 15 fps 320x240 face video for ``video_minutes``,
    default 2: ten minutes of raw frames would be a 2 GB file and the ratio does not depend on the length), then
    times :func:`replay` with ``speed=None``, loading included, ``repeats`` times each.

    Returns recording seconds per wall second (``*_x_realtime``: the best run, the one least disturbed by other
    processes on a shared machine; ``*_x_realtime_median``) and per CPU second of this process
    (``*_x_realtime_cpu``, which other processes disturb much less), plus the parts of the time.
    """
    from affectstream.pipelines.synthetic.simulator import SimulatorConfig

    config = config or PipelineConfig(eeg_estimator="auto")
    video_minutes = minutes if video_minutes is None else min(video_minutes, minutes)
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        sim_config = SimulatorConfig(seed=seed)
        for key, mins, video in (("eeg_only", minutes, False), ("with_video", video_minutes, True)):
            path = write_simulated_recording(Path(tmp) / f"{key}.xdf", mins * 60, config=sim_config, video=video)
            runs = []
            for _ in range(max(1, repeats)):
                cpu0 = time.process_time()
                s = replay(path, speed=None, config=config)
                runs.append((s.wall_s, time.process_time() - cpu0, s))
            best = min(runs, key=lambda r: r[0])
            s = best[2]
            out.update({f"{key}_x_realtime": s.x_realtime,
                        f"{key}_x_realtime_median": s.duration_s / float(np.median([r[0] for r in runs])),
                        f"{key}_x_realtime_cpu": s.duration_s / min(r[1] for r in runs),
                        f"{key}_wall_s": s.wall_s, f"{key}_load_s": s.load_s, f"{key}_recording_s": s.duration_s,
                        f"{key}_hops": s.hops})
            if video:
                out.update(with_video_frames=s.frames, with_video_face_found_ratio=s.face_found_ratio)
        out["estimator"] = s.estimator
    return out
