"""DREAMER (Katsigiannis & Ramzan 2017) as distributed: one ``DREAMER.mat`` (docs/methods.md §7.3).

Layout (MATLAB v5 struct; what ``scipy.io.loadmat`` with its defaults returns)::

    <root>/DREAMER.mat   (or <root> = the file itself)
      DREAMER                       1x1 struct
        .Data                       1x23 cell, each a 1x1 struct:
            .Age .Gender            char
            .EEG  .baseline  18x1 cell of (7808 x 14)   61 s at 128 Hz, samples x channels
                  .stimuli   18x1 cell of (n x 14)      65-393 s clips
            .ECG  .baseline/.stimuli 18x1 cell of (n x 2) at 256 Hz
            .ScoreValence .ScoreArousal .ScoreDominance 18x1 double, integers 1-5
        .EEG_SamplingRate 128  .ECG_SamplingRate 256  .EEG_Electrodes 1x14 cell of char
        .noOfSubjects 23  .noOfVideoSequences 18

    torcheeg's access path: m['DREAMER'][0,0]['Data'][0,s]['EEG'][0,0]['stimuli'][0,0][trial,0]

The file is read once (``loadmat`` cannot read part of a nested struct; about 0.5 GB in memory) and trials are
yielded one at a time.  Shape quirks handled: every MATLAB scalar/struct comes back wrapped in a (1,1) array,
cells may be 18x1 or 1x18, and clips are samples x channels (transposed here to channels x samples).

Units: values are passed through as stored (Emotiv EPOC output, microvolts with the device's ~4200 µV DC offset).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from affectstream.models.datasets.common import (
    DatasetLayoutError,
    PathArg,
    Trial,
    layout_error,
    list_dir_for_error,
    loadmat_v5,
    require_matlab_v5,
    subject_filter,
)

__all__ = [
    "DREAMER_EEG_CHANNELS",
    "DREAMER_SFREQ",
    "DREAMER_SCORE_FIELDS",
    "describe_dreamer_layout",
    "load_dreamer",
]

log = logging.getLogger(__name__)

#: Emotiv EPOC electrodes in DREAMER's column order.
DREAMER_EEG_CHANNELS: tuple[str, ...] = (
    "AF3", "F7", "F3", "FC5", "T7", "P7", "O1", "O2", "P8", "T8", "FC6", "F4", "F8", "AF4",
)
DREAMER_SFREQ = 128.0
#: struct field -> :attr:`Trial.labels` key (1-5 integers).
DREAMER_SCORE_FIELDS: dict[str, str] = {
    "ScoreValence": "valence", "ScoreArousal": "arousal", "ScoreDominance": "dominance",
}


def describe_dreamer_layout() -> str:
    return (
        "<root>/DREAMER.mat holding the struct DREAMER with .Data (1xN cell of structs with .EEG.baseline and "
        ".EEG.stimuli, 18x1 cells of samples x 14 arrays, and .ScoreValence/.ScoreArousal/.ScoreDominance 18x1), "
        ".EEG_SamplingRate and .EEG_Electrodes (1x14 cell)"
    )


def _unwrap(x: Any) -> Any:
    """Strip the (1,1) object/struct wrappers loadmat puts around every MATLAB value."""
    while isinstance(x, np.ndarray) and x.dtype == object and x.size == 1:
        x = x.reshape(-1)[0]
    return x


def _struct_field(s: Any, name: str, where: str) -> Any:
    s = _unwrap(s)
    if isinstance(s, np.ndarray) and s.dtype.names is not None and s.size == 1:
        s = s.reshape(-1)[0]
    if isinstance(s, np.void) and s.dtype.names is not None and name in s.dtype.names:
        return _unwrap(s[name])
    names = s.dtype.names if hasattr(s, "dtype") and s.dtype.names else ()
    raise layout_error(describe_dreamer_layout(), f"{where} has no field {name!r} (fields: {list(names)})")


def _cell_list(x: Any, where: str) -> list[Any]:
    x = _unwrap(x)
    if isinstance(x, np.ndarray) and x.dtype == object:
        if x.ndim == 2 and 1 not in x.shape:
            raise layout_error(describe_dreamer_layout(), f"{where} is a {x.shape} cell, not a vector")
        return list(x.reshape(-1))
    if isinstance(x, np.ndarray) and x.dtype.names is not None:  # struct array, or a 1x1 cell of a struct
        return list(x.reshape(-1))
    if isinstance(x, (np.ndarray, np.void, str)):  # a one-element cell, unwrapped by loadmat / _unwrap
        return [x]
    raise layout_error(describe_dreamer_layout(), f"{where} is {type(x).__name__}, not a cell array")


def _text(x: Any) -> str:
    x = _unwrap(x)
    if isinstance(x, np.ndarray):
        return "".join(str(v) for v in x.reshape(-1))
    return str(x)


def _find_mat(root: Path) -> Path:
    if root.is_file():
        return root
    cand = root / "DREAMER.mat"
    if cand.is_file():
        return cand
    raise layout_error(describe_dreamer_layout(), list_dir_for_error(root))


def _clip(x: Any, n_ch: int, where: str) -> np.ndarray:
    a = np.asarray(_unwrap(x))
    if a.ndim != 2 or a.shape[1] != n_ch:
        raise layout_error(describe_dreamer_layout(), f"{where} has shape {a.shape}, expected (samples, {n_ch})")
    return np.ascontiguousarray(a.T, dtype=np.float32)


def load_dreamer(
    root: PathArg,
    subjects: Iterable[int | str] | int | str | None = None,
    *,
    include_baseline: bool = True,
    squeeze_me: bool = False,
) -> Iterator[Trial]:
    """Iterate over DREAMER trials, one :class:`Trial` per (subject, clip).

    Parameters
    ----------
    root : path-like
        ``DREAMER.mat`` or the folder holding it.
    subjects : int, str or iterable, optional
        1-based subject numbers (position in ``DREAMER.Data``).
    include_baseline : bool
        Attach the clip's 61 s neutral baseline recording as :attr:`Trial.baseline` (14, 7808).
    squeeze_me : bool
        Passed to ``scipy.io.loadmat``.  Both settings give the same trials (the struct walking handles the
        (1,1) wrappers of the default and the collapsed one-element cells of ``squeeze_me=True``); kept so that
        both shape conventions are tested.

    Returns
    -------
    Iterator[Trial]
        Lazy (a file is read when iteration reaches it); layout errors are raised by the call itself.
        ``eeg`` (14, n) float32, ``sfreq`` from ``EEG_SamplingRate`` (128), ``ch_names`` from ``EEG_Electrodes``,
        ``trial`` 1-18, ``labels`` valence/arousal/dominance (ints 1-5), ``meta`` age/gender.
    """
    import scipy.io

    root = Path(root)
    path = _find_mat(root)
    require_matlab_v5(path)
    try:
        names = [name for name, _shape, _cls in scipy.io.whosmat(path)]
    except Exception as e:  # not a MAT file at all
        raise layout_error(describe_dreamer_layout(), f"{path} is not a MATLAB v5 file ({e})") from None
    if "DREAMER" not in names:
        raise layout_error(describe_dreamer_layout(), f"{path} holds variables {names}")
    return _iter_dreamer(path, subject_filter(subjects), include_baseline, squeeze_me)


def _iter_dreamer(path: Path, keep: frozenset[int] | None, include_baseline: bool, squeeze_me: bool
                  ) -> Iterator[Trial]:
    m = loadmat_v5(path, variable_names=["DREAMER"], squeeze_me=squeeze_me)
    top = m["DREAMER"]
    sfreq = float(np.asarray(_struct_field(top, "EEG_SamplingRate", "DREAMER")).reshape(-1)[0])
    electrodes = tuple(_text(e) for e in _cell_list(_struct_field(top, "EEG_Electrodes", "DREAMER"),
                                                    "DREAMER.EEG_Electrodes"))
    if not electrodes:
        electrodes = DREAMER_EEG_CHANNELS
    if electrodes != DREAMER_EEG_CHANNELS:
        log.warning("%s: EEG_Electrodes %s differ from the documented %s", path, electrodes, DREAMER_EEG_CHANNELS)
    n_ch = len(electrodes)
    data = _cell_list(_struct_field(top, "Data", "DREAMER"), "DREAMER.Data")

    for s_idx, subj in enumerate(data):
        subject = s_idx + 1
        if keep is not None and subject not in keep:
            continue
        where = f"DREAMER.Data{{{subject}}}"
        eeg_struct = _struct_field(subj, "EEG", where)
        stimuli = _cell_list(_struct_field(eeg_struct, "stimuli", where + ".EEG"), where + ".EEG.stimuli")
        baselines = _cell_list(_struct_field(eeg_struct, "baseline", where + ".EEG"), where + ".EEG.baseline")
        if len(baselines) != len(stimuli):
            raise layout_error(describe_dreamer_layout(),
                               f"{where}: {len(stimuli)} stimuli but {len(baselines)} baselines")
        scores = {}
        for fld, name in DREAMER_SCORE_FIELDS.items():
            v = np.asarray(_struct_field(subj, fld, where)).reshape(-1)
            if v.size != len(stimuli):
                raise layout_error(describe_dreamer_layout(), f"{where}.{fld} has {v.size} values for "
                                                              f"{len(stimuli)} clips")
            scores[name] = v
        age = gender = None
        try:
            age = _text(_struct_field(subj, "Age", where))
            gender = _text(_struct_field(subj, "Gender", where))
        except DatasetLayoutError:
            pass
        for t_idx, clip in enumerate(stimuli):
            eeg = _clip(clip, n_ch, f"{where}.EEG.stimuli{{{t_idx + 1}}}")
            base = _clip(baselines[t_idx], n_ch, f"{where}.EEG.baseline{{{t_idx + 1}}}") if include_baseline else None
            yield Trial(
                dataset="dreamer",
                subject=subject,
                trial=t_idx + 1,
                eeg=eeg,
                sfreq=sfreq,
                ch_names=electrodes,
                labels={k: int(round(float(v[t_idx]))) for k, v in scores.items()},
                baseline=base,
                meta={"source": path, "age": age, "gender": gender},
            )
