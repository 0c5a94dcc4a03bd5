"""Stream discovery (issue 16, item 1): lookups long enough for liblsl, no silent pick among equal matches.

The rules are checked against a stand-in for liblsl's lookup (it records each lookup's timeout); the last tests
run real outlets in a child process.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

import pytest

from affectstream.pipelines.sources.discovery import (LOOKUP_S, AmbiguousStreamError, StreamNotFoundError,
                                                      find_and_open, find_named, find_stream, find_streams)


@dataclass(frozen=True)
class Info:
    name: str
    stype: str
    source_id: str
    hostname: str = "lab-pc"
    n_channels: int = 8
    sfreq: float = 250.0
    uid: str = field(default_factory=lambda: uuid.uuid4().hex)


class Lookups:
    """Stands in for ``mne_lsl.lsl.resolve_streams``: the streams announced from the ``appear``-th lookup on, and
    every lookup's timeout and filter."""

    def __init__(self, streams: list[Info], appear: int = 0, name_delay: float = 0.0) -> None:
        self.streams, self.appear, self.name_delay = streams, appear, name_delay
        self.calls: list[tuple[float, dict]] = []
        self._lock = threading.Lock()

    def __call__(self, timeout: float = 1.0, name=None, stype=None, source_id=None, minimum: int = 1) -> list:
        with self._lock:
            self.calls.append((timeout, {"name": name, "stype": stype, "source_id": source_id}))
            visible = len(self.calls) > self.appear
        if name is not None:
            time.sleep(self.name_delay)
        time.sleep(0.01)
        return [s for s in (self.streams if visible else []) if (name is None or s.name == name)
                and (stype is None or s.stype == stype) and (source_id is None or s.source_id == source_id)]


@pytest.fixture
def lookups(monkeypatch):
    def install(streams, **kwargs) -> Lookups:
        fake = Lookups(streams, **kwargs)
        monkeypatch.setattr("mne_lsl.lsl.resolve_streams", fake)
        return fake

    return install


AMP1 = Info("amp", "EEG", "amp-1", hostname="pc-1")
AMP2 = Info("amp", "EEG", "amp-2", hostname="pc-2")
CAP = Info("EEG", "ExG", "cap-9")
SIM = Info("affectstream-sim-EEG", "EEG", "sim-eeg")


def test_every_round_lasts_a_whole_lookup_and_repeats_until_the_stream_appears(lookups):
    fake = lookups([SIM], appear=3)
    assert find_stream("affectstream-sim-EEG", timeout=5.0) == SIM
    assert len(fake.calls) == 4 and all(timeout >= LOOKUP_S for timeout, _ in fake.calls)
    fake = lookups([SIM], appear=2)
    assert find_stream(None, source_id="sim-eeg", timeout=5.0) == SIM
    assert all(timeout >= LOOKUP_S for timeout, _ in fake.calls)


def test_an_exact_name_beats_type_matches(lookups):
    lookups([AMP1, AMP2, CAP])
    assert find_stream("EEG", timeout=1.0) == CAP  # named EEG, although two streams are of type EEG
    assert [s.source_id for s in find_streams("EEG")] == ["cap-9", "amp-1", "amp-2"]


@pytest.mark.parametrize("query", ["EEG", "amp"])
def test_equal_matches_are_listed_and_nothing_is_picked(lookups, query):
    lookups([AMP1, AMP2, SIM] if query == "EEG" else [AMP1, AMP2, CAP])
    with pytest.raises(AmbiguousStreamError) as info:
        find_stream(query, timeout=1.0)
    assert isinstance(info.value, StreamNotFoundError)  # exit code 2 in the CLI
    message = str(info.value)
    expected = {"amp-1", "amp-2", "sim-eeg"} if query == "EEG" else {"amp-1", "amp-2"}
    assert all(f"source_id {sid!r}" in message for sid in expected) and "cap-9" not in message
    assert "host 'pc-1'" in message and "host 'pc-2'" in message
    assert "--eeg-source-id ID" in message and "--first-match" in message
    assert {s.source_id for s in info.value.matches} == expected


def test_first_match_takes_the_first_listed(lookups, caplog):
    lookups([AMP2, AMP1])
    assert find_stream("EEG", timeout=1.0, first_match=True) == AMP1
    assert "amp-1" in caplog.text  # the notice names the stream taken


def test_nothing_found_lists_what_was_seen(lookups):
    lookups([AMP1, CAP])
    with pytest.raises(StreamNotFoundError) as info:
        find_stream("Muse", timeout=0.05)
    assert not isinstance(info.value, AmbiguousStreamError)
    assert "'Muse'" in str(info.value) and "amp-1" in str(info.value) and "cap-9" in str(info.value)


def test_named_streams_by_name_or_source_id(lookups):
    lookups([AMP1, AMP2, CAP])
    assert find_named(["amp", "cap-9"], timeout=1.0) == [CAP, AMP1, AMP2]  # every stream of a name, by name
    with pytest.raises(StreamNotFoundError, match="'PsychoPy'") as info:
        find_named(["amp", "PsychoPy"], timeout=0.05)
    assert "cap-9" in str(info.value)


class Opened:
    def __init__(self, info, log: list) -> None:
        self.info, self.closed = info, False
        log.append(self)

    def close(self) -> None:
        self.closed = True


def test_the_first_answer_is_connected_while_the_lookup_finishes(lookups):
    lookups([SIM, CAP])
    log: list[Opened] = []
    opened = find_and_open(lambda s: Opened(s, log), "affectstream-sim-EEG", timeout=1.0)
    assert opened.info == SIM and log == [opened] and not opened.closed  # one connection, kept


def test_an_early_connection_to_the_wrong_stream_is_closed(lookups):
    # the type lookup answers first (AMP1), but the whole lookup finds a stream named EEG: that one is opened
    lookups([AMP1, CAP], name_delay=0.2)
    log: list[Opened] = []
    opened = find_and_open(lambda s: Opened(s, log), "EEG", timeout=1.0)
    assert opened.info == CAP and [o.info for o in log] == [AMP1, CAP] and log[0].closed


def test_an_early_connection_is_closed_when_several_match(lookups):
    lookups([AMP1, AMP2])
    log: list[Opened] = []
    with pytest.raises(AmbiguousStreamError):
        find_and_open(lambda s: Opened(s, log), "amp", timeout=1.0)
    assert log and all(o.closed for o in log)


@pytest.mark.lsl
def test_real_outlets_in_a_child_process():
    """Three outlets of one (unique) type, two of them with one name, in a child: a lookup sees all three."""
    from fixtures.lsl_players import start_player, stop

    tag = uuid.uuid4().hex[:10]
    kind, dup, solo = f"EEG{tag}", f"dup-{tag}", f"solo-{tag}"
    player = start_player(60, f"{dup}:{kind}:float32:{tag}-a", f"{dup}:{kind}:float32:{tag}-b",
                          f"{solo}:{kind}:float32:{tag}-c")
    try:
        find_stream(None, source_id=f"{tag}-c", timeout=30)  # the child is up
        assert [s.source_id for s in find_streams(kind)] == [f"{tag}-a", f"{tag}-b", f"{tag}-c"]
        with pytest.raises(AmbiguousStreamError) as info:
            find_stream(kind, timeout=5)
        assert all(f"{tag}-{x}" in str(info.value) for x in "abc")
        with pytest.raises(AmbiguousStreamError) as info:
            find_stream(dup, timeout=5)
        assert f"{tag}-a" in str(info.value) and f"{tag}-b" in str(info.value) and f"{tag}-c" not in str(info.value)
        assert find_stream(solo, timeout=5).source_id == f"{tag}-c"
        assert find_stream(dup, timeout=5, first_match=True).source_id == f"{tag}-a"
    finally:
        stop(player)
