"""FER+ (FER2013 images with the FER+ crowd votes) in the layouts it is distributed in.

Layout (shared/data/MANIFEST.md §3, the microsoft/FERPlus ``data/`` layout)::

    <root>/FER2013Train/   or  <root>/FER2013Train.zip   (zip holding FER2013Train/..., read in place)
    <root>/FER2013Valid/
    <root>/FER2013Test/
        label.csv          no header; per row: image name, face box "(0, 0, 48, 48)", then 10 vote counts
        ferNNNNNNN.png     48x48 8-bit grey
    <root>/fer2013new.csv  header "Usage,Image name,neutral,...,unknown,NF"; one row per fer2013.csv row

Votes are in :data:`VOTE_COLUMNS` order; the eight emotions come first, in :data:`EMOTIONS` order (also the
class order of the visual student).  Target protocols over a ``(N, 10)`` vote matrix, each keeping the first
maximum in column order on ties:

- :func:`majority_labels`, the FER+ paper's "majority" protocol: votes of 1 are dropped as outliers; an image is
  kept only if its top column holds more than half of the *remaining votes of all 10 columns* (unknown and NF
  included) and that column is an emotion.  On the shipped test split this keeps 3,137 images; counting only the
  emotion votes as "remaining" would keep 3,255.
- :func:`argmax_labels`, "plain argmax": the top of the 10 columns, images whose top is unknown/NF dropped
  (3,545 test images).
- :func:`vote_probabilities`, soft targets: the 8 emotion votes normalised to sum 1, for the images
  :func:`argmax_labels` keeps.

Note on the two label sources: ``fer2013new.csv`` and the per-split ``label.csv`` files are *different* vote
rounds for about 8 % of the images (same name, different votes; mostly the same top emotion), and
``fer2013new.csv`` lists four names twice.  :func:`load_split` uses ``label.csv``, as the FER+ reference code does.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import zipfile
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np

__all__ = [
    "EMOTIONS",
    "VOTE_COLUMNS",
    "SPLIT_DIRS",
    "USAGE",
    "FerPlusSplit",
    "Fer2013New",
    "read_label_csv",
    "read_fer2013new",
    "load_split",
    "default_cache_dir",
    "majority_labels",
    "argmax_labels",
    "vote_probabilities",
    "find_pixel_twins",
]

EMOTIONS: tuple[str, ...] = (
    "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt",
)
VOTE_COLUMNS: tuple[str, ...] = (*EMOTIONS, "unknown", "NF")
SPLIT_DIRS: dict[str, str] = {"train": "FER2013Train", "valid": "FER2013Valid", "test": "FER2013Test"}
#: ``Usage`` value of each split in ``fer2013new.csv`` / ``fer2013.csv``.
USAGE: dict[str, str] = {"train": "Training", "valid": "PublicTest", "test": "PrivateTest"}
IMAGE_SIZE = 48

_LAYOUT = (
    "expected <root>/FER2013{Train,Valid,Test}/ (or FER2013Train.zip) each holding label.csv (no header: "
    "image name, face box, 10 vote counts) and the 48x48 PNGs it names"
)
_N_EMOTIONS = len(EMOTIONS)


@dataclass(frozen=True)
class FerPlusSplit:
    """One FER+ split.

    Attributes
    ----------
    split : str
        ``"train"``, ``"valid"`` or ``"test"``.
    names : np.ndarray
        ``(N,)`` image file names, in ``label.csv`` order.
    boxes : np.ndarray
        ``(N, 4)`` int32, the four integers of the face-box column as written (all ``0, 0, 48, 48`` as shipped).
    votes : np.ndarray
        ``(N, 10)`` int64 vote counts, :data:`VOTE_COLUMNS` order.
    images : np.ndarray or None
        ``(N, 48, 48)`` uint8 grey images, or ``None`` when loaded with ``images=False``.
    """

    split: str
    names: np.ndarray
    boxes: np.ndarray
    votes: np.ndarray
    images: np.ndarray | None

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class Fer2013New:
    """Contents of ``fer2013new.csv``: one row per row of the original Kaggle ``fer2013.csv``.

    Attributes
    ----------
    usage : np.ndarray
        ``(N,)`` ``Training`` / ``PublicTest`` / ``PrivateTest``.
    names : np.ndarray
        ``(N,)`` image names; ``""`` for the images FER+ removed.
    votes : np.ndarray
        ``(N, 10)`` int64, :data:`VOTE_COLUMNS` order.
    """

    usage: np.ndarray
    names: np.ndarray
    votes: np.ndarray


def _parse_votes(cells: list[str], where: str) -> list[int]:
    try:
        votes = [int(c) for c in cells]
    except ValueError:
        raise ValueError(f"{where}: vote counts must be integers, got {cells}") from None
    if min(votes) < 0:
        raise ValueError(f"{where}: negative vote count in {cells}")
    return votes


def read_label_csv(source: str | PathLike[str] | bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse a FER+ ``label.csv``.

    Parameters
    ----------
    source : path-like or bytes
        The file, or its raw bytes (e.g. read from the train zip).

    Returns
    -------
    names : np.ndarray
        ``(N,)`` str.
    boxes : np.ndarray
        ``(N, 4)`` int32.
    votes : np.ndarray
        ``(N, 10)`` int64.

    Raises
    ------
    ValueError
        If a row does not have 12 columns (name, box, 10 votes), a header is present, or the box is malformed.
    """
    where = "label.csv" if isinstance(source, bytes) else str(source)
    text = source.decode("utf-8") if isinstance(source, bytes) else Path(source).read_text(encoding="utf-8")
    names, boxes, votes = [], [], []
    for i, row in enumerate(csv.reader(io.StringIO(text))):
        if not row:
            continue
        if len(row) != 2 + len(VOTE_COLUMNS):
            raise ValueError(f"{where} row {i + 1}: {len(row)} columns, {_LAYOUT}")
        try:
            box = [int(v) for v in row[1].strip("() ").split(",")]
        except ValueError:
            raise ValueError(f"{where} row {i + 1}: face box {row[1]!r} is not '(int, int, int, int)'") from None
        if len(box) != 4:
            raise ValueError(f"{where} row {i + 1}: face box {row[1]!r} does not have 4 integers")
        names.append(row[0])
        boxes.append(box)
        votes.append(_parse_votes(row[2:], f"{where} row {i + 1}"))
    if not names:
        raise ValueError(f"{where} is empty; {_LAYOUT}")
    return np.array(names), np.array(boxes, dtype=np.int32), np.array(votes, dtype=np.int64)


def read_fer2013new(path: str | PathLike[str]) -> Fer2013New:
    """Parse ``fer2013new.csv`` (header ``Usage,Image name,<10 vote columns>``).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the header is not the FER+ header.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; expected the FER+ master label file fer2013new.csv")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        expected = ["Usage", "Image name", *VOTE_COLUMNS]
        if [h.strip() for h in header] != expected:
            raise ValueError(f"{path}: header {header} is not {expected}")
        usage, names, votes = [], [], []
        for i, row in enumerate(reader):
            if len(row) != len(expected):
                raise ValueError(f"{path} row {i + 2}: {len(row)} columns, expected {len(expected)}")
            usage.append(row[0])
            names.append(row[1].strip())
            votes.append(_parse_votes(row[2:], f"{path} row {i + 2}"))
    return Fer2013New(np.array(usage), np.array(names), np.array(votes, dtype=np.int64))


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/affectstream/ferplus`` (``~/.cache/...`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "affectstream" / "ferplus"


def _decode_png(data: bytes, name: str) -> np.ndarray:
    import cv2  # only the image path needs OpenCV

    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise ValueError(f"{name}: not a decodable image")
    if img.shape != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"{name}: image is {img.shape[1]}x{img.shape[0]}, FER+ images are 48x48")
    return img


def _sha256_bytes(*chunks: bytes) -> str:
    h = hashlib.sha256()
    for c in chunks:
        h.update(c)
    return h.hexdigest()


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def load_split(
    root: str | PathLike[str],
    split: str,
    images: bool = True,
    cache_dir: str | PathLike[str] | None = None,
) -> FerPlusSplit:
    """Load one FER+ split: votes and face boxes from ``label.csv``, images decoded once.

    Parameters
    ----------
    root : path-like
        Folder holding ``FER2013Train/`` (or ``FER2013Train.zip``), ``FER2013Valid/`` and ``FER2013Test/``.
        A folder is used in preference to a zip of the same split.
    split : {"train", "valid", "test"}
        Which split.
    images : bool
        Decode the PNGs (``False``: only names, boxes and votes, which is instant).
    cache_dir : path-like, optional
        If given (e.g. :func:`default_cache_dir`), decoded images are cached there as
        ``ferplus-<split>-<key>.npz``, where ``key`` is the sha256 of the zip, or for a folder the sha256 of
        ``label.csv`` plus the names, sizes and mtimes of its PNGs; a changed source gets a new key.

    Returns
    -------
    FerPlusSplit

    Raises
    ------
    FileNotFoundError
        If the split folder/zip, its ``label.csv`` or an image it names is missing.
    ValueError
        If ``split`` is unknown or a file does not have the FER+ format.
    """
    if split not in SPLIT_DIRS:
        raise ValueError(f"split must be one of {sorted(SPLIT_DIRS)}, got {split!r}")
    root = Path(root)
    folder, archive = root / SPLIT_DIRS[split], root / f"{SPLIT_DIRS[split]}.zip"
    prefix = f"{SPLIT_DIRS[split]}/"
    zf: zipfile.ZipFile | None = None
    if folder.is_dir():
        label_path = folder / "label.csv"
        if not label_path.is_file():
            raise FileNotFoundError(f"{label_path} not found; {_LAYOUT}")
        label_bytes = label_path.read_bytes()
    elif archive.is_file():
        zf = zipfile.ZipFile(archive)
        try:
            label_bytes = zf.read(prefix + "label.csv")
        except KeyError:
            zf.close()
            raise FileNotFoundError(f"{archive} has no {prefix}label.csv; {_LAYOUT}") from None
    else:
        raise FileNotFoundError(f"neither {folder}/ nor {archive} exists; {_LAYOUT}")
    try:
        names, boxes, votes = read_label_csv(label_bytes)
        pixels = _load_images(names, folder, zf, prefix, split, label_bytes, archive, cache_dir) if images else None
    finally:
        if zf is not None:
            zf.close()
    return FerPlusSplit(split, names, boxes, votes, pixels)


def _load_images(
    names: np.ndarray,
    folder: Path,
    zf: zipfile.ZipFile | None,
    prefix: str,
    split: str,
    label_bytes: bytes,
    archive: Path,
    cache_dir: str | PathLike[str] | None,
) -> np.ndarray:
    cache_path = None
    if cache_dir is not None:
        if zf is not None:
            key = _file_sha256(archive)
        else:
            listing = sorted(
                f"{e.name}:{e.stat().st_size}:{e.stat().st_mtime_ns}"
                for e in os.scandir(folder)
                if e.name.endswith(".png")
            )
            key = _sha256_bytes(label_bytes, "\n".join(listing).encode())
        cache_path = Path(cache_dir) / f"ferplus-{split}-{key[:20]}.npz"
        if cache_path.is_file():
            with np.load(cache_path, allow_pickle=False) as z:
                if np.array_equal(z["names"], names):
                    return z["images"]
    out = np.empty((len(names), IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    for i, name in enumerate(names):
        try:
            data = zf.read(prefix + name) if zf is not None else (folder / name).read_bytes()
        except (KeyError, FileNotFoundError):
            where = f"{archive}:{prefix}{name}" if zf is not None else str(folder / name)
            raise FileNotFoundError(f"{where} (named in label.csv) not found; {_LAYOUT}") from None
        out[i] = _decode_png(data, name)
    if cache_path is not None:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_path.with_name(f"{cache_path.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, names=names, images=out)
        os.replace(tmp, cache_path)  # atomic: a concurrent reader never sees a half-written cache
    return out


def _check_votes(votes: np.ndarray) -> np.ndarray:
    votes = np.asarray(votes)
    if votes.ndim != 2 or votes.shape[1] != len(VOTE_COLUMNS):
        raise ValueError(f"votes must be (N, {len(VOTE_COLUMNS)}) in {VOTE_COLUMNS} order, got {votes.shape}")
    return votes


def majority_labels(votes: np.ndarray) -> np.ndarray:
    """FER+ majority protocol (see the module docstring).

    Parameters
    ----------
    votes : np.ndarray
        ``(N, 10)`` vote counts.

    Returns
    -------
    np.ndarray
        ``(N,)`` int64 class index in :data:`EMOTIONS`, or -1 for a dropped image.
    """
    votes = _check_votes(votes)
    kept_votes = np.where(votes > 1, votes, 0)  # a single vote is treated as an outlier
    top = kept_votes.argmax(axis=1)
    keep = (2 * kept_votes.max(axis=1) > kept_votes.sum(axis=1)) & (top < _N_EMOTIONS)
    return np.where(keep, top, -1).astype(np.int64)


def argmax_labels(votes: np.ndarray) -> np.ndarray:
    """Plain-argmax protocol: top of the 10 columns (first on ties), -1 where that is unknown/NF.

    Parameters
    ----------
    votes : np.ndarray
        ``(N, 10)`` vote counts.

    Returns
    -------
    np.ndarray
        ``(N,)`` int64 class index in :data:`EMOTIONS`, or -1.
    """
    top = _check_votes(votes).argmax(axis=1)
    return np.where(top < _N_EMOTIONS, top, -1).astype(np.int64)


def vote_probabilities(votes: np.ndarray) -> np.ndarray:
    """Soft targets: the 8 emotion votes normalised to sum 1.

    Parameters
    ----------
    votes : np.ndarray
        ``(N, 10)`` vote counts.

    Returns
    -------
    np.ndarray
        ``(N, 8)`` float32.  Rows dropped by :func:`argmax_labels` are all zero, so a soft-target cross-entropy
        gives them zero loss; select ``argmax_labels(votes) >= 0`` to remove them instead.
    """
    votes = _check_votes(votes)
    emo = votes[:, :_N_EMOTIONS].astype(np.float64)
    keep = argmax_labels(votes) >= 0
    total = emo.sum(axis=1, keepdims=True)
    probs = np.divide(emo, total, out=np.zeros_like(emo), where=total > 0)
    probs[~keep] = 0.0
    return probs.astype(np.float32)


def find_pixel_twins(
    query: np.ndarray,
    reference: np.ndarray,
    query_mask: np.ndarray | None = None,
    reference_mask: np.ndarray | None = None,
) -> np.ndarray:
    """Pairs of pixel-identical images between two sets (e.g. test images that also occur in train).

    Parameters
    ----------
    query, reference : np.ndarray
        ``(N, H, W)`` and ``(M, H, W)`` images of the same dtype.
    query_mask, reference_mask : np.ndarray, optional
        ``(N,)`` / ``(M,)`` bool: consider only these images (e.g. those a label protocol keeps).

    Returns
    -------
    np.ndarray
        ``(K, 2)`` int64 ``(query_index, reference_index)`` pairs (indices into the full arrays), sorted; a query
        image with several identical reference images appears once per twin.  The number of query images with
        a twin is ``np.unique(pairs[:, 0]).size``.
    """
    def digest(img: np.ndarray) -> bytes:
        return hashlib.blake2b(np.ascontiguousarray(img).tobytes(), digest_size=16).digest()

    q_idx = np.flatnonzero(query_mask) if query_mask is not None else np.arange(len(query))
    r_idx = np.flatnonzero(reference_mask) if reference_mask is not None else np.arange(len(reference))
    by_hash: dict[bytes, list[int]] = {}
    for j in r_idx:
        by_hash.setdefault(digest(reference[j]), []).append(int(j))
    pairs = [(int(i), j) for i in q_idx for j in by_hash.get(digest(query[i]), ())]
    return np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
