"""MAHNOB-HCI (HCI-Tagging) emotion sessions as distributed (docs/methods.md §7.1, §2.1).

Layout::

    <root>/Sessions/<sessionId>/             sessionId = integer folder name, e.g. 2 ... 3810
        session.xml                          <session feltVlnc= feltArsl= ... mediaFile= ...>
                                               <subject id="N"/> <track type="Physiological" filename="...bdf"/>
                                               <track type="Video" filename="...avi"><annotation type="Gaze" .../>
        Part_<subj>_<N|S>_Trial<k>_emotion.bdf  BioSemi BDF, 256 Hz, 47 channels: 32 EEG, EXG1-8, GSR1-2, Erg1-2,
                                               Resp, Temp, Status
        *.avi                                frontal colour camera (C1) and other cameras
        P<subj>-Rec1-All-Data-New_Section_<k>.tsv  eye gaze
    <root>/lable_continous_Mahnob.mat        optional, separate download (Rayatdoost et al.): ``labels`` cell of
                                             1xT valence traces at 4 Hz, ``trials_included`` Nx2 [subject, trial]

``<root>`` may also be the ``Sessions`` folder itself (the label file is then looked for beside it).

Subject / trial numbering follows Zhang et al.'s code (§2.1): ``subject = sessionId // 130 + 1`` and
``trial = sessionId % 130`` (even numbers 2, 4, ..., 40); the BDF's ``Trial<k>`` is ``trial // 2``.  The subject id
in ``session.xml`` is used for :attr:`Trial.subject` (it is checked against the arithmetic and a mismatch is
logged); the continuous-label table is matched with the arithmetic, as the reference code does.

What a :class:`~affectstream.models.datasets.common.Trial` holds here:

- ``eeg``: the first 32 BDF channels (the EEG, in the file's order, labels as in the file), microvolts, the whole
  recording (30 s pre-stimulus + clip + 30 s post) unless ``stimulus_only=True``;
- ``labels``: ``valence``/``arousal``/``control``/``predictability`` (session.xml ``feltVlnc``/``feltArsl``/
  ``feltCtrl``/``feltPred``, integers 1-9) and ``emotion`` (``feltEmo`` keyword code), those present;
- ``continuous``: the valence trace at 4 Hz when the trial is in the continuous set; label ``i`` is placed at
  ``stimulus onset + i / 4`` s on the EEG time axis (onset = first ``Status`` trigger; 30 s when the Status channel
  holds no trigger);
- ``meta``: ``session_id``, the session.xml attributes, ``stimulus_onset_s``/``stimulus_offset_s`` (first two
  Status events, ``mne.find_events(mask=0xFFFF)``), ``bdf_path``, ``gaze_tsv`` and the other channels' labels.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from affectstream.core.montage import MONTAGE_32
from affectstream.models.datasets.common import (
    ContinuousLabels,
    DatasetLayoutError,
    PathArg,
    Trial,
    layout_error,
    list_dir_for_error,
    loadmat_v5,
    subject_filter,
)

__all__ = [
    "MAHNOB_EEG_CHANNELS",
    "MAHNOB_BDF_CHANNELS",
    "MAHNOB_SFREQ",
    "MAHNOB_CONTINUOUS_LABEL_FILE",
    "MAHNOB_CONTINUOUS_RATE",
    "MAHNOB_RATING_ATTRIBUTES",
    "FELT_EMOTION_CODES",
    "describe_mahnob_layout",
    "mahnob_session_subject_trial",
    "read_mahnob_session_xml",
    "read_mahnob_continuous_labels",
    "load_mahnob",
]

log = logging.getLogger(__name__)

#: BioSemi 32-channel labels in MAHNOB/DEAP (Geneva) order, as the BDF names them: the model montage.
MAHNOB_EEG_CHANNELS: tuple[str, ...] = MONTAGE_32
#: All 47 BDF channels: 0-31 EEG, 32-34 EXG1-3 (ECG), 35-45 other peripheral, 46 Status [docs/methods.md §7.1, I].
MAHNOB_BDF_CHANNELS: tuple[str, ...] = (
    *MAHNOB_EEG_CHANNELS,
    "EXG1", "EXG2", "EXG3", "EXG4", "EXG5", "EXG6", "EXG7", "EXG8",
    "GSR1", "GSR2", "Erg1", "Erg2", "Resp", "Temp", "Status",
)
MAHNOB_SFREQ = 256.0
MAHNOB_CONTINUOUS_LABEL_FILE = "lable_continous_Mahnob.mat"  # sic, as distributed
MAHNOB_CONTINUOUS_RATE = 4.0
#: session.xml attribute -> label name in :attr:`Trial.labels` (all 1-9 integers).
MAHNOB_RATING_ATTRIBUTES: dict[str, str] = {
    "feltVlnc": "valence", "feltArsl": "arousal", "feltCtrl": "control", "feltPred": "predictability",
}
#: ``feltEmo`` keyword codes [docs/methods.md §7.1].
FELT_EMOTION_CODES: dict[int, str] = {
    0: "neutral", 1: "anger", 2: "disgust", 3: "fear", 4: "joy", 5: "sadness", 6: "surprise",
    11: "amusement", 12: "anxiety",
}
_N_EEG = 32
_ASSUMED_PRESTIM_S = 30.0
_BDF_RE = re.compile(r"^Part_(\d+)_[A-Za-z]+_Trial(\d+)_emotion\.bdf$")


def describe_mahnob_layout() -> str:
    return (
        "<root>/Sessions/<sessionId>/session.xml (root element <session> with feltVlnc/feltArsl/... attributes and "
        "a <subject id=...> child) and a Part_<subj>_<N|S>_Trial<k>_emotion.bdf beside it (BioSemi BDF, 256 Hz, "
        f"32 EEG + peripheral + Status); optional <root>/{MAHNOB_CONTINUOUS_LABEL_FILE} with 'labels' (cell of "
        "1xT valence traces) and 'trials_included' (Nx2 [subject, trial])"
    )


def mahnob_session_subject_trial(session_id: int) -> tuple[int, int]:
    """``(subject, trial)`` of a ``Sessions/<id>`` folder, as in Zhang et al.'s code: ``(id // 130 + 1, id % 130)``."""
    return session_id // 130 + 1, session_id % 130


def _find_sessions_dir(root: Path) -> Path:
    if (root / "Sessions").is_dir():
        return root / "Sessions"
    if root.is_dir() and any(p.is_dir() and p.name.isdigit() and (p / "session.xml").is_file()
                             for p in root.iterdir()):
        return root
    raise layout_error(describe_mahnob_layout(), list_dir_for_error(root))


def read_mahnob_session_xml(path: PathArg) -> dict:
    """Parse one ``session.xml``.

    Returns
    -------
    dict
        ``attrs`` (root attributes, strings), ``subject`` (int or None, from ``<subject id>``),
        ``tracks`` (list of dicts: the ``<track>`` attributes plus ``annotations``, a list of attribute dicts).
    """
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise DatasetLayoutError(f"{path}: not valid XML ({e}); expected {describe_mahnob_layout()}") from None
    if root.tag != "session":
        raise layout_error(describe_mahnob_layout(), f"{path} has root element <{root.tag}>")
    subj = root.find("subject")
    subject = None
    if subj is not None and subj.get("id", "").strip().isdigit():
        subject = int(subj.get("id"))
    tracks = []
    for tr in root.findall("track"):
        d = dict(tr.attrib)
        d["annotations"] = [dict(a.attrib) for a in tr.findall("annotation")]
        tracks.append(d)
    return {"attrs": dict(root.attrib), "subject": subject, "tracks": tracks}


def _track_file(track: dict) -> str | None:
    # The files seen in the wild spell the attribute "filename"; accept other casings.
    for k, v in track.items():
        if k.lower() == "filename" and isinstance(v, str):
            return v
    return None


def read_mahnob_continuous_labels(path: PathArg) -> dict[tuple[int, int], np.ndarray]:
    """Read ``lable_continous_Mahnob.mat``: ``{(subject, trial): (T,) float32 valence at 4 Hz}``.

    ``labels`` is a cell of 1xT (or Tx1) traces, ``trials_included`` an Nx2 array of [subject, trial] in the same
    order (239 rows in the real file).
    """
    path = Path(path)
    m = loadmat_v5(path)
    if "labels" not in m or "trials_included" not in m:
        raise layout_error(
            describe_mahnob_layout(), f"{path} holds {sorted(k for k in m if not k.startswith('__'))}"
        )
    cells = np.asarray(m["labels"]).ravel()
    table = np.asarray(m["trials_included"])
    if table.ndim != 2 or table.shape[1] != 2 or table.shape[0] != cells.size:
        raise layout_error(
            describe_mahnob_layout(),
            f"{path}: 'trials_included' {table.shape} does not pair with {cells.size} 'labels' cells",
        )
    out: dict[tuple[int, int], np.ndarray] = {}
    for (subject, trial), trace in zip(table.astype(np.int64).tolist(), cells):
        out[(int(subject), int(trial))] = np.asarray(trace, dtype=np.float32).ravel()
    return out


def _find_continuous_file(root: Path, sessions_dir: Path) -> Path | None:
    for cand in (root / MAHNOB_CONTINUOUS_LABEL_FILE, sessions_dir.parent / MAHNOB_CONTINUOUS_LABEL_FILE):
        if cand.is_file():
            return cand
    return None


def _pick_bdf(folder: Path, tracks: list[dict]) -> Path | None:
    for tr in tracks:
        if tr.get("type", "").lower() == "physiological":
            name = _track_file(tr)
            if name and (folder / name).is_file():
                return folder / name
    cands = sorted(p for p in folder.glob("*_emotion.bdf"))
    if not cands:
        cands = sorted(folder.glob("*.bdf"))
    return cands[0] if cands else None


def _pick_video(folder: Path, tracks: list[dict]) -> Path | None:
    videos = []
    for tr in tracks:
        if tr.get("type", "").lower() == "video":
            name = _track_file(tr)
            if name and (folder / name).is_file():
                videos.append(folder / name)
    if not videos:
        videos = sorted(folder.glob("*.avi"))
    for v in videos:  # C1 = frontal colour camera (780x580, 60 fps)
        if re.search(r"(^|[_ ])C1([_ ]|$)", v.stem):
            return v
    return videos[0] if videos else None


def _pick_gaze(folder: Path, tracks: list[dict]) -> Path | None:
    for tr in tracks:
        for ann in tr.get("annotations", []):
            if ann.get("type", "").lower() == "gaze":
                name = _track_file(ann)
                if name and (folder / name).is_file():
                    return folder / name
    cands = sorted(folder.glob("*All-Data*.tsv"))
    return cands[0] if cands else None


def _int_attr(attrs: dict, key: str) -> int | None:
    v = attrs.get(key)
    if v is None or not str(v).strip():
        return None
    try:
        return int(float(v))
    except ValueError:
        return None


def load_mahnob(
    root: PathArg,
    subjects: Iterable[int | str] | int | str | None = None,
    *,
    continuous_labels: PathArg | bool | None = None,
    continuous_only: bool = False,
    stimulus_only: bool = False,
) -> Iterator[Trial]:
    """Iterate over the MAHNOB-HCI emotion sessions, one :class:`Trial` per session with a BDF.

    Parameters
    ----------
    root : path-like
        The folder holding ``Sessions/`` (or ``Sessions/`` itself).
    subjects : int, str or iterable, optional
        Keep only these subject numbers (session.xml ``<subject id>``).
    continuous_labels : path-like, bool or None
        ``None`` (default): use ``<root>/lable_continous_Mahnob.mat`` when present; ``True``: the same file, which
        must exist; a path: that file; ``False``: never attach continuous labels.
    continuous_only : bool
        Yield only the trials of the continuous-label set (the 239 trials of Zhang et al.); needs the label file.
    stimulus_only : bool
        Crop the EEG to [first, second) Status trigger (the clip) instead of the whole recording.

    Returns
    -------
    Iterator[Trial]
        Lazy (a file is read when iteration reaches it); layout errors are raised by the call itself.
        ``dataset="mahnob"``, ``session`` = folder number, ``trial`` = ``sessionId % 130``.

    Raises
    ------
    DatasetLayoutError
        If no ``Sessions/<id>/session.xml`` is found, or ``continuous_only`` is set without a label file.
    """
    root = Path(root)
    sessions_dir = _find_sessions_dir(root)
    keep = subject_filter(subjects)

    cont: dict[tuple[int, int], np.ndarray] = {}
    if continuous_labels is False:
        cont_path = None
    elif continuous_labels is None or continuous_labels is True:
        cont_path = _find_continuous_file(root, sessions_dir)
        if cont_path is None and continuous_labels is True:
            raise layout_error(describe_mahnob_layout(), f"no {MAHNOB_CONTINUOUS_LABEL_FILE} in {root}")
    else:
        cont_path = Path(continuous_labels)
        if not cont_path.is_file():
            raise layout_error(describe_mahnob_layout(), list_dir_for_error(cont_path))
    if cont_path is not None:
        cont = read_mahnob_continuous_labels(cont_path)
    if continuous_only and not cont:
        raise layout_error(
            describe_mahnob_layout() + f" (continuous_only=True needs {MAHNOB_CONTINUOUS_LABEL_FILE})",
            list_dir_for_error(root),
        )

    folders = sorted((p for p in sessions_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
    folders = [p for p in folders if (p / "session.xml").is_file()]
    if not folders:
        raise layout_error(describe_mahnob_layout(), list_dir_for_error(sessions_dir))

    return _iter_mahnob(folders, keep, cont, continuous_only, stimulus_only)


class _BDFRecording(NamedTuple):
    """One session's BDF: channel names, rate, the EEG kept and where the Status triggers fall."""

    names: list[str]
    sfreq: float
    eeg: np.ndarray  #: (32, n) µV, samples [start, stop) of the file
    start: int  #: first sample kept
    onset: int | None  #: first Status trigger (the clip's start), file samples
    offset: int | None  #: second Status trigger (the clip's end)


def _read_bdf(bdf: Path, stimulus_only: bool) -> _BDFRecording:
    """The 32 EEG channels of ``bdf`` in µV, the whole recording or (``stimulus_only``) the clip only."""
    import mne

    raw = mne.io.read_raw_bdf(bdf, preload=False, verbose="error")
    names = list(raw.ch_names)
    if len(names) < _N_EEG:
        raise layout_error(describe_mahnob_layout(), f"{bdf} has only {len(names)} channels")
    if tuple(names[:_N_EEG]) != MAHNOB_EEG_CHANNELS:
        log.warning("%s: first 32 channels %s are not the documented EEG labels", bdf, names[:_N_EEG])
    onset = offset = None
    if "Status" in names:
        events = mne.find_events(raw, stim_channel="Status", mask=0xFFFF, initial_event=False,
                                 shortest_event=1, verbose="error")
        if len(events) >= 1:
            onset = int(events[0, 0])
        if len(events) >= 2:
            offset = int(events[1, 0])
    start, stop = 0, raw.n_times
    if stimulus_only:
        if onset is None or offset is None:
            raise DatasetLayoutError(f"{bdf}: stimulus_only needs two Status triggers (onset, offset)")
        start, stop = onset, offset
    eeg = raw.get_data(picks=list(range(_N_EEG)), start=start, stop=stop, units="uV").astype(np.float32)
    return _BDFRecording(names, float(raw.info["sfreq"]), eeg, start, onset, offset)


def _ratings(attrs: dict) -> tuple[dict[str, int], int | None]:
    """The session's self-assessment labels and its felt-emotion code (None when not rated)."""
    labels: dict[str, int] = {}
    for attr, name in MAHNOB_RATING_ATTRIBUTES.items():
        v = _int_attr(attrs, attr)
        if v is not None:
            labels[name] = v
    emo = _int_attr(attrs, "feltEmo")
    if emo is not None:
        labels["emotion"] = emo
    return labels, emo


def _iter_mahnob(
    folders: list[Path],
    keep: frozenset[int] | None,
    cont: dict[tuple[int, int], np.ndarray],
    continuous_only: bool,
    stimulus_only: bool,
) -> Iterator[Trial]:
    for folder in folders:
        session_id = int(folder.name)
        arith_subject, trial = mahnob_session_subject_trial(session_id)
        info = read_mahnob_session_xml(folder / "session.xml")
        attrs = info["attrs"]
        subject = info["subject"] if info["subject"] is not None else arith_subject
        if subject != arith_subject:
            log.warning("MAHNOB session %d: session.xml subject %d but sessionId//130+1 = %d",
                        session_id, subject, arith_subject)
        if keep is not None and subject not in keep:
            continue
        trace = cont.get((arith_subject, trial))
        if continuous_only and trace is None:
            continue
        bdf = _pick_bdf(folder, info["tracks"])
        if bdf is None:
            log.info("MAHNOB session %d has no BDF; skipped", session_id)
            continue
        rec = _read_bdf(bdf, stimulus_only)
        start, onset, offset, sfreq = rec.start, rec.onset, rec.offset, rec.sfreq
        labels, emo = _ratings(attrs)
        continuous = None
        if trace is not None:
            onset_s = onset / sfreq if onset is not None else _ASSUMED_PRESTIM_S
            t = (onset_s - start / sfreq) + np.arange(trace.size) / MAHNOB_CONTINUOUS_RATE
            continuous = ContinuousLabels("valence", t.astype(np.float64), trace, MAHNOB_CONTINUOUS_RATE)
        gaze = _pick_gaze(folder, info["tracks"])
        m = _BDF_RE.match(bdf.name)
        yield Trial(
            dataset="mahnob",
            subject=int(subject),
            trial=int(trial),
            eeg=rec.eeg,
            sfreq=sfreq,
            ch_names=tuple(rec.names[:_N_EEG]),
            labels=labels,
            continuous=continuous,
            session=session_id,
            video_path=_pick_video(folder, info["tracks"]),
            meta={
                "session_id": session_id,
                "session_attrs": attrs,
                "bdf_path": bdf,
                "bdf_trial": int(m.group(2)) if m else None,
                "gaze_tsv": gaze,
                "other_channels": tuple(rec.names[_N_EEG:]),
                "stimulus_onset_s": None if onset is None else (onset - start) / sfreq,
                "stimulus_offset_s": None if offset is None else (offset - start) / sfreq,
                "onset_assumed": onset is None,
                "media_file": attrs.get("mediaFile"),
                "emotion_name": FELT_EMOTION_CODES.get(emo) if emo is not None else None,
                "in_continuous_set": trace is not None,
                "cropped_to_stimulus": stimulus_only,
            },
        )
