"""A loaded XDF recording as the input of a session: checked, fed to the pipeline hop by hop, shown as it plays.

Both replays, the headless :class:`~affectstream.pipelines.sessions.replay.HeadlessReplay` and the dashboard's
:class:`~affectstream.pipelines.sessions.replay_session.ReplaySession`, take their input from here, so both give
the same numbers for the same stretch of a file.

Event order
-----------
The EEG is cut at the hop boundaries (hop ``k`` ends at sample ``window + k * hop``;
:mod:`affectstream.pipelines.scheduler`), so every chunk completes exactly one hop. Before the chunk that completes a
hop, every video frame stamped at or before that hop's stream time (the timestamp of its last EEG sample) goes
through the face path, in recorded order. The hop then pairs with the newest face result at or before its time
(``FacePath.at``), as in a live run.

Frames
------
Replay runs the face path on **every** frame of the recording, because the tracker carries state from frame to
frame. A live run processes the newest frame whenever its face thread is free (a slow machine skips frames), so
live and replay pair EEG hops with the same *frames* only when the live face path kept up. Replay results never
depend on the replay speed either way.

EEG that does not fit
---------------------
Channels are named and matched onto the montage by :func:`affectstream.pipelines.eeg.montage_input.stream_mapping`
(the file's labels, or ``--channels`` / ``--montage``): electrodes are used, montage channels they lack are
interpolated. A stream whose channels cannot be named, or whose rate is too low for the gamma band, is refused with
one line naming the stream and every reason (:class:`~affectstream.pipelines.engine.StreamFormatError`).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affectstream.core.bandpower import WelchBandPower, WelchConfig
from affectstream.core.video import decode_frame
from affectstream.core.xdf_reader import load_recording
from affectstream.core.xdf_recording import XDFRecording, XDFStream
from affectstream.pipelines.config import PipelineConfig
from affectstream.pipelines.eeg.montage_input import stream_mapping
from affectstream.pipelines.engine import MAX_EEG_RATE, AffectPipeline, EEGStreamSpec, HopResult, StreamFormatError
from affectstream.pipelines.feed import EEGFeed, TimingFaults
from affectstream.pipelines.sessions.base import HopOutputs, Session, StreamStatus
from affectstream.pipelines.sinks.outputs import AFFECT_SOURCE_ID, affect_source_id

log = logging.getLogger(__name__)

#: Why a replay refuses to record (the file already is the recording).
NOT_RECORDED_AGAIN = ("a replay is not recorded again: the file is the recording "
                      "(`affectstream replay FILE --headless --out FILE.jsonl` writes its estimates)")


class RecordingSession(Session):
    """What every replay of a recording shares: it cannot be recorded again, and closing it closes its outputs."""

    outputs: HopOutputs

    def start_recording(self, path: str | Path) -> Path:
        raise OSError(NOT_RECORDED_AGAIN)

    def stop_recording(self) -> None:
        pass

    def close(self) -> None:
        self.outputs.close()

    @staticmethod
    def _outputs(path: Path, eeg: XDFStream, *, publish: bool, hop_s: float, out: str | Path | None = None
                 ) -> HopOutputs:
        """The replay's outputs; a published Affect outlet gets an id of its own, as a live one does.

        The id is derived from the recorded EEG stream (``affectstream-affect-replay-<its source_id>``), with
        ``-2``... while another Affect stream holds it, so that a replay never collides with the live session that
        made the recording, nor with a second replay. The lookup of the taken ids (about a second) is only made when
        publishing.
        """
        source_id = AFFECT_SOURCE_ID
        if publish:
            from affectstream.pipelines.sources.discovery import list_streams

            taken = {s.source_id for s in list_streams() if s.stype == "Affect"}
            source_id = affect_source_id(f"replay-{eeg.source_id or eeg.name}", taken=taken)
        return HopOutputs(publish=publish, hop_s=hop_s, synthetic=eeg.synthetic, out=out, source_id=source_id,
                          desc={"eeg_source_id": eeg.source_id, "recording": path.name})


def eeg_spec(stream: XDFStream) -> EEGStreamSpec:
    """The pipeline's view of an XDF EEG stream (labels None when it declares none)."""
    labels = stream.labels
    if labels is not None and not any(lab.strip() for lab in labels):
        labels = None
    return EEGStreamSpec(sfreq=stream.srate, n_channels=stream.channel_count, labels=labels, name=stream.name,
                         source_id=stream.source_id, hostname=stream.hostname, synthetic=stream.synthetic)


def check_eeg(stream: XDFStream, config: PipelineConfig = PipelineConfig()) -> None:
    """Refuse, in one line listing every reason, an EEG stream the pipeline cannot use."""
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
        stream_mapping(eeg_spec(stream).labels, stream.channel_count, config.montage)
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


class HopFeeder:
    """Feeds a loaded recording into a pipeline one hop at a time, in the event order described above.

    The one place that decides what goes into the pipeline and when.

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
    faults : TimingFaults | None
        Where the timestamp checks count (the session's :attr:`~.base.StreamStatus.timing`, which the JSONL
        records carry).
    """

    def __init__(self, rec: XDFRecording, eeg: XDFStream, pipeline: AffectPipeline, start: int = 0,
                 faults: TimingFaults | None = None) -> None:
        self.rec, self.eeg, self.pipeline = rec, eeg, pipeline
        # The live path's timestamp checks: a recording with duplicated stamps or clock jumps gives the hops the live
        # session gave (window restarts at jumps, face-only hops while the new window fills).
        self.eeg_feed = EEGFeed(pipeline, faults)
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
        """Push the next ``n`` hops' EEG (and the frames due before it); returns the results and when the EEG went in.

        ``n > 1`` only without video (frames must interleave hop by hop); the hops are the same either way,
        because they are counted in samples. The time returned is taken after the frames, so a hop's processing
        time (its ``latency_ms``) covers the EEG path, as live, where the face path runs on its own thread.
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


class RecordingView:
    """What a replay has shown so far: the EEG, markers and ground truth up to a point, each item shown once.

    Parameters
    ----------
    rec : XDFRecording
        The loaded file (its first GroundTruth stream is shown).
    """

    def __init__(self, rec: XDFRecording) -> None:
        self.eeg = rec.eeg
        self._marker_events = [(t, text) for t, text, _ in rec.marker_events()]
        self._marker_t = np.array([t for t, _ in self._marker_events])
        truth = rec.ground_truth[0] if rec.ground_truth else None
        self._truth_t = truth.timestamps if truth is not None else np.empty(0)
        self._truth_v = np.asarray(truth.data, dtype=float)[:, :2] if truth is not None else np.empty((0, 2))
        self.restart(0)

    def restart(self, start: int) -> None:
        """Show from EEG sample ``start`` on (a seek): markers and truth from that sample's time."""
        t0 = self.eeg.timestamps[start]
        self.shown = start  #: EEG samples shown so far
        self._next_marker = int(np.searchsorted(self._marker_t, t0))
        self._next_truth = int(np.searchsorted(self._truth_t, t0))

    def show(self, eeg_to: int, t: float) -> tuple[tuple[np.ndarray, np.ndarray], list[tuple[float, str]],
                                                   tuple[np.ndarray, np.ndarray]]:
        """The EEG up to sample ``eeg_to`` (exclusive) and the markers and truth up to time ``t`` not shown yet.

        Returns ``(latest_eeg, new_markers, new_truth)`` as a :class:`~.base.Session` holds them.
        """
        eeg = self.eeg
        latest = (eeg.data[self.shown:eeg_to], eeg.timestamps[self.shown:eeg_to])
        self.shown = max(self.shown, eeg_to)
        m_to = int(np.searchsorted(self._marker_t, t, side="right"))
        markers = self._marker_events[self._next_marker:m_to]
        self._next_marker = max(self._next_marker, m_to)
        t_to = int(np.searchsorted(self._truth_t, t, side="right"))
        truth = (self._truth_t[self._next_truth:t_to], self._truth_v[self._next_truth:t_to])
        self._next_truth = max(self._next_truth, t_to)
        return latest, markers, truth


@dataclass(frozen=True)
class StreamInfoView:
    """What the status bar asks of a stream (``name``, ``hostname``, ``sfreq``), for a recorded one."""

    name: str
    hostname: str
    sfreq: float


class RecordedStream:
    """A recorded stream in the role of an inlet for the status bar: its header, never pulled."""

    def __init__(self, stream: XDFStream) -> None:
        self.stream = stream
        self.info = StreamInfoView(stream.name, stream.hostname, float(stream.srate))
        self.n_channels = stream.channel_count
        self.label = stream.name
        self.fps = float(stream.srate)
        self.dropped = 0
        self.lost = False

    def pull(self):  # the replay session reads the file itself; the worker's guard may still call this
        return np.empty((0, self.n_channels)), np.empty(0)

    def close(self) -> None:
        pass


def recorded_status(eeg: XDFStream) -> StreamStatus:
    """The status of a recorded EEG stream: its rate as measured over the file, no sample shown yet."""
    status = StreamStatus(eeg.name, float(eeg.srate), recorded=True)
    status.measured_rate = float(eeg.effective_srate)
    status.last_sample_age_s = 0.0
    return status
