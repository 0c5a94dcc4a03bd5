"""The dashboard's processing thread (:class:`affectstream.app.dashboard.worker.SessionWorker`) and a lost stream.

A stand-in session goes lost -> reconnecting -> connected on command: the window shows each state and never asks
for Reconnect, because the session re-attaches the stream by itself (issue 10, item 1). No Qt, no LSL.
"""

from __future__ import annotations

import time

import numpy as np

from affectstream.core.montage import map_channels
from affectstream.pipelines.config import PipelineConfig
from affectstream.pipelines.sources.lsl import CONNECTED, LOST, RECONNECTING

SFREQ = 256.0
CONFIG = PipelineConfig(eeg_estimator="baseline")


class _FakeInfo:
    name, stype, source_id, hostname, n_channels, sfreq = "fake", "EEG", "fake-eeg", "here", 2, SFREQ

    @staticmethod
    def get_channel_names() -> list[str]:
        return ["C3", "C4"]


class _ReattachingSession:
    """A LiveSession stand-in whose EEG goes lost -> reconnecting -> connected on command (the dashboard's view)."""

    def __init__(self) -> None:
        from affectstream.pipelines.engine import StreamStats
        from affectstream.pipelines.sessions.base import StreamStatus

        self.status = StreamStatus("fake-EEG", SFREQ, samples=100, last_sample_age_s=0.0)
        self.inlet = type("I", (), {"info": _FakeInfo()})()
        self.pipeline = type("P", (), {"stats": StreamStats(), "estimator_name": "baseline",
                                       "eeg_model_trained_on": None, "model_warning": None,
                                       "mapping": map_channels(["C3", "C4"], 2)})()
        self.synthetic, self.markers, self.truth, self.face, self.worker = True, None, None, None, None
        self.latest_eeg = (np.empty((0, 2)), np.empty(0))
        self.new_markers, self.new_truth = [], (np.empty(0), np.empty((0, 2)))
        self.closed = False

    def poll(self) -> list:
        return []

    def close(self) -> None:
        self.closed = True


def test_dashboard_worker_shows_lost_then_reconnecting_then_live_without_a_reconnect_press():
    from affectstream.app.dashboard.model import Mailbox
    from affectstream.app.dashboard.worker import SessionWorker, SourceSpec

    session = _ReattachingSession()
    mailbox = Mailbox(n_channels=2)
    worker = SessionWorker(SourceSpec("EEG"), mailbox, config=CONFIG, publish=False, poll_s=0.002,
                           session_factory=lambda spec, config, publish: session)
    worker.start()
    seen: list[tuple[str, str]] = []

    def show(connection: str, outages: int = 1) -> None:
        session.status.connection, session.status.outages = connection, outages
        session.status.lost_for_s = 0.5 if connection == LOST else 0.0
        deadline = time.monotonic() + 30  # shown within a few polls; the deadline only stops a broken worker
        while time.monotonic() < deadline:
            snap = mailbox.snapshot
            view = snap.streams.get("EEG")
            if view is not None and view.state == {CONNECTED: "live"}.get(connection, connection):
                seen.append((snap.state, view.state))
                return
            time.sleep(0.005)
        raise AssertionError(f"the EEG never showed {connection!r}")

    try:
        show(CONNECTED, 0)
        show(LOST)
        assert "re-attached when it returns" in mailbox.snapshot.streams["EEG"].detail
        show(RECONNECTING)
        show(CONNECTED)
    finally:
        worker.stop()
        worker.join(5)
    # the session stays "running" throughout: the window never asks for Reconnect, and nothing was reopened
    assert seen == [("running", "live"), ("running", "lost"), ("running", "reconnecting"), ("running", "live")]
    assert session.closed and not worker.is_alive()


class _Inlet:
    """An optional inlet (markers) as the recorder uses it: ``info``, ``pull``, ``clock_offset``."""

    info, n_channels = _FakeInfo(), 1

    def __init__(self) -> None:
        self.offset, self.lost = -0.25, False

    def pull(self):
        return np.empty((0, 1)), np.empty(0)

    @property
    def clock_offset(self) -> float:
        from mne_lsl.lsl._utils import LostError

        if self.lost:
            raise LostError("gone")
        return self.offset

    def sync_clock(self, timeout: float = 2.0) -> None:
        self.synced = timeout


def test_the_guarded_inlet_gives_the_recorder_its_clock_offset_and_keeps_the_last_once_lost():
    """Issue 22, item 1: the recorder asked the dashboard's wrapped Markers inlet for its clock offset and the
    AttributeError ended the live session."""
    from affectstream.app.dashboard.worker import _GuardedInlet, _lost_error

    inner = _Inlet()
    guarded = _GuardedInlet(inner, _lost_error())
    assert guarded.clock_offset == -0.25
    guarded.sync_clock(1.5)  # anything else the inlet offers is the inlet's
    assert inner.synced == 1.5
    inner.lost = True
    assert guarded.clock_offset == -0.25 and guarded.lost  # the last estimate, and the inlet is marked lost
    assert guarded.pull()[0].shape == (0, 1)


def test_a_failing_recorder_stops_the_recording_not_the_session():
    from affectstream.app.dashboard.model import Mailbox
    from affectstream.app.dashboard.worker import SessionWorker, SourceSpec
    from fixtures.dashboard_session import BrokenRecorderSession

    sessions = []

    def factory(spec, config, publish):
        sessions.append(BrokenRecorderSession(spec, config, publish))
        return sessions[-1]

    mailbox = Mailbox()
    worker = SessionWorker(SourceSpec("EEG"), mailbox, config=CONFIG, publish=False, session_factory=factory)
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while mailbox.snapshot.hops < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        worker.record("broken.xdf")
        while not mailbox.snapshot.recording_error and time.monotonic() < deadline:
            time.sleep(0.02)
        snap = mailbox.snapshot
        assert "AttributeError" in snap.recording_error and snap.recording is None
        hops = snap.hops
        while mailbox.snapshot.hops < hops + 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert mailbox.snapshot.state == "running" and mailbox.snapshot.hops >= hops + 4  # the session goes on
        assert worker.is_alive() and len(worker.errors) == 1 and "clock_offset" in worker.errors[0]
    finally:
        worker.stop()
        worker.join(5)


def test_an_error_in_the_processing_is_shown_and_counted():
    from affectstream.app.dashboard.model import Mailbox
    from affectstream.app.dashboard.worker import SessionWorker, SourceSpec

    session = _ReattachingSession()

    def poll():
        raise RuntimeError("a bug in the pipeline")

    session.poll = poll
    mailbox = Mailbox(n_channels=2)
    worker = SessionWorker(SourceSpec("EEG"), mailbox, config=CONFIG, publish=False,
                           session_factory=lambda spec, config, publish: session)
    worker.start()
    worker.join(10)
    snap = mailbox.snapshot
    assert not worker.is_alive() and session.closed
    assert snap.state == "error" and "RuntimeError: a bug in the pipeline" in snap.error
    assert worker.errors == [snap.error]
