"""Re-publish a recording as LSL outlets, for the dashboard or any LSL tool (``affectstream replay --publish``).

Every non-empty stream of the file becomes an outlet with its recorded name, type, channels and ``desc`` (a
``replayed_from`` field added), paced at a chosen speed; the timestamps keep their recorded spacing.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from pathlib import Path

import numpy as np

from affectstream.core.xdf_reader import load_recording
from affectstream.core.xdf_recording import XDFRecording, XDFStream
from affectstream.pipelines.engine import StreamFormatError

log = logging.getLogger(__name__)

_LSL_DTYPE = {"double64": "float64"}


def _desc_into(element, value) -> None:
    """Append a plain desc value (dict / list / scalar) under an LSL XML element."""
    for key, item in value.items():
        for v in (item if isinstance(item, list) else [item]):
            if isinstance(v, dict):
                _desc_into(element.append_child(str(key)), v)
            else:
                element.append_child_value(str(key), "" if v is None else str(v))


def _stream_info(s: XDFStream, source_prefix: str | None):
    from mne_lsl.lsl import StreamInfo

    source_id = s.source_id or f"{s.name}-{s.stream_id}"
    if source_prefix:
        source_id = f"{source_prefix}-{source_id}"
    info = StreamInfo(s.name, s.type, s.channel_count, s.srate, _LSL_DTYPE.get(s.channel_format, s.channel_format),
                      source_id)
    if s.labels is not None:
        info.set_channel_names([lab or f"ch{i}" for i, lab in enumerate(s.labels)])
    if s.types is not None:
        info.set_channel_types([t or "misc" for t in s.types])
    if s.units is not None:
        info.set_channel_units([u or "none" for u in s.units])
    extra = {k: v for k, v in s.desc.items() if not (k == "channels" and isinstance(v, dict))}
    _desc_into(info.desc, extra)
    info.desc.append_child_value("replayed_from", "xdf")
    return info


def publish_recording(path: str | Path, speed: float = 1.0, *, loop: bool = False, source_prefix: str | None = None,
                      stop: threading.Event | None = None, duration: float | None = None,
                      wait_for_consumers: float = 0.0, linger_s: float = 1.0,
                      recording: XDFRecording | None = None) -> dict[str, int]:
    """Re-publish every non-empty stream of an XDF file as an LSL outlet, paced at ``speed`` x real time.

    Each sample keeps its recorded timestamp shifted by one constant (now minus the recording's first timestamp),
    so at 1x the stamps follow the LSL clock and the streams stay aligned with one another; at other speeds the
    samples arrive faster or slower but keep their recorded spacing (the nominal rates stay true).

    Parameters
    ----------
    path : str | Path
        The XDF file.
    speed : float
        Real-time factor (> 0).
    loop : bool
        Start again from the beginning at the end (the shift grows by the recording's length each time).
    source_prefix : str | None
        Prefix every ``source_id`` (so a replayed device is not mistaken for the live one); default: unchanged.
    stop : threading.Event | None
        Set it to stop.
    duration : float | None
        Wall seconds to publish (None: to the end, or forever with ``loop``).
    wait_for_consumers : float
        Wait up to this many seconds for a consumer of the EEG outlet before starting the clock.
    linger_s : float
        Keep the outlets open this long after the last sample, so consumers receive the tail before the streams
        disappear.

    Returns
    -------
    dict
        Stream name -> samples pushed.
    """
    from mne_lsl.lsl import StreamOutlet

    if not (math.isfinite(speed) and speed > 0):
        raise ValueError(f"speed must be a positive number, got {speed}")
    rec = recording if recording is not None else load_recording(path)
    streams = [s for s in rec.streams if s.n_samples > 0]
    if not streams:
        raise StreamFormatError(f"{Path(path).name} has no stream with samples to publish")
    for note in rec.notes:
        log.info("%s", note)
    outlets = {s.stream_id: StreamOutlet(_stream_info(s, source_prefix),
                                         chunk_size=1 if s.is_string or not s.srate or s.channel_count > 4096 else 8)
               for s in streams}
    if wait_for_consumers > 0 and rec.eeg is not None and rec.eeg.stream_id in outlets:
        outlets[rec.eeg.stream_id].wait_for_consumers(timeout=wait_for_consumers)
    try:
        return _pace(streams, outlets, speed, loop=loop, stop=stop, duration=duration, linger_s=linger_s)
    finally:
        outlets.clear()


def _pace(streams: list[XDFStream], outlets: dict, speed: float, *, loop: bool, stop: threading.Event | None,
          duration: float | None, linger_s: float) -> dict[str, int]:
    """Push each stream's samples when they are due at ``speed``; returns stream name -> samples pushed."""
    from mne_lsl.lsl import local_clock

    t_first = min(float(s.timestamps[0]) for s in streams)
    t_last = max(float(s.timestamps[-1]) for s in streams)
    envelope = {s.stream_id: np.maximum.accumulate(s.timestamps) for s in streams}  # robust to clock resets
    pushed = {s.name: 0 for s in streams}
    wall0 = local_clock()
    shift = wall0 - t_first
    pos = {s.stream_id: 0 for s in streams}
    while not (stop is not None and stop.is_set()):
        now = local_clock()
        if duration is not None and now - wall0 >= duration:
            break
        t_rec = t_first + (now - wall0) * speed - (shift - (wall0 - t_first))
        for s in streams:
            i0 = pos[s.stream_id]
            i1 = int(np.searchsorted(envelope[s.stream_id], t_rec, side="right"))
            if i1 <= i0:
                continue
            _push(outlets[s.stream_id], s, i0, i1, shift)
            pushed[s.name] += i1 - i0
            pos[s.stream_id] = i1
        if all(pos[s.stream_id] >= s.n_samples for s in streams):
            if not loop:
                if stop is not None:
                    stop.wait(linger_s)
                else:
                    time.sleep(linger_s)
                break
            shift += (t_last - t_first) + 1.0 / max(max(s.srate for s in streams), 1.0)
            pos = {s.stream_id: 0 for s in streams}
        time.sleep(0.005)
    return pushed


def _push(outlet, s: XDFStream, i0: int, i1: int, shift: float) -> None:
    """Push samples ``i0:i1`` of ``s``, their stamps shifted by ``shift``."""
    ts = s.timestamps[i0:i1] + shift
    if s.is_string:
        for row, t in zip(s.data[i0:i1], ts):
            outlet.push_sample([str(v) for v in row], timestamp=float(t))
    elif i1 - i0 == 1 or s.channel_count > 4096:
        for k in range(i0, i1):
            outlet.push_sample(np.ascontiguousarray(s.data[k]), timestamp=float(ts[k - i0]))
    else:
        outlet.push_chunk(np.ascontiguousarray(s.data[i0:i1]), timestamp=ts)
