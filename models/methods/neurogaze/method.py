"""NeuroGaze-Distill (ICLR 2026; docs/methods.md §1): EEG valence/arousal prototypes distilled into a FER+ visual
student.

One ``holdout`` fold:

1. **EEG teacher** regressing valence and arousal from the band powers of the training subjects' trials (the
   :class:`~affectstream.models.nets.eeg_tcn.EEGTCN` on per-subject causal z-scores of the features, as the live
   student sees them; mean of the two ``1 - CCC`` losses, selected on the validation subjects). The paper's teacher
   is an unpublished CNN on topographic maps (docs/methods.md §8 #4: "any"); its penultimate features are what
   matters, here the TCN's 128-D per-frame features.
2. **Prototype bank**: the teacher's validation-frame features, L2-normalised, averaged in a 5 x 5 valence/arousal
   grid (bin centres -0.8 .. 0.8, binned by the ground truth or, with ``bin_by = "prediction"``, by the teacher's
   predictions), empty bins filled from the nearest non-empty bin, frozen and saved with its sha256
   (:class:`~affectstream.models.nets.prototypes.PrototypeBank`).
3. **Visual student** on FER+ (real images) with ``CE (label smoothing 0.055, class weights) + 0.30 KD + 0.12 Proto-KD +
   0.012 w(e) D-Geo`` (:mod:`affectstream.models.methods.neurogaze.distillation`; every ambiguity a switch of the
   ``[neurogaze.student]`` table), trained by the image loop, AdamW, cosine learning rate, gradient clipping, no EMA,
   selected on FER+ valid macro-F1 (§1.5). The KD teacher is the bundled FER+ visual student, frozen
   (docs/methods.md §8 #2). Every default is the paper's recipe and budget; a run lists how it departs
   (``recipe``, ``deviations`` in the summary).
4. **The comparison** (``baseline = true``, ``controls = true``): the same student, seed and budget with CE only,
   with CE + KD only (``plain_kd``) and with the prototypes shuffled across the grid (``shuffled_teacher``), and the
   frozen FER teacher, all scored on the same FER+ test images (:mod:`affectstream.models.methods.neurogaze.arms`);
   accuracy by McNemar's test, accuracy, macro-F1 and balanced accuracy by a paired bootstrap.
5. **Scores**: FER+ valid and test, 8-way and present-only accuracy, macro-F1 and balanced accuracy (§1.6).

The EEG here comes from ``[data]`` -- on the planted benchmark that is SYNTHETIC EEG, and the report says so; the
FER+ images and their scores are real.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from affectstream.core.feature_layout import N_FEATURES
from affectstream.core.feature_norm import RunningFeatureNorm
from affectstream.models.datasets.features import FeatureCache
from affectstream.models.methods.neurogaze.arms import CONTROLS, recipe, teacher_scores, train_students, weights_name
from affectstream.models.methods.neurogaze.distillation import NeuroGazeStudentConfig
from affectstream.models.methods.neurogaze.losses import METHODS_ANCHORS
from affectstream.models.methods.neurogaze.report import markdown
from affectstream.models.nets.eeg_tcn import EEGTCN
from affectstream.models.nets.prototypes import DEFAULT_CENTERS, PrototypeBank
from affectstream.models.nets.visual_student import FERPLUS_CLASSES
from affectstream.models.training.compare import split_comparison
from affectstream.models.training.evaluation import evaluate_regression, sequence_windows, stitch
from affectstream.models.training.fer_data import FerDataConfig, data_root, load_ferplus
from affectstream.models.training.fer_scores import fer_split_scores
from affectstream.models.training.image_loop import build_model, predict_logits
from affectstream.models.training.loop import OptimConfig, batches, fit, make_windows, regression_loss
from affectstream.models.training.method import Method, Run
from affectstream.models.training.protocols import Fold

log = logging.getLogger(__name__)

__all__ = ["METHOD", "NeuroGazeConfig", "kd_teacher"]


@dataclass(frozen=True)
class NeuroGazeConfig:
    """Options of NeuroGaze-Distill (the ``[neurogaze]`` table)."""

    teacher: OptimConfig = field(default_factory=lambda: OptimConfig(max_epochs=15, batch_size=32))
    teacher_channels: tuple[int, ...] = (128, 128)
    #: "mse" for ratings given once per clip (DREAMER, MAHNOB; models.training.loop.regression_loss), "ccc" for
    #: continuous labels
    teacher_loss: Literal["ccc", "mse"] = "ccc"
    bin_by: Literal["truth", "prediction"] = "truth"
    centers: tuple[float, ...] = tuple(float(c) for c in DEFAULT_CENTERS)
    student: NeuroGazeStudentConfig = field(default_factory=NeuroGazeStudentConfig)
    anchors: tuple[tuple[float, float], ...] = METHODS_ANCHORS  #: q_pro anchors per FER+ class (§1.4 option A)
    ferplus_root: str = ""  #: "" = the shared data folder (../shared/data/fer)
    kd_teacher: str = "visual_student"  #: the manifest name of the frozen FER teacher (sha256-verified)
    #: also train the student without the three terms (same recipe, optimiser, seed and budget) and compare
    baseline: bool = True
    #: with the baseline, also train the controls plain_kd and shuffled_teacher (methods/neurogaze/arms.py)
    controls: bool = True


def kd_teacher(name: str, cfg: FerDataConfig):
    """The frozen FER teacher of the manifest as a function of the student's normalised batches -> logits.

    Raises ValueError when the student's batches are not what the teacher expects (size, channels, normalisation).
    """
    from affectstream.models.deploy.fer_onnx import FerOnnx

    fer = FerOnnx.from_name(name)
    student = ((cfg.image_size, cfg.image_size), cfg.in_channels, tuple(cfg.mean), tuple(cfg.std))
    teacher = (fer.size, fer.channels, tuple(fer.mean.ravel().tolist()), tuple(fer.std.ravel().tolist()))
    if student != teacher:
        raise ValueError(f"the KD teacher takes (size, channels, mean, std) {teacher}; the student is configured "
                         f"for {student}")
    return lambda x: torch.from_numpy(fer.logits(x.detach().float().cpu().numpy()))


@dataclass
class _Data:
    eeg: dict[str, np.ndarray]  #: (T, N_FEATURES)
    va: dict[str, np.ndarray]  #: (T, 2) valence, arousal
    synthetic: bool


def prepare(run: Run) -> _Data:
    config = run.config
    cache = FeatureCache(config.resolve(config.data.cache_dir) / "features")
    feats = cache.features_for(run.trials, config.features, progress=run.progress)
    eeg, va = {}, {}
    norms: dict[int, RunningFeatureNorm] = {}
    for t in run.trials:  # trials in recording order: each subject's normaliser runs across its trials, causally
        f = feats[t.key].features
        norm = norms.setdefault(t.subject, RunningFeatureNorm(N_FEATURES))
        eeg[t.key] = norm.transform_sequence(f.reshape(len(f), -1))  # per-subject z-scores (missing channels: 0)
        arousal = t.meta.get("arousal")
        if arousal is None:
            raise ValueError(f"trial {t.key} has no arousal labels: the prototype grid needs valence and arousal")
        va[t.key] = np.column_stack([t.continuous.values, arousal]).astype(np.float32)
    return _Data(eeg, va, all(t.meta.get("synthetic", False) for t in run.trials))


def _teacher_outputs(model: EEGTCN, x: np.ndarray, cfg: OptimConfig, device) -> tuple[np.ndarray, np.ndarray]:
    """Stitched (T, 2) predictions and (T, 128) features of one trial, window-wise as in training."""
    w = sequence_windows(len(x), cfg.window, cfg.hop)
    with torch.no_grad():
        out = model(torch.from_numpy(w.take(x)).to(device).transpose(1, 2))
    pred = torch.stack([out.valence, out.arousal], dim=-1).cpu().numpy()
    return (stitch(pred, w.starts, w.lengths, len(x)),
            stitch(out.features.cpu().numpy(), w.starts, w.lengths, len(x)))


def fold(run: Run, data: _Data, fold: Fold) -> dict:
    opts: NeuroGazeConfig = run.config.options
    # every arm is seeded from the run's seed and the fold, whatever ran before it (the image loop reseeds each student)
    device, seed, folder = run.device, run.config.run.seed + fold.index, run.fold_dir(fold)
    train_keys, val_keys = list(fold.train), list(fold.val)
    t_cfg = opts.teacher

    # 1. EEG teacher
    run.seed(fold.index)
    teacher = EEGTCN(channels=opts.teacher_channels).to(device)
    windows = make_windows([(data.eeg[k], data.va[k][:, 0], {"arousal": data.va[k][:, 1]}) for k in train_keys],
                           t_cfg.window, t_cfg.hop)

    def loss(net, b):
        out, valid = net(b[0].to(device).transpose(1, 2)), b[2]["valid"].to(device)  # padding left out
        return (regression_loss(out.valence, b[1].to(device), opts.teacher_loss, valid)
                + regression_loss(out.arousal, b[2]["arousal"].to(device), opts.teacher_loss, valid)) / 2

    def val_scores(model) -> dict[str, float]:
        preds = {k: _teacher_outputs(model, data.eeg[k], t_cfg, device)[0] for k in val_keys}
        v = evaluate_regression({k: p[:, 0] for k, p in preds.items()}, {k: data.va[k][:, 0] for k in val_keys})
        a = evaluate_regression({k: p[:, 1] for k, p in preds.items()}, {k: data.va[k][:, 1] for k in val_keys})
        return {"ccc_valence": v["ccc"], "ccc_arousal": a["ccc"]}

    t_fit = fit(teacher, loss, lambda e: batches(windows, t_cfg.batch_size, seed, e, run.ctx),
                lambda m: float(np.mean(list(val_scores(m).values()))), t_cfg, checkpoint=folder / "eeg_teacher.ckpt",
                desc="EEG teacher", progress=run.progress, ctx=run.ctx, amp=run.amp, cpu_bf16=run.cpu_bf16)
    hashes = {"eeg_teacher": run.save_weights(teacher, folder / "eeg_teacher.pt")}

    # 2. prototype bank from the validation frames
    outputs = [_teacher_outputs(teacher, data.eeg[k], t_cfg, device) for k in val_keys]
    features = np.concatenate([f for _, f in outputs])
    va = np.concatenate([p for p, _ in outputs]) if opts.bin_by == "prediction" else \
        np.concatenate([data.va[k] for k in val_keys])
    bank = PrototypeBank.from_embeddings(features, np.clip(va, -1, 1), centers=np.asarray(opts.centers),
                                         tau=opts.student.proto_tau)
    if run.ctx.is_main:
        bank.save(folder / "prototypes.npz")

    # 3. visual students on FER+: the method, and with a baseline its baseline and controls (arms.py), each from
    # the same seed; the frozen FER teacher is scored on the same images
    fer_teacher = kd_teacher(opts.kd_teacher, opts.student)
    fer = load_ferplus(opts.student, data_root(opts.ferplus_root), with_test=True)
    arms = (("baseline",) + (CONTROLS if opts.controls else ())) if opts.baseline else ()
    students = train_students(opts.student, arms, fer, bank, fer_teacher, opts.anchors, seed, folder, run.progress)
    for arm, s in students.items():
        hashes[weights_name(arm)] = run.save_weights(s.result.model, folder / f"{weights_name(arm)}.pt")
    scored = {arm: {"history": s.result.history, "best": s.result.best, "fer": _split_scores(s.result.model, fer, opts),
                    **s.record} for arm, s in students.items()}
    method = scored.pop("method")
    out = {"eeg_teacher": {"val": val_scores(teacher), "best_epoch": t_fit.best_epoch, "history": t_fit.history},
           "prototypes": {"sha256": bank.sha256(), "counts": bank.counts.cpu().numpy().tolist(),
                          "filled": int((bank.filled_from >= 0).sum()), "bin_by": opts.bin_by},
           "student": {"history": method["history"], "best": method["best"]}, "fer": method["fer"],
           "weights_sha256": hashes}
    if arms:  # the comparison: the baseline, the controls and the teacher the method distils from
        out["baseline"] = scored.pop("baseline")
        out["controls"] = scored
        out["fer_teacher"] = {"name": opts.kd_teacher, "fer": teacher_scores(fer_teacher, fer, opts.student)}
    return out


def _split_scores(model, fer, opts: NeuroGazeConfig) -> dict:
    """FER+ valid and test scores of a trained student (with the per-image predictions, for the paired test)."""
    return {split: fer_split_scores(predict_logits(model, getattr(fer, split).images, opts.student),
                                    getattr(fer, split).votes) for split in ("valid", "test")}


def summarise(run: Run, data: _Data, results: list[dict]) -> tuple[dict, str]:
    r, opts = results[0], run.config.options
    brief = {split: {k: v for k, v in r["fer"][split].items() if k in ("8way", "present_only")}
             for split in ("valid", "test")}
    kind, deviations = recipe(opts.student, run.dataset + (" (SYNTHETIC EEG)" if data.synthetic else ""))
    summary = {"data": ("synthetic EEG teacher" if data.synthetic else "real EEG teacher") + "; real FER+ images",
               "method": "neurogaze", "folds": len(results), "eeg_teacher_val": r["eeg_teacher"]["val"],
               "prototypes": r["prototypes"], "fer_valid": brief["valid"], "fer_test": brief["test"],
               "recipe": kind, "deviations": deviations, "command": run.command}
    if "baseline" in r:  # the method against its baseline, controls and teacher on the same FER+ test images
        # (.get: a fold finished before the controls existed has neither controls nor teacher scores)
        arms = {"baseline": r["baseline"], **r.get("controls", {}),
                **({"teacher": r["fer_teacher"]} if "fer_teacher" in r else {})}
        pred = {arm: np.asarray(a["fer"]["test"]["predictions"]) for arm, a in arms.items()}
        summary["baseline"] = {split: r["baseline"]["fer"][split]["8way"]["accuracy"] for split in ("valid", "test")}
        summary["arms"] = {arm: {split: {k: v for k, v in a["fer"][split]["8way"].items() if k != "confusion_matrix"}
                                 for split in ("valid", "test")} for arm, a in arms.items()}
        summary["comparison"] = {
            **split_comparison(np.asarray(r["fer"]["test"]["labels"]), pred["baseline"],
                               np.asarray(r["fer"]["test"]["predictions"]), baseline_name="CE only",
                               method_name="neurogaze", dataset="FER+", seed=run.config.run.seed,
                               n_classes=len(FERPLUS_CLASSES), controls={k: pred[k] for k in r.get("controls", {})},
                               teacher=pred.get("teacher"), recipe=kind, deviations=deviations),
            "data": "real", "data_note": "real FER+ images; the prototype bank comes from an EEG teacher on "
                                         + ("SYNTHETIC planted EEG" if data.synthetic else "real EEG")
                                         + f"; the teacher is the frozen {opts.kd_teacher}"}
    return summary, markdown(run, r, summary, data.synthetic)


def rescore(run: Run, data: _Data, fold: Fold, result: dict) -> dict[str, float]:
    """FER+ valid accuracy of the saved visual student again, minus the recorded one."""
    opts: NeuroGazeConfig = run.config.options
    model = build_model(opts.student)
    if opts.student.channels_last:  # the memory format the recorded scores were computed in (bf16 rounding differs)
        model = model.to(memory_format=torch.channels_last)
    state = torch.load(run.fold_dir(fold) / "visual_student.pt", weights_only=True)
    model.set_prototypes(PrototypeBank.load(run.fold_dir(fold) / "prototypes.npz"))
    model.load_state_dict(state)
    model.eval()
    fer = load_ferplus(opts.student, data_root(opts.ferplus_root))
    acc = fer_split_scores(predict_logits(model, fer.valid.images, opts.student), fer.valid.votes)["8way"]["accuracy"]
    return {f"fold {fold.index} FER+ valid accuracy": acc - result["fer"]["valid"]["8way"]["accuracy"]}


METHOD = Method("neurogaze", NeuroGazeConfig, prepare, fold, summarise, rescore,
                data_kinds=("xdf", "dreamer", "mahnob", "mahnob_continuous", "deap"))
