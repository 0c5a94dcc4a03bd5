"""A calibration session read back from an XDF recording: calibrate a real subject from a recorded protocol.

Labs usually run the stimulus protocol in their own presentation software (PsychoPy, Presentation, ...) and record
the headset and the protocol's markers with LabRecorder or ``affectstream run --record``. Such a recording is a
calibration session when its marker stream follows the protocol's vocabulary (:mod:`.protocol`):

* ``baseline_open_start`` (or ``baseline_start``) ... ``baseline_end`` -- the resting baseline;
* ``block_start/<stimulus>`` and ``block_end/<stimulus>`` -- one stimulus block;
* ``sam/<stimulus>/v=<1-9>/a=<1-9>`` -- the self-assessment after it.

The last ``heldout_blocks`` rated blocks score the result, as in the live protocol. When the file has a
GroundTruth stream (a simulated session), it is used for the scores too. Every refusal names what is missing.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from affectstream.calibration.protocol import Block, CalibrationConfig, CalibrationSession, signal_check
from affectstream.core.montage import NAME_THEM
from affectstream.pipelines.config import MontageConfig
from affectstream.pipelines.eeg.montage_input import stream_labels

__all__ = ["CalibrationRecordingError", "session_from_recording"]

_SAM = re.compile(r"^sam/(?P<stim>[^/]+)/v=(?P<v>[1-9])/a=(?P<a>[1-9])$")


class CalibrationRecordingError(ValueError):
    """A recording that is not a usable calibration session (one line naming what is missing)."""


def session_from_recording(path: str | Path, subject: str, *, heldout_blocks: int = CalibrationConfig.heldout_blocks,
                           check_s: float = CalibrationConfig.check_s, montage: MontageConfig = MontageConfig()
                           ) -> CalibrationSession:
    """Read a recorded calibration session (see the module docstring).

    Parameters
    ----------
    path : path
        The XDF file.
    subject : str
        Whose session it is (the profile's name).
    heldout_blocks : int
        Rated blocks, counted from the end, kept for scoring.
    check_s : float
        Seconds from the start of the EEG used for the signal check.
    montage : MontageConfig
        Names for the EEG channels when the file's own are missing or wrong (``--channels`` / ``--montage``).
    """
    from affectstream.core.xdf_reader import load_recording

    path = Path(path)
    rec = load_recording(path, select_video=False)
    if rec.eeg is None or rec.eeg.n_samples == 0:
        raise CalibrationRecordingError(f"{path.name} has no EEG stream with samples")
    eeg = rec.eeg
    declared = tuple(eeg.labels) if eeg.labels and any(lab.strip() for lab in eeg.labels) else None
    try:
        names = stream_labels(declared, eeg.channel_count, montage)
    except ValueError as exc:
        raise CalibrationRecordingError(f"{path.name}: {exc}") from None
    if names is None or len(names) != eeg.channel_count:
        raise CalibrationRecordingError(f"{path.name}: the EEG stream {eeg.name!r} has no channel labels: {NAME_THEM}")
    t0 = float(eeg.timestamps[0])
    events = [(t - t0, text) for t, text, _ in rec.marker_events()]
    starts = {m: t for t, m in events if m in ("baseline_open_start", "baseline_start")}
    ends = [t for t, m in events if m == "baseline_end"]
    if not starts or not ends:
        raise CalibrationRecordingError(f"{path.name}: no baseline markers (baseline_open_start or baseline_start, "
                                        "then baseline_end)")
    open_start = {}
    blocks_raw = []
    ratings = {}
    for t, m in events:
        kind, _, stim = m.partition("/")
        if kind == "block_start":
            open_start[stim] = t
        elif kind == "block_end" and stim in open_start:
            blocks_raw.append((open_start.pop(stim), t, stim))
        elif (match := _SAM.match(m)) is not None:
            ratings[match["stim"]] = (int(match["v"]), int(match["a"]))
    rated = [(s, e, stim) for s, e, stim in sorted(blocks_raw) if stim in ratings]
    if len(rated) < heldout_blocks + 4:
        raise CalibrationRecordingError(f"{path.name}: {len(rated)} rated blocks (block_start/..., block_end/... and "
                                        f"sam/<stimulus>/v=<1-9>/a=<1-9> markers); at least {heldout_blocks + 4} "
                                        f"are needed ({heldout_blocks} held out for scoring)")
    blocks = [Block(k, stim, s, e, *ratings[stim], k >= len(rated) - heldout_blocks)
              for k, (s, e, stim) in enumerate(rated)]
    truth = None
    if rec.ground_truth:
        gt = rec.ground_truth[0]
        values = np.asarray(gt.data, dtype=np.float64)[:, :2]
        truth = np.column_stack([np.interp(eeg.timestamps, gt.timestamps, values[:, i]) for i in range(2)])
    session = CalibrationSession(subject, np.asarray(eeg.data, dtype=np.float32), float(eeg.srate), names,
                                 eeg.timestamps - t0, (min(starts.values()), max(ends)), blocks,
                                 [(t, m) for t, m in events], eeg.synthetic,
                                 None if truth is None else truth.astype(np.float32))
    session.bad_channels = signal_check(session.eeg, session.sfreq, session.ch_names, check_s)
    return session
