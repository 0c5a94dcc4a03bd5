"""What the processing worker hands to the GUI, and what the GUI keeps of the session (no Qt here).

The worker thread owns the :class:`~affectstream.pipelines.sessions.live.LiveSession`; after every poll it posts what
arrived into a :class:`Mailbox`: hop results, the EEG samples just pulled (already mapped onto the 32-channel montage),
markers and ground truth are *appended* (the GUI needs all of them to draw traces), while the stream status, the newest
video frame and face result are *latest values* that overwrite the previous ones. The GUI takes everything at once, at
up to 30 fps; whatever the worker overwrote in between (video frames, status) is simply never painted, which is how a
slow GUI drops stale frames instead of falling behind. Every pending list is bounded.

:class:`History` is the GUI side: growable arrays of the per-hop estimates for the whole session (4 Hz, 14 400 rows an
hour), the last few minutes of EEG in a ring, every marker, and the ground truth thinned to 8 Hz. Times are seconds
from the first EEG sample of the session (LSL clock minus ``t0``).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Columns of :attr:`History.hops`.
HOP_COLUMNS: tuple[str, ...] = ("t", "valence", "arousal", "valence_eeg", "arousal_eeg", "valence_face",
                                "arousal_face", "confidence", "quality_eeg", "latency_ms")
COL = {name: i for i, name in enumerate(HOP_COLUMNS)}


@dataclass
class StreamView:
    """One input stream as the status bar shows it."""

    kind: str  #: "EEG", "Video", "Markers", "GroundTruth"
    name: str = ""
    host: str = ""
    state: str = "connecting"  #: connecting, live, stalled, lost, error, stopped, waiting
    nominal_rate: float = math.nan
    measured_rate: float = math.nan
    samples: int = 0
    detail: str = ""


@dataclass(frozen=True)
class StreamEntry:
    """A stream as the stream picker lists it: a live LSL stream, or (``recorded``) a stream of the recording that
    a replay plays."""

    name: str
    stype: str
    source_id: str
    hostname: str
    n_channels: int
    sfreq: float
    recorded: bool = False

    @classmethod
    def from_sinfo(cls, s) -> StreamEntry:
        return cls(s.name, s.stype, s.source_id, s.hostname, int(s.n_channels), float(s.sfreq or 0.0))

    @property
    def text(self) -> str:
        if self.recorded:
            rate = f"{self.sfreq:g} {'fps' if self.stype == 'Video' else 'Hz'}" if self.sfreq else "irregular"
            return f"{self.name}  (recorded, {self.n_channels} ch, {rate})" if self.stype != "Video" else \
                f"{self.name}  (recorded, {rate})"
        if self.stype == "Video":
            return f"{self.name} @ {self.hostname}  ({self.sfreq:g} fps)" if self.sfreq else \
                f"{self.name} @ {self.hostname}"
        rate = f"{self.sfreq:g} Hz" if self.sfreq else "irregular"
        return f"{self.name} @ {self.hostname}  ({self.n_channels} ch, {rate})"

    @property
    def prefix(self) -> str | None:
        """The simulator-style prefix of the source_id (``<prefix>-eeg``), or None."""
        head, sep, _ = self.source_id.rpartition("-")
        return head if sep else None


@dataclass(frozen=True)
class Headset:
    """The headset's electrodes as the dashboard draws them (fixed for a session).

    The EEG traces show these electrodes, not the 32 model channels: a Muse has four and shows four. ``flags`` says
    under which name :attr:`affectstream.pipelines.engine.HopResult.bad_channels` reports each electrode (its
    model channel's name when it is one, since a stream may spell it differently: ``EEG Fp1`` is ``Fp1``).
    """

    labels: tuple[str, ...] = ()  #: the stream's own names of its electrodes, in stream order
    flags: tuple[str, ...] = ()  #: each electrode's key in ``bad_channels``
    summary: str = ""  #: e.g. ``4 electrodes, 32/32 interpolated`` (the status bar)


@dataclass
class Snapshot:
    """Latest values after one poll (replaced wholesale; never mutated after posting)."""

    state: str = "idle"  #: idle, connecting, running, lost, error, stopped
    error: str = ""
    streams: dict[str, StreamView] = field(default_factory=dict)
    backlog_s: float = math.nan
    clock_offset_s: float = math.nan
    counter_gaps: int = 0
    skipped_hops: int = 0
    hops: int = 0
    estimator: str = ""
    synthetic: bool = False
    mapping: str = ""  #: how the stream's channels meet the model montage, one clause a line (a tooltip)
    headset: Headset = field(default_factory=Headset)
    face: Any = None  #: affectstream.pipelines.face.path.FaceResult of the newest frame
    frame: np.ndarray | None = None  #: uint8 BGR of the newest frame
    frame_id: int = 0  #: changes with every new frame
    video_dropped: int = 0  #: frames the face path skipped to stay on the newest one
    video_lag_s: float = math.nan  #: the face path's lag: its newest result's frame stamp to the result (LSL clock)
    recording: str | None = None
    recorded_hops: int = 0
    recording_error: str = ""  #: why a recording stopped by itself (shown once)
    transport: Any = None  #: affectstream.pipelines.sessions.replay_session.TransportState when replaying a recording
    origin: float | None = None  #: stream time shown as 0 (a replay's first EEG sample; live: the first one seen)
    eeg_model_trained_on: str | None = None  #: synthetic, real, subject; None for the baseline estimator
    model_warning: str = ""  #: why the EEG estimates are not validated on this input ("" when they are)
    inputs: tuple[StreamEntry, ...] = ()  #: a replay's recorded streams, which the stream picker shows meanwhile


@dataclass
class Delivery:
    """What :meth:`Mailbox.take` hands over: everything appended since the last take, and the latest values."""

    hops: list
    eeg_t: np.ndarray  #: (n,) LSL clock
    eeg: np.ndarray  #: (n_electrodes, n) µV, the headset's electrodes (:attr:`Headset.labels` order)
    markers: list[tuple[float, str]]
    truth_t: np.ndarray
    truth: np.ndarray  #: (n, 2) valence, arousal
    snapshot: Snapshot
    seq: int  #: increases with every post; equal to the previous take's when nothing new arrived

    @property
    def empty(self) -> bool:
        return not self.hops and not self.eeg_t.size and not self.markers and not self.truth_t.size


class Mailbox:
    """Thread-safe hand-over from the worker to the GUI (appended data + latest-value snapshot).

    Parameters
    ----------
    n_channels : int
        Rows of the (empty) EEG chunk handed over when none arrived; a chunk that arrived has the headset's.
    max_eeg_samples : int
        EEG samples kept while the GUI does not take them (older ones are dropped first).
    max_hops : int
        Hop results kept while the GUI does not take them.
    """

    def __init__(self, n_channels: int = 32, max_eeg_samples: int = 30 * 1024, max_hops: int = 2400) -> None:
        self._lock = threading.Lock()
        self.n_channels = n_channels
        self.max_eeg_samples = max_eeg_samples
        self.max_hops = max_hops
        self._hops: list = []
        self._eeg: list[tuple[np.ndarray, np.ndarray]] = []
        self._eeg_n = 0
        self._markers: list[tuple[float, str]] = []
        self._truth: list[tuple[np.ndarray, np.ndarray]] = []
        self._snapshot = Snapshot()
        self._seq = 0
        self.dropped_hops = 0
        self.dropped_samples = 0

    def post(self, snapshot: Snapshot, hops: list = (), eeg: tuple[np.ndarray, np.ndarray] | None = None,
             markers: list[tuple[float, str]] = (), truth: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        with self._lock:
            self._snapshot = snapshot
            self._seq += 1
            if hops:
                self._hops.extend(hops)
                if len(self._hops) > self.max_hops:
                    self.dropped_hops += len(self._hops) - self.max_hops
                    del self._hops[:len(self._hops) - self.max_hops]
            if eeg is not None and len(eeg[0]):
                self._eeg.append(eeg)
                self._eeg_n += len(eeg[0])
                while self._eeg_n > self.max_eeg_samples and len(self._eeg) > 1:
                    t, _ = self._eeg.pop(0)
                    self._eeg_n -= len(t)
                    self.dropped_samples += len(t)
            if markers:
                self._markers.extend(markers)
            if truth is not None and len(truth[0]):
                self._truth.append(truth)

    def discard_pending(self) -> None:
        """Drop the appended data not yet taken (a replay jumped elsewhere); the snapshot stays."""
        with self._lock:
            self._hops, self._eeg, self._eeg_n, self._markers, self._truth = [], [], 0, [], []

    def update_snapshot(self, snapshot: Snapshot) -> None:
        with self._lock:
            self._snapshot = snapshot
            self._seq += 1

    @property
    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._snapshot

    def take(self) -> Delivery:
        with self._lock:
            hops, self._hops = self._hops, []
            eeg, self._eeg, self._eeg_n = self._eeg, [], 0
            markers, self._markers = self._markers, []
            truth, self._truth = self._truth, []
            snapshot, seq = self._snapshot, self._seq
        if eeg:
            eeg_t = np.concatenate([t for t, _ in eeg])
            eeg_x = np.concatenate([x for _, x in eeg], axis=1)
        else:
            eeg_t, eeg_x = np.empty(0), np.empty((self.n_channels, 0), dtype=np.float32)
        if truth:
            truth_t = np.concatenate([t for t, _ in truth])
            truth_v = np.concatenate([np.asarray(v, dtype=float).reshape(len(t), -1)[:, :2] for t, v in truth])
        else:
            truth_t, truth_v = np.empty(0), np.empty((0, 2))
        return Delivery(hops, eeg_t, eeg_x, markers, truth_t, truth_v, snapshot, seq)


class Growable:
    """An (n, k) float array that grows by doubling; :attr:`view` is the filled part."""

    def __init__(self, k: int, capacity: int = 1024) -> None:
        self._a = np.full((capacity, k), np.nan)
        self.n = 0

    def extend(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows, dtype=float).reshape(-1, self._a.shape[1])
        need = self.n + len(rows)
        if need > len(self._a):
            bigger = np.full((max(need, 2 * len(self._a)), self._a.shape[1]), np.nan)
            bigger[:self.n] = self._a[:self.n]
            self._a = bigger
        self._a[self.n:need] = rows
        self.n = need

    @property
    def view(self) -> np.ndarray:
        return self._a[:self.n]

    def between(self, t0: float, t1: float, column: int = 0) -> np.ndarray:
        """Rows whose ``column`` (sorted) lies in [t0, t1], plus one row either side so lines reach the edges."""
        v = self.view
        i0 = max(0, int(np.searchsorted(v[:, column], t0)) - 1)
        i1 = min(self.n, int(np.searchsorted(v[:, column], t1, side="right")) + 1)
        return v[i0:i1]


class EEGRing:
    """The last ``seconds`` of the headset's EEG with their times, contiguous in memory for slicing.

    Samples are appended at the end of a buffer twice the capacity; when it fills, the newest ``capacity`` samples
    move to the front (one copy per ``capacity`` samples), so every window is a view, never a gather.
    """

    def __init__(self, n_channels: int, sfreq: float, seconds: float = 300.0) -> None:
        self.capacity = max(1024, int(seconds * sfreq))
        self.sfreq = sfreq
        self._x = np.full((n_channels, 2 * self.capacity), np.nan, dtype=np.float32)
        self._t = np.full(2 * self.capacity, np.nan)
        self.start = 0
        self.end = 0

    def push(self, t: np.ndarray, x: np.ndarray) -> None:
        n = len(t)
        if n == 0:
            return
        if n >= self.capacity:
            t, x, n = t[-self.capacity:], x[:, -self.capacity:], self.capacity
        if self.end + n > 2 * self.capacity:
            keep = min(self.end - self.start, self.capacity - n)
            self._x[:, :keep] = self._x[:, self.end - keep:self.end]
            self._t[:keep] = self._t[self.end - keep:self.end]
            self.start, self.end = 0, keep
        self._x[:, self.end:self.end + n] = x
        self._t[self.end:self.end + n] = t
        self.end += n
        if self.end - self.start > self.capacity:
            self.start = self.end - self.capacity

    @property
    def n_channels(self) -> int:
        return self._x.shape[0]

    @property
    def newest(self) -> float:
        return float(self._t[self.end - 1]) if self.end > self.start else math.nan

    @property
    def oldest(self) -> float:
        return float(self._t[self.start]) if self.end > self.start else math.nan

    def window(self, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray]:
        """Times (n,) and data (n_channels, n) with t0 <= t <= t1 (views)."""
        t = self._t[self.start:self.end]
        i0 = int(np.searchsorted(t, t0))
        i1 = int(np.searchsorted(t, t1, side="right"))
        return t[i0:i1], self._x[:, self.start + i0:self.start + i1]


class DisplayHighpass:
    """First-order 0.5 Hz Butterworth high-pass per channel, with state, for *display* only.

    Electrode offsets and slow drifts (tens of mV on DC-coupled amplifiers) would push traces off their rows; a
    causal high-pass keeps each channel centred without a per-frame median, and every part of the display shows the
    same filtered signal. Non-finite samples pass through as NaN and do not poison the filter state.
    """

    def __init__(self, sfreq: float, cutoff: float = 0.5) -> None:
        from scipy.signal import butter

        self.b, self.a = butter(1, cutoff / (sfreq / 2.0), btype="highpass")
        self.zi: np.ndarray | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        from scipy.signal import lfilter, lfilter_zi

        finite = np.isfinite(x)
        xf = np.where(finite, x, 0.0).astype(np.float64)
        if self.zi is None:
            self.zi = lfilter_zi(self.b, self.a)[None, :] * xf[:, :1]
        y, self.zi = lfilter(self.b, self.a, xf, axis=1, zi=self.zi)
        y = y.astype(np.float32)
        y[~finite] = np.nan
        return y


class History:
    """Everything the GUI draws, accumulated from deliveries. Times are relative to :attr:`t0`.

    Attributes
    ----------
    version : int
        Increases whenever hops or markers were added (the trace panel redraws on change; ground truth, which
        comes at 32 Hz, is drawn with the next hop).
    eeg_version : int
        Increases whenever EEG samples were added.
    saliency_version : int
        Increases with every new saliency map set.
    """

    def __init__(self, n_channels: int = 32, sfreq: float = 256.0, eeg_seconds: float = 300.0,
                 truth_rate: float = 8.0) -> None:
        self.t0: float | None = None
        self.hops = Growable(len(HOP_COLUMNS))
        self.truth = Growable(3)
        self.truth_rate = truth_rate
        self._next_truth = -math.inf
        self.markers: list[tuple[float, str, str]] = []  #: (t, text, origin "stream" or "manual")
        self.eeg: EEGRing | None = None  #: display EEG (0.5 Hz high-passed), the last ``eeg_seconds``
        self.highpass: DisplayHighpass | None = None
        self.n_channels = n_channels
        self.eeg_seconds = eeg_seconds
        self.sfreq = sfreq
        self.features: np.ndarray | None = None
        self.good: np.ndarray | None = None  #: (32,) model channels with values (measured or interpolated)
        self.measured: np.ndarray | None = None  #: (32,) good model channels the headset measures itself
        self.bad_channels: dict[str, str] = {}
        self.saliency: np.ndarray | None = None
        self.saliency_t = math.nan
        self.face_result = None
        self.snapshot = Snapshot()
        self.version = 0
        self.eeg_version = 0
        self.saliency_version = 0
        self.features_version = 0
        self.frame_id = 0
        self.deliveries = 0
        self._early_markers: list[tuple[float, str]] = []
        self._early_truth: list[tuple[np.ndarray, np.ndarray]] = []

    def rel(self, t: float | np.ndarray) -> float | np.ndarray:
        return t - (self.t0 or 0.0)

    def ingest(self, d: Delivery) -> None:
        self.snapshot = d.snapshot
        self.deliveries += 1
        if self.t0 is None:
            candidates = [x for x in (d.eeg_t[:1].tolist() + [h.t for h in d.hops[:1]]) if math.isfinite(x)]
            if not candidates:  # markers or truth before the first EEG sample: kept until t0 is known
                self._early_markers += d.markers
                if d.truth_t.size:
                    self._early_truth.append((d.truth_t, d.truth))
                return
            self.t0 = d.snapshot.origin if d.snapshot.origin is not None else min(candidates)
            d.markers = self._early_markers + d.markers
            if self._early_truth:
                d.truth_t = np.concatenate([t for t, _ in self._early_truth] + [d.truth_t])
                d.truth = np.concatenate([v for _, v in self._early_truth] + [d.truth])
            self._early_markers, self._early_truth = [], []
        t0 = self.t0
        if d.eeg_t.size:
            if self.eeg is None:
                self.eeg = EEGRing(d.eeg.shape[0], self.sfreq, self.eeg_seconds)
                self.highpass = DisplayHighpass(self.sfreq)
            self.eeg.push(d.eeg_t - t0, self.highpass(d.eeg))
            self.eeg_version += 1
        if d.hops:
            rows = np.array([[h.t - t0, h.valence, h.arousal, h.eeg.valence, h.eeg.arousal, h.face.valence,
                              h.face.arousal, h.confidence, h.quality_eeg, h.latency_ms] for h in d.hops])
            self.hops.extend(rows)
            last = d.hops[-1]
            self.features, self.good, self.bad_channels = last.features, last.good, dict(last.bad_channels)
            self.measured = last.good if last.measured is None else last.measured  # None: all good ones measured
            self.features_version += 1
            for h in reversed(d.hops):
                if h.saliency is not None:
                    self.saliency, self.saliency_t = np.asarray(h.saliency), h.t - t0
                    self.saliency_version += 1
                    break
            if last.face_result is not None:
                self.face_result = last.face_result
            self.version += 1
        if d.markers:
            self.markers.extend((t - t0, text, "stream") for t, text in d.markers)
            self.markers.sort(key=lambda m: m[0])
            self.version += 1
        if d.truth_t.size:
            keep = []
            for i, t in enumerate(d.truth_t):
                if t >= self._next_truth:
                    keep.append(i)
                    self._next_truth = t + 1.0 / self.truth_rate - 1e-6
            if keep:
                rows = np.column_stack([d.truth_t[keep] - t0, d.truth[keep]])
                self.truth.extend(rows)  # drawn with the next hop (no version bump: traces redraw at 4 Hz)

    def add_marker(self, t_abs: float, text: str, origin: str = "manual") -> None:
        self.markers.append((t_abs - (self.t0 or 0.0), text, origin))
        self.markers.sort(key=lambda m: m[0])
        self.version += 1

    def markers_between(self, t0: float, t1: float) -> list[tuple[float, str, str]]:
        return [m for m in self.markers if t0 <= m[0] <= t1]

    @property
    def now(self) -> float:
        """The newest stream time seen (relative), from the EEG if any, else the newest hop."""
        if self.eeg is not None and math.isfinite(self.eeg.newest):
            return self.eeg.newest
        if self.hops.n:
            return float(self.hops.view[-1, 0])
        return 0.0

    def latency_stats(self, last: int = 40) -> tuple[float, float]:
        """p50 and p95 hop latency (ms) over the last ``last`` hops."""
        lat = self.hops.view[-last:, COL["latency_ms"]]
        lat = lat[np.isfinite(lat)]
        if lat.size == 0:
            return math.nan, math.nan
        return float(np.percentile(lat, 50)), float(np.percentile(lat, 95))
