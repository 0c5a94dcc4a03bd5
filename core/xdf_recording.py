"""A loaded XDF file as plain Python and numpy, and which stream is what.

Classification
--------------
* **EEG**: the numeric stream of type ``EEG`` (case-insensitive) with the most channels; without one, the numeric
  stream with the most channels at >= 100 Hz nominal (a note says the choice was by shape). Channel labels may be
  missing; what the pipeline can do with them is decided by :func:`affectstream.core.montage.map_channels`.
* **Markers**: every string stream, whatever its type, and every numeric stream that is a marker stream by LSL's
  conventions (:func:`is_numeric_marker_stream`: a type naming markers, triggers or events, or integer codes at an
  irregular rate, e.g. a Muse P300 file's int32 ``Markers``). Numeric markers read as text (``1``, ``2.5``), so they
  are counted, shown and replayed as string markers are.
* **Video**: type ``Video`` in the project's contract (:mod:`affectstream.core.video`). Another stream that looks
  video-related (e.g. the int32 ``VideoFrameIndex`` of the EEGLAB test file) is skipped with a one-line note.
* **GroundTruth** and **Affect**: by type.

Every skipped or refused stream gets one line in :attr:`XDFRecording.notes` naming it and the reason.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from affectstream.core.video import VideoFormat, decode_frame, parse_video_format

#: Lowest nominal rate at which an untyped numeric stream may be taken for EEG.
MIN_EEG_RATE = 100.0


def plain_xml(x: Any) -> Any:
    """pyxdf's XML dict (every leaf wrapped in a list) as plain dicts, strings and lists."""
    if isinstance(x, list):
        items = [plain_xml(v) for v in x]
        return items[0] if len(items) == 1 else items
    if isinstance(x, dict):
        return {k: plain_xml(v) for k, v in x.items()}
    return x


def _first(d: Any, key: str, default: str = "") -> str:
    try:
        value = d[key][0]
    except (KeyError, IndexError, TypeError):
        return default
    return default if value is None else str(value).strip()


@dataclass
class XDFStream:
    """One stream of the file, in plain Python/numpy.

    ``data`` is (n, channel_count) in the stream's dtype, or for a string stream a list of n lists of strings;
    ``timestamps`` (n,) float64 in the recorder's clock (clock offsets applied). ``labels``/``units``/``types`` are
    None when the stream declares none. ``desc`` is the header's ``desc`` as plain dicts.
    """

    stream_id: int
    name: str
    type: str
    source_id: str
    hostname: str
    srate: float
    channel_format: str
    channel_count: int
    labels: tuple[str, ...] | None
    units: tuple[str, ...] | None
    types: tuple[str, ...] | None
    desc: dict
    data: Any
    timestamps: np.ndarray
    effective_srate: float = math.nan
    clock_times: tuple[float, ...] = ()
    clock_values: tuple[float, ...] = ()

    @property
    def is_string(self) -> bool:
        return self.channel_format == "string"

    @property
    def n_samples(self) -> int:
        return len(self.timestamps)

    @property
    def duration(self) -> float:
        return float(self.timestamps[-1] - self.timestamps[0]) if self.n_samples > 1 else 0.0

    @property
    def synthetic(self) -> bool:
        return str(self.desc.get("synthetic", "")).strip().lower() == "true"

    def describe(self) -> str:
        rate = f"{self.srate:g} Hz" if self.srate else "irregular"
        return (f"{self.name!r} (id {self.stream_id}, type {self.type!r}, {self.channel_count} ch "
                f"{self.channel_format}, {rate}, {self.n_samples} samples)")

    def video_format(self) -> VideoFormat:
        """The frame format per the project's Video contract; ValueError (one line) if the stream breaks it."""
        desc = {k: str(self.desc.get(k, "") or "").strip() for k in ("width", "height", "channels", "color_order")}
        return parse_video_format(f"stream {self.describe()}", self.type, self.channel_format, self.channel_count,
                                  desc)

    def text_values(self) -> list[str]:
        """The samples as single strings, channels joined by ``|``: a string stream's text, or a numeric stream's
        values as written (``1`` for an integer code, ``2.5``; a float with no fraction reads as an integer)."""
        if self.is_string:
            return ["|".join("" if v is None else str(v) for v in row) for row in self.data]
        return ["|".join(_number_text(v) for v in row) for row in np.asarray(self.data)]


@dataclass
class XDFRecording:
    """Every stream of a file, classified for replay, and one note per stream that replay will not use."""

    path: Path
    header: dict
    streams: list[XDFStream]
    eeg: XDFStream | None = None
    markers: list[XDFStream] = field(default_factory=list)
    video: XDFStream | None = None
    video_format: VideoFormat | None = None
    ground_truth: list[XDFStream] = field(default_factory=list)
    affect: list[XDFStream] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    synchronized: bool = True

    def marker_events(self) -> list[tuple[float, str, str]]:
        """Every marker as (time, text, stream name), in time order."""
        events = [(float(t), text, s.name) for s in self.markers for t, text in zip(s.timestamps, s.text_values())]
        return sorted(events, key=lambda e: e[0])

    def marker_counts(self) -> Counter:
        return Counter(text for s in self.markers for text in s.text_values())

    def frame(self, i: int) -> np.ndarray:
        """Video frame ``i`` as uint8 BGR (h, w, 3)."""
        if self.video is None or self.video_format is None:
            raise ValueError(f"{self.path.name} has no project-format Video stream")
        return decode_frame(self.video.data[i], self.video_format)


#: Words in a numeric stream's type that make it a marker stream (case-insensitive): LSL's ``Markers``, a device's
#: ``Triggers``, a presentation program's ``Events``.
MARKER_TYPE_WORDS = ("marker", "trigger", "event")


#: Stream types that name a signal or an output, never markers, whatever their rate and format.
SIGNAL_TYPES = ("eeg", "video", "groundtruth", "affect")


def is_numeric_marker_stream(s: XDFStream) -> bool:
    """A numeric stream that carries event codes rather than a signal: its type names markers, triggers or events,
    or it sends integer values at an irregular rate (nominal rate 0, as LSL declares event streams) without being
    typed as a signal."""
    kind = s.type.strip().lower()
    if s.is_string or kind in SIGNAL_TYPES:
        return False
    return any(word in kind for word in MARKER_TYPE_WORDS) or (s.srate == 0 and s.channel_format.startswith("int"))


def _number_text(v: Any) -> str:
    x = float(v)
    if not np.isfinite(x):
        return str(x)
    return str(int(x)) if x == int(x) else np.format_float_positional(x, trim="-")


def _channel_meta(desc_raw: Any, n_ch: int, name: str, notes: list[str]):
    """(labels, units, types) from pyxdf's raw desc; None where the stream declares none."""
    try:
        channels = desc_raw[0]["channels"][0]["channel"]
    except (KeyError, IndexError, TypeError):
        return None, None, None
    if not isinstance(channels, list) or len(channels) != n_ch:
        notes.append(f"stream {name!r}: desc lists {len(channels) if isinstance(channels, list) else '?'} channel "
                     f"entries for {n_ch} channels; channel labels ignored")
        return None, None, None
    out = []
    for key in ("label", "unit", "type"):
        values = tuple(_first(ch, key) if isinstance(ch, dict) else "" for ch in channels)
        out.append(values if any(values) else None)
    return tuple(out)


def stream_from_pyxdf(raw: dict, notes: list[str]) -> XDFStream:
    """One stream as ``pyxdf.load_xdf`` returns it, as an :class:`XDFStream` (remarks appended to ``notes``)."""
    info = raw["info"]
    fmt = _first(info, "channel_format")
    n_ch = int(_first(info, "channel_count", "0"))
    name = _first(info, "name", f"<unnamed id {info.get('stream_id')}>")
    desc_raw = info.get("desc")
    desc = plain_xml(desc_raw) if desc_raw else {}
    if not isinstance(desc, dict):
        desc = {}
    labels, units, types = _channel_meta(desc_raw, n_ch, name, notes)
    series = raw["time_series"]
    if fmt == "string":
        data = [[("" if v is None else v) for v in row] for row in series]
    else:
        data = np.asarray(series)
        if data.ndim == 1:
            data = data.reshape(-1, n_ch)
    try:
        srate = float(_first(info, "nominal_srate", "0"))
    except ValueError:
        srate = 0.0
    eff = info.get("effective_srate")
    return XDFStream(
        stream_id=int(info["stream_id"]), name=name, type=_first(info, "type"), source_id=_first(info, "source_id"),
        hostname=_first(info, "hostname"), srate=srate, channel_format=fmt, channel_count=n_ch, labels=labels,
        units=units, types=types, desc=desc, data=data,
        timestamps=np.asarray(raw["time_stamps"], dtype=np.float64),
        effective_srate=float(eff) if isinstance(eff, (int, float)) else math.nan,
        clock_times=tuple(raw.get("clock_times", ())), clock_values=tuple(raw.get("clock_values", ())),
    )


def classify(rec: XDFRecording) -> None:
    """Fill ``rec.eeg``, ``markers``, ``video``, ``ground_truth``, ``affect`` and a note for every other stream."""
    notes = rec.notes
    numeric = []
    for s in rec.streams:
        kind = s.type.strip().lower()
        if s.is_string or is_numeric_marker_stream(s):
            rec.markers.append(s)
            if s.n_samples == 0:
                notes.append(f"marker stream {s.describe()} is empty")
            continue
        if s.n_samples == 0:
            notes.append(f"stream {s.describe()} has no samples; skipped")
            continue
        if kind == "video":
            try:
                fmt = s.video_format()
            except ValueError as exc:
                notes.append(f"{exc}; skipped")
                continue
            if rec.video is not None:
                notes.append(f"stream {s.describe()}: a second Video stream; only {rec.video.name!r} is used")
                continue
            rec.video, rec.video_format = s, fmt
        elif kind == "groundtruth":
            rec.ground_truth.append(s)
        elif kind == "affect":
            rec.affect.append(s)
        elif "video" in kind or "video" in s.name.lower():
            notes.append(f"stream {s.describe()} is not a Video stream in the project's format (type 'Video', int8 "
                         "pixels, width/height/channels in desc); skipped")
        else:
            numeric.append(s)
    typed = [s for s in numeric if s.type.strip().lower() == "eeg"]
    if typed:
        rec.eeg = max(typed, key=lambda s: s.channel_count)
    else:
        candidates = [s for s in numeric if s.srate >= MIN_EEG_RATE]
        if candidates:
            rec.eeg = max(candidates, key=lambda s: s.channel_count)
            notes.append(f"no stream of type 'EEG'; using {rec.eeg.describe()}, the numeric stream with the most "
                         f"channels at >= {MIN_EEG_RATE:g} Hz")
    for s in numeric:
        if s is not rec.eeg:
            why = ("another EEG stream (the one with the most channels is used)" if s.type.strip().lower() == "eeg"
                   else "not used by replay")
            notes.append(f"stream {s.describe()}: {why}")
    if rec.eeg is None:
        notes.append(f"{rec.path.name}: no EEG stream (no non-empty numeric stream of type 'EEG' or at >= "
                     f"{MIN_EEG_RATE:g} Hz)")
