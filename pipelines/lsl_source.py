"""Finding and reading LSL streams with mne-lsl (which bundles liblsl, so nothing else needs installing).

Streams are found by name, type or ``source_id`` with a timeout; when nothing matches, the error lists every stream
that *was* visible, which is usually enough to spot a typo or a headset that publishes under another name. Inlets
keep a bounded buffer and are drained on every poll, so a slow consumer can never sit minutes behind the
headset (the classic LSL "stale data" pitfall).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np

from .engine import EEGStreamSpec

logger = logging.getLogger(__name__)

#: The configuration shipped with affectstream: discovery stays on this machine and liblsl's logging is quiet.
LSL_CONFIG = Path(__file__).with_name("lsl_api.cfg")


def use_local_lsl_config() -> None:
    """Point liblsl at the shipped config unless the user set ``LSLAPICFG`` (must run before liblsl loads).

    LSL streams are unauthenticated: by default affectstream resolves only streams on this machine. A user who
    wants network streams sets ``LSLAPICFG`` to their own config (``ResolveScope = site``).
    """
    os.environ.setdefault("LSLAPICFG", str(LSL_CONFIG))


class StreamNotFoundError(LookupError):
    """No LSL stream matched; the message lists the streams that were visible."""


def describe(sinfo) -> str:
    """One line naming a stream: name, type, channels, rate, source_id and host."""
    rate = f"{sinfo.sfreq:g} Hz" if sinfo.sfreq else "irregular"
    return f"{sinfo.name!r} (type {sinfo.stype!r}, {sinfo.n_channels} ch, {rate}, source_id {sinfo.source_id!r}, " \
           f"host {sinfo.hostname!r})"


def list_streams(wait: float = 1.0) -> list:
    """Every stream visible within ``wait`` seconds."""
    from mne_lsl.lsl import resolve_streams

    return resolve_streams(timeout=wait)


def find_stream(query: str | None = None, *, stype: str | None = None, source_id: str | None = None,
                timeout: float = 5.0):
    """Resolve one stream whose name or type equals ``query`` (and ``stype``/``source_id`` when given).

    An exact name match wins over a type match (LSL compares both exactly, case included); among several
    candidates the first is taken and the others are named in a warning.

    Raises
    ------
    StreamNotFoundError
        After ``timeout`` seconds without a match, listing the streams that were seen.
    """
    from mne_lsl.lsl import resolve_streams

    def matches(s) -> bool:
        if source_id is not None and s.source_id != source_id:
            return False
        if stype is not None and s.stype != stype:
            return False
        return query is None or s.name == query or s.stype == query

    deadline = time.monotonic() + timeout
    while True:
        step = max(0.2, min(1.0, deadline - time.monotonic()))
        # Targeted queries return as soon as a match answers; an unfiltered one always waits its whole timeout.
        if source_id is not None:
            found = resolve_streams(timeout=step, source_id=source_id)
        elif query is not None:
            found = resolve_streams(timeout=step / 2, name=query) + resolve_streams(timeout=step / 2, stype=query)
        else:
            found = resolve_streams(timeout=step, stype=stype) if stype else resolve_streams(timeout=step)
        candidates = [s for s in found if matches(s)]
        if candidates:
            candidates.sort(key=lambda s: (s.name != query, s.name, s.source_id))
            if len(candidates) > 1:
                logger.warning("%d streams match %r; using %s (others: %s)", len(candidates), query,
                               describe(candidates[0]), "; ".join(describe(s) for s in candidates[1:]))
            return candidates[0]
        if time.monotonic() >= deadline:
            break
    wanted = " ".join(x for x in (
        f"name or type {query!r}" if query else "", f"type {stype!r}" if stype else "",
        f"source_id {source_id!r}" if source_id else "") if x)
    listing = "\n  ".join(describe(s) for s in list_streams(wait=2.0)) or "(none)"
    raise StreamNotFoundError(f"no LSL stream with {wanted} appeared within {timeout:g} s. Streams seen on this "
                              f"machine:\n  {listing}")


def _desc_value(sinfo, key: str) -> str:
    try:
        return sinfo.desc.child_value(key) or ""
    except Exception:  # noqa: BLE001 - a malformed desc must not stop the stream from being read
        return ""


class LSLInlet:
    """A bounded, always-drained inlet around ``mne_lsl.lsl.StreamInlet``.

    Parameters
    ----------
    sinfo
        A resolved stream (from :func:`find_stream`).
    max_buffered : int
        Seconds of data liblsl may hold for us; older data is discarded by liblsl rather than growing a backlog.
    """

    def __init__(self, sinfo, max_buffered: int = 10) -> None:
        from mne_lsl.lsl import StreamInlet

        # recover=False: re-attachment is handled by our own supervisor (same source_id), because liblsl's silent
        # recovery hides outages and has crashed on inlet destruction (sccn/liblsl#220).
        self._inlet = StreamInlet(sinfo, max_buffered=int(max_buffered), recover=False,
                                  processing_flags=("clocksync",))
        self._inlet.open_stream(timeout=5.0)
        self.info = self._inlet.get_sinfo()  # the full info: desc (labels, units) is only sent on connection
        self.n_channels = self.info.n_channels
        self._offset = 0.0
        self._max_samples = max(64, int((self.info.sfreq or 100) * 2))

    def eeg_spec(self) -> EEGStreamSpec:
        info = self.info
        labels = info.get_channel_names()
        if labels is not None and any(lab is None for lab in labels):
            labels = None
        return EEGStreamSpec(
            sfreq=float(info.sfreq), n_channels=info.n_channels, labels=tuple(labels) if labels else None,
            name=info.name, source_id=info.source_id, hostname=info.hostname,
            synthetic=_desc_value(info, "synthetic").lower() == "true",
        )

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

    def close(self) -> None:
        self._inlet.close_stream()
        del self._inlet
