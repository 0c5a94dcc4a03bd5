"""A lost stream at the inlet (issue 10, item 1): :class:`affectstream.pipelines.sources.lsl.SupervisedInlet`.

A fake inlet and resolver stand in for liblsl, so no LSL is needed: the inlet marks its stream lost, closes it and
re-attaches it in the background, never on the pulling thread; a silent stream is lost only when it is no longer
announced; a returning stream with other channels is refused. How long a pull on a lost stream takes is a figure
of ``affectstream bench`` (``stream_faults``).
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from affectstream.pipelines.sources.lsl import (
    CONNECTED,
    LOST,
    RECONNECTING,
    SupervisedInlet,
)

SFREQ = 256.0


class _FakeInfo:
    def __init__(self, source_id: str) -> None:
        self.name, self.stype, self.source_id, self.hostname = "fake", "EEG", source_id, "here"
        self.n_channels, self.sfreq = 2, SFREQ

    def get_channel_names(self):
        return ["C3", "C4"]


class _FakeInlet:
    """Stands in for LSLInlet: hands out 8 samples per pull until ``lose()``, then raises mne-lsl's LostError."""

    def __init__(self, info: _FakeInfo, t0: float) -> None:
        self.info, self.n_channels = info, info.n_channels
        self.t = t0
        self.lost = self.closed = self.silent = False
        self.clock_offset = 0.0

    def pull(self):
        from mne_lsl.lsl._utils import LostError

        if self.lost:
            raise LostError("The stream connection has been lost.")
        if self.silent:
            return np.zeros((0, 2)), np.zeros(0)
        stamps = self.t + np.arange(8) / SFREQ
        self.t += 8 / SFREQ
        return np.zeros((8, 2)), stamps

    def close(self) -> None:
        self.closed = True


def test_supervised_inlet_marks_lost_closes_and_reattaches_in_the_background():
    info = _FakeInfo("fake-eeg")
    announced = threading.Event()
    opened: list[_FakeInlet] = []
    searched_on: set[threading.Thread] = set()  # the threads the lookups ran on

    def opener(sinfo):
        opened.append(_FakeInlet(sinfo, t0=10.0 if not opened else 20.0))
        return opened[-1]

    def resolver(timeout: float, source_id: str):
        assert source_id == "fake-eeg"
        searched_on.add(threading.current_thread())
        if announced.wait(timeout):
            return [info]
        return []

    inlet = SupervisedInlet(info, opener=opener, resolver=resolver, search_s=0.05)
    try:
        assert len(inlet.pull()[1]) == 8 and inlet.connection == CONNECTED
        opened[0].lost = True
        assert len(inlet.pull()[1]) == 0
        assert inlet.connection == LOST and opened[0].closed and inlet.outages == 1
        assert len(inlet.pull()[1]) == 0 and inlet.generation == 0
        announced.set()
        deadline = time.monotonic() + 30  # re-attached in milliseconds; the deadline only stops a broken search
        while inlet.generation == 0 and time.monotonic() < deadline:
            inlet.pull()
            time.sleep(0.01)
        assert inlet.generation == 1 and len(opened) == 2
        if inlet.connection == RECONNECTING:  # taken over; connected at its first sample
            inlet.pull()
        assert inlet.connection == CONNECTED and inlet.outages == 1
        assert inlet.last_gap_s == pytest.approx(20.0 - (10.0 + 7 / SFREQ))
        # the pulling thread never ran a lookup, so a pull never waits for one (how long a pull on a lost stream
        # takes: affectstream bench, stream_faults)
        assert searched_on and threading.current_thread() not in searched_on
    finally:
        inlet.close()
    assert not inlet._thread.is_alive() and opened[1].closed


@pytest.mark.parametrize("announced", [False, True])
def test_a_silent_stream_is_lost_only_when_it_is_no_longer_announced(announced):
    """liblsl does not raise LostError on every disconnection: silence plus a lookup that misses it means lost."""
    info = _FakeInfo("fake-eeg")
    fake = _FakeInlet(info, 0.0)
    inlet = SupervisedInlet(info, opener=lambda sinfo: fake, quiet_s=0.2, search_s=0.05,
                            resolver=lambda timeout, sid: [info] if announced else [])
    try:
        inlet.pull()
        fake.silent = True
        # announced: watched for 1 s of silence (5x quiet_s); not announced: lost in about 0.25 s, the deadline
        # only stops a broken supervisor
        deadline = time.monotonic() + (1.0 if announced else 30.0)
        while inlet.connection == CONNECTED and time.monotonic() < deadline:
            inlet.pull()
            time.sleep(0.01)
        assert inlet.connection == (CONNECTED if announced else LOST)  # a stalled headset is not a lost one
        assert fake.closed is not announced
    finally:
        inlet.close()


def test_supervised_inlet_refuses_a_returning_stream_with_other_channels(caplog):
    info = _FakeInfo("fake-eeg")
    other = _FakeInfo("fake-eeg")
    other.n_channels = 3
    opened: list[_FakeInlet] = []

    def opener(sinfo):
        opened.append(_FakeInlet(sinfo, 0.0))
        return opened[-1]

    inlet = SupervisedInlet(info, opener=opener, resolver=lambda timeout, sid: [other], search_s=0.05)
    try:
        opened[0].lost = True
        inlet.pull()
        deadline = time.monotonic() + 30  # refused within one lookup; the deadline only stops a broken supervisor
        while "3 channels" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.01)
        assert inlet.pull()[1].size == 0 and inlet.connection == LOST and len(opened) == 1
        assert "3 channels" in caplog.text
    finally:
        inlet.close()
