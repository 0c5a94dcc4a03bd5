"""The project's own XDF recordings with calibration labels, as trials for the trainer.

Layout
------
A folder of ``sub-<id>_ses-<n>_task-<name>[_<timestamp>].xdf`` files (the names :mod:`affectstream.core.xdf_writer`
gives), or a list of files. Each file must hold:

* one EEG stream (type ``EEG``; channels matched onto the montage by label, as everywhere in the project);
* one label stream: type ``Labels`` (calibration self-reports) or ``GroundTruth`` (the simulator's planted truth),
  with channels named ``valence`` (and optionally ``arousal``), on the recording's clock;
* trial markers ``trial_start/<stimulus>`` and ``trial_end/<stimulus>`` in a ``Markers`` stream (the simulator's and
  the calibration wizard's vocabulary); every start/end pair is one trial;
* optionally a Video stream in the project's format: the frame shown at each label time is kept with the trial
  (``meta["frames"]``), for the visual teacher of the Visual-to-EEG KD method.

Each trial becomes a :class:`~.common.Trial` like MAHNOB-HCI's: EEG from ``margin_s`` before the stimulus onset to
``margin_s`` after its end (so the 2 s analysis windows centred on the first and last labels fit), and
continuous labels at ``label_rate`` (4 Hz) from the onset, linearly interpolated from the label stream, with
times on the trial's EEG axis. ``subject`` is the number in ``sub-<id>`` (``sub-sim03`` -> 3), ``session`` the one in
``ses-<n>``; ``trial`` counts the file's trials from 1. Files whose streams declare ``synthetic=true`` say so in
``meta["synthetic"]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from affectstream.models.datasets.common import ContinuousLabels, DatasetLayoutError, Trial, list_dir_for_error

__all__ = ["describe_xdf_layout", "load_xdf_sessions", "subject_number"]

LABEL_TYPES = ("Labels", "GroundTruth")
_SUBJECT = re.compile(r"sub-([A-Za-z]*)(\d+)")
_SESSION = re.compile(r"_ses-(\d+)")


def describe_xdf_layout() -> str:
    return ("a folder of sub-<id>_ses-<n>_task-<name>*.xdf files, each with an EEG stream, a label stream (type "
            "Labels or GroundTruth, channel 'valence'), and trial_start/... / trial_end/... markers")


def subject_number(path: Path) -> int:
    """The number in the file's ``sub-<id>`` part (``sub-sim03_...`` -> 3)."""
    m = _SUBJECT.search(path.name)
    if m is None:
        raise DatasetLayoutError(f"{path.name}: the name does not start with sub-<id> (expected "
                                 f"{describe_xdf_layout()})")
    return int(m.group(2))


def _files(source: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(source, (str, Path)):
        root = Path(source)
        if root.is_file():
            return [root]
        if not root.is_dir():
            raise DatasetLayoutError(f"{root} does not exist (expected {describe_xdf_layout()})")
        files = sorted(root.glob("sub-*.xdf"))
        if not files:
            raise DatasetLayoutError(f"no sub-*.xdf files in {root} (expected {describe_xdf_layout()}); found "
                                     f"{list_dir_for_error(root)}")
        return files
    return [Path(p) for p in source]


def _label_stream(rec, path: Path):
    candidates = [s for s in rec.streams if s.type in LABEL_TYPES and s.labels and "valence" in s.labels
                  and s.n_samples > 1]
    if not candidates:
        raise DatasetLayoutError(f"{path.name}: no label stream (type {' or '.join(LABEL_TYPES)} with a 'valence' "
                                 "channel and samples)")
    return candidates[0]


def _trial_spans(rec, path: Path) -> list[tuple[float, float, str]]:
    spans, open_ = [], {}
    for t, text, _ in rec.marker_events():
        kind, _, stim = text.partition("/")
        if kind == "trial_start":
            open_[stim] = t
        elif kind == "trial_end" and stim in open_:
            spans.append((open_.pop(stim), t, stim))
    if not spans:
        raise DatasetLayoutError(f"{path.name}: no trial_start/... and trial_end/... marker pairs")
    return sorted(spans)


def _frames_at(rec, times: np.ndarray, size: int) -> np.ndarray | None:
    """The frame shown at each time (the newest at or before it), resized to ``size`` px, uint8 BGR."""
    if rec.video is None or rec.video_format is None:
        return None
    idx = np.clip(np.searchsorted(rec.video.timestamps, times + 1e-6, side="right") - 1, 0, rec.video.n_samples - 1)
    out = np.empty((times.size, size, size, 3), dtype=np.uint8)
    for k, i in enumerate(idx):
        frame = rec.frame(int(i))
        out[k] = frame if frame.shape[:2] == (size, size) else cv2.resize(frame, (size, size),
                                                                          interpolation=cv2.INTER_AREA)
    return out


def load_xdf_sessions(source: str | Path | Iterable[str | Path], *, label_rate: float = 4.0, margin_s: float = 1.0,
                      with_frames: bool = True, frame_size: int = 48,
                      unit: Literal["trial", "session"] = "trial") -> list[Trial]:
    """Every trial of every file (see the module docstring), in file then time order.

    Parameters
    ----------
    source : path or iterable of paths
        A folder (its ``sub-*.xdf`` files) or the files.
    label_rate : float
        Rate of the continuous labels in Hz (4 = the feature frame rate).
    margin_s : float
        EEG kept before the onset and after the end of each trial (half the 2 s window fits the edge labels).
    with_frames : bool
        Keep the frame at each label time when the file has a Video stream (``meta["frames"]``, (T, S, S, 3)).
    frame_size : int
        Frame side in pixels.
    unit : {"trial", "session"}
        One Trial per marked trial, or one per file covering the whole labelled recording (rests included: what a
        live model sees), from ``margin_s`` after the first label to ``margin_s`` before the last.

    Raises
    ------
    DatasetLayoutError
        A path or a file that does not match the layout, with what was expected.
    """
    from affectstream.core.xdf_reader import XDFFormatError, load_recording

    trials: list[Trial] = []
    for path in _files(source):
        subject = subject_number(path)
        session = _SESSION.search(path.name)
        try:
            rec = load_recording(path, select_video=with_frames)
        except XDFFormatError as exc:
            raise DatasetLayoutError(f"{path.name}: {exc}") from None
        if rec.eeg is None or rec.eeg.n_samples == 0:
            raise DatasetLayoutError(f"{path.name}: no EEG stream with samples")
        eeg, labels = rec.eeg, _label_stream(rec, path)
        sfreq = float(eeg.srate)
        names = tuple(lab or f"ch{i}" for i, lab in enumerate(eeg.labels or ()))
        if len(names) != eeg.channel_count:
            raise DatasetLayoutError(f"{path.name}: the EEG stream {eeg.name!r} has no channel labels")
        label_values = np.asarray(labels.data, dtype=np.float64)
        columns = {name: i for i, name in enumerate(labels.labels)}
        if unit == "session":
            spans = [(float(labels.timestamps[0]) + margin_s, float(labels.timestamps[-1]) - margin_s, "session")]
        else:
            spans = _trial_spans(rec, path)
        for k, (start, end, stim) in enumerate(spans, start=1):
            i0 = int(np.searchsorted(eeg.timestamps, start - margin_s))
            i1 = int(np.searchsorted(eeg.timestamps, end + margin_s))
            if i1 - i0 < 2 * sfreq:
                continue  # a trial cut off by the end of the recording
            t_eeg0 = float(eeg.timestamps[i0])
            label_t = start + np.arange(int(np.floor((end - start) * label_rate + 1e-9))) / label_rate
            interp = {name: np.interp(label_t, labels.timestamps, label_values[:, c]).astype(np.float32)
                      for name, c in columns.items() if name in ("valence", "arousal")}
            meta = {"source": str(path), "stimulus": stim, "onset": float(start), "synthetic": eeg.synthetic,
                    "arousal": interp.get("arousal")}
            if with_frames:
                frames = _frames_at(rec, label_t, frame_size)
                if frames is not None:
                    meta["frames"] = frames
            trials.append(Trial(
                dataset="xdf", subject=subject, trial=k, session=int(session.group(1)) if session else None,
                eeg=np.ascontiguousarray(np.asarray(eeg.data[i0:i1], dtype=np.float32).T), sfreq=sfreq,
                ch_names=names, labels={"stimulus": stim},
                continuous=ContinuousLabels("valence", label_t - t_eeg0, interp["valence"], label_rate),
                meta=meta))
    return trials
