"""Finding LSL streams by name, type or ``source_id``, in lookups long enough for liblsl's answers.

On this machine's configuration (``pipelines/lsl_api.cfg``) a lookup is answered in two waves: the one outlet that
holds the multicast port answers at once, every other outlet only about 0.5 s later, when liblsl sends the query to
the ports of the known peers (measured: a 0.5 s lookup found a given stream 1-4 times in 10, a 1 s lookup 10 times in
10). So every lookup here lasts at least :data:`LOOKUP_S`, and one that must see *every* match, to tell the user that
several streams fit, runs its whole length instead of returning at the first answer.

When several streams match equally well (two headsets of type ``EEG``, two simulators with one name), nothing is
picked silently: :class:`AmbiguousStreamError` lists them and says how to pick one, unless the caller asked for the
first match. :func:`find_streams` returns every match, for pickers that show them all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TypeVar

logger = logging.getLogger(__name__)

#: Length of one lookup. liblsl asks the outlet ports of the known peers only about 0.5 s into a lookup (measured:
#: with several outlets on this machine a 0.5 s lookup never found the one on a later port, a 1 s lookup always did,
#: returning after ~0.5 s), so a shorter round misses streams.
LOOKUP_S = 1.0

Opened = TypeVar("Opened")


class StreamNotFoundError(LookupError):
    """No LSL stream matched; the message lists the streams that were visible."""


class AmbiguousStreamError(StreamNotFoundError):
    """Several streams match equally well; the message lists each of them and how to pick one.

    A subclass of :class:`StreamNotFoundError` because, to the user, it is the same mistake (the stream named does
    not single one out) with the same exit code. ``matches`` holds the stream infos, in the listed order.
    """

    def __init__(self, message: str, matches: list) -> None:
        super().__init__(message)
        self.matches = matches


def describe(sinfo) -> str:
    """One line naming a stream: name, type, channels, rate, source_id and host."""
    rate = f"{sinfo.sfreq:g} Hz" if sinfo.sfreq else "irregular"
    return f"{sinfo.name!r} (type {sinfo.stype!r}, {sinfo.n_channels} ch, {rate}, source_id {sinfo.source_id!r}, " \
           f"host {sinfo.hostname!r})"


def list_streams(wait: float = LOOKUP_S) -> list:
    """Every stream visible within ``wait`` seconds (at least :data:`LOOKUP_S`)."""
    from mne_lsl.lsl import resolve_streams

    return resolve_streams(timeout=max(LOOKUP_S, wait))


def _matcher(query: str | None, stype: str | None, source_id: str | None) -> Callable[[object], bool]:
    def matches(s) -> bool:
        if source_id is not None and s.source_id != source_id:
            return False
        if stype is not None and s.stype != stype:
            return False
        return query is None or s.name == query or s.stype == query

    return matches


def _rank(sinfo, query: str | None) -> int:
    """0 for an exact name match, 1 for any other match: a name is more specific than a type."""
    return 0 if query is not None and sinfo.name == query else 1


def _lookup(query: str | None, stype: str | None, source_id: str | None, timeout: float) -> tuple[list, list]:
    """(matches, best first; every stream the last whole round saw) after rounds until a match or ``timeout``."""
    from mne_lsl.lsl import resolve_streams

    matches = _matcher(query, stype, source_id)
    deadline = time.monotonic() + timeout
    seen: list = []
    while True:
        if source_id is not None:
            # A source_id names one device: this lookup returns at its first answer (or waits out the timeout).
            found = resolve_streams(timeout=max(LOOKUP_S, deadline - time.monotonic()), source_id=source_id)
        else:
            # The whole round, unfiltered: every match must have answered to tell whether several fit.
            found = seen = resolve_streams(timeout=LOOKUP_S)
        hits = sorted((s for s in found if matches(s)), key=lambda s: (_rank(s, query), s.name, s.source_id))
        if hits or time.monotonic() >= deadline:
            return hits, seen


def find_streams(query: str | None = None, *, stype: str | None = None, source_id: str | None = None,
                 timeout: float = LOOKUP_S) -> list:
    """Every stream whose name or type equals ``query`` (and whose type is ``stype``, ``source_id`` is
    ``source_id``, when given): exact name matches first, then by name and ``source_id``.

    Looks in rounds of :data:`LOOKUP_S` until one finds a match or ``timeout`` seconds have passed (one round at
    least); an empty list when nothing matched. LSL compares names and types exactly, case included.
    """
    return _lookup(query, stype, source_id, timeout)[0]


def _wanted(query: str | None, stype: str | None, source_id: str | None) -> str:
    return " ".join(x for x in (
        f"name or type {query!r}" if query else "", f"type {stype!r}" if stype else "",
        f"source_id {source_id!r}" if source_id else "") if x)


def find_stream(query: str | None = None, *, stype: str | None = None, source_id: str | None = None,
                timeout: float = 5.0, first_match: bool = False, pick_option: str = "--eeg-source-id"):
    """The one stream whose name or type equals ``query`` (and ``stype``/``source_id`` when given).

    An exact name match wins over type matches. Several streams that match equally well (several with that name,
    or no name match and several of that type) are an error unless ``first_match``: then the first of
    :func:`find_streams`'s order is taken, with a notice naming the others.

    Parameters
    ----------
    pick_option : str
        The option that restricts the search to one ``source_id``, named in the error's advice.

    Raises
    ------
    AmbiguousStreamError
        Several streams match equally and ``first_match`` is False; the message lists them.
    StreamNotFoundError
        After ``timeout`` seconds without a match, listing the streams that were seen.
    """
    hits, seen = _lookup(query, stype, source_id, timeout)
    if not hits:
        listing = "\n  ".join(describe(s) for s in (seen or list_streams())) or "(none)"
        raise StreamNotFoundError(f"no LSL stream with {_wanted(query, stype, source_id)} appeared within "
                                  f"{timeout:g} s. Streams seen on this machine:\n  {listing}")
    best = [s for s in hits if _rank(s, query) == _rank(hits[0], query)]
    if len(best) > 1:
        listing = "\n  ".join(describe(s) for s in best)
        what = (f"the name {query!r}" if _rank(best[0], query) == 0 else f"the type {query!r}" if query
                else _wanted(None, stype, source_id))
        if not first_match:
            raise AmbiguousStreamError(f"{len(best)} LSL streams match {what}:\n  {listing}\npick one with "
                                       f"{pick_option} ID, or take the first listed with --first-match", best)
        logger.warning("%d streams match %s; taking the first (--first-match): %s", len(best), what,
                       describe(best[0]))
    return hits[0]


def find_and_open(opener: Callable[[object], Opened], query: str | None = None, *, stype: str | None = None,
                  source_id: str | None = None, timeout: float = 5.0, first_match: bool = False,
                  pick_option: str = "--eeg-source-id") -> Opened:
    """``opener(find_stream(...))``, with the connection started at the lookup's first answer.

    A lookup that must see every match lasts :data:`LOOKUP_S`, while the answers come after about half of it; a
    new inlet receives no sample sent before it connected, so the first analysis window ends one window after the
    connection. Opening the first answer at once, while the rest of the lookup decides, moves that moment earlier
    by half a lookup. When the lookup then picks another stream (or fails), that connection is closed.

    ``opener`` returns an object with ``info`` (the stream info) and ``close()`` (an inlet); a targeted lookup
    (``source_id`` given) returns at its first answer already and is opened directly.
    """
    if source_id is not None:
        return opener(find_stream(query, stype=stype, source_id=source_id, timeout=timeout, first_match=first_match,
                                  pick_option=pick_option))
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="affectstream-lookup") as pool:
        chosen = pool.submit(find_stream, query, stype=stype, timeout=timeout, first_match=first_match,
                             pick_option=pick_option)
        opened = _open_first_answer(pool, opener, query, stype)
        try:
            sinfo = chosen.result()
        except BaseException:
            if opened is not None:
                opened.close()
            raise
    if opened is not None and opened.info.uid == sinfo.uid:
        return opened
    if opened is not None:
        opened.close()
    return opener(sinfo)


def _open_first_answer(pool: ThreadPoolExecutor, opener: Callable[[object], Opened], query: str | None,
                       stype: str | None) -> Opened | None:
    """``opener`` on the first stream to answer a name or type lookup of ``query`` (None when none did, or it
    could not be opened: the chosen stream is opened again later and raises then)."""
    from mne_lsl.lsl import resolve_streams

    matches = _matcher(query, stype, None)
    keys = [{"name": query}, {"stype": query}] if query is not None else [{"stype": stype}] if stype else []
    for probe in as_completed([pool.submit(resolve_streams, LOOKUP_S, **key) for key in keys]):
        hits = [s for s in probe.result() if matches(s)]
        if hits:
            try:
                return opener(hits[0])
            except Exception as exc:  # noqa: BLE001 - only a head start: the chosen stream is opened properly later
                logger.debug("early connection to %s failed: %s", describe(hits[0]), exc)
                return None
    return None


def find_named(names: Sequence[str], timeout: float = LOOKUP_S) -> list:
    """Every stream whose name or ``source_id`` is one of ``names`` (every stream of a name: a recording keeps them
    all), looked up in rounds of :data:`LOOKUP_S` until each name has a stream or ``timeout`` seconds have passed.

    Raises
    ------
    StreamNotFoundError
        Naming those of ``names`` that no stream has, and listing the streams that were seen.
    """
    deadline = time.monotonic() + timeout
    while True:
        seen = list_streams()
        missing = [n for n in names if not any(n in (s.name, s.source_id) for s in seen)]
        if not missing or time.monotonic() >= deadline:
            break
    if missing:
        listing = "\n  ".join(describe(s) for s in seen) or "(none)"
        raise StreamNotFoundError(f"no LSL stream with the name or source_id {', '.join(map(repr, missing))} "
                                  f"appeared within {timeout:g} s. Streams seen on this machine:\n  {listing}")
    return sorted((s for s in seen if s.name in names or s.source_id in names), key=lambda s: (s.name, s.source_id))
