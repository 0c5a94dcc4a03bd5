"""Streams lost and re-attached: the drill, and ``affectstream bench``'s ``stream_faults`` figures.

:class:`ReattachDrill` kills and restarts simulator children under the same ``source_id`` while a live session runs
on them. ``tests/pipelines/sessions/test_stream_faults.py`` drives it step by step and checks what the session did
in between (face-only hops while the EEG is away, a fresh window, a Boundary chunk in the recording);
:func:`bench_stream_faults` drives the same steps and reports how long each took, beside its budget. The times
depend on the machine's load, so they are measured here, not asserted by the test.

:func:`bench_stream_faults` also times :meth:`~affectstream.pipelines.sources.lsl.SupervisedInlet.pull` on a lost
stream while the background lookup runs: the pull must never wait for that lookup (a liblsl resolve blocks for
its whole timeout when nothing answers).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

#: Longest a pull on a lost stream may take: it returns at once while the lookup runs on another thread.
LOST_PULL_BUDGET_MS = 100.0
#: Longest from the EEG's last sample to the stream marked lost, when liblsl reports the outlet gone.
EEG_LOST_BUDGET_S = 1.0
#: Longest from a returning stream being announced to its data (EEG) or frames (video) flowing again.
REATTACH_BUDGET_S = 5.0
#: Longest from the EEG's last sample to a hop written without it, and to the stream marked lost, when its sender
#: freezes (liblsl raises nothing: the connection stays open).
STOPPED_BUDGET_S = 1.0

#: Seconds each publisher child runs at most (the drill takes well under a minute).
_CHILD_S = 120.0
#: Generous deadline for the session to notice a publisher gone (liblsl may not raise: about 2.5 s then).
_LOST_TIMEOUT_S = 10.0


class ReattachDrill:
    """A live session whose EEG and video publishers are killed and restarted under the same ``source_id``.

    Two simulator children publish the EEG (no video) and the face video; a
    :class:`~affectstream.pipelines.sessions.live.LiveSession` with the baseline estimator (the drill is about the
    streams, not the model) runs on both and is polled as the headless run polls it. Each step kills or restarts
    one publisher and polls until the session shows the consequence, returning how long that took; :attr:`hops`
    and :attr:`states` keep what the polls saw. Entering the context opens the session and waits for fused hops;
    leaving it closes the session and stops both children.

    Parameters
    ----------
    out : path | None
        JSONL file of the session's hops.
    record : path | None
        XDF file the session records into.
    timeout : float
        Seconds to wait for streams to be found, re-attached and for hops to flow.
    video : bool
        Run the face path on the video child (False: the EEG alone, no face source).

    Attributes
    ----------
    hops : list
        Every :class:`~affectstream.pipelines.engine.HopResult` the polls returned, in order.
    states : list of str
        The EEG inlet's connection states in the order the polls saw them (repeats collapsed).
    eeg_last_sample_at, video_killed_at : float
        ``time.monotonic()`` of the last EEG sample before :meth:`kill_eeg`, and of :meth:`kill_video`.
    """

    def __init__(self, *, out: str | Path | None = None, record: str | Path | None = None,
                 timeout: float = 30.0, video: bool = True) -> None:
        self.out, self.record, self.timeout = out, record, float(timeout)
        kinds = ("eeg", "video") if video else ("eeg",)
        self.prefixes = {kind: f"affectstream-drill-{uuid.uuid4().hex[:8]}" for kind in kinds}
        self.procs: dict = {}
        self.session = None
        self.hops: list = []
        self.states: list[str] = []
        self.eeg_last_sample_at = math.nan
        self.video_killed_at = math.nan

    # ------------------------------------------------------------------------------------------- life cycle
    def __enter__(self) -> ReattachDrill:
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self, kind: str) -> None:
        from affectstream.pipelines.synthetic.publisher import start_simulator_process

        seed, subject = (4, "sim01") if kind == "eeg" else (5, "sim02")
        self.procs[kind] = start_simulator_process(seed, subject, _CHILD_S, video=kind == "video",
                                                   prefix=self.prefixes[kind])

    def _stop(self, kind: str) -> None:
        from affectstream.pipelines.synthetic.publisher import stop_process

        stop_process(self.procs[kind])

    def _open(self) -> None:
        from affectstream.pipelines.config import PipelineConfig
        from affectstream.pipelines.sessions.live import LiveSession, open_video_source

        for kind in self.prefixes:
            self._start(kind)
        video = open_video_source(video_source_id=f"{self.prefixes['video']}-video", timeout=self.timeout) \
            if "video" in self.prefixes else None
        self.session = LiveSession("EEG", source_id=f"{self.prefixes['eeg']}-eeg",
                                   config=PipelineConfig(eeg_estimator="baseline"), video_source=video,
                                   publish=False, out=self.out, resolve_timeout=self.timeout)
        if self.record is not None:
            self.session.start_recording(self.record)
        full = "fused" if video is not None else "eeg only"
        self.poll_until(lambda: sum(h.status == full for h in self.hops) >= 4, self.timeout, f"{full} hops")

    def close(self) -> None:
        """Close the session (it closes its inlets before the outlets go away), then stop both children."""
        if self.session is not None:
            self.session.close()
        for kind in self.procs:
            self._stop(kind)

    # ------------------------------------------------------------------------------------------- polling
    def poll(self) -> None:
        """One poll of the session, as the headless run does it."""
        self.hops.extend(self.session.poll())
        if not self.states or self.states[-1] != self.session.status.connection:
            self.states.append(self.session.status.connection)

    def poll_until(self, cond: Callable[[], bool], timeout: float, what: str) -> float:
        """Poll until ``cond()``; the seconds that took. TimeoutError after ``timeout`` s (a broken feature)."""
        started = time.monotonic()
        while not cond():
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
            self.poll()
            time.sleep(0.004)
        return time.monotonic() - started

    @staticmethod
    def _announced_at(source_id: str) -> dict:
        """Resolve ``source_id`` in a side thread; ``["t"]`` is ``time.monotonic()`` when it was announced."""
        from affectstream.pipelines.sources.lsl import find_stream

        seen: dict = {}

        def look() -> None:
            find_stream(None, source_id=source_id, timeout=60)
            seen["t"] = time.monotonic()

        threading.Thread(target=look, daemon=True).start()
        return seen

    # ------------------------------------------------------------------------------------------- the steps
    def kill_eeg(self) -> float:
        """Stop the EEG publisher and poll until the session marks the stream lost.

        Returns the seconds from the last EEG sample received to the stream marked lost.
        """
        from affectstream.pipelines.sources.lsl import CONNECTED

        last_sample = time.monotonic()
        self._stop("eeg")
        while self.session.status.connection == CONNECTED:
            self.poll()
            if len(self.session.latest_eeg[1]):
                last_sample = time.monotonic()
            if time.monotonic() - last_sample > _LOST_TIMEOUT_S:
                raise TimeoutError(f"the EEG was not marked lost within {_LOST_TIMEOUT_S:g} s of its last sample")
            time.sleep(0.004)
        self.eeg_last_sample_at = last_sample
        return time.monotonic() - last_sample

    def restart_eeg(self) -> dict[str, float]:
        """Restart the EEG publisher under the same ``source_id``; poll until its data and then EEG hops flow.

        Returns ``eeg_announced_to_data_s`` (from the stream announced to its first sample in the session),
        ``eeg_restart_to_data_s`` and ``eeg_restart_to_first_hop_s`` (from the child started).
        """
        from affectstream.pipelines.sources.lsl import CONNECTED

        restarted = time.monotonic()
        self._start("eeg")
        announced = self._announced_at(f"{self.prefixes['eeg']}-eeg")
        self.poll_until(lambda: self.session.status.connection == CONNECTED and len(self.session.latest_eeg[1]) > 0,
                        self.timeout, "the EEG to be re-attached")
        attached = time.monotonic()
        n_after = len(self.hops)
        self.poll_until(lambda: any(h.eeg.source == "baseline" for h in self.hops[n_after:]), self.timeout,
                        "EEG hops again")
        return {"eeg_announced_to_data_s": attached - announced.get("t", restarted),
                "eeg_restart_to_data_s": attached - restarted,
                "eeg_restart_to_first_hop_s": time.monotonic() - restarted}

    def freeze_eeg(self) -> dict[str, float]:
        """Freeze the EEG publisher (SIGSTOP: its connection stays open and liblsl raises nothing) and poll until
        the session has written a hop without the EEG and marked the stream lost.

        Returns ``eeg_stopped_to_row_s`` and ``eeg_stopped_to_lost_s``, from the last EEG sample received.
        """
        import signal

        from affectstream.pipelines.sources.lsl import CONNECTED

        last_sample = time.monotonic()
        os.kill(self.procs["eeg"].pid, signal.SIGSTOP)
        n_before = len(self.hops)
        row = lost = math.nan
        while math.isnan(row) or math.isnan(lost):
            self.poll()
            now = time.monotonic()
            if len(self.session.latest_eeg[1]):
                last_sample = now
            if math.isnan(row) and any(h.eeg.source == "lost" for h in self.hops[n_before:]):
                row = now - last_sample
            if math.isnan(lost) and self.session.status.connection != CONNECTED:
                lost = now - last_sample
            if now - last_sample > _LOST_TIMEOUT_S:
                raise TimeoutError(f"the frozen EEG was not shown within {_LOST_TIMEOUT_S:g} s of its last sample")
            time.sleep(0.004)
        self.eeg_last_sample_at = last_sample
        return {"eeg_stopped_to_row_s": row, "eeg_stopped_to_lost_s": lost}

    def thaw_eeg(self) -> float:
        """Let the frozen EEG publisher go on (SIGCONT: it sends what it held back, stamped in the past); poll until
        EEG hops flow again. Returns the seconds that took."""
        import signal

        thawed = time.monotonic()
        os.kill(self.procs["eeg"].pid, signal.SIGCONT)
        n_after = len(self.hops)
        self.poll_until(lambda: any(h.eeg.source == "baseline" for h in self.hops[n_after:]), self.timeout,
                        "EEG hops after the thaw")
        return time.monotonic() - thawed

    def kill_video(self) -> float:
        """Stop the video publisher and poll until the face thread's source is marked lost.

        Returns the seconds from the publisher being asked to stop (it exits within a fraction of a second) to the
        source marked lost.
        """
        from affectstream.pipelines.sources.lsl import CONNECTED

        source = self.session.worker.source
        requested = time.monotonic()
        self._stop("video")
        self.video_killed_at = time.monotonic()
        self.poll_until(lambda: source.connection != CONNECTED, _LOST_TIMEOUT_S, "the video to be marked lost")
        return time.monotonic() - requested

    def restart_video(self) -> float:
        """Restart the video publisher; poll until frames reach the face path again.

        Returns the seconds from the stream announced to the fourth new frame processed.
        """
        from affectstream.pipelines.sources.lsl import CONNECTED

        source, frames = self.session.worker.source, self.session.face.frames
        restarted = time.monotonic()
        self._start("video")
        announced = self._announced_at(f"{self.prefixes['video']}-video")
        self.poll_until(lambda: source.connection == CONNECTED and self.session.face.frames > frames + 3,
                        self.timeout, "the video to be re-attached")
        return time.monotonic() - announced.get("t", restarted)


# ----------------------------------------------------------------------------------------------- the figures
@contextlib.contextmanager
def expected_losses() -> Iterator[None]:
    """Silence the sources' "stream lost" warnings meanwhile: a drill loses streams on purpose."""
    from affectstream.pipelines.sources.lsl import SupervisedInlet

    log = logging.getLogger(SupervisedInlet.__module__.rpartition(".")[0])  # the sources package: every inlet
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


class _VanishedInlet:
    """Stands in for an LSL inlet whose outlet is gone: every pull raises liblsl's ``LostError``."""

    def __init__(self, info) -> None:
        self.info, self.n_channels, self.clock_offset = info, info.n_channels, 0.0

    def pull(self):
        from mne_lsl.lsl._utils import LostError  # not re-exported by mne_lsl.lsl

        raise LostError("The stream connection has been lost.")

    def close(self) -> None:
        pass


class _Info:
    name, stype, hostname, n_channels, sfreq = "bench-lost", "EEG", "here", 2, 256.0

    def __init__(self) -> None:
        self.source_id = f"affectstream-bench-lost-{uuid.uuid4().hex[:8]}"  # announced by nobody

    @staticmethod
    def get_channel_names() -> list[str]:
        return ["C3", "C4"]


def bench_lost_pull(repeats: int = 2000) -> dict[str, float]:
    """Pulls on a lost :class:`~affectstream.pipelines.sources.lsl.SupervisedInlet` while its lookup runs.

    The inlet's outlet is gone (its pulls raise ``LostError``) and its ``source_id`` is announced by nobody, so the
    supervisor thread runs real liblsl lookups that each block for their whole timeout. Reports the pull that
    finds the loss and the median and largest of ``repeats`` pulls after it, 1 ms apart.
    """
    from affectstream.pipelines.sources.lsl import SupervisedInlet

    with expected_losses():
        inlet = SupervisedInlet(_Info(), opener=_VanishedInlet)
        detect_ms, times = _pull_lost(inlet, repeats)
    return {"lost_detect_pull_ms": detect_ms, "lost_pull_ms_median": float(np.median(times) * 1e3),
            "lost_pull_ms_max": float(times.max() * 1e3), "lost_pull_budget_ms": LOST_PULL_BUDGET_MS}


def _pull_lost(inlet, repeats: int) -> tuple[float, np.ndarray]:
    """The ms of the pull that finds the loss, and the seconds of ``repeats`` pulls after it; closes ``inlet``."""
    from affectstream.pipelines.sources.lsl import LOST

    try:
        t0 = time.perf_counter()
        inlet.pull()
        detect_ms = (time.perf_counter() - t0) * 1e3
        if inlet.connection != LOST:
            raise RuntimeError(f"the inlet did not mark its stream lost ({inlet.connection})")
        times = np.empty(max(1, repeats))
        for i in range(times.size):
            t0 = time.perf_counter()
            inlet.pull()
            times[i] = time.perf_counter() - t0
            time.sleep(0.001)
    finally:
        inlet.close()
    return detect_ms, times


def bench_reattach() -> dict[str, float]:
    """The :class:`ReattachDrill` steps, timed: EEG lost, re-attached after 2 s away; video lost, re-attached."""
    with expected_losses(), ReattachDrill() as drill:
        eeg_lost = drill.kill_eeg()
        drill.poll_until(lambda: time.monotonic() - drill.eeg_last_sample_at > 2.0, _LOST_TIMEOUT_S,
                         "two seconds of outage")
        eeg_back = drill.restart_eeg()
        video_lost = drill.kill_video()
        drill.poll_until(lambda: time.monotonic() - drill.video_killed_at > 1.5, _LOST_TIMEOUT_S,
                         "EEG hops without video")
        video_back = drill.restart_video()
    return {"eeg_lost_after_last_sample_s": eeg_lost, "eeg_lost_budget_s": EEG_LOST_BUDGET_S, **eeg_back,
            "video_lost_after_kill_s": video_lost, "video_announced_to_frames_s": video_back,
            "reattach_budget_s": REATTACH_BUDGET_S}


def bench_stopped() -> dict[str, float]:
    """A frozen EEG sender without a face source (issue 20, item 10): from its last sample to the first hop written
    without it and to the stream marked lost; and what the session wrote meanwhile (every hop, on time)."""
    with expected_losses(), ReattachDrill(video=False) as drill:
        shown = drill.freeze_eeg()
        drill.poll_until(lambda: time.monotonic() - drill.eeg_last_sample_at > 3.0, _LOST_TIMEOUT_S,
                         "three seconds of outage")
        drill.thaw_eeg()
    times = [h.t for h in drill.hops]
    rows = [h.latency_ms for h in drill.hops if h.eeg.source == "lost"]
    return {**shown, "eeg_stopped_budget_s": STOPPED_BUDGET_S, "eeg_stopped_rows": len(rows),
            "eeg_stopped_row_latency_ms_max": float(max(rows)) if rows else math.nan,
            "eeg_stopped_t_steps_back": int(np.sum(np.diff(times) <= 0))}


def bench_stream_faults(repeats: int = 2000) -> dict[str, float | str]:
    """:func:`bench_lost_pull`, :func:`bench_reattach` and :func:`bench_stopped` in one section."""
    return {**bench_lost_pull(repeats), **bench_reattach(), **bench_stopped(),
            "input": "SYNTHETIC simulator children (EEG; face video) killed, frozen and restarted under the same "
                     "source_id over LSL; a stand-in inlet for the lost pulls"}
