"""The trainer's ``eeg_student`` method: the bundled EEG student, supervised on the features the live path computes,
exported for onnxruntime.

It lives in ``pipelines`` because it computes its features through the live pipeline itself (the trainer in
``models`` never imports ``pipelines``); :func:`training_methods` is the catalogue the app hands the trainer: the
built-in methods and this one.

The recipe is the no-distillation student of Zhang et al. (docs/methods.md §2.3-2.4) adapted to what the live path feeds
it: every recording goes through :class:`affectstream.pipelines.engine.AffectPipeline` exactly as a replay would
(window-wise average reference over the good channels, quality masking, log10 Welch band power, a hop every 0.25 s), and
the frames of each subject are z-scored causally with :class:`~affectstream.core.feature_norm.RunningFeatureNorm` in
recording order, as the live student does (``RunningFeatureNorm`` per session). Labels are valence and arousal at each
window's centre (interpolated from the label stream); the loss is the mean of their ``1 - CCC``.

Montage subsets (``montage_subsets = K``): a headset measures 4 to 64 channels, and the live path fills the montage
channels it lacks by spherical-spline interpolation (:mod:`affectstream.pipelines.eeg.montage_input`). So that the
student learns to read such inputs, each *training* recording also goes through the live path K more times, each time
restricted to a random subset of its montage channels (sizes uniform in ``subset_sizes``; by default made of
homologous pairs and midline sites, as headsets are laid out; drawn from the seed and the recording, never from the
order of the run), with a normaliser of its own per subject and subset, as a live stream of that headset would have.
Every epoch then trains on each training window once, in one of its versions (the full montage or a subset) drawn
from the seed and the epoch: the epochs, batches and optimiser steps are those of the full-montage recipe, only what
the windows show differs. Validation and test keep the full montage, so the model selection is today's.

With ``export_to`` set, the selected model is exported (streaming ONNX graph + weights-only state dict, parity
checked) into that weights folder and recorded in its manifest with the run folder, the command and the test
scores -- and the words "synthetic" wherever the data are.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import torch

from affectstream.models.nets.eeg_tcn import EEGTCN
from affectstream.models.training.evaluation import evaluate_regression, sequence_windows, stitch
from affectstream.models.deploy.export import bundle_eeg_student
from affectstream.core.feature_layout import N_FEATURES
from affectstream.core.feature_norm import NORM_MEMORY_FRAMES, RunningFeatureNorm
from affectstream.core.montage import MIN_SOURCES, MONTAGE_32, map_channels
from affectstream.core.typed_config import ConfigError
from affectstream.models.training.protocols import Fold
from affectstream.models.training.loop import OptimConfig, WindowSet, batches, fit, make_windows, regression_loss
from affectstream.models.methods import BUILT_IN
from affectstream.models.training.method import Method, Run

from affectstream.pipelines.engine import AffectPipeline, EEGStreamSpec
from affectstream.pipelines.synthetic.planted_dataset import FEATURES_ONLY

__all__ = ["EEGStudentConfig", "METHOD", "homologue", "subset_draws", "training_methods"]

#: A 10-20 label with a number: odd on the left, even on the right.
_NUMBERED = re.compile(r"^(.*?)(\d+)$")


@dataclass(frozen=True)
class EEGStudentConfig:
    """Options of the bundled EEG student (the ``[eeg_student]`` table)."""

    channels: tuple[int, ...] = (128, 128)
    kernel_size: int = 3
    dropout: float = 0.1
    norm_memory: float = NORM_MEMORY_FRAMES  #: frames of the running normalisation's memory (as live)
    train: OptimConfig = field(default_factory=lambda: OptimConfig(
        lr=1e-3, batch_size=8, max_epochs=40, early_stop=8, plateau_patience=3, reload_best_each_epoch=False,
        grad_clip=5.0))
    #: "mse" for a dataset rated once per clip (models.training.loop.regression_loss: a window's CCC needs a
    #: target that varies); "ccc" for continuous labels, as the simulator's and MAHNOB's valence annotations
    loss: Literal["ccc", "mse"] = "ccc"
    export_to: str = ""  #: a weights folder (relative to the config file) to bundle the model into; "" = none
    montage_subsets: int = 0  #: K: live-path feature sequences per training recording on channel subsets (0 = none)
    subset_sizes: tuple[int, int] = (4, 16)  #: fewest and most montage channels of a subset (uniform)
    symmetric_subsets: bool = True  #: subsets of homologous pairs and midline sites (else of single channels)
    #: added to ``run.seed`` for the initialisation, the batch order and the subset draws but not for the split
    #: (``run.seed`` draws the validation subjects): the seeds of one recipe on one split
    seed: int = 0

    def __post_init__(self) -> None:
        low, high = self.subset_sizes
        if self.montage_subsets < 0:
            raise ConfigError(f"eeg_student.montage_subsets must be 0 or more, not {self.montage_subsets}")
        if not MIN_SOURCES <= low <= high <= len(MONTAGE_32):
            raise ConfigError(f"eeg_student.subset_sizes must be [low, high] with {MIN_SOURCES} <= low <= high <= "
                              f"{len(MONTAGE_32)} (fewer than {MIN_SOURCES} channels interpolate nothing); got "
                              f"{list(self.subset_sizes)}")
        if self.seed < 0:
            raise ConfigError(f"eeg_student.seed must be 0 or more, not {self.seed}")

    def describe_montages(self) -> str:
        """What the training inputs were, for the manifest and the report."""
        if not self.montage_subsets:
            return "the full 32-channel montage"
        low, high = self.subset_sizes
        kind = "symmetric " if self.symmetric_subsets else ""
        return (f"the full 32-channel montage and {self.montage_subsets} random {kind}subsets of {low}-{high} of its "
                "channels per training recording, the others interpolated by the live path (each window in one "
                "version per epoch); validation and test on the full montage")


@dataclass
class _Data:
    z: dict[str, np.ndarray]  #: (T, N_FEATURES) normalised live features
    va: dict[str, np.ndarray]  #: (T, 2)
    synthetic: bool


def _live_features(trial, columns: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(T, 6, 32) features of one recording through the live pipeline, and each window's centre time (s).

    ``columns``: the recording's channels the stream carries (all of them when None), so that a subset goes through
    the live path as a headset with those channels would: the montage channels it lacks are interpolated.
    """
    columns = np.arange(len(trial.ch_names)) if columns is None else np.asarray(columns)
    spec = EEGStreamSpec(sfreq=trial.sfreq, n_channels=len(columns), labels=tuple(trial.ch_names[c] for c in columns),
                         synthetic=bool(trial.meta.get("synthetic")))
    pipe = AffectPipeline(spec, FEATURES_ONLY)
    times = np.arange(trial.n_samples) / trial.sfreq
    results = pipe.push_eeg(np.ascontiguousarray(trial.eeg[columns].T), times)
    centre = np.array([r.t for r in results]) - (pipe.n_window - 1) / (2 * trial.sfreq)
    return np.stack([r.features for r in results]).astype(np.float32), centre


def prepare(run: Run) -> _Data:
    from tqdm import tqdm

    opts: EEGStudentConfig = run.config.options
    z, va = {}, {}
    by_subject: dict[int, list] = {}
    for t in run.trials:
        by_subject.setdefault(t.subject, []).append(t)
    for subject, trials in tqdm(by_subject.items(), desc="live-path features", unit="subject",
                                disable=not run.progress):
        norm = RunningFeatureNorm(N_FEATURES, memory=opts.norm_memory)  # one per subject, carried across its recordings
        for t in trials:
            feats, centre = _live_features(t)
            z[t.key] = norm.transform_sequence(feats)
            arousal = t.meta.get("arousal")
            if arousal is None:  # SEED rates valence alone: the arousal head is then not trained (loss "mse")
                if opts.loss == "ccc":
                    raise ValueError(f"trial {t.key} has no arousal labels; train on valence alone with "
                                     "--set eeg_student.loss=\"mse\"")
                arousal = np.full(t.continuous.values.shape, np.nan, np.float32)
            va[t.key] = np.column_stack([np.interp(centre, t.continuous.times, t.continuous.values),
                                         np.interp(centre, t.continuous.times, arousal)]).astype(np.float32)
    return _Data(z, va, all(t.meta.get("synthetic", False) for t in run.trials))


def homologue(label: str) -> str | None:
    """The mirror site of a 10-20 label (odd numbers left, even right: ``F3`` <-> ``F4``, ``Fp1`` <-> ``Fp2``);
    None for a midline site (``Fz``)."""
    found = _NUMBERED.match(label)
    if found is None:
        return None
    number = int(found.group(2))
    return f"{found.group(1)}{number + 1 if number % 2 else number - 1}"


def _subset_units(labels: list[str], columns: np.ndarray, symmetric: bool) -> list[list[int]]:
    """What a subset is drawn from: single channels, or (``symmetric``) homologous pairs and unpaired sites."""
    if not symmetric:
        return [[int(c)] for c in columns]
    index = dict(zip(labels, columns.tolist()))
    units, seen = [], set()
    for label, column in index.items():
        mate = homologue(label)
        if label in seen:
            continue
        units.append([column, index[mate]] if mate in index else [column])
        seen |= {label, mate}
    return units


def subset_draws(trial, n: int, sizes: tuple[int, int], seed: int, symmetric: bool = True) -> list[np.ndarray]:
    """The ``n`` channel subsets of one training recording: columns of ``trial.eeg`` that are montage channels.

    Sizes are uniform in ``sizes`` (at most the montage channels the recording has). With ``symmetric`` a subset is
    made of homologous pairs (F3 with F4) and midline sites, as headsets are laid out, so that the student learns to
    read a left-right difference from whichever pairs a headset has; the last pair may make it one channel larger
    (never smaller: fewer than three channels interpolate nothing). Otherwise channels are uniform without
    replacement. Columns come in montage order. The generator is seeded with ``seed`` and the recording's subject,
    session and trial numbers, so a recording gets the same subsets whatever else the run holds and in whatever order.
    """
    mapping = map_channels(trial.ch_names, len(trial.ch_names))
    present = mapping.source_index[mapping.present]  # the recording's montage channels, in montage order
    labels = [m for m, ok in zip(mapping.model_labels, mapping.present) if ok]
    units = _subset_units(labels, present, symmetric)
    rng = np.random.default_rng([seed, trial.subject, trial.session or 0, trial.trial])
    draws = []
    for _ in range(n):
        size = int(rng.integers(min(sizes[0], len(present)), min(sizes[1], len(present)) + 1))
        chosen: list[int] = []
        for u in rng.permutation(len(units)):
            chosen += units[u]
            if len(chosen) >= size:
                break
        draws.append(np.sort(np.array(chosen)))
    return draws


def _subset_features(run: Run, keys) -> list[dict[str, np.ndarray]]:
    """For each of the K subsets: training recording -> (T, N_FEATURES) normalised live features on that subset.

    One normaliser per subject and subset, carried across the subject's training recordings in order, as a live
    stream of one headset on one person would carry it.
    """
    from tqdm import tqdm

    opts: EEGStudentConfig = run.config.options
    wanted = set(keys)
    out: list[dict[str, np.ndarray]] = [{} for _ in range(opts.montage_subsets)]
    norms: dict[tuple[int, int], RunningFeatureNorm] = {}
    trials = [t for t in run.trials if t.key in wanted]
    for t in tqdm(trials, desc="montage subsets", unit="recording", disable=not run.progress):
        for k, columns in enumerate(subset_draws(t, opts.montage_subsets, opts.subset_sizes,
                                                 run.config.run.seed + opts.seed, opts.symmetric_subsets)):
            norm = norms.setdefault((t.subject, k), RunningFeatureNorm(N_FEATURES, memory=opts.norm_memory))
            out[k][t.key] = norm.transform_sequence(_live_features(t, columns)[0])
    return out


def _training_windows(run: Run, data: _Data, keys: list) -> tuple[WindowSet, np.ndarray]:
    """The training windows (full montage) and every version of their inputs, (1 + K, N, window, N_FEATURES)."""
    opts: EEGStudentConfig = run.config.options
    cfg = opts.train
    windows = make_windows([(data.z[k], data.va[k][:, 0], {"arousal": data.va[k][:, 1]}) for k in keys],
                           cfg.window, cfg.hop)
    versions = [windows.x] + [make_windows([(z[k], data.va[k][:, 0], {}) for k in keys], cfg.window, cfg.hop).x
                              for z in (_subset_features(run, keys) if opts.montage_subsets else [])]
    return windows, np.stack(versions)


def _epoch_windows(windows: WindowSet, versions: np.ndarray, seed: int, epoch: int) -> WindowSet:
    """The epoch's windows: each training window once, in one of its versions drawn from ``(seed, epoch)``."""
    if len(versions) == 1:
        return windows
    pick = np.random.default_rng([seed, epoch, 1]).integers(0, len(versions), len(windows))
    return WindowSet(versions[pick, np.arange(len(windows))], windows.y, windows.extra)


def _predict(model: EEGTCN, x: np.ndarray, cfg: OptimConfig, device) -> np.ndarray:
    w = sequence_windows(len(x), cfg.window, cfg.hop)
    with torch.no_grad():
        out = model(torch.from_numpy(w.take(x)).to(device).transpose(1, 2))
    return stitch(torch.stack([out.valence, out.arousal], -1).cpu().numpy(), w.starts, w.lengths, len(x))


def _scores(model: EEGTCN, data: _Data, keys, cfg: OptimConfig, device) -> dict[str, float]:
    preds = {k: _predict(model, data.z[k], cfg, device) for k in keys}
    out = {}
    for i, name in enumerate(("valence", "arousal")):
        m = evaluate_regression({k: p[:, i] for k, p in preds.items()}, {k: data.va[k][:, i] for k in keys})
        out.update({f"{metric}_{name}": m[metric] for metric in ("ccc", "pcc", "rmse")})
    return out


def fold(run: Run, data: _Data, fold: Fold) -> dict:
    opts: EEGStudentConfig = run.config.options
    cfg, device, folder = opts.train, run.device, run.fold_dir(fold)
    train_keys, val_keys, test_keys = list(fold.train), list(fold.val), list(fold.test)
    if opts.seed:  # the runner seeded with run.seed alone
        run.seed(fold.index + 1000 * opts.seed)
    seed = run.config.run.seed + opts.seed
    model = EEGTCN(channels=opts.channels, kernel_size=opts.kernel_size, dropout=opts.dropout).to(device)
    windows, versions = _training_windows(run, data, train_keys)

    def loss(net, b):
        out, valid = net(b[0].to(device).transpose(1, 2)), b[2]["valid"].to(device)  # padding left out
        return (regression_loss(out.valence, b[1].to(device), opts.loss, valid)
                + regression_loss(out.arousal, b[2]["arousal"].to(device), opts.loss, valid)) / 2

    def score(m) -> float:
        s = _scores(m, data, val_keys, cfg, device)
        return float(np.nanmean([s["ccc_valence"], s["ccc_arousal"]]))  # valence alone when arousal is unrated

    def epoch_batches(epoch: int):
        return batches(_epoch_windows(windows, versions, seed, epoch), cfg.batch_size, seed, epoch, run.ctx)

    start = time.perf_counter()
    result = fit(model, loss, epoch_batches, score, cfg, checkpoint=folder / "eeg_student.ckpt", desc="EEG student",
                 progress=run.progress, ctx=run.ctx, amp=run.amp, cpu_bf16=run.cpu_bf16)
    hashes = {"eeg_student": run.save_weights(model, folder / "eeg_student.pt")}
    out = {"val": _scores(model, data, val_keys, cfg, device), "best_epoch": result.best_epoch,
           "history": result.history, "weights_sha256": hashes,
           "test": _scores(model, data, test_keys, cfg, device) if test_keys else {},
           "subjects": {name: sorted({run_trial.subject for run_trial in run.trials if run_trial.key in set(keys)})
                        for name, keys in (("train", train_keys), ("val", val_keys), ("test", test_keys))}}
    if opts.export_to and run.ctx.is_main and not run.fast_dev_run:  # a smoke test never bundles a model
        out["exported"] = _export(run, model, out, time.perf_counter() - start)
    return out


def _export(run: Run, model: EEGTCN, result: dict, wall_s: float) -> dict:
    """Bundle the model into ``export_to`` (ONNX + state dict + manifest entries)."""
    opts: EEGStudentConfig = run.config.options
    synthetic = all(t.meta.get("synthetic", False) for t in run.trials)
    data = "synthetic" if synthetic else "real"
    subjects = result["subjects"]
    source = run.config.data.path if run.config.data.kind == "xdf" else run.dataset
    trained_on = (f"{'SYNTHETIC: affectstream simulator (planted truth)' if synthetic else 'recordings'} from "
                  f"{source}: training subjects {subjects['train']}, validation {subjects['val']}")
    metrics = {"data": data, "val": result["val"], "test": result["test"], "test_subjects": subjects["test"]}
    shared = {"data": data, "trained_on": trained_on, "command": run.command, "run": str(run.folder),
              "training": {"config": asdict(opts), "best_epoch": result["best_epoch"],
                           "epochs_run": len(result["history"]), "wall_s": round(wall_s, 1)}}
    bundle = bundle_eeg_student(
        model.cpu().eval(), run.config.resolve(opts.export_to), shared=shared, norm_memory=opts.norm_memory,
        architecture={"channels": list(opts.channels), "kernel_size": opts.kernel_size, "dropout": opts.dropout},
        onnx_fields={"task": "eeg_valence_arousal", "outputs": {"valence_arousal": "valence_arousal"},
                     "metrics": metrics},
        torch_fields={"task": "eeg_valence_arousal (torch weights for saliency)"},
        input_fields={"features": "log10 Welch band power, 6 bands x 32 channels band-major (core/bandpower.py)",
                      "normalisation": "RunningFeatureNorm per subject",
                      "training_montages": opts.describe_montages()})
    return {"onnx": str(bundle.onnx), "state_dict": str(bundle.state_dict),
            "onnx_max_abs_diff": bundle.onnx_max_abs_diff, "manifest": str(bundle.manifest)}


def summarise(run: Run, data: _Data, results: list[dict]) -> tuple[dict, str]:
    r = results[0]
    kind = "synthetic" if data.synthetic else "real"
    summary = {"data": kind, "method": "eeg_student", "folds": len(results), "val": r["val"], "test": r["test"],
               "subjects": r["subjects"], "best_epoch": r["best_epoch"], "command": run.command,
               "exported": r.get("exported")}
    lines = [f"# EEG student — {run.config.run.name}", ""]
    if data.synthetic:
        lines += ["**SYNTHETIC DATA** (the simulator's planted benchmark): these scores show the recipe works; they "
                  "are not results on human EEG.", ""]
    lines += [f"Subjects: train {r['subjects']['train']}, validation {r['subjects']['val']}, test "
              f"{r['subjects']['test']}; best epoch {r['best_epoch']}.", "",
              f"Training inputs: {run.config.options.describe_montages()}.", "",
              "| split | valence CCC | arousal CCC | valence PCC | arousal PCC |", "|---|---|---|---|---|"]
    for split in ("val", "test"):
        s = r[split]
        if s:
            lines.append(f"| {split} | {s['ccc_valence']:.3f} | {s['ccc_arousal']:.3f} | {s['pcc_valence']:.3f} | "
                         f"{s['pcc_arousal']:.3f} |")
    if r.get("exported"):
        lines += ["", f"Exported to `{r['exported']['onnx']}` (torch/onnxruntime max difference "
                      f"{r['exported']['onnx_max_abs_diff']:.1e})."]
    lines += ["", f"Command: `{run.command}`.", ""]
    return summary, "\n".join(lines) + "\n"


def rescore(run: Run, data: _Data, fold: Fold, result: dict) -> dict[str, float]:
    opts: EEGStudentConfig = run.config.options
    model = EEGTCN(channels=opts.channels, kernel_size=opts.kernel_size, dropout=opts.dropout)
    model.load_state_dict(torch.load(run.fold_dir(fold) / "eeg_student.pt", weights_only=True))
    model.to(run.device).eval()
    split = "test" if fold.test else "val"
    keys = list(fold.test) if fold.test else list(fold.val)
    s = _scores(model, data, keys, opts.train, run.device)
    return {f"{split} {name}": s[name] - result[split][name] for name in ("ccc_valence", "ccc_arousal")}


METHOD = Method("eeg_student", EEGStudentConfig, prepare, fold, summarise, rescore,
                data_kinds=("xdf", "deap", "mahnob", "mahnob_continuous", "dreamer", "seed"))


def training_methods() -> dict[str, Method]:
    """Every method ``affectstream train`` offers: the built-in ones of ``affectstream.models.methods`` and this one."""
    return BUILT_IN | {METHOD.name: METHOD}
