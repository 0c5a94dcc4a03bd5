"""A recording played through the live pipeline with a transport (play, pause, seek, speed), for the dashboard.

:class:`ReplaySession` is a :class:`~affectstream.pipelines.sessions.base.Session`, as a live session is, so the
dashboard's worker drives it and the window shows a recording exactly as it shows a live session; only the clock
differs (docs/architecture.md: one pipeline for live and replay). Hops come from
:class:`~affectstream.pipelines.sessions.recorded.HopFeeder`, the same feeder as ``affectstream replay``, so played
from the start at any speed the numbers equal the headless replay's.

The play clock
--------------
A *play position* in stream time advances with the wall clock times the speed while playing. Every poll shows the
recording up to that position (EEG, markers, ground truth) and feeds the pipeline every hop whose window has ended
by then. When the machine cannot keep up with the speed, at most ``max_hops_per_poll`` hops are computed per poll
and the play position is held back to what was computed: the replay slows down, it never skips data.

Seeking
-------
The students carry state (the TCN's frames, the running feature normalisation, the face tracker), so a seek starts
a fresh pipeline one analysis window before the target: the first hop lands on the target, and the estimates then
warm up as at the start of a live session. :attr:`TransportState.epoch` counts seeks so the window can clear what it
drew before.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affectstream.pipelines.config import PipelineConfig
from affectstream.pipelines.engine import AffectPipeline, HopResult
from affectstream.pipelines.face.path import FacePath
from affectstream.pipelines.feed import TimingFaults
from affectstream.pipelines.sessions.recorded import (HopFeeder, RecordedStream, RecordingSession, RecordingView,
                                                      eeg_spec, load_replayable, recorded_status)

#: Speeds offered by the dashboard (any positive speed works).
SPEEDS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


@dataclass(frozen=True)
class TransportState:
    """Where the replay stands (posted to the window with every snapshot)."""

    path: str
    position_s: float  #: play position, seconds from the first EEG sample
    duration_s: float
    speed: float
    playing: bool
    ended: bool
    epoch: int  #: increases with every seek

    @property
    def state(self) -> str:
        """``playing``, ``paused`` or ``ended`` (the stream state the status bar shows)."""
        return "ended" if self.ended else "playing" if self.playing else "paused"


class ReplaySession(RecordingSession):
    """Plays an XDF recording through :class:`~affectstream.pipelines.engine.AffectPipeline` under a transport.

    Parameters
    ----------
    path : str | Path
        The XDF file (loaded at once; refusals as in :func:`~affectstream.pipelines.sessions.replay.replay`).
    config : PipelineConfig
        Pipeline settings (as live).
    publish : bool
        Publish the estimates on the ``Affect`` outlet, as a live session does.
    with_video : bool
        Run the face path on the file's Video stream when it has one in the project's format.
    speed : float
        Initial speed (x real time).
    playing : bool
        Start playing at once.
    clock : callable
        Wall clock in seconds (tests drive it by hand).
    max_hops_per_poll : int
        Work bound per poll, which keeps the worker responsive to pause and seek at any speed.

    Raises
    ------
    XDFFormatError, StreamFormatError
        As :func:`~affectstream.pipelines.sessions.recorded.load_replayable`.
    """

    def __init__(self, path: str | Path, config: PipelineConfig = PipelineConfig(), *, publish: bool = False,
                 with_video: bool = True, speed: float = 1.0, playing: bool = True,
                 clock: Callable[[], float] = time.perf_counter, max_hops_per_poll: int = 16) -> None:
        self.path = Path(path)
        rec = load_replayable(self.path, config, with_video=with_video)
        self.recording = rec
        self.eeg = rec.eeg
        self.config = config
        self.spec = eeg_spec(self.eeg)
        self.with_video = with_video and rec.video is not None
        self._clock = clock
        self.max_hops_per_poll = int(max_hops_per_poll)
        stamps = self.eeg.timestamps
        self.t_first, self.t_last = float(stamps[0]), float(stamps[-1])
        self.inlet = RecordedStream(self.eeg)
        self.markers = RecordedStream(rec.markers[0]) if rec.markers else None
        self.truth = RecordedStream(rec.ground_truth[0]) if rec.ground_truth else None
        self.video_source = RecordedStream(rec.video) if self.with_video else None
        self.worker = None  # no face thread: frames go through the face path in stream-time order
        self._view = RecordingView(rec)
        self.status = recorded_status(self.eeg)
        self.outputs = self._outputs(self.path, self.eeg, publish=publish, hop_s=config.hop_s)
        self.speed = 1.0
        self.set_speed(speed)
        self.playing = bool(playing)
        self.epoch = -1
        self.pipeline: AffectPipeline
        self.face = None
        self.latest_eeg: tuple[np.ndarray, np.ndarray] = (np.empty((0, self.eeg.channel_count)), np.empty(0))
        self.new_markers: list[tuple[float, str]] = []
        self.new_truth: tuple[np.ndarray, np.ndarray] = (np.empty(0), np.empty((0, 2)))
        self.seek(0.0)

    # ------------------------------------------------------------------------------------------- transport
    @property
    def duration_s(self) -> float:
        return self.t_last - self.t_first

    @property
    def ended(self) -> bool:
        return self._feeder.done and self._view.shown >= self.eeg.n_samples

    @property
    def transport(self) -> TransportState:
        return TransportState(str(self.path), self._t_play - self.t_first, self.duration_s, self.speed,
                              self.playing and not self.ended, self.ended, self.epoch)

    def play(self) -> None:
        """Play from the current position (from the start once the end was reached)."""
        if self.ended:
            self.seek(0.0)
        self._advance_clock()
        self.playing = True

    def pause(self) -> None:
        self._advance_clock()
        self.playing = False

    def set_speed(self, speed: float) -> None:
        """Change the speed from now on (x real time, > 0)."""
        if not (math.isfinite(speed) and speed > 0):
            raise ValueError(f"speed must be a positive number, got {speed}")
        if hasattr(self, "_wall"):
            self._advance_clock()
        self.speed = float(speed)

    def seek(self, position_s: float) -> None:
        """Jump to ``position_s`` seconds from the start (clipped to the recording) with a fresh pipeline."""
        stamps = self.eeg.timestamps
        target = self.t_first + min(max(float(position_s), 0.0), self.duration_s)
        face = None
        if self.with_video:
            old = self.face  # keep the loaded detector and student; the tracker restarts
            face = FacePath(old.tracker.detector, old.student, device=self.config.device,
                            precision=self.config.visual_precision) if old is not None else \
                FacePath(device=self.config.device, precision=self.config.visual_precision)
        self.pipeline = AffectPipeline(self.spec, self.config, live=False, face=face)
        self.face = face
        i_target = int(np.searchsorted(stamps, target))
        start = max(0, i_target - self.pipeline.n_window)
        self.status.timing = TimingFaults()  # the fresh pipeline's stretch is counted afresh
        self._feeder = HopFeeder(self.recording, self.eeg, self.pipeline, start, faults=self.status.timing)
        self._view.restart(start)  # the window before the target is drawn too
        self._t_play = target
        self._wall = self._clock()
        self.epoch += 1

    def _advance_clock(self) -> None:
        now = self._clock()
        if self.playing:
            self._t_play = min(self._t_play + (now - self._wall) * self.speed, self.t_last)
        self._wall = now

    # ------------------------------------------------------------------------------------------- polling
    def poll(self) -> list[HopResult]:
        """Show the recording up to the play position and return the hops completed by then."""
        self._advance_clock()
        results: list[HopResult] = []
        feeder = self._feeder
        while not feeder.done and feeder.next_time() <= self._t_play and len(results) < self.max_hops_per_poll:
            results.extend(self.outputs.emit(*feeder.feed(), eeg_stream=self.status, batch=True))
        if not feeder.done and feeder.next_time() <= self._t_play:
            # Behind the play clock: hold the position at what was computed (slower, never skipping).
            self._t_play = float(self.eeg.timestamps[feeder.start - 1])
        stamps = self.eeg.timestamps
        if feeder.done:
            self._t_play = self.t_last
        shown_to = int(np.searchsorted(stamps, self._t_play, side="right"))
        self.latest_eeg, self.new_markers, self.new_truth = self._view.show(shown_to, self._t_play)
        self.status.samples += len(self.latest_eeg[1])
        self.status.backlog_s = max(0.0, self._t_play - float(stamps[max(feeder.start - 1, 0)]))
        if self.ended:
            self.playing = False
        return results

