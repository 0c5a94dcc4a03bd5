"""Band-power feature sequences of whole recordings, and their disk cache (docs/methods.md §2.1).

One trial becomes a ``(T_frames, 6, 32)`` float32 array -- frames at 4 Hz, bands band-major, channels in the model
montage -- computed the way Zhang et al.'s preprocessing does it, with the project's one band-power extractor
(:class:`~affectstream.core.bandpower.WelchBandPower`, which the live path uses too):

1. **Montage.** Channels are matched onto :data:`~affectstream.core.montage.MONTAGE_32` by label; channels outside the
   montage (ECG, GSR, Status, ...) are dropped, and montage channels the recording lacks stay NaN all the way through
   (their feature columns are NaN; :attr:`TrialFeatures.present` says which are real).
2. **Band-pass 0.3-45 Hz** on the whole trial (``FeatureConfig.bandpass``). The reference code calls
   ``raw.filter(0.3, 45)``, i.e. MNE's default FIR; :func:`design_bandpass` reproduces that design with
   ``scipy.signal.firwin`` (Hamming window, automatic transition bands 0.3 Hz and 11.25 Hz, length 3.3 / 0.3 s =
   2817 taps at 256 Hz, -6 dB points 0.15 and 50.625 Hz) and :func:`bandpass` applies it zero-phase with MNE's
   ``reflect_limited`` edge padding -- the result matches ``mne.filter.filter_data`` to floating-point precision.
3. **Average reference** over the montage channels present (``FeatureConfig.average_reference``).
4. **Band power** on 2 s windows every 0.25 s: Welch with 1 s Hann segments (1 Hz bins, 50 % overlap), Simpson
   integral over each band's bins (edges inclusive), computed in batches of windows. ``kind="relative"`` (band /
   whole-spectrum power, the code's choice, docs/methods.md §8 #9) is the default; ``"log"`` and ``"absolute"`` are the
   alternatives. Band edges ``"code"`` (delta 0.3-4 Hz) by default, ``"paper"`` (delta 0.3-5, theta 5-8) as a flag
   (docs/methods.md §8 #8).

**Frame alignment** (``FeatureConfig.align``). With continuous labels (MAHNOB valence at 4 Hz), frame ``i`` is the
window *centred* on label ``i``'s time on the EEG axis, so there is exactly one frame per label -- the reference code
gets the same alignment by cropping the recording at ``onset - 1 s`` and stepping 0.25 s. A window that would reach
past either end of the recording is shifted inside it (:attr:`TrialFeatures.n_clamped` counts them; none for MAHNOB,
which has 30 s of EEG on either side of the stimulus). Without labels (or ``align="start"``) frames start at sample 0
and step by the hop while a whole window fits.

**Cache.** :class:`FeatureCache` stores each trial's features as ``.npz`` (no pickles) under a name that holds a
SHA-256 of (dataset id, trial key, every :class:`FeatureConfig` field, :data:`EXTRACTOR_VERSION`), so any change of
configuration or of this code's output (bump the version) misses instead of returning stale features. Writes are
atomic; an unreadable or inconsistent file is recomputed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy.signal
from tqdm import tqdm

from affectstream.core.bandpower import BAND_EDGES, WelchBandPower, WelchConfig
from affectstream.core.montage import MONTAGE_32, ChannelMapping, map_channels

log = logging.getLogger(__name__)

__all__ = [
    "EXTRACTOR_VERSION",
    "PAPER_BAND_EDGES",
    "FeatureCache",
    "FeatureConfig",
    "TrialFeatures",
    "bandpass",
    "compute_trial_features",
    "design_bandpass",
    "frame_starts",
    "preprocess",
]

#: Version of what :func:`compute_trial_features` outputs for a given config; part of every cache key. Bump it
#: whenever a change to this module, the band-power extractor or the montage changes the numbers.
EXTRACTOR_VERSION = "bandpower-features/1"

#: Band edges of the paper text (Zhang et al. 2022, §3.1); the code's are
#: :data:`affectstream.core.bandpower.BAND_EDGES`.
PAPER_BAND_EDGES: tuple[tuple[float, float], ...] = ((0.3, 5.0), (5.0, 8.0), (8.0, 12.0), (12.0, 18.0),
                                                     (18.0, 30.0), (30.0, 45.0))

#: Window factor of MNE's automatic FIR length (``_length_factors["hamming"]``).
_HAMMING_LENGTH_FACTOR = 3.3


@dataclass(frozen=True)
class FeatureConfig:
    """Every setting of the offline band-power features; the defaults reproduce Zhang et al.'s code.

    Attributes
    ----------
    window_s, hop_s : float
        Analysis window and frame step in seconds (2 s / 0.25 s = 4 Hz frames, docs/methods.md §2.1 step 5).
    segment_s, segment_overlap : float
        Welch segment length (1 s = 1 Hz bins) and overlap fraction.
    kind : {"relative", "log", "absolute"}
        Relative power (code, default, docs/methods.md §8 #9), log10 absolute power, or absolute µV².
    band_edges : {"code", "paper"}
        Delta 0.3-4 / theta 4-8 Hz (code, default) or 0.3-5 / 5-8 Hz (paper text), docs/methods.md §8 #8.
    bandpass : bool
        Band-pass the whole trial before windowing (MNE-default FIR, see :func:`design_bandpass`).
    l_freq, h_freq : float
        Band-pass edges in Hz.
    average_reference : bool
        Re-reference to the mean of the montage channels present.
    align : {"auto", "labels", "start"}
        ``"labels"``: one frame centred on each continuous label (error if the trial has none); ``"start"``: frames
        from sample 0; ``"auto"``: labels when the trial has them, else start.
    min_channels : int
        Fewest montage channels a trial must have.
    batch_windows : int
        Windows per :class:`~affectstream.core.bandpower.WelchBandPower` call (memory vs speed only; not in the cache
        key).
    """

    window_s: float = 2.0
    hop_s: float = 0.25
    segment_s: float = 1.0
    segment_overlap: float = 0.5
    kind: Literal["relative", "log", "absolute"] = "relative"
    band_edges: Literal["code", "paper"] = "code"
    bandpass: bool = True
    l_freq: float = 0.3
    h_freq: float = 45.0
    average_reference: bool = True
    align: Literal["auto", "labels", "start"] = "auto"
    min_channels: int = 1
    batch_windows: int = field(default=256, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in ("relative", "log", "absolute"):
            raise ValueError(f"kind must be 'relative', 'log' or 'absolute', got {self.kind!r}")
        if self.band_edges not in ("code", "paper"):
            raise ValueError(f"band_edges must be 'code' or 'paper', got {self.band_edges!r}")
        if self.align not in ("auto", "labels", "start"):
            raise ValueError(f"align must be 'auto', 'labels' or 'start', got {self.align!r}")
        if self.hop_s <= 0 or self.window_s <= 0:
            raise ValueError("window_s and hop_s must be positive")
        if self.bandpass and not 0 < self.l_freq < self.h_freq:
            raise ValueError(f"need 0 < l_freq < h_freq, got {self.l_freq}, {self.h_freq}")
        if self.batch_windows < 1:
            raise ValueError("batch_windows must be positive")

    @property
    def bands(self) -> tuple[tuple[float, float], ...]:
        return BAND_EDGES if self.band_edges == "code" else PAPER_BAND_EDGES

    def welch_config(self, sfreq: float) -> WelchConfig:
        """The :class:`~affectstream.core.bandpower.WelchConfig` of these features at ``sfreq``."""
        return WelchConfig(sfreq=float(sfreq), window_s=self.window_s, segment_s=self.segment_s,
                           overlap=self.segment_overlap, kind=self.kind, bands=self.bands)

    def cache_fields(self) -> dict[str, Any]:
        """The fields that determine the output (everything but ``batch_windows``), JSON-ready."""
        d = asdict(self)
        d.pop("batch_windows")
        return d


@dataclass
class TrialFeatures:
    """Features of one trial and how they were laid out.

    Attributes
    ----------
    features : ndarray (T_frames, n_bands, 32) float32
        Band power, band-major, montage channel order; NaN columns for channels the recording lacks.
    frame_times : ndarray (T_frames,) float64
        Centre of each frame's window in seconds on the trial's EEG time axis.
    present : ndarray (32,) bool
        Montage channels the recording provides.
    n_clamped : int
        Frames whose window had to be shifted inside the recording.
    meta : dict
        ``n_samples``, ``sfreq``, ``n_labels``, ``align`` used, ``key`` and ``extractor`` version.
    """

    features: np.ndarray
    frame_times: np.ndarray
    present: np.ndarray
    n_clamped: int = 0
    meta: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------- filtering


def design_bandpass(sfreq: float, l_freq: float = 0.3, h_freq: float = 45.0) -> np.ndarray:
    """Zero-phase band-pass FIR taps identical to MNE's default ``filter(l_freq, h_freq)`` design.

    MNE (``fir_design="firwin"``, ``fir_window="hamming"``, automatic transition bands and length): lower transition
    ``min(max(0.25 l, 2), l)``, upper ``min(max(0.25 h, 2), sfreq/2 - h)``, length ``ceil(3.3 / min(transition)
    * sfreq)`` made odd; the filter is a long low-pass at ``h + h_trans/2`` minus a low-pass at ``l - l_trans/2``,
    each windowed-sinc as long as its own transition band needs, centred in the common length.
    """
    nyq = sfreq / 2.0
    if not 0 < l_freq < h_freq < nyq:
        raise ValueError(f"need 0 < l_freq < h_freq < Nyquist ({nyq} Hz), got {l_freq}, {h_freq}")
    l_trans = min(max(0.25 * l_freq, 2.0), l_freq)
    h_trans = min(max(0.25 * h_freq, 2.0), nyq - h_freq)
    n = max(int(np.ceil(_HAMMING_LENGTH_FACTOR / min(l_trans, h_trans) * sfreq)), 1)  # MNE's _to_samples
    n += (n - 1) % 2  # odd
    h = np.zeros(n)
    # Upper edge: a low-pass that turns the response on below h_stop; lower edge: subtract a low-pass below l_pass.
    for edge, trans, sign in ((h_freq, h_trans, 1.0), (l_freq, l_trans, -1.0)):
        stop = edge + trans if sign > 0 else edge - trans
        lo, hi = sorted((edge, stop))
        half_width = (hi - lo) / nyq / 2.0  # MNE works in Nyquist-normalised units
        this_n = int(round(_HAMMING_LENGTH_FACTOR / half_width))
        this_n += 1 - this_n % 2
        if this_n > n:
            raise ValueError(f"filter length {n} too short for a {trans} Hz transition band")
        taps = scipy.signal.firwin(this_n, (lo + hi) / 2.0, window="hamming", pass_zero=True, fs=sfreq)
        off = (n - this_n) // 2
        h[off:n - off] += sign * taps
    return h


def _reflect_limited(x: np.ndarray, n_pad: int) -> np.ndarray:
    """MNE's ``reflect_limited`` padding of the last axis: odd reflection, zeros beyond one signal length."""
    n = x.shape[-1]
    zl = np.zeros(x.shape[:-1] + (max(n_pad - n + 1, 0),), dtype=x.dtype)
    left = 2 * x[..., :1] - x[..., n_pad:0:-1]
    right = 2 * x[..., -1:] - x[..., -2:-n_pad - 2:-1]
    return np.concatenate([zl, left, x, right, zl], axis=-1)


def bandpass(x: np.ndarray, sfreq: float, l_freq: float = 0.3, h_freq: float = 45.0) -> np.ndarray:
    """Zero-phase FIR band-pass of ``x`` (..., n_times) along the last axis, as ``mne.filter.filter_data`` does it.

    Returns float64. Rows that hold any non-finite sample come back all-NaN (an FFT would smear the gap over the
    whole row anyway; the caller treats such a channel as missing).
    """
    x = np.asarray(x, dtype=np.float64)
    h = design_bandpass(sfreq, l_freq, h_freq)
    flat = x.reshape(-1, x.shape[-1])
    out = np.full_like(flat, np.nan)
    n_edge = max(min(h.size, flat.shape[-1]) - 1, 0)
    delay = (h.size - 1) // 2
    for r in range(flat.shape[0]):
        row = flat[r]
        if not np.all(np.isfinite(row)):
            continue
        ext = _reflect_limited(row, n_edge) if n_edge else row
        y = scipy.signal.oaconvolve(ext, h, mode="full")
        start = (ext.size - row.size - 2 * n_edge) // 2 + n_edge + delay  # zero pads (if any) + reflection + delay
        out[r] = y[start:start + row.size]
    return out.reshape(x.shape)


# ------------------------------------------------------------------------------------------- preprocessing


def preprocess(eeg: np.ndarray, sfreq: float, ch_names: Iterable[str],
               config: FeatureConfig = FeatureConfig()) -> tuple[np.ndarray, ChannelMapping]:
    """Montage mapping, optional band-pass and average reference of a whole recording.

    Returns
    -------
    data : ndarray (32, n_times) float64
        Montage-ordered signal; rows of missing channels (and of channels with non-finite samples) are NaN.
    mapping : ChannelMapping
        How the recording's channels were placed.
    """
    ch_names = tuple(ch_names)
    mapping = map_channels(list(ch_names), len(ch_names), min_present=config.min_channels)
    eeg = np.asarray(eeg)
    # Placed in the recording's own float type, then widened: the same numbers in a fifth of the time that placing
    # float64 rows took (2 vs 9 ms for 32 channels x 3 minutes at 256 Hz).
    data = mapping.apply(eeg if eeg.dtype.kind == "f" else eeg.astype(np.float64)).astype(np.float64, copy=False)
    bad = mapping.present & ~np.all(np.isfinite(data), axis=1)
    if bad.any():
        log.warning("channels %s hold non-finite samples; treated as missing",
                    ", ".join(np.asarray(MONTAGE_32)[bad]))
        data[bad] = np.nan
    ok = mapping.present & ~bad
    rows = slice(None) if ok.all() else ok  # every channel usable (the usual case): views instead of row copies
    if config.bandpass:
        data[rows] = bandpass(data[rows], sfreq, config.l_freq, config.h_freq)
    if config.average_reference:
        if ok.sum() < 2:
            log.warning("average reference over %d channel(s) leaves nothing but zeros", int(ok.sum()))
        data[rows] -= data[rows].mean(axis=0, keepdims=True)
    return data, mapping


def frame_starts(trial: Any, config: FeatureConfig = FeatureConfig()) -> tuple[np.ndarray, np.ndarray, int, str]:
    """First sample of each frame's window, the frame centre times, the number of clamped windows and the mode.

    See the module docstring for the alignment rule.
    """
    sfreq = float(trial.sfreq)
    n_samples = int(trial.eeg.shape[1])
    n_win = int(round(config.window_s * sfreq))
    if n_samples < n_win:
        raise ValueError(f"trial {getattr(trial, 'key', '?')}: {n_samples} samples, shorter than one "
                         f"{config.window_s} s window")
    labels = getattr(trial, "continuous", None)
    mode = config.align
    if mode == "labels" and labels is None:
        raise ValueError(f"trial {getattr(trial, 'key', '?')} has no continuous labels to align frames to")
    if mode == "auto":
        mode = "labels" if labels is not None else "start"
    if mode == "labels":
        centres = np.round(np.asarray(labels.times, dtype=np.float64) * sfreq).astype(np.int64)
        starts = centres - n_win // 2
    else:
        n_frames = 1 + int(np.floor((n_samples - n_win) / (config.hop_s * sfreq) + 1e-9))
        starts = np.round(np.arange(n_frames) * config.hop_s * sfreq).astype(np.int64)
    clamped = np.clip(starts, 0, n_samples - n_win)
    n_clamped = int(np.count_nonzero(clamped != starts))
    return clamped, (clamped + n_win / 2.0) / sfreq, n_clamped, mode


def compute_trial_features(trial: Any, config: FeatureConfig = FeatureConfig()) -> TrialFeatures:
    """Band-power feature sequence of one :class:`~affectstream.models.datasets.common.Trial`.

    See the module docstring.
    """
    if trial.eeg is None:
        raise ValueError(f"trial {trial.key} has no EEG signal (a feature-only release?)")
    sfreq = float(trial.sfreq)
    data, mapping = preprocess(trial.eeg, sfreq, trial.ch_names, config)
    starts, times, n_clamped, mode = frame_starts(trial, config)
    extractor = WelchBandPower(config.welch_config(sfreq))
    out = np.empty((starts.size, len(config.bands), data.shape[0]), dtype=np.float32)
    for b0 in range(0, starts.size, config.batch_windows):
        # The extractor copies the overlapping windows out of the trial a cache-sized pass at a time.
        out[b0:b0 + config.batch_windows] = extractor.windows(data, starts[b0:b0 + config.batch_windows])
    if n_clamped:
        log.warning("trial %s: %d of %d frames reach past the recording and were shifted inside it", trial.key,
                    n_clamped, starts.size)
    n_labels = 0 if getattr(trial, "continuous", None) is None else int(trial.continuous.values.size)
    meta = {"key": str(trial.key), "n_samples": int(trial.eeg.shape[1]), "sfreq": sfreq, "n_labels": n_labels,
            "align": mode, "extractor": EXTRACTOR_VERSION, "missing_channels": list(mapping.missing)}
    present = mapping.present & np.all(np.isfinite(data), axis=1)
    return TrialFeatures(out, times.astype(np.float64), present, n_clamped, meta)


# ------------------------------------------------------------------------------------------------- cache


class FeatureCache:
    """Per-trial feature cache on disk, keyed by (dataset id, trial key, config, extractor version).

    Parameters
    ----------
    root : path-like
        Folder of the cache; files go to ``root/<dataset id>/<trial key>__<hash>.npz``.

    Examples
    --------
    >>> cache = FeatureCache("~/.cache/affectstream/features")
    >>> feats = cache.features_for(iter_mahnob(root, continuous_only=True), FeatureConfig())
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(dataset_id: str, trial_key: str, config: FeatureConfig) -> str:
        """SHA-256 (hex) of the canonical JSON of everything that determines a trial's features."""
        payload = {"dataset": str(dataset_id), "trial": str(trial_key), "config": config.cache_fields(),
                   "extractor": EXTRACTOR_VERSION}
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def path(self, dataset_id: str, trial_key: str, config: FeatureConfig) -> Path:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", str(trial_key)).strip("_") or "trial"
        ds = re.sub(r"[^A-Za-z0-9._-]+", "_", str(dataset_id)).strip("_") or "dataset"
        return self.root / ds / f"{safe}__{self.key(dataset_id, trial_key, config)[:20]}.npz"

    def __contains__(self, item: tuple[str, str, FeatureConfig]) -> bool:
        return self.path(*item).is_file()

    def get(self, dataset_id: str, trial_key: str, config: FeatureConfig) -> TrialFeatures | None:
        """The cached features, or None on a miss (no file, or a file that cannot be read)."""
        p = self.path(dataset_id, trial_key, config)
        if not p.is_file():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                if meta.get("cache_key") != self.key(dataset_id, trial_key, config):
                    raise ValueError("cache key mismatch")
                return TrialFeatures(z["features"], z["frame_times"], z["present"], int(z["n_clamped"]), meta)
        except Exception as exc:  # noqa: BLE001 - any unreadable entry is a miss, recomputed and overwritten
            log.warning("feature cache entry %s is unreadable (%s); recomputing", p, exc)
            return None

    def put(self, dataset_id: str, trial_key: str, config: FeatureConfig, tf: TrialFeatures) -> Path:
        """Store ``tf`` atomically (write to a temporary file, then rename)."""
        p = self.path(dataset_id, trial_key, config)
        p.parent.mkdir(parents=True, exist_ok=True)
        meta = dict(tf.meta, cache_key=self.key(dataset_id, trial_key, config), dataset=str(dataset_id),
                    config=config.cache_fields())
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=p.stem, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, features=np.asarray(tf.features, dtype=np.float32),
                         frame_times=np.asarray(tf.frame_times, dtype=np.float64),
                         present=np.asarray(tf.present, dtype=bool), n_clamped=np.int64(tf.n_clamped),
                         meta=np.array(json.dumps(meta, sort_keys=True)))
            os.replace(tmp, p)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return p

    def load_or_compute(self, trial: Any, config: FeatureConfig = FeatureConfig(),
                        dataset_id: str | None = None) -> TrialFeatures:
        """Cached features of ``trial``, computing and storing them on a miss.

        A hit is checked against the trial (sample count, sampling rate, label count, and for a dataset's trial
        its source file's size and time); if the recording changed under the same key (e.g. a loader now crops
        differently, or another copy of the dataset shares the cache) the entry is recomputed.
        """
        ds = dataset_id if dataset_id is not None else trial.dataset
        hit = self.get(ds, trial.key, config)
        if hit is not None:
            n_labels = 0 if getattr(trial, "continuous", None) is None else int(trial.continuous.values.size)
            expected = {"n_samples": trial.n_samples, "sfreq": float(trial.sfreq), "n_labels": n_labels,
                        "source_stamp": getattr(trial, "meta", {}).get("source_stamp")}
            if all(hit.meta.get(k) == v for k, v in expected.items()):
                self.hits += 1
                return hit
            log.warning("cached features of %s were computed from a different recording; recomputing", trial.key)
        self.misses += 1
        tf = compute_trial_features(trial, config)
        tf.meta["source_stamp"] = getattr(trial, "meta", {}).get("source_stamp")  # a dataset trial's file size and time
        self.put(ds, trial.key, config, tf)
        return tf

    def features_for(self, trials: Iterable[Any], config: FeatureConfig = FeatureConfig(),
                     dataset_id: str | None = None, progress: bool = True) -> dict[str, TrialFeatures]:
        """Features of every trial (computed or cached), keyed by ``trial.key``, with a progress bar.

        ``trials`` may be a loader's generator: trials are consumed one at a time and their signals dropped.
        """
        total = len(trials) if hasattr(trials, "__len__") else None
        out: dict[str, TrialFeatures] = {}
        bar = tqdm(trials, total=total, desc="band-power features", unit="trial", disable=not progress)
        for trial in bar:
            out[trial.key] = self.load_or_compute(trial, config, dataset_id)
            bar.set_postfix(hits=self.hits, computed=self.misses, refresh=False)
        return out
