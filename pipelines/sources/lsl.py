"""Finding and reading LSL streams with mne-lsl (which bundles liblsl, so nothing else needs installing).

Streams are found by name, type or ``source_id`` (:mod:`.discovery`, whose names are re-exported here): when nothing
matches, the error lists every stream that *was* visible, which is usually enough to spot a typo or a headset that
publishes under another name, and when several match equally it lists them and how to pick one. Inlets
keep a bounded buffer and are drained on every poll, so a slow consumer can never sit minutes behind the
headset (the classic LSL "stale data" pitfall).

:class:`SupervisedInlet` survives its stream going away: it marks the stream lost, closes the inlet, and
re-attaches in the background when the same ``source_id`` is announced again (as LabRecorder re-resolves a lost
stream), instead of liblsl's silent ``recover``. What it pulls then passes :class:`affectstream.pipelines.feed.EEGFeed`
on its way into the pipeline.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affectstream.pipelines.engine import EEGStreamSpec
# Discovery lives in .discovery; these names are imported from here by the rest of the package as well.
from affectstream.pipelines.sources.discovery import (LOOKUP_S, AmbiguousStreamError, StreamNotFoundError, describe,
                                                      find_stream, find_streams, list_streams)

__all__ = ["CONNECTED", "LOST", "RECONNECTING", "LOOKUP_S", "LSL_CONFIG", "AmbiguousStreamError", "LSLInlet",
           "LSLExposure", "StreamNotFoundError", "SupervisedInlet", "desc_value", "describe", "eeg_spec_of",
           "find_stream", "find_streams", "list_streams", "lsl_exposure", "use_local_lsl_config"]

logger = logging.getLogger(__name__)

#: :attr:`SupervisedInlet.connection` values.
CONNECTED, LOST, RECONNECTING = "connected", "lost", "reconnecting"

#: The configuration shipped with affectstream: discovery stays on this machine and liblsl's logging is quiet.
LSL_CONFIG = Path(__file__).resolve().parents[1] / "lsl_api.cfg"


def use_local_lsl_config() -> None:
    """Point liblsl at the shipped config unless the user set ``LSLAPICFG`` (must run before liblsl loads).

    LSL streams are unauthenticated: by default affectstream resolves only streams on this machine, and its outlets'
    discovery responders answer this machine only (their data ports do not follow: :func:`lsl_exposure`).
    ``LSLAPICFG`` set to the user's own config is the opt-in for the network (README, Security note).
    """
    os.environ.setdefault("LSLAPICFG", str(LSL_CONFIG))


@dataclass(frozen=True)
class LSLExposure:
    """Who can reach this process's LSL outlets, for a status bar (``label``, ``detail`` as its tooltip).

    Some machine on the network can read the outlets whatever the configuration: liblsl 1.17 opens each outlet's
    service and data ports on every network interface (``ListenAddress`` binds only the discovery responder;
    tests/pipelines/sources/test_lsl_exposure.py shows both halves), so every exposure is a warning.

    Attributes
    ----------
    shipped : bool
        The shipped configuration is in effect: discovery stays on this machine.
    config : str
        ``LSLAPICFG`` ("" when unset: liblsl's own search for a file, then its defaults).
    """

    shipped: bool
    config: str
    label: str
    detail: str


def lsl_exposure() -> LSLExposure:
    """What :func:`use_local_lsl_config` left in effect, said plainly (read from ``LSLAPICFG``, not from liblsl)."""
    config = os.environ.get("LSLAPICFG", "")
    shipped = bool(config) and Path(config).resolve() == LSL_CONFIG
    if shipped:
        return LSLExposure(
            shipped=True, config=config, label="LSL ports open to the network",
            detail="Streams are looked up and announced on this machine only (pipelines/lsl_api.cfg), but liblsl "
                   "opens each outlet's service and data ports (16572-16603 unless configured) on every network "
                   "interface: a machine that queries this one's address directly can still find and read "
                   "affectstream's outlets. Block those ports with a firewall where that matters.")
    if not config:
        source = "LSLAPICFG is unset, so liblsl searches for its own configuration"
    elif not os.access(config, os.R_OK) or not Path(config).is_file():
        source = f"LSLAPICFG={config} is not a readable file, so liblsl falls back to its own configuration search"
    else:
        source = f"LSLAPICFG={config}"
    return LSLExposure(
        shipped=False, config=config, label="LSL on the network",
        detail=f"{source}: streams are looked up and announced as that configuration says (liblsl's defaults: the "
               "local network), and every outlet's service and data ports listen on every network interface: "
               "other machines can find and read affectstream's outlets.")


def desc_value(sinfo, key: str) -> str:
    """The text of ``desc/<key>`` ("" when absent or unreadable)."""
    try:
        return sinfo.desc.child_value(key) or ""
    except Exception:  # noqa: BLE001 - a malformed desc must not stop the stream from being read
        return ""


def eeg_spec_of(info) -> EEGStreamSpec:
    """What the pipeline needs to know about a connected stream (rate, channels, labels, identity)."""
    labels = info.get_channel_names()
    if labels is not None and any(lab is None for lab in labels):
        labels = None
    return EEGStreamSpec(
        sfreq=float(info.sfreq), n_channels=info.n_channels, labels=tuple(labels) if labels else None,
        name=info.name, source_id=info.source_id, hostname=info.hostname,
        synthetic=desc_value(info, "synthetic").lower() == "true",
    )


class LSLInlet:
    """A bounded, always-drained inlet around ``mne_lsl.lsl.StreamInlet``.

    Parameters
    ----------
    sinfo
        A resolved stream (from :func:`find_stream`).
    max_buffered : int
        Seconds of data liblsl may hold for us; older data is discarded by liblsl rather than growing a backlog.
    open_timeout : float
        Seconds to wait for the connection.
    """

    def __init__(self, sinfo, max_buffered: int = 10, open_timeout: float = 5.0) -> None:
        from mne_lsl.lsl import StreamInlet

        # recover=False: re-attachment is handled by our own supervisor (same source_id), because liblsl's silent
        # recovery hides outages and has crashed on inlet destruction (sccn/liblsl#220).
        self._inlet = StreamInlet(sinfo, max_buffered=int(max_buffered), recover=False,
                                  processing_flags=("clocksync",))
        self._inlet.open_stream(timeout=open_timeout)
        # the full info: desc (labels, units) is only sent on connection
        self.info = self._inlet.get_sinfo(timeout=open_timeout)
        self.n_channels = self.info.n_channels
        self._offset = 0.0
        self._max_samples = max(64, int((self.info.sfreq or 100) * 2))

    def eeg_spec(self) -> EEGStreamSpec:
        return eeg_spec_of(self.info)

    def pull(self) -> tuple[np.ndarray, np.ndarray]:
        """Everything available now: data (n, n_channels) (a copy) and LSL-clock timestamps (n,)."""
        chunks, stamps = [], []
        while True:
            data, ts = self._inlet.pull_chunk(timeout=0.0, max_samples=self._max_samples)
            if len(ts) == 0:
                break
            chunks.append(np.array(data, copy=True))  # mne-lsl reuses its pull buffer
            stamps.append(np.array(ts, copy=True))
            if len(ts) < self._max_samples:
                break
        if not chunks:
            return np.empty((0, self.n_channels)), np.empty(0)
        return np.concatenate(chunks), np.concatenate(stamps)

    @property
    def clock_offset(self) -> float:
        """The latest estimate of (our LSL clock - the sender's), in seconds.

        liblsl refreshes the estimate in the background; asking must not stall the processing loop, so a query
        that does not answer at once returns the previous estimate (0 before the first one).
        """
        try:
            self._offset = float(self._inlet.time_correction(timeout=0.05))
        except TimeoutError:
            pass
        return self._offset

    def sync_clock(self, timeout: float = 2.0) -> None:
        """Wait up to ``timeout`` s for liblsl's first clock-offset estimate.

        The first :meth:`pull` waits for it otherwise (about half a second after the connection): an inlet opened
        while a session is already polling calls this on the thread that opened it, so that the wait never lands
        in the polling loop.
        """
        try:
            self._offset = float(self._inlet.time_correction(timeout=timeout))
        except (TimeoutError, RuntimeError):  # no estimate yet, or the stream is gone: the next pull tells
            pass

    def close(self) -> None:
        destroy_inlet(self._inlet)
        del self._inlet


def destroy_inlet(inlet) -> None:
    """Destroy an mne-lsl ``StreamInlet`` without first dropping its data stream.

    Why not ``close_stream()``: ``lsl_close_stream`` cuts the data connection under liblsl's receiving thread,
    which then logs ``ERR| Stream transmission broke off`` on every normal exit, an error line for no error.
    ``lsl_destroy_inlet`` alone ends the connection cleanly. mne-lsl's ``_del`` always closes the stream first,
    so the inlet is marked closed before it is called (mne-lsl's own flag, read by its ``close_stream``).
    """
    inlet._stream_is_open = False
    inlet._del()


def _lost_error() -> type[BaseException]:
    from mne_lsl.lsl._utils import LostError  # not re-exported by mne_lsl.lsl

    return LostError


class SupervisedInlet:
    """An :class:`LSLInlet` that outlives its stream: a lost stream is re-attached when its ``source_id`` returns.

    liblsl's own ``recover`` re-attaches silently, which hides the outage from the pipeline and the user, and its
    recovery machinery has aborted on inlet destruction (sccn/liblsl#220); so every inlet here is ``recover=False``
    and the outage is handled in the open:

    * **lost**: :meth:`pull` catches liblsl's ``LostError``, or, because liblsl does not raise it on every
      disconnection (a frozen sender, a cut network), finds no sample for ``quiet_s`` while a background lookup of
      the ``source_id`` (started after the last sample, lasting ``check_s``) finds it no longer announced: about
      0.8 s after the last sample. A healthy stream is never lost this way however irregular its chunks: an
      announced stream answers the lookup within milliseconds, and a stalled one that is still announced stays
      connected. :meth:`pull` returns nothing from then on, and the old inlet is closed on the supervisor thread
      (destroying it can block for half a second; no other thread uses it any more).
    * **reconnecting**: a background thread re-resolves the ``source_id`` in ``search_s`` rounds (a lookup
      returns as soon as the stream answers) and opens a new inlet there, so neither discovery nor the connection
      (about a second, the first clock sync included) ever blocks the caller; the next :meth:`pull` takes it over.
    * **connected** again at the first sample of the new inlet; :attr:`generation` has increased, which tells the
      caller to start a fresh window (the gap is not papered over).

    Parameters
    ----------
    sinfo
        The resolved stream (it must have a ``source_id``; without one a returning stream cannot be recognised).
    quiet_s : float
        Seconds without a sample after which a regular stream is looked up (an irregular one, such as markers, is
        silent by nature: only ``LostError`` marks it lost). Chunks 10-30 times a second leave gaps of 33-100 ms;
        a longer one only costs a lookup that finds the stream.
    check_s : float
        Length of that lookup, and the least time between two of them on a stream that stays quiet. A lookup that
        finds nothing waits this long; one that finds the stream returns as soon as it answers.
    search_s : float
        Length of one lookup of a lost stream (see :data:`LOOKUP_S`).
    opener : callable | None
        ``opener(sinfo) -> LSLInlet``-like object (tests substitute one). By default the first connection waits up
        to 5 s and a re-attachment 2 s, and 2 s more for its first clock offset (:func:`_reopen`), which bounds
        how long :meth:`close` can wait for the supervisor thread.
    resolver : callable
        ``resolver(timeout, source_id) -> list of sinfo`` (default: ``mne_lsl.lsl.resolve_streams``).

    Attributes
    ----------
    connection : str
        ``connected``, ``lost`` or ``reconnecting``.
    generation : int
        Number of inlets opened after the first; changes exactly when a new connection starts.
    outages : int
        Times the stream was lost.
    lost_at : float | None
        ``time.monotonic()`` when the current outage was detected (None while connected).
    last_gap_s : float
        Stream seconds between the last sample before the latest outage and the first sample after it.
    """

    def __init__(self, sinfo, *, quiet_s: float = 0.25, check_s: float = 0.5, search_s: float = LOOKUP_S,
                 opener: Callable[..., LSLInlet] | None = None,
                 resolver: Callable[[float, str], list] | None = None) -> None:
        self._opener = opener or _reopen
        self._resolver = resolver or _resolve_source
        self.quiet_s = float(quiet_s)
        self.check_s = float(check_s)
        self.search_s = float(search_s)
        self._inlet = opener(sinfo) if opener is not None else LSLInlet(sinfo)
        self.info = self._inlet.info
        self.n_channels = self.info.n_channels
        self.source_id: str = self.info.source_id
        self.connection = CONNECTED
        self.generation = 0
        self.outages = 0
        self.lost_at: float | None = None
        self.last_gap_s = math.nan
        self._lost_error = _lost_error()
        self._offset = 0.0
        self._last_sample = time.monotonic()
        self._last_stamp: float | None = None
        self._gone_since: float | None = None  # start of the latest lookup that found the stream not announced
        self._pending = None  # an inlet opened by the supervisor thread, not yet taken over by pull()
        self._retired = None  # the inlet of a lost stream, for the supervisor thread to close
        self._lookup: threading.Thread | None = None  # the latest lookup of a quiet stream (see _announced)
        self._refused: str | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name=f"affectstream-supervise-{self.source_id}",
                                        daemon=True)
        if self.source_id:
            self._thread.start()
        else:
            logger.warning("stream %s has no source_id: if it is lost it cannot be re-attached", describe(self.info))

    def eeg_spec(self) -> EEGStreamSpec:
        """The stream as the pipeline sees it (a returning stream must match it: see :meth:`_incompatible`)."""
        return eeg_spec_of(self.info)

    def pull(self) -> tuple[np.ndarray, np.ndarray]:
        """Everything available now, as :meth:`LSLInlet.pull`; empty while the stream is lost."""
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None:
            self._inlet = pending
            self.info = pending.info
            self.generation += 1
            self._last_sample = time.monotonic()
        if self._inlet is None:
            return np.empty((0, self.n_channels)), np.empty(0)
        try:
            data, stamps = self._inlet.pull()
        except self._lost_error:
            self._lose("liblsl reports the outlet gone")
            return np.empty((0, self.n_channels)), np.empty(0)
        now = time.monotonic()
        if len(stamps):
            self._last_sample = now
            if self.connection == RECONNECTING:
                with self._lock:
                    self.connection = CONNECTED
                    self.lost_at = None
                if self._last_stamp is not None:
                    self.last_gap_s = float(stamps[0]) - self._last_stamp
                logger.info("%s re-attached after a gap of %.2f s", describe(self.info), self.last_gap_s)
            self._last_stamp = float(stamps[-1])
        else:
            with self._lock:
                gone = self._gone_since is not None and self._gone_since >= self._last_sample
            if gone and now - self._last_sample > self.quiet_s:
                self._lose(f"no sample for {now - self._last_sample:.1f} s and no longer announced")
        return data, stamps

    def _lose(self, why: str) -> None:
        inlet, self._inlet = self._inlet, None
        with self._lock:
            # Destroying an inlet whose sender froze blocks for half a second (liblsl waits on its data thread):
            # the supervisor thread does it, so that the pulling thread goes on writing the hops due meanwhile.
            self._retired = inlet
        if not self._thread.is_alive():
            self._close_retired()
        with self._lock:
            self.connection = LOST
            self.lost_at = time.monotonic()
            self.outages += 1
            self._gone_since = None
        logger.warning("%s lost (%s); looking for source_id %r again", describe(self.info), why, self.source_id)
        self._wake.set()

    def _supervise(self) -> None:
        """The background half: look the stream up when it is quiet, and find and open it again once it is lost."""
        while not self._stop.is_set():
            self._close_retired()
            if self.connection == LOST:
                self._search()
                continue
            if not self.info.sfreq:  # irregular (markers): silence is normal; only LostError tells a loss
                self._wake.wait()
                self._wake.clear()
                continue
            quiet = time.monotonic() - self._last_sample
            if quiet < self.quiet_s or self._inlet is None:
                self._wake.wait(max(0.05, self.quiet_s - quiet))
                self._wake.clear()
                continue
            started = time.monotonic()
            if not self._announced(started):
                with self._lock:
                    self._gone_since = started
            self._wake.wait(max(0.0, started + self.check_s - time.monotonic()))
            self._wake.clear()

    def _announced(self, started: float) -> bool:
        """Whether a lookup of the ``source_id`` finds it within ``check_s``.

        liblsl's lookup can overrun its timeout by seconds (measured: 5.5 s for a 0.5 s lookup of an announced
        stream), which would hold a frozen stream's loss back as long; so it runs on a thread of its own, and one
        that has not answered in time counts as not found (the stream is still quiet, or this is not asked). A
        lookup still running is not started again.
        """
        if self._lookup is None or not self._lookup.is_alive():
            answer: list[bool] = []
            self._lookup = threading.Thread(target=lambda: answer.append(bool(self._resolver(self.check_s,
                                                                                             self.source_id))),
                                            name=f"affectstream-lookup-{self.source_id}", daemon=True)
            self._lookup.answer = answer
            self._lookup.start()
        self._lookup.join(max(0.0, started + self.check_s + 0.05 - time.monotonic()))
        return bool(self._lookup.answer and self._lookup.answer[0])

    def _close_retired(self) -> None:
        """Close the inlet of a lost stream, whichever thread calls (it is no longer used by any)."""
        with self._lock:
            inlet, self._retired = self._retired, None
        if inlet is None:
            return
        try:
            inlet.close()  # recover=False inlets are destroyed safely (sccn/liblsl#220 is liblsl's recovery path)
        except Exception as exc:  # noqa: BLE001 - a broken inlet must not stop the session
            logger.debug("closing the lost inlet: %s", exc)

    def _search(self) -> None:
        found = self._resolver(self.search_s, self.source_id)
        if not found or self._stop.is_set():
            return
        why = self._incompatible(found[0].n_channels, found[0].sfreq)
        inlet = None
        if why is None:
            with self._lock:
                self.connection = RECONNECTING
            try:
                inlet = self._opener(found[0])
                why = self._incompatible(inlet.info.n_channels, inlet.info.sfreq, inlet.info.get_channel_names())
            except Exception as exc:  # noqa: BLE001 - it may vanish again while connecting; keep looking
                why = f"cannot connect ({exc})"
        if why is not None:
            if inlet is not None:
                inlet.close()
            with self._lock:
                self.connection = LOST
            if why != self._refused:
                logger.warning("%s is announced again but not re-attached: %s", self.source_id, why)
                self._refused = why
            self._stop.wait(self.search_s)
            return
        with self._lock:
            self._refused = None
            if self._stop.is_set():
                inlet.close()
            else:
                self._pending = inlet

    def _incompatible(self, n_channels: int, sfreq: float, labels=None) -> str | None:
        """Why a returning stream cannot continue this one (None when it can): the pipeline was built for the
        first connection's channels and rate."""
        if n_channels != self.n_channels or not math.isclose(sfreq, self.info.sfreq):
            return (f"it now has {n_channels} channels at {sfreq:g} Hz instead of {self.n_channels} at "
                    f"{self.info.sfreq:g} Hz")
        if labels is not None and list(labels) != list(self.info.get_channel_names() or labels):
            return "its channel labels changed"
        return None

    def sync_clock(self, timeout: float = 2.0) -> None:
        """As :meth:`LSLInlet.sync_clock` (nothing while the stream is lost)."""
        if self._inlet is not None:
            self._inlet.sync_clock(timeout)

    @property
    def clock_offset(self) -> float:
        """As :attr:`LSLInlet.clock_offset`; the last estimate while the stream is lost."""
        if self._inlet is not None:
            self._offset = self._inlet.clock_offset
        return self._offset

    def close(self) -> None:
        """Stop the supervisor thread and close the inlets (the thread is joined: nothing is left running)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(self.search_s + 7.0)
        if self._lookup is not None:
            self._lookup.join(self.check_s + 7.0)
        self._close_retired()
        with self._lock:
            pending, self._pending = self._pending, None
        for inlet in (self._inlet, pending):
            if inlet is not None:
                inlet.close()
        self._inlet = None


def _reopen(sinfo) -> LSLInlet:
    """A returning stream's inlet, opened and clock-synced on the supervisor thread: its first pull would otherwise
    wait about half a second for the first clock offset, in the polling loop, holding back the hops due meanwhile."""
    inlet = LSLInlet(sinfo, open_timeout=2.0)
    inlet.sync_clock(2.0)
    return inlet


def _resolve_source(timeout: float, source_id: str) -> list:
    from mne_lsl.lsl import resolve_streams

    return resolve_streams(timeout=timeout, source_id=source_id)
