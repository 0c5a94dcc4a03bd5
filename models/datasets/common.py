"""Shared model for the emotion-labelled EEG loaders (docs/methods.md §7.1-§7.6).

Every loader yields :class:`Trial` objects one at a time (these datasets are gigabytes), converts the signal to
float32 microvolts in ``(n_channels, n_samples)`` order, keeps the channel labels exactly as the dataset names them,
and raises :class:`DatasetLayoutError` naming the expected layout when the folder it is given does not look like
the dataset as distributed.

Pickles: the project does not unpickle files.  Two distributed formats *are* pickles: DEAP's preprocessed
``sNN.dat`` (the documented exception) and the dicts inside SEED-V's feature ``.npz`` files.  Both are read through
:func:`restricted_unpickle`, which only lets a pickle rebuild plain numpy arrays and dicts (it refuses every other
global a pickle names, which is how a pickle runs code).
"""

from __future__ import annotations

import io
import logging
import os
import pickle
from collections.abc import Iterable
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ContinuousLabels",
    "DatasetLayoutError",
    "Trial",
    "UnsafePickleError",
    "layout_error",
    "list_dir_for_error",
    "restricted_unpickle",
    "subject_filter",
    "is_matlab_v73",
    "require_matlab_v5",
    "loadmat_v5",
]

log = logging.getLogger(__name__)

PathArg = str | PathLike[str]


class DatasetLayoutError(ValueError):
    """The files given are not laid out as the dataset is distributed; the message names the expected layout."""


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle named a global outside the numpy-array whitelist of :func:`restricted_unpickle`."""


@dataclass(frozen=True)
class ContinuousLabels:
    """A continuously annotated label trace of one trial.

    Attributes
    ----------
    name : str
        What is annotated, e.g. ``"valence"``.
    times : np.ndarray
        ``(T,)`` float64 seconds on the time axis of :attr:`Trial.eeg` (sample ``i`` of the EEG is at ``i / sfreq``).
    values : np.ndarray
        ``(T,)`` float32, on the annotation's own scale.
    rate : float
        Label rate in Hz (4.0 for MAHNOB-HCI valence).
    """

    name: str
    times: np.ndarray
    values: np.ndarray
    rate: float

    def __post_init__(self) -> None:
        if self.times.shape != self.values.shape or self.times.ndim != 1:
            raise ValueError(f"times {self.times.shape} and values {self.values.shape} must be equal 1-D shapes")


@dataclass
class Trial:
    """One trial (one stimulus clip seen by one subject) in a dataset-independent form.

    Attributes
    ----------
    dataset : str
        ``"mahnob"``, ``"deap"``, ``"dreamer"``, ``"seed"``, ``"seed_iv"`` or ``"seed_v"``.
    subject : int
        Subject number as the dataset counts them (1-based).
    trial : int
        Trial number, 1-based, in the dataset's own numbering (see each loader).
    eeg : np.ndarray or None
        ``(n_channels, n_samples)`` float32 microvolts; ``None`` only for feature-only releases (SEED-V features,
        which go in :attr:`features`).
    sfreq : float
        Sampling rate of :attr:`eeg` in Hz (for a feature-only trial: the feature-window rate).
    ch_names : tuple of str
        Channel labels as the dataset names them, one per row of :attr:`eeg`.
    labels : dict
        Trial-level labels on the dataset's own scale: ``valence``/``arousal``/``dominance``/... for rating datasets,
        ``emotion`` (class code) for the SEED family.
    continuous : ContinuousLabels or None
        Continuous annotation (MAHNOB-HCI valence at 4 Hz) when the trial has one.
    session : int or None
        SEED family: experiment session 1-3; MAHNOB-HCI: the ``Sessions/<id>`` folder number; else ``None``.
    video_path : pathlib.Path or None
        Frontal face video of the trial, when the dataset has one and it is present.
    baseline : np.ndarray or None
        A separately stored baseline recording, same channels as :attr:`eeg` (DREAMER; DEAP with the 3 s
        pre-trial baseline split off).
    features : dict of str to np.ndarray
        Precomputed per-window features shipped by the dataset, ``(n_windows, n_features)`` float32 each.
    meta : dict
        Everything else worth keeping (source file, raw attributes, baseline length, event times, ...).
    """

    dataset: str
    subject: int
    trial: int
    eeg: np.ndarray | None
    sfreq: float
    ch_names: tuple[str, ...]
    labels: dict[str, Any] = field(default_factory=dict)
    continuous: ContinuousLabels | None = None
    session: int | None = None
    video_path: Path | None = None
    baseline: np.ndarray | None = None
    features: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ch_names = tuple(self.ch_names)
        for name in ("eeg", "baseline"):
            x = getattr(self, name)
            if x is None:
                continue
            if x.dtype != np.float32 or x.ndim != 2:
                raise ValueError(f"{name} must be 2-D float32, got {x.dtype} {x.shape}")
            if x.shape[0] != len(self.ch_names):
                raise ValueError(f"{name} has {x.shape[0]} rows but {len(self.ch_names)} channel names")
        if self.sfreq <= 0:
            raise ValueError(f"sfreq must be positive, got {self.sfreq}")

    @property
    def key(self) -> str:
        """A unique, readable id: ``dataset/sNN[/sessK]/tMM``."""
        sess = f"/sess{self.session}" if self.session is not None else ""
        return f"{self.dataset}/s{self.subject:02d}{sess}/t{self.trial:02d}"

    @property
    def n_samples(self) -> int:
        return 0 if self.eeg is None else int(self.eeg.shape[1])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sfreq


def list_dir_for_error(path: Path, limit: int = 8) -> str:
    """Short description of what is at ``path``, for the 'found ...' half of a layout error."""
    if not path.exists():
        return f"{path} does not exist"
    if path.is_file():
        return f"{path} is a file"
    try:
        names = sorted(os.listdir(path))
    except OSError as e:  # pragma: no cover - permissions
        return f"{path} is unreadable ({e})"
    if not names:
        return f"{path} is empty"
    shown = ", ".join(names[:limit]) + (f", ... ({len(names)} entries)" if len(names) > limit else "")
    return f"{path} holds {shown}"


def layout_error(layout: str, found: str) -> DatasetLayoutError:
    """``DatasetLayoutError("expected <layout>; found <found>")``."""
    return DatasetLayoutError(f"expected {layout}; found {found}")


def subject_filter(subjects: Iterable[int | str] | int | str | None) -> frozenset[int] | None:
    """Normalise a ``subjects=`` argument (ints, or strings such as ``"3"`` / ``"s03"``) to a set of ints."""
    if subjects is None:
        return None
    if isinstance(subjects, (int, str, np.integer)):
        subjects = [subjects]
    out = set()
    for s in subjects:
        if isinstance(s, str):
            digits = s.lstrip("sSpP_")
            if not digits.isdigit():
                raise ValueError(f"subject {s!r} is not a subject number")
            s = int(digits)
        out.add(int(s))
    return frozenset(out)


# ---------------------------------------------------------------------------------------------- pickles

#: The only globals a distributed pickle may name: what numpy needs to rebuild a plain ndarray (numpy 1.x and 2.x
#: module names), and ``_codecs.encode`` which Python 3 writes for bytes in protocol-2 pickles.
_PICKLE_WHITELIST: frozenset[tuple[str, str]] = frozenset({
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),  # protocol-5 pickles of arrays
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
    ("collections", "OrderedDict"),
})


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _PICKLE_WHITELIST:
            raise UnsafePickleError(
                f"pickle names the global {module}.{name}, which is not needed to rebuild numpy arrays; refusing it"
            )
        return super().find_class(module, name)


def restricted_unpickle(data: bytes | io.BufferedIOBase, *, encoding: str = "latin1") -> Any:
    """Unpickle ``data`` (bytes or a binary file) allowing only dicts/lists/tuples/scalars and plain numpy arrays.

    ``encoding="latin1"`` is what Python-2 pickles of numpy arrays need (DEAP); it is harmless for Python-3 ones.

    Raises
    ------
    UnsafePickleError
        If the pickle names any other global (class or function).
    """
    f = io.BytesIO(bytes(data)) if isinstance(data, (bytes, bytearray, memoryview)) else data
    return _NumpyOnlyUnpickler(f, encoding=encoding).load()


# ------------------------------------------------------------------------------------------- MATLAB files

_MAT73_MAGIC = b"MATLAB 7.3 MAT-file"


def is_matlab_v73(path: PathArg) -> bool:
    """True when ``path`` is a MATLAB v7.3 (HDF5) file, which ``scipy.io.loadmat`` cannot read."""
    with open(path, "rb") as f:
        return f.read(len(_MAT73_MAGIC)) == _MAT73_MAGIC


def require_matlab_v5(path: PathArg) -> None:
    """Raise :class:`DatasetLayoutError` if ``path`` is a MATLAB v7.3 (HDF5) file."""
    if is_matlab_v73(path):
        raise DatasetLayoutError(
            f"{path} is a MATLAB v7.3 (HDF5) file; the distributed file is MATLAB v5/v7 (scipy.io.loadmat). "
            "Re-save it with save(..., '-v7') or read it with h5py"
        )


def loadmat_v5(path: PathArg, **kwargs: Any) -> dict[str, Any]:
    """``scipy.io.loadmat`` for the v5/v7 MAT files these datasets ship, with a clear error for v7.3.

    All the MAT files of MAHNOB-HCI (continuous labels), DREAMER and SEED/SEED-IV are v5/v7 as distributed
    (their reference readers use ``scipy.io.loadmat``).  A v7.3 file means the file was re-saved; it would need
    ``h5py``, which this project does not depend on.
    """
    import scipy.io

    require_matlab_v5(path)
    kwargs.setdefault("verify_compressed_data_integrity", False)
    return scipy.io.loadmat(path, **kwargs)
