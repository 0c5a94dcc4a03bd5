"""The processing thread: owns the :class:`~affectstream.pipelines.sessions.live.LiveSession` and posts to a
:class:`~.model.Mailbox`.

Nothing here touches Qt, so the GUI thread only paints. The session is opened *in* this thread too (resolving streams
and loading the students takes seconds), and every failure ends as a state in the snapshot: ``error`` with the
message when a stream is not found. A live session re-attaches a lost EEG or video stream by itself
(:class:`affectstream.pipelines.sources.lsl.SupervisedInlet`): the stream shows ``lost``, then ``reconnecting``, then
``live`` again, while the session keeps running (on the face alone meanwhile). A session that instead raises
``mne_lsl.lsl._utils.LostError`` from ``poll`` (one without that supervision) is shown ``lost`` and waits for the
user's Reconnect.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import queue
import textwrap
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from affectstream.app.dashboard.model import Headset, Mailbox, Snapshot, StreamEntry, StreamView

if TYPE_CHECKING:
    from affectstream.pipelines.sessions.base import Session

log = logging.getLogger(__name__)

#: The :class:`~affectstream.pipelines.sessions.replay_session.ReplaySession` methods the window may ask for.
TRANSPORT_ACTIONS = ("play", "pause", "seek", "set_speed")


@dataclass(frozen=True)
class SourceSpec:
    """Which LSL streams a dashboard session reads (as the ``run`` command and the stream picker name them)."""

    eeg: str | None = "EEG"
    eeg_source_id: str | None = None
    video: str | None = None
    video_source_id: str | None = None
    markers_source_id: str | None = None
    truth_source_id: str | None = None
    resolve_timeout: float = 10.0
    camera: int | None = None  #: a local camera instead of an LSL video stream
    video_file: str | None = None  #: a video file played in real time (looped) instead of an LSL video stream
    recording: str | None = None  #: an XDF file to replay instead of any LSL stream (the other fields are ignored)
    replay_speed: float = 1.0  #: the replay's initial speed
    first_match: bool = False  #: take the first of several matching streams instead of stopping with the list
    subject: str | None = None  #: part of the Affect outlet's ``source_id``

    @property
    def has_video(self) -> bool:
        return any(x is not None for x in (self.video, self.video_source_id, self.camera, self.video_file))

    def describe(self) -> str:
        if self.recording is not None:
            return f"recording {Path(self.recording).name}"
        eeg = self.eeg_source_id or self.eeg or "EEG"
        video = self.video_source_id or self.video or (f"camera {self.camera}" if self.camera is not None
                                                       else self.video_file)
        return f"EEG {eeg}" + (f", video {video}" if self.has_video else "")


def _lost_error() -> type[BaseException]:
    try:
        from mne_lsl.lsl._utils import LostError  # not re-exported by mne_lsl.lsl
        return LostError
    except ImportError:  # pragma: no cover - a future mne-lsl that moved it
        return RuntimeError


class _GuardedInlet:
    """Wraps an optional inlet (markers, truth) so that losing it marks it lost instead of failing the EEG poll.

    ``LiveSession.poll`` pulls the EEG first and the optional inlets after; a lost Markers outlet would otherwise
    raise on every poll after the EEG hops were computed, and those hops would never reach the screen. Everything
    else the session's other users ask of the inlet (the recorder's :attr:`clock_offset`, ``sync_clock``, ...) is
    the wrapped inlet's: a recording started from the window is the one ``--record`` writes (issue 22, item 1).
    """

    def __init__(self, inlet, lost_error: type[BaseException]) -> None:
        self._inlet = inlet
        self._lost_error = lost_error
        self.info = inlet.info
        self.lost = False
        self.n_channels = inlet.n_channels
        self._offset = 0.0

    def pull(self):
        if not self.lost:
            try:
                return self._inlet.pull()
            except self._lost_error:
                self.lost = True
        return np.empty((0, self.n_channels)), np.empty(0)

    @property
    def clock_offset(self) -> float:
        """The wrapped inlet's clock offset; once the stream is lost, the last one measured."""
        if not self.lost:
            try:
                self._offset = float(self._inlet.clock_offset)
            except self._lost_error:
                self.lost = True
        return self._offset

    def __getattr__(self, name: str):
        # only reached for what is not defined here: the wrapped inlet's own attributes and methods
        return getattr(self._inlet, name)

    def close(self) -> None:
        self._inlet.close()


class _GuardedRecorder:
    """Wraps the session's recorder so that *any* failure of it stops the recording, never the session.

    The session stops a recording whose :meth:`record_poll` raises ``OSError`` (disk full) and goes on; any other
    exception (a bug, such as issue 22's ``AttributeError``) would leave ``session.poll`` and end the worker with
    the live session. Here it becomes that ``OSError``, so the session stops the recording, keeps what was written
    and says why (``recording_error``), which the worker reports (the window shows it, the process exits 1).
    """

    def __init__(self, recorder) -> None:
        self._recorder = recorder

    def record_poll(self, session, results) -> None:
        try:
            self._recorder.record_poll(session, results)
        except OSError:
            raise
        except Exception as exc:  # noqa: BLE001 - turned into the recording's end, reported
            log.exception("the recorder failed; the recording stops, the session goes on")
            raise OSError(f"the recorder failed ({type(exc).__name__}: {exc})") from exc

    def __getattr__(self, name: str):
        return getattr(self._recorder, name)


class _Rate:
    """Items per second over the last few seconds (wall clock), from cumulative counts."""

    def __init__(self, span: float = 3.0) -> None:
        self.span = span
        self._points: deque[tuple[float, int]] = deque()
        self.last_change = -math.inf
        self._last = 0

    def update(self, now: float, count: int) -> float:
        if count != self._last:
            self.last_change = now
            self._last = count
        self._points.append((now, count))
        while len(self._points) > 2 and now - self._points[0][0] > self.span:
            self._points.popleft()
        t_first, c_first = self._points[0]
        return (count - c_first) / (now - t_first) if now - t_first > 0.5 else math.nan


class SessionWorker(threading.Thread):
    """Loops ``session.poll()`` every ``poll_s`` and posts the results, until :meth:`stop`.

    Parameters
    ----------
    spec : SourceSpec
        The streams to read.
    mailbox : Mailbox
        Where results go.
    config : PipelineConfig | None
        Pipeline settings (default: saliency every 4 hops, i.e. 1 Hz).
    publish : bool
        Publish the ``Affect`` outlet (as the headless run does).
    poll_s : float
        Sleep between polls.
    session_factory : callable | None
        ``factory(spec, config, publish) -> Session`` (tests); default opens a real session.
    """

    def __init__(self, spec: SourceSpec, mailbox: Mailbox, config=None, publish: bool = True,
                 poll_s: float = 0.004, session_factory: Callable[..., Session] | None = None) -> None:
        super().__init__(name="affectstream-dashboard-worker", daemon=True)
        if config is None:
            from affectstream.pipelines.config import PipelineConfig
            config = PipelineConfig(saliency_every_hops=4)
        self.spec = spec
        self.mailbox = mailbox
        self.config = config
        self.publish = publish
        self.poll_s = poll_s
        self.session_factory = session_factory or _open_session
        self._stop_event = threading.Event()
        self._commands: queue.Queue = queue.Queue()
        self.session: Session | None = None
        self._recording: Path | None = None
        self._recording_error = ""
        self._recorded = 0
        #: what went wrong in this thread (the loop's end, a recording that failed): the window shows each, and a
        #: process that saw one exits non-zero
        self.errors: list[str] = []
        self._lost_error = _lost_error()
        self._inputs: tuple[StreamEntry, ...] = ()
        self._headset = Headset()
        self._mapping_text = ""

    # ------------------------------------------------------------------------------------------- commands
    def stop(self) -> None:
        """Ask the loop to end; the thread closes the session itself (inlets, face thread, outlet, recording)."""
        self._stop_event.set()

    def record(self, path: str | Path | None) -> None:
        """Start recording the session to the XDF file ``path`` (``None`` stops). Runs on the worker thread."""
        self._commands.put(("record", None if path is None else Path(path)))

    def transport(self, action: str, *args) -> None:
        """Replay control (``play``, ``pause``, ``seek`` seconds, ``set_speed`` factor), run on the worker thread
        before its next poll, so the session is only ever touched by one thread."""
        if action not in TRANSPORT_ACTIONS:
            raise ValueError(f"unknown transport action {action!r}; expected one of {TRANSPORT_ACTIONS}")
        self._commands.put((action, args))

    @property
    def stopping(self) -> bool:
        return self._stop_event.is_set()

    # ------------------------------------------------------------------------------------------- thread
    def run(self) -> None:
        self.mailbox.update_snapshot(Snapshot(state="connecting", streams=self._pending_streams()))
        try:
            session = self.session_factory(self.spec, self.config, self.publish)
        except Exception as exc:  # noqa: BLE001 - shown in the window; the user can pick another stream
            log.warning("dashboard session failed to open: %s", exc)
            streams = self._pending_streams("error")
            self.mailbox.update_snapshot(Snapshot(state="error", error=str(exc), streams=streams))
            return
        self.session = session
        self._inputs = recorded_inputs(session)
        mapping = session.pipeline.mapping
        self._headset, self._mapping_text = headset_of(mapping), mapping_text(mapping)
        for attr in ("markers", "truth"):
            inlet = getattr(session, attr, None)
            if inlet is not None:
                setattr(session, attr, _GuardedInlet(inlet, self._lost_error))
        failure = ""
        try:
            self._loop(session)
        except Exception as exc:  # noqa: BLE001 - shown in the window; the process exits non-zero
            log.exception("the dashboard's processing stopped")
            failure = f"the processing stopped: {type(exc).__name__}: {exc}"
            self.errors.append(failure)
        finally:
            try:
                session.close()
            except Exception as exc:  # noqa: BLE001 - closing must not raise into the void
                log.warning("closing the session: %s", exc)
            snap = dataclasses.replace(self.mailbox.snapshot, state="error" if failure else "stopped", frame=None,
                                       recording=None, error=failure)
            snap.streams = {k: dataclasses.replace(v, state="stopped") for k, v in snap.streams.items()}
            self.mailbox.update_snapshot(snap)

    def _pending_streams(self, state: str = "connecting") -> dict[str, StreamView]:
        spec = self.spec
        if spec.recording is not None:
            return {"EEG": StreamView("EEG", Path(spec.recording).name, state=state)}
        streams = {"EEG": StreamView("EEG", spec.eeg_source_id or spec.eeg or "EEG", state=state)}
        if spec.has_video:
            name = spec.video_source_id or spec.video or (f"camera {spec.camera}" if spec.camera is not None
                                                          else str(spec.video_file))
            streams["Video"] = StreamView("Video", name, state=state)
        if spec.markers_source_id:
            streams["Markers"] = StreamView("Markers", spec.markers_source_id, state=state)
        if spec.truth_source_id:
            streams["GroundTruth"] = StreamView("GroundTruth", spec.truth_source_id, state=state)
        return streams

    def _loop(self, session: Session) -> None:
        mapping = session.pipeline.mapping
        eeg_lost = False
        rates = {k: _Rate() for k in ("Video", "Markers", "GroundTruth")}
        counts = {"Markers": 0, "GroundTruth": 0}
        last_post = 0.0
        while not self._stop_event.is_set():
            self._run_commands(session)
            hops, eeg, markers, truth = [], None, [], None
            if not eeg_lost:
                try:
                    hops = session.poll()
                except self._lost_error:
                    eeg_lost = True
                    log.warning("the EEG stream was lost")
                else:
                    data, stamps = session.latest_eeg
                    if len(stamps):
                        eeg = (np.asarray(stamps, dtype=float),  # the electrodes as measured, not the model's 32
                               mapping.measure(np.asarray(data, dtype=np.float32).T))
                    markers = list(session.new_markers)
                    truth_t, truth_v = session.new_truth
                    if len(truth_t):
                        truth = (np.asarray(truth_t, dtype=float), np.asarray(truth_v, dtype=float))
                    counts["Markers"] += len(markers)
                    counts["GroundTruth"] += len(truth_t)
                    if self._recording is not None:
                        self._recorded += len(hops)
                        if getattr(session, "recorder", True) is None:  # the session stopped it (disk full, ...)
                            self._recording = None
                            self._recording_failed(session.recording_error)
            now = time.monotonic()
            if hops or eeg is not None or markers or truth is not None or now - last_post > 0.05:
                snap = self._snapshot(session, eeg_lost, rates, counts, now)
                self.mailbox.post(snap, hops, eeg, markers, truth)
                last_post = now
            self._stop_event.wait(self.poll_s)

    def _run_commands(self, session: Session) -> None:
        while True:
            try:
                cmd, arg = self._commands.get_nowait()
            except queue.Empty:
                return
            if cmd in TRANSPORT_ACTIONS:
                if hasattr(session, "transport"):
                    getattr(session, cmd)(*arg)
                    if cmd == "seek":  # what was posted before the jump must not be drawn after it
                        self.mailbox.discard_pending()
            elif cmd == "record":
                self._record(session, arg)

    def _record(self, session: Session, path: Path | None) -> None:
        """Stop the recording, then start one to ``path`` (None: only stop); a failure is reported, the session
        goes on."""
        try:
            session.stop_recording()
        except Exception as exc:  # noqa: BLE001 - the file keeps what was flushed; the session goes on
            log.exception("stopping the recording failed")
            self._recording_failed(f"closing {self._recording} failed: {type(exc).__name__}: {exc}")
        self._recording = None
        if path is None:
            return
        try:  # every stream of the session and its Affect output, in one XDF file
            self._recording = session.start_recording(path)
        except Exception as exc:  # noqa: BLE001 - a folder that cannot be written, or a bug: shown, not fatal
            log.exception("cannot record to %s", path)
            what = str(exc) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
            self._recording_failed(f"cannot record to {path}: {what}")
            return
        self._recorded = 0
        self._recording_error = ""
        if getattr(session, "recorder", None) is not None:
            session.recorder = _GuardedRecorder(session.recorder)

    def _recording_failed(self, message: str) -> None:
        self._recording = None
        self._recording_error = message
        self.errors.append(message)

    def _snapshot(self, session: Session, eeg_lost: bool, rates: dict[str, _Rate], counts: dict[str, int],
                  now: float) -> Snapshot:
        status = session.status
        info = session.inlet.info
        stats = session.pipeline.stats
        if eeg_lost:
            eeg_state = "lost"
        elif status.connection != "connected":
            eeg_state = status.connection  # lost, then reconnecting: the session re-attaches the stream by itself
        elif status.samples == 0:
            eeg_state = "waiting"
        else:
            eeg_state = "stalled" if status.stalled else "live"
        if eeg_state == "lost" and not eeg_lost:
            detail = f"{status.lost_for_s:.1f} s since the stream was lost (outage {status.outages}); " \
                     "it is re-attached when it returns"
        elif eeg_state == "reconnecting":
            detail = "the stream is announced again; connecting"
        elif status.stalled and math.isfinite(status.last_sample_age_s):
            detail = f"{status.last_sample_age_s:.1f} s since the last sample"
        else:
            detail = ""
        streams = {"EEG": StreamView("EEG", info.name, info.hostname, eeg_state, status.nominal_rate,
                                     status.measured_rate, status.samples, detail)}
        frame, frame_id, face, dropped, lag = None, 0, None, 0, math.nan
        face_path = getattr(session, "face", None)
        if face_path is not None:
            fworker = session.worker
            source = getattr(fworker, "source", None) or getattr(session, "video_source", None)
            frames = face_path.frames
            rate = rates["Video"].update(now, frames)
            if fworker is not None and (fworker.error is not None or not fworker.is_alive()):
                vstate = "lost" if isinstance(fworker.error, self._lost_error) or fworker.error is None else "error"
            elif getattr(source, "connection", "connected") != "connected":
                vstate = source.connection  # an LSL video stream being re-attached by the face thread
            elif frames == 0:
                vstate = "waiting"
            else:
                vstate = "stalled" if now - rates["Video"].last_change > 1.0 else "live"
            streams["Video"] = StreamView("Video", getattr(source, "label", "video"), "", vstate,
                                          float(getattr(source, "fps", None) or math.nan), rate, frames,
                                          str(fworker.error) if fworker is not None and fworker.error else "")
            frame, frame_id, face = face_path.latest_frame, frames, face_path.latest
            # the face thread counts what it skipped to stay on the newest frame, the source's drops included
            dropped = int(getattr(fworker, "dropped", getattr(source, "dropped", 0)) or 0)
            lag = float(getattr(fworker, "lag_s", math.nan))
        for key, attr in (("Markers", "markers"), ("GroundTruth", "truth")):
            inlet = getattr(session, attr, None)
            if inlet is None:
                continue
            rate = rates[key].update(now, counts[key])
            if eeg_lost or getattr(inlet, "lost", False):
                state = "lost"
            elif key == "Markers":
                state = "live"  # irregular: silence is normal
            else:
                state = "stalled" if now - rates[key].last_change > 1.0 else "live"
            streams[key] = StreamView(key, inlet.info.name, inlet.info.hostname, state,
                                      float(inlet.info.sfreq or math.nan), rate, counts[key])
        transport = getattr(session, "transport", None)
        if transport is not None:  # a replay: the transport, not the data flow, says what a stream is doing
            for view in streams.values():
                if view.state in ("live", "stalled", "waiting"):
                    view.state = transport.state
        return Snapshot(
            state="lost" if eeg_lost else "running", streams=streams, transport=transport,
            origin=getattr(session, "t_first", None), backlog_s=status.backlog_s,
            clock_offset_s=status.clock_offset_s, counter_gaps=stats.counter_gaps, skipped_hops=stats.skipped_hops,
            hops=stats.hops, estimator=session.pipeline.estimator_name, synthetic=bool(session.synthetic),
            mapping=self._mapping_text, headset=self._headset, face=face, frame=frame, frame_id=frame_id,
            video_dropped=dropped, video_lag_s=lag,
            recording=str(self._recording) if self._recording is not None else None,
            recorded_hops=self._recorded, recording_error=self._recording_error,
            eeg_model_trained_on=session.pipeline.eeg_model_trained_on,
            model_warning=session.pipeline.model_warning or "", inputs=self._inputs)


def headset_of(mapping) -> Headset:
    """The electrodes of ``mapping`` (a :class:`~affectstream.core.montage.ChannelMapping`) as the dashboard shows
    them, with the name their quality flags go by and a short summary for the status bar."""
    from affectstream.core.montage import MIN_SOURCES

    model = {int(j): label for label, j in zip(mapping.model_labels, mapping.direct) if j >= 0}
    labels = tuple(mapping.electrodes)
    flags = tuple(model.get(j, label) for j, label in enumerate(labels))
    n_missing, n_model = len(mapping.missing), len(mapping.model_labels)
    summary = f"{len(labels)} electrode{'s' if len(labels) != 1 else ''}"
    if n_missing:
        how = "interpolated" if len(labels) >= MIN_SOURCES else "missing"
        summary += f", {n_missing}/{n_model} {how}"
    return Headset(labels, flags, summary)


def mapping_text(mapping) -> str:
    """The status bar's tooltip on the channel mapping: the electrodes first, then
    :meth:`~affectstream.core.montage.ChannelMapping.describe` one clause a line, wrapped (a Muse's line names all
    32 interpolated channels and would otherwise be wider than the screen)."""
    lines = [f"electrodes ({len(mapping.electrodes)}): {', '.join(mapping.electrodes)}"]
    lines += [part for part in mapping.describe().split("; ") if not part.startswith("other electrodes ")]
    return "\n".join(textwrap.fill(line, 90, subsequent_indent="    ", break_on_hyphens=False) for line in lines)


def recorded_inputs(session: Session) -> tuple[StreamEntry, ...]:
    """The streams a replay plays, as the stream picker lists them (EEG, and the video when it is played); empty
    for a live session."""
    rec = getattr(session, "recording", None)
    if rec is None or rec.eeg is None:
        return ()
    played = [(rec.eeg, "EEG")] + ([(rec.video, "Video")] if getattr(session, "face", None) is not None else [])
    return tuple(StreamEntry(s.name, role, s.source_id, s.hostname, s.channel_count, float(s.srate), recorded=True)
                 for s, role in played)


def _open_session(spec: SourceSpec, config, publish: bool) -> Session:
    from affectstream.pipelines.sessions.live import LiveSession, open_video_source

    if spec.recording is not None:
        from affectstream.pipelines.sessions.replay_session import ReplaySession

        return ReplaySession(spec.recording, config, publish=publish, speed=spec.replay_speed)

    video = None
    if spec.has_video:
        video = functools.partial(open_video_source, spec.video, video_source_id=spec.video_source_id,
                                  camera=spec.camera, video_file=spec.video_file, timeout=spec.resolve_timeout,
                                  first_match=spec.first_match)
    return LiveSession(spec.eeg, source_id=spec.eeg_source_id, config=config, open_video=video,
                       markers=spec.markers_source_id, ground_truth=spec.truth_source_id, publish=publish,
                       resolve_timeout=spec.resolve_timeout, first_match=spec.first_match, subject=spec.subject)
