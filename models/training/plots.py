"""PNG figures of a training run (matplotlib, Agg backend: no display needed).

* learning curves: the validation score per epoch of every model of every fold;
* test traces: the truth and each model's stitched predictions over one fold's test trials;
* saliency topomaps (docs/methods.md §2.7): the KD student's input gradients, averaged over folds, on six scalp maps
  that share one colour scale (normalised jointly over all N_FEATURES band x channel values).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from affectstream.core.bandpower import BAND_NAMES
from affectstream.core.montage import MONTAGE_32, electrode_positions_2d

__all__ = ["confusion_matrix_png", "learning_curves", "saliency_topomaps", "test_traces", "v2e_plots"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # before pyplot is imported anywhere in this process
    import matplotlib.pyplot as plt

    return plt


def learning_curves(results: list[dict], path: Path) -> Path:
    """One panel per fold: validation CCC per epoch of the teacher and of each student."""
    plt = _pyplot()
    n = len(results)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False, sharey=True)
    for ax, r in zip(axes.flat, results):
        curves = {"teacher": r["teacher"]["history"], **{k: v["history"] for k, v in r["students"].items()}}
        for name, history in curves.items():
            ax.plot([h["epoch"] for h in history], [h["val_score"] for h in history], label=name,
                    lw=2.0 if name == r["kd_chosen"] else 1.0)
        ax.set_title(f"fold {r['fold']} (test {', '.join(map(str, r['test_subjects']))})", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes[0, 0].set_ylabel("validation CCC")
    axes[0, 0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def test_traces(predictions: Path, path: Path, title: str) -> Path:
    """Truth and predictions over the concatenated test trials of one fold (``test_predictions.npz``)."""
    plt = _pyplot()
    with np.load(predictions, allow_pickle=False) as f:
        series = {k: f[k] for k in f.files if k not in ("keys",)}
    t = np.arange(len(series["truth"])) / 4.0
    fig, ax = plt.subplots(figsize=(10, 2.8))
    ax.plot(t, series.pop("truth"), color="k", lw=1.5, label="truth")
    for name, values in series.items():
        ax.plot(t, values, lw=0.9, label=name)
    ax.set_xlabel("s (test trials concatenated)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncol=4)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def saliency_topomaps(saliency: np.ndarray, path: Path, title: str) -> Path:
    """Six scalp maps of an (N_FEATURES,) band-major saliency vector, min-max normalised jointly over all bands."""
    import mne

    plt = _pyplot()
    s = np.asarray(saliency, dtype=float).reshape(len(BAND_NAMES), len(MONTAGE_32))
    s = (s - s.min()) / (s.max() - s.min() + 1e-12)
    pos = electrode_positions_2d()
    fig, axes = plt.subplots(1, len(BAND_NAMES), figsize=(2.2 * len(BAND_NAMES), 2.6))
    for ax, band, values in zip(axes, BAND_NAMES, s):
        im, _ = mne.viz.plot_topomap(values, pos, axes=ax, show=False, vlim=(0, 1), cmap="inferno",
                                     sphere=(0.0, 0.0, 0.0, 1.0), contours=0)
        ax.set_title(band, fontsize=9)
    fig.colorbar(im, ax=list(axes), shrink=0.7, label="saliency (joint min-max)")
    fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def v2e_plots(run, results: list[dict]) -> list[str]:
    """The Visual-to-EEG KD run's figures, written into the run folder; returns their paths."""
    folder = run.folder
    out = [learning_curves(results, folder / "learning_curves.png")]
    first = folder / "folds" / f"fold_{results[0]['fold']:02d}" / "test_predictions.npz"
    if first.is_file():
        out.append(test_traces(first, folder / "test_traces.png",
                               f"fold {results[0]['fold']}: test subject {results[0]['test_subjects']}"))
    saliency = [np.asarray(r["saliency"]) for r in results if r.get("saliency")]
    if saliency:
        normed = [(s - s.min()) / (s.max() - s.min() + 1e-12) for s in saliency]
        out.append(saliency_topomaps(np.mean(normed, axis=0), folder / "saliency_topomaps.png",
                                     "KD student: gradient of the peak prediction, mean over folds"))
    return [str(p) for p in out]


def confusion_matrix_png(matrix: np.ndarray, classes, path: Path, title: str) -> Path:
    """A confusion matrix (rows: label, columns: prediction) as row-normalised colours with the counts written in."""
    plt = _pyplot()
    m = np.asarray(matrix, dtype=float)
    rates = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5.6, 4.8))
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center", fontsize=7,
                    color="white" if rates[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(classes)), classes, fontsize=7)
    ax.set_xlabel("prediction")
    ax.set_ylabel("label")
    ax.set_title(title, fontsize=8)
    fig.colorbar(im, ax=ax, shrink=0.8, label="share of the label's images")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
