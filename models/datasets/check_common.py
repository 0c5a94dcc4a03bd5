"""What the per-dataset checks of :mod:`affectstream.models.datasets.check` share: problem lines, the partial-copy
summary, the progress bar and reading one MAT variable at a time.

A check appends to two lists, ``found`` (summary lines) and ``problems`` (one line each, naming the file), so that
one damaged file does not hide the next one.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from affectstream.models.datasets.common import DatasetLayoutError, list_dir_for_error

__all__ = [
    "data_folder",
    "expected_file",
    "first_missing",
    "layout_problem",
    "missing_problem",
    "out_of_range",
    "partial_copy",
    "progress_bar",
    "span",
    "unreadable",
]

T = TypeVar("T")

def unreadable(path: Path | str, exc: BaseException) -> str:
    """``PATH: cannot be read (ErrorType: message)``.

    The checks catch ``Exception`` around each read: a truncated, re-saved or foreign file fails inside pickle, zip,
    zlib, scipy.io or xml with any error type (scipy's ``MatReadError`` and ``zlib.error`` derive from ``Exception``
    directly), and each is a property of the file, reported as one line so that the next file is still checked.
    """
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else "no detail"
    return f"{path}: cannot be read ({type(exc).__name__}: {detail}); a truncated or damaged copy?"


def read_or_report(path: Path, read: Callable[[], T], problems: list[str], expected: str | None = None) -> T | None:
    """``read()``, or None with one problem line: a loader's layout error in its own words (:func:`layout_problem`),
    any other failure as a damaged file (:func:`unreadable`)."""
    try:
        return read()
    except DatasetLayoutError as exc:
        problems.append(layout_problem(path, exc, expected))
    except Exception as exc:  # see unreadable
        problems.append(unreadable(path, exc))
    return None


def layout_problem(path: Path, exc: DatasetLayoutError, expected: str | None = None) -> str:
    """One line for a loader's layout error about ``path``: only its 'found' half (the whole layout is long and the
    same for every file) and ``expected`` when given, prefixed with the file unless the message already names it."""
    msg = str(exc)
    if msg.startswith("expected ") and "; found " in msg:  # the format of common.layout_error
        msg = msg.split("; found ", 1)[1]
    msg = msg if str(path) in msg else f"{path}: {msg}"
    return f"{msg}; expected {expected}" if expected else msg


def missing_problem(path: Path, layout: str, where: Path) -> str:
    """``missing PATH: expected LAYOUT; found WHAT IS AT WHERE``."""
    return f"missing {path}: expected {layout}; found {list_dir_for_error(where)}"


def data_folder(root: Path, name: str) -> Path:
    """``root/name`` when it is a folder, else ``root`` (the loaders also take the data folder itself)."""
    return root / name if (root / name).is_dir() else root


def expected_file(root: Path, folder: Path, name: str, file: str) -> Path:
    """Where a missing data file belongs: in ``folder`` when it is the data folder found, else in ``root/name``
    (``root`` itself was not the data folder)."""
    return (folder if folder != root else root / name) / file


def first_missing(present: Collection[int], full: int, name: str) -> str:
    """`` (first missing: s03.dat)`` for the smallest number 1..full not in ``present`` (``name`` formats it)."""
    gaps = [n for n in range(1, full + 1) if n not in present]
    return f" (first missing: {name.format(gaps[0])})" if gaps else ""


def span(values: Iterable[float], fmt: str = "{:g}") -> str:
    """``"3"`` when every value reads 3 in ``fmt``, ``"3-5"`` for a range, ``"none"`` for no values."""
    values = list(values)
    if not values:
        return "none"
    lo, hi = fmt.format(min(values)), fmt.format(max(values))
    return lo if lo == hi else f"{lo}-{hi}"


def partial_copy(counts: Iterable[tuple[Collection[int], int, str]]) -> str | None:
    """``"2 of 32 subjects, 3 of 40 trials: a partial copy"`` from ``(values, full-release count, what)`` triples;
    a triple whose values all equal the full count is left out; None when the copy is complete."""
    parts = [f"{span(values)} of {full} {what}" for values, full, what in counts
             if any(v != full for v in values)]
    return ", ".join(parts) + ": a partial copy" if parts else None


def out_of_range(values: Any, lo: float, hi: float, *, integer: bool = False) -> str | None:
    """What is wrong with rating values that must lie in [lo, hi] (and be whole numbers): a short description of
    the worst offenders, or None when all are fine."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    bad = ~np.isfinite(x) | (x < lo) | (x > hi)
    if integer:
        bad |= np.isfinite(x) & (x != np.round(x))
    if not bad.any():
        return None
    shown = ", ".join(f"{v:g}" for v in np.unique(x[bad])[:5])
    scale = f"the whole numbers {lo:g} to {hi:g}" if integer else f"{lo:g} to {hi:g}"
    return f"{int(bad.sum())} of {x.size} values outside {scale} ({shown})"


def progress_bar(items: Iterable[T], kind: str, progress: bool, unit: str = "file") -> Iterator[T]:
    """``items`` with a tqdm bar on stderr (none unless ``progress``)."""
    from tqdm import tqdm

    yield from tqdm(items, desc=f"checking {kind}", unit=unit, disable=not progress)

