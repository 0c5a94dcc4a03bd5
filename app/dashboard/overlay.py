"""The line over the traces that says what the session is doing: connecting, lost, stalled, paused, confidence.

A pure function of the snapshot, so the window only sets the text it returns.
"""

from __future__ import annotations

import numpy as np

from affectstream.app.dashboard import theme
from affectstream.app.dashboard.model import COL, History


def overlay_text(history: History, connecting_to: str) -> str:
    """The overlay's rich text for the session state in ``history`` (``connecting_to``: the streams' description).

    An error shows its first line (the window puts the whole message in the tooltip).
    """
    snap = history.snapshot
    eeg = snap.streams.get("EEG")
    if snap.state == "error":
        first = snap.error.strip().splitlines()[0] if snap.error else "error"
        return f"<span style='color:{theme.BAD}'>{first}</span>"
    if snap.state == "connecting":
        return f"connecting to {connecting_to} … (loading models)"
    if snap.state == "lost":
        return f"<span style='color:{theme.BAD}'>EEG stream lost — press Reconnect</span>"
    if snap.state != "running":
        return ""
    if eeg and eeg.state in ("lost", "reconnecting"):
        return f"<span style='color:{theme.BAD if eeg.state == 'lost' else theme.WARN}'>EEG stream " + \
               ("lost — re-attached when it returns (hops go on without it)" if eeg.state == "lost" else
                "is back — reconnecting") + "</span>"
    if eeg and eeg.state == "stalled":
        return f"<span style='color:{theme.WARN}'>EEG stream stalled — no data for {eeg.detail.split(' ')[0]} s</span>"
    if snap.transport is not None and not snap.transport.playing:
        from affectstream.app.dashboard.replay_bar import clock_text

        where = clock_text(snap.transport.position_s)
        return "end of the recording — ▶ Play starts it again" if snap.transport.ended else \
            f"paused at {where} — ▶ Play (Space) resumes"
    return _fusion_status(history) if history.hops.n else ""


def _fusion_status(history: History) -> str:
    conf = history.hops.view[-1][COL["confidence"]]
    return f"<span style='color:{theme.MUTED}'>confidence</span> {conf:.2f}" if np.isfinite(conf) else ""
