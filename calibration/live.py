"""Recording a calibration from a live headset: the EEG stream, the protocol's events, the stimuli shown.

:class:`LiveRecorder` pulls an LSL EEG stream on a background thread and stamps every protocol event on the same
LSL clock (``local_clock``; the inlet's timestamps are clock-synchronised to it), so the blocks line up with the
EEG exactly as in a recording made by LabRecorder. :meth:`LiveRecorder.session` turns what was recorded into the
:class:`~.protocol.CalibrationSession` the fine-tuning reads; the same events become the recording's markers.

Stimuli (:func:`load_stimuli`): the images and film clips of a folder, in name order; or, for a dry run, the built-in
SYNTHETIC set (rendered faces: neutral, positive and negative expressions, labelled as such).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from affectstream.calibration.clips import CLIP_SUFFIXES, Clip, probe_clip
from affectstream.calibration.protocol import Block, CalibrationSession, signal_check

__all__ = ["IMAGE_SUFFIXES", "LiveRecorder", "load_stimuli", "synthetic_stimuli"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def load_stimuli(folder: str | Path) -> list[tuple[str, np.ndarray | Clip]]:
    """``(name, stimulus)`` for every image (a BGR array) and film clip (a probed :class:`~.clips.Clip`) of
    ``folder``, in name order.

    An image OpenCV cannot read is passed over (a folder often holds thumbnails or notes), but a clip that cannot be
    decoded refuses the folder: a clip is a block of its own length, and finding it broken in the middle of a session
    would cost the subject's time.

    Raises
    ------
    ValueError
        The folder does not exist, holds no readable image or clip, or holds a clip that cannot be played (one line
        naming it).
    """
    import cv2

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"no stimulus folder at {folder}")
    out: list[tuple[str, np.ndarray | Clip]] = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        if path.suffix.lower() in CLIP_SUFFIXES:
            out.append((path.stem, probe_clip(path)))
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None:
                out.append((path.stem, image))
    if not out:
        raise ValueError(f"{folder} holds no readable image ({', '.join(IMAGE_SUFFIXES)}) or film clip "
                         f"({', '.join(CLIP_SUFFIXES)})")
    return out


def synthetic_stimuli(n: int) -> list[tuple[str, np.ndarray]]:
    """``n`` SYNTHETIC stimuli for a dry run: rendered faces cycling neutral, positive, negative expressions."""
    from affectstream.pipelines.synthetic.face_render import render_face

    kinds = (("neutral", 0.0, 0.0), ("positive", 0.8, 0.4), ("negative", -0.8, 0.3))
    return [(f"synthetic_{kinds[k % 3][0]}_{k + 1:02d}",
             render_face(kinds[k % 3][1], kinds[k % 3][2], (360, 480), identity=k % 5)) for k in range(n)]


class LiveRecorder:
    """Records an LSL EEG stream and the protocol's events on one clock.

    Parameters
    ----------
    eeg : str
        Name or type of the EEG stream.
    source_id : str | None
        Only the stream with this ``source_id``.
    timeout : float
        Seconds to wait for the stream.
    """

    def __init__(self, eeg: str = "EEG", *, source_id: str | None = None, timeout: float = 10.0) -> None:
        from affectstream.pipelines.sources.lsl import LSLInlet, find_stream

        self.inlet = LSLInlet(find_stream(eeg, source_id=source_id, timeout=timeout))
        self.spec = self.inlet.eeg_spec()
        self.events: list[tuple[float, str]] = []
        self._data: list[np.ndarray] = []
        self._stamps: list[np.ndarray] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pull, daemon=True, name="affectstream-calibration-eeg")
        self._thread.start()

    def _pull(self) -> None:
        while not self._stop.wait(0.02):
            data, stamps = self.inlet.pull()
            if len(stamps):
                with self._lock:
                    self._data.append(data.astype(np.float32))
                    self._stamps.append(stamps)

    def mark(self, label: str, at: float | None = None) -> float:
        """Stamp a protocol event on the LSL clock, now or at ``at`` (an LSL time measured elsewhere, e.g. when a
        clip's first frame was drawn); returns the stamp."""
        from mne_lsl.lsl import local_clock

        t = float(local_clock()) if at is None else float(at)
        self.events.append((t, label))
        return t

    def recorded(self) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            if not self._stamps:
                return np.empty((0, self.spec.n_channels), dtype=np.float32), np.empty(0)
            return np.concatenate(self._data), np.concatenate(self._stamps)

    def channel_check(self, seconds: float = 4.0) -> dict[str, str]:
        """The signal check on the last ``seconds`` of data (label -> reason for every failing channel)."""
        data, _ = self.recorded()
        n = int(round(seconds * self.spec.sfreq))
        if len(data) < n:
            return {}
        return signal_check(data[-n:], self.spec.sfreq, self._labels(), seconds)

    def _labels(self) -> tuple[str, ...]:
        labels = self.spec.labels or tuple(f"ch{i}" for i in range(self.spec.n_channels))
        return tuple(labels)

    def close(self) -> None:
        """Stop pulling and close the inlet (safe to call again)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(2.0)
        self.inlet.close()

    def session(self, subject: str, ratings: dict[str, tuple[int, int]], heldout_blocks: int,
                check_s: float) -> CalibrationSession:
        """The recorded calibration: EEG, baseline, the rated blocks (the last ``heldout_blocks`` held out)."""
        data, stamps = self.recorded()
        if not len(stamps):
            raise ValueError("no EEG was recorded")
        t0 = float(stamps[0])
        events = [(t - t0, m) for t, m in self.events]
        starts = {m.split("/", 1)[1]: t for t, m in events if m.startswith("block_start/")}
        ends = {m.split("/", 1)[1]: t for t, m in events if m.startswith("block_end/")}
        rated = sorted((starts[s], ends[s], s) for s in ratings if s in starts and s in ends)
        blocks = [Block(k, stim, a, b, *ratings[stim], k >= len(rated) - heldout_blocks)
                  for k, (a, b, stim) in enumerate(rated)]
        lo = min(t for t, m in events if m.startswith("baseline_") and m.endswith("_start"))
        hi = max(t for t, m in events if m == "baseline_end")
        markers = events + [(b.end, f"sam/{b.stimulus}/v={b.sam_valence}/a={b.sam_arousal}") for b in blocks]
        session = CalibrationSession(subject, data, float(self.spec.sfreq), self._labels(), stamps - t0, (lo, hi),
                                     blocks, sorted(markers), bool(self.spec.synthetic))
        session.bad_channels = signal_check(data, session.sfreq, session.ch_names, check_s)
        return session
