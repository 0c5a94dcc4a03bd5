"""The status bar: each stream's state and rates, the headset's electrodes (the tooltip says how they meet the model
montage), dropped samples, backlog, latency, clock offset, estimator,
recording, a SIMULATED badge whenever the input declares itself synthetic, and a warning that the LSL outlets can be
reached from the network (liblsl opens their ports on every interface; the tooltip says what the configuration allows).

Text is rebuilt at most 5 times a second (numbers that change every poll are unreadable faster), but a change of
stream *state* (live -> stalled -> lost) is shown on the next frame.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from affectstream.app.dashboard import theme
from affectstream.app.dashboard.flow_layout import FlowBox
from affectstream.app.dashboard.model import History, Snapshot, StreamView
from affectstream.pipelines.sources.lsl import lsl_exposure


def _rate(x: float, unit: str = "Hz") -> str:
    return f"{x:.1f} {unit}" if math.isfinite(x) else "–"


def _ms(x: float, digits: int = 1) -> str:
    return f"{1e3 * x:.{digits}f} ms" if math.isfinite(x) else "–"


def dot(state: str) -> str:
    return f"<span style='color:{theme.STATE.get(state, theme.MUTED)}'>●</span>"


def stream_text(view: StreamView, short: str, about: str = "") -> str:
    """One stream's state and rates: a coloured dot, the state word unless live, nominal / measured rate; for the
    EEG then ``about`` (its electrodes) and its name and host, last because they are the longest and matter least
    (the label is cut at its right end when the bar is narrow)."""
    state = "" if view.state == "live" else \
        f" <span style='color:{theme.STATE.get(view.state, theme.MUTED)}'>{view.state}</span>"
    unit = "fps" if view.kind == "Video" else "Hz"
    if view.kind == "Markers":
        return f"{dot(view.state)} {short}{state} <span style='color:{theme.MUTED}'>{view.samples}</span>"
    rates = ""
    if view.samples:
        nominal = f"{view.nominal_rate:g}" if math.isfinite(view.nominal_rate) else "?"
        rates = f" {nominal} / {_rate(view.measured_rate, unit)}"
    if view.kind == "EEG":
        host = f" @ {view.host}" if view.host else ""
        about = f"{about} · " if about else ""
        return f"{dot(view.state)} <b>{short}</b>{state}{rates} <span style='color:{theme.MUTED}'>· {about}" \
               f"{view.name}{host}</span>"
    return f"{dot(view.state)} {short}{state}{rates}" + (f" <span style='color:{theme.MUTED}'>· {about}</span>"
                                                         if about else "")


def face_path_text(snap: Snapshot) -> str:
    """``lag 23 ms · 148 dropped``: how old the face path's newest result's frame was when the result was ready
    (hops count a result older than half a second as no face), and the frames it skipped to stay on the newest one;
    empty before its first result."""
    if not math.isfinite(snap.video_lag_s):
        return ""
    return f"lag {snap.video_lag_s * 1e3:.0f} ms · {snap.video_dropped} dropped"


def estimator_text(snap: Snapshot) -> str:
    """``EEG model student · synthetic``: the estimator and what its model was trained on, in the warning colour
    when the model is not validated on this input."""
    if not snap.estimator:
        return ""
    trained = f" · {snap.eeg_model_trained_on}" if snap.eeg_model_trained_on else ""
    colour = theme.WARN if snap.model_warning else theme.FG
    return f"<span style='color:{theme.MUTED}'>EEG model</span> <b style='color:{colour}'>{snap.estimator}</b>" \
           f"<span style='color:{colour}'>{trained}{' ⚠' if snap.model_warning else ''}</span>"


class StatusPanel(QtCore.QObject):
    """Owns the labels it adds to a ``QStatusBar``."""

    def __init__(self, bar: QtWidgets.QStatusBar, interval_s: float = 0.2) -> None:
        super().__init__(bar)
        self.bar = bar
        self.interval_s = interval_s
        self._next = 0.0
        self._states: tuple = ()
        self.eeg = self._label()
        self.others = self._label()
        self.counters = self._label()
        self.estimator = self._label()
        self.rec = QtWidgets.QLabel("")
        self.rec.setObjectName("rec")
        self.rec.setVisible(False)
        self.replay = QtWidgets.QLabel("")
        self.replay.setObjectName("replay")
        self.replay.setVisible(False)
        self.badge = QtWidgets.QLabel("SIMULATED")
        self.badge.setObjectName("badge")
        self.badge.setToolTip("The input stream declares itself synthetic (simulator): no real person is measured")
        self.badge.setVisible(False)
        # who can reach this window's outlets (Affect, markers): liblsl opens their ports on every interface
        exposure = lsl_exposure()
        self.lsl = QtWidgets.QLabel(f"⚠ {exposure.label}")
        self.lsl.setObjectName("warning")
        self.lsl.setToolTip(exposure.detail)
        # One container whose texts wrap onto a second line where the window is narrow, instead of being cut off
        # at its right edge (issue 22, item 5); it asks the status bar for the height that needs.
        self.box = FlowBox()
        for name, label in (("eeg", self.eeg), ("others", self.others), ("counters", self.counters),
                            ("estimator", self.estimator), ("rec", self.rec), ("replay", self.replay),
                            ("badge", self.badge), ("lsl", self.lsl)):
            if not label.objectName():
                label.setObjectName(name)
            self.box.add(label)
        bar.addWidget(self.box, 1)
        bar.setSizeGripEnabled(False)
        self.eeg.setText(f"{dot('idle')} <b>EEG</b> not connected")

    @staticmethod
    def _label() -> QtWidgets.QLabel:
        label = QtWidgets.QLabel("")
        label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        return label

    @staticmethod
    def _set(label: QtWidgets.QLabel, text: str) -> None:
        if label.text() != text:
            label.setText(text)

    def refresh(self, history: History, force: bool = False) -> bool:
        snap: Snapshot = history.snapshot
        states = ((snap.state, snap.synthetic, snap.recording, snap.transport is not None)
                  + tuple((k, v.state) for k, v in snap.streams.items()))
        now = time.monotonic()
        if not force and states == self._states and now < self._next:
            return False
        self._states = states
        self._next = now + self.interval_s
        eeg = snap.streams.get("EEG")
        if snap.state == "error":
            first = (snap.error.strip().splitlines() or ["error"])[0]
            short = first if len(first) <= 60 else first[:57] + "…"
            self._set(self.eeg, f"{dot('error')} <b>EEG</b> <span style='color:{theme.BAD}'>{short}</span>")
            self.eeg.setToolTip(snap.error)
        elif eeg is not None:
            # what the headset measures ("4 electrodes, 32/32 interpolated"); how, channel by channel, in the tooltip
            self._set(self.eeg, stream_text(eeg, "EEG", snap.headset.summary))
            host = f" @ {eeg.host}" if eeg.host else ""
            self.eeg.setToolTip(f"{eeg.name}{host}\n{snap.mapping}" if snap.mapping else f"{eeg.name}{host}")
        elif snap.state == "idle":
            self._set(self.eeg, f"{dot('idle')} <b>EEG</b> not connected · pick a stream and press Start")
        else:
            self._set(self.eeg, f"{dot(snap.state)} <b>EEG</b> {snap.state}")
        short = {"Video": "Video", "Markers": "Markers", "GroundTruth": "Truth"}
        self._set(self.others, "&nbsp;&nbsp;".join(
            stream_text(v, short[k], face_path_text(snap) if k == "Video" else "")
            for k, v in snap.streams.items() if k != "EEG"))
        if snap.state in ("running", "lost", "stopped") and eeg is not None and eeg.samples:
            p50, p95 = history.latency_stats()
            lat = f"{p50:.1f} / {p95:.0f} ms" if math.isfinite(p50) else "–"
            gaps_colour = theme.BAD if snap.counter_gaps else theme.FG
            m = theme.MUTED
            self._set(self.counters,
                      f"<span style='color:{m}'>dropped</span> "
                      f"<span style='color:{gaps_colour}'>{snap.counter_gaps}</span>"
                      f"<span style='color:{m}'> · skipped</span> {snap.skipped_hops}"
                      f"<span style='color:{m}'> · backlog</span> {_ms(snap.backlog_s, 0)}"
                      f"<span style='color:{m}'> · latency</span> {lat}"
                      f"<span style='color:{m}'> · offset</span> {_ms(snap.clock_offset_s, 2)}")
            latency = "processing time per hop, as replay measures it" if snap.transport is not None else \
                "chunk received -> estimate pushed"
            self.counters.setToolTip("dropped: samples missing by the stream's counter channel · skipped: hops "
                                     "dropped to stay current · backlog: LSL clock minus the newest sample's time · "
                                     f"latency: hop latency p50 / p95 over the last 40 hops ({latency}) · offset: "
                                     "LSL clock offset to the EEG source")
        else:
            self._set(self.counters, "")
        self._set(self.estimator, estimator_text(snap))
        self.estimator.setToolTip(snap.model_warning)
        self.badge.setVisible(snap.synthetic)
        if snap.recording:
            self.rec.setVisible(True)
            self._set(self.rec, f"● REC {snap.recorded_hops} hops")
            self.rec.setToolTip(snap.recording)
        else:
            self.rec.setVisible(False)
        self.replay.setVisible(snap.transport is not None)  # a replay is never mistaken for a live session
        if snap.transport is not None:
            self._set(self.replay, f"REPLAY {Path(snap.transport.path).name}")
            self.replay.setToolTip(snap.transport.path)
        self.box.refit()
        return True
