"""Concept-regularised coding (CRPN; Lu, Zhuang, Luo, AAAI 2024; docs/methods.md §4) in the trainer, on FER+ (real
images), trained by the image loop (:mod:`affectstream.models.training.image_loop`).

One fold, FER+'s own split (``[data] kind = "ferplus"``):

1. **Conceptual pathway** (teacher, :class:`~affectstream.models.methods.crpn.nets.ConceptualPathway`) with
   ``L_CP = 0.1 L_orth + 1 (L_WCE + L_RR) + 0.01 L_CC`` (:mod:`affectstream.models.methods.crpn.losses`) in place of
   the cross-entropy.
2. **Confidence-based concept selection**: the trained teacher's confidence ``alpha`` of every training image; per
   class the 20th percentile is the threshold, the images above it are the high-confidence pool.
3. **Baseline**: the perceptual pathway (:class:`~affectstream.models.methods.crpn.nets.PerceptualPathway`) with its
   cross-entropy only ("percepPath alone"), and 4. **CRPN**: the same network, seed and budget with
   ``2 CE + 1 L_S + 1 L_D``: ``L_S`` pulls its features onto the concept targets (its own teacher feature for a
   high-confidence image, else the mean teacher feature of ``K = 8`` high-confidence images of its class), ``L_D``
   distils the teacher's class distribution on the high-confidence images.
5. **Controls** (``controls = true``), the same network, seed and budget again: ``plain_kd`` with Hinton KD from the
   same teacher instead of the concepts, and ``shuffled_teacher``, CRPN with the teacher's view of each image taken
   from another image of the batch. Every student arm starts from the same seed (the same initialisation, batches
   and augmentation), so its weights do not depend on which other arms ran.
6. **Scores** on FER+ valid and test (majority protocol, 8-way and present-only) for every network, at the best
   validation epoch and -- because the released code selects on the test set (docs/methods.md §8 #22) -- the students'
   test accuracy at their last epoch too. The method is compared with the baseline, the controls and the teacher on
   the test images (accuracy by McNemar's test; accuracy, macro-F1 and balanced accuracy by a paired bootstrap), and
   the summary lists how the run departs from the paper's recipe (:func:`recipe`).

Deviations, for a CPU and for data that exist here: the bodies are the project's 48 px ResNet-18 family at
``width_mult`` (0.5 by default) trained from scratch, not face-recognition-pretrained ResNet-50 / ResNet-18 at 224 px;
the non-emotion encoder is therefore a frozen *random* network of the emotion encoder's initialisation; the
confidence pass runs on the un-augmented training images once, and the ``K`` images of a concept target are taken
from that pass (the released code re-reads and re-augments them at every step); model selection is on FER+ valid.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from affectstream.models.methods.crpn.losses import (class_thresholds, concept_regression_loss, concept_targets,
                                                     high_confidence, logit_kd, orthogonality_loss,
                                                     rank_regularization, weighted_ce, weighted_supcon)
from affectstream.models.methods.crpn.nets import ConceptualPathway, PerceptualPathway
from affectstream.models.nets.visual_student import FERPLUS_CLASSES
from affectstream.models.training.compare import split_comparison, split_comparison_lines
from affectstream.models.training.fer_data import data_root, load_ferplus, preprocess
from affectstream.models.training.fer_scores import fer_split_scores
from affectstream.models.training.image_loop import ExtraLoss, ImageTrainConfig, predict_logits, train
from affectstream.models.training.loop import recipe_deviations
from affectstream.models.training.method import Method, Run
from affectstream.models.training.protocols import Fold

__all__ = ["CRPNConfig", "CRPNStudentConfig", "CRPNTeacherConfig", "ConceptLoss", "HintonKD", "METHOD", "PerceptLoss",
           "ShuffledPerceptLoss", "recipe"]

N_CLASSES = len(FERPLUS_CLASSES)


@dataclass(frozen=True)
class CRPNTeacherConfig(ImageTrainConfig):
    """The conceptual pathway's training (docs/methods.md §4.5, the released code): Adam with betas (0.5, 0.999), weight
    decay 1e-5, learning rate 1e-4 under a per-batch cosine of period 10 steps, batch 64, 100 epochs, hard labels,
    random crop and flip only; its own loss replaces the cross-entropy (``ce_weight = 0``)."""

    targets: Literal["soft", "hard"] = "hard"
    ce_weight: float = 0.0
    label_smoothing: float = 0.0
    lr: float = 1e-4
    adam_betas: tuple[float, float] = (0.5, 0.999)
    weight_decay: float = 1e-5
    lr_schedule: Literal["warmup_cosine", "cyclic_cosine"] = "cyclic_cosine"
    cosine_t_max: int = 5
    warmup_epochs: float = 0.0
    grad_clip: float = 0.0
    batch_size: int = 64
    epochs: int = 100
    affine_p: float = 0.0
    erase_p: float = 0.0


@dataclass(frozen=True)
class CRPNStudentConfig(CRPNTeacherConfig):
    """The perceptual pathway's training: the teacher's recipe, 40 epochs, ``lambda_1 = 2`` on the cross-entropy."""

    ce_weight: float = 2.0
    epochs: int = 40


@dataclass(frozen=True)
class CRPNConfig:
    """Options of CRPN (the ``[crpn]`` table). Paper-versus-code switches (docs/methods.md §4, §8 #17-#22) default
    to the paper's reading unless §8 recommends the code's."""

    teacher: CRPNTeacherConfig = field(default_factory=CRPNTeacherConfig)
    student: CRPNStudentConfig = field(default_factory=CRPNStudentConfig)
    dim: int = 256  #: concept feature size P
    head_dropout: float = 0.4
    classifier: Literal["linear", "mlp"] = "linear"  #: the paper's W f_emo (Eq. 3) or the code's 2-layer MLP
    non_emotion_heads_trainable: bool = False  #: paper: the whole non-emotion encoder is fixed; code: its head learns
    # conceptual pathway: L_CP = orth_weight L_orth + wce_weight (L_WCE + L_RR) + cc_weight L_CC
    orth_weight: float = 0.1
    orth_mode: Literal["mean", "frobenius"] = "mean"  #: §8 #17: the code's mean
    wce_weight: float = 1.0
    wce_mode: Literal["wce", "focal"] = "wce"  #: the paper; the code's focal loss needs per-class alphas (RAF-DB's)
    focal_alpha: tuple[float, ...] = ()  #: focal only: one weight per FER+ class (empty = all 1)
    focal_gamma: float = 2.0
    rr_ratio: float = 0.7
    rr_margin: float = 0.15
    cc_weight: float = 0.01
    supcon_tau: float = 0.07
    supcon_reduce: Literal["sum", "mean"] = "sum"  #: over the positives: the paper's sum, the code's mean
    supcon_views: Literal["vector", "code_dims"] = "vector"  #: §8 #19: the paper's one view per image
    # concept selection and the perceptual pathway: L_PP = ce_weight CE + concept_weight L_S + kd_weight L_D
    percentile: float = 0.2
    k: int = 8
    high_rule: Literal["gt", "ge"] = "gt"  #: the paper's alpha > threshold, the code's >=
    concept_selection: bool = True  #: False = the code's default path (plain KD: L_S and L_D on every image)
    concept_loss: Literal["mmd", "mse"] = "mmd"  #: §8 #20: the code's MMD
    concept_weight: float = 1.0
    kd_weight: float = 1.0
    kd_temperature: float = 1.0
    ferplus_root: str = ""  #: "" = the shared data folder (../shared/data/fer)
    #: also train the controls plain_kd (Hinton KD from the same teacher) and shuffled_teacher (CRPN with the
    #: teacher's outputs permuted across each batch's samples), same recipe, seed and budget as the baseline
    controls: bool = True
    plain_kd_temperature: float = 4.0  #: T of the plain_kd control (loss kd_weight * T^2 KL, Hinton et al. 2015)


class ConceptLoss(ExtraLoss):
    """The conceptual pathway's loss ``L_CP`` on a batch (the teacher's ``ce_weight`` is 0: this is all of it)."""

    def __init__(self, opts: CRPNConfig) -> None:
        self.opts = opts

    def check(self, cfg: ImageTrainConfig) -> None:
        if cfg.targets != "hard":
            raise ValueError("CRPN's conceptual pathway trains on hard labels (teacher.targets = \"hard\")")
        if self.opts.focal_alpha and len(self.opts.focal_alpha) != N_CLASSES:
            raise ValueError(f"crpn.focal_alpha needs {N_CLASSES} values (one per FER+ class), got "
                             f"{len(self.opts.focal_alpha)}")

    def loss(self, out, x, target, epoch, cfg, idx):
        o = self.opts
        f_emo, y = out.embedding.float(), target
        return (o.orth_weight * orthogonality_loss(f_emo, out.non_emotion.float(), o.orth_mode)
                + o.wce_weight * (weighted_ce(out.logits.float(), y, o.wce_mode, o.focal_alpha or None, o.focal_gamma)
                                  + rank_regularization(out.alpha.float(), o.rr_ratio, o.rr_margin))
                + o.cc_weight * weighted_supcon(f_emo, y, o.supcon_tau, o.supcon_reduce, o.supcon_views))


class PerceptLoss(ExtraLoss):
    """The perceptual pathway's distillation terms ``L_S`` and ``L_D`` (its CE is the trainer's, ``ce_weight = 2``).

    Parameters
    ----------
    teacher : ConceptualPathway
        Trained and frozen; it runs (eval mode, no gradient) on each augmented batch.
    high, labels : torch.Tensor
        ``(N_train,)`` high-confidence flags and labels of the training images.
    pool : torch.Tensor
        ``(N_high, dim)`` teacher features of the high-confidence images, ``pool_labels`` their labels.
    """

    def __init__(self, teacher: ConceptualPathway, high: torch.Tensor, labels: torch.Tensor, pool: torch.Tensor,
                 pool_labels: torch.Tensor, opts: CRPNConfig) -> None:
        self.teacher, self.high, self.labels = teacher.eval(), high, labels
        self.pool, self.pool_labels, self.opts = pool, pool_labels, opts

    def attach(self, model) -> None:
        self.teacher.eval()

    def teacher_view(self, x, idx, epoch: float, bf16: bool) -> tuple[torch.Tensor, ...]:
        """What the teacher knows of the batch, row by row: its logits and features on ``x`` (float32, computed
        under bfloat16 autocast with ``bf16``), and the samples' high-confidence flags and labels."""
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            t_logits, t_feat, _ = self.teacher.emotion(x)
        return t_logits.float(), t_feat.float(), self.high[idx], self.labels[idx]

    def loss(self, out, x, target, epoch, cfg, idx):
        o = self.opts
        t_logits, t_feat, high, labels = self.teacher_view(x, idx, epoch, cfg.bf16)
        if o.concept_selection:
            # the K images come from the global torch RNG, which the trainer's checkpoints restore
            f_ec = concept_targets(t_feat, high, labels, self.pool, self.pool_labels, o.k)
        else:
            high, f_ec = None, t_feat
        return (o.concept_weight * concept_regression_loss(f_ec, out.embedding.float(), o.concept_loss)
                + o.kd_weight * logit_kd(t_logits, out.logits.float(), high, o.kd_temperature))


class ShuffledPerceptLoss(PerceptLoss):
    """The ``shuffled_teacher`` control: CRPN's terms with the teacher's view of each sample (logits, features,
    confidence flag and the class its concept is drawn from) taken from another sample of the batch.

    The permutation is one random cycle through the batch (no sample keeps its own), drawn from ``(seed, step)`` --
    a fresh one every step, the same on a resumed run. What survives is the teacher's output statistics; what is
    destroyed is which image they belong to.
    """

    def __init__(self, *args, seed: int) -> None:
        super().__init__(*args)
        self.seed = seed

    def teacher_view(self, x, idx, epoch: float, bf16: bool):
        order = np.random.default_rng([self.seed, round(epoch * 1_000_000)]).permutation(len(idx))
        perm = torch.empty(len(idx), dtype=torch.long)
        perm[torch.from_numpy(order)] = torch.from_numpy(np.roll(order, -1))  # row order[j] gets row order[j + 1]
        return tuple(t[perm] for t in super().teacher_view(x, idx, epoch, bf16))


class HintonKD(ExtraLoss):
    """The ``plain_kd`` control: vanilla distillation of the same frozen teacher's class distribution on every sample,
    ``weight * T^2 * KL(softmax(V_emo / T) || softmax(V_per / T))`` (Hinton et al. 2015), no concepts."""

    def __init__(self, teacher: ConceptualPathway, temperature: float, weight: float) -> None:
        self.teacher, self.temperature, self.weight = teacher.eval(), temperature, weight

    def attach(self, model) -> None:
        self.teacher.eval()

    def loss(self, out, x, target, epoch, cfg, idx):
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
            t_logits = self.teacher.emotion(x)[0].float()
        t = self.temperature
        return self.weight * t * t * logit_kd(t_logits, out.logits.float(), None, t)


def prepare(run: Run) -> None:
    """Nothing dataset-wide: the one fold reads FER+ itself."""


@torch.no_grad()
def confidence_pass(teacher: ConceptualPathway, images: np.ndarray,
                    cfg: ImageTrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The frozen teacher's ``alpha`` ``(N,)`` and ``f_emo`` ``(N, dim)`` for un-augmented uint8 images.

    In float32 even when training ran under bfloat16: the per-class percentile thresholds compare ``alpha`` values,
    and bfloat16's 8-bit mantissa would put hundreds of images on the same value as the threshold.
    """
    teacher.eval()
    alphas, feats = [], []
    for i in range(0, len(images), cfg.eval_batch_size):
        x = preprocess(images[i:i + cfg.eval_batch_size], cfg)
        if cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        _, f, a = teacher.emotion(x)
        alphas.append(a)
        feats.append(f)
    return torch.cat(alphas), torch.cat(feats)


def _inputs(cfg: ImageTrainConfig) -> tuple:
    return cfg.image_size, cfg.in_channels, tuple(cfg.mean), tuple(cfg.std), cfg.targets, cfg.limit_train


def _student(cfg: ImageTrainConfig, opts: CRPNConfig) -> PerceptualPathway:
    """A fresh perceptual pathway, in the memory format it trains and is scored in (bf16 rounding depends on it)."""
    model = PerceptualPathway(cfg.in_channels, cfg.width_mult, cfg.stem_pool, N_CLASSES, opts.dim, opts.head_dropout)
    return model.to(memory_format=torch.channels_last) if cfg.channels_last else model


def _scores(model, fer, cfg: ImageTrainConfig) -> dict:
    return {split: fer_split_scores(predict_logits(model, getattr(fer, split).images, cfg), getattr(fer, split).votes)
            for split in ("valid", "test")}


def _last_epoch_test(model, path: Path, fer, cfg: ImageTrainConfig) -> float:
    """Test accuracy of the weights after the last epoch (the training checkpoint), for docs/methods.md §8 #22."""
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["model"])
    return fer_split_scores(predict_logits(model, fer.test.images, cfg), fer.test.votes)["8way"]["accuracy"]


def fold(run: Run, state: None, fold: Fold) -> dict:
    opts: CRPNConfig = run.config.options
    seed, folder = run.config.run.seed + fold.index, run.fold_dir(fold)
    t_cfg, s_cfg = opts.teacher, opts.student
    if _inputs(t_cfg) != _inputs(s_cfg):
        raise ValueError("crpn.teacher and crpn.student must read the images alike (image_size, in_channels, mean, "
                         "std, targets, limit_train)")
    fer = load_ferplus(s_cfg, data_root(opts.ferplus_root), with_test=True)
    labels = torch.as_tensor(fer.targets)

    # 1. conceptual pathway
    torch.manual_seed(seed)
    teacher = ConceptualPathway(t_cfg.in_channels, t_cfg.width_mult, t_cfg.stem_pool, N_CLASSES, opts.dim,
                                opts.head_dropout, opts.classifier, opts.non_emotion_heads_trainable)
    t_res = train(t_cfg, fer, seed, checkpoint=folder / "teacher.ckpt", progress=run.progress, model=teacher,
                  distill=ConceptLoss(opts))
    hashes = {"teacher": run.save_weights(t_res.model, folder / "teacher.pt")}

    # 2. confidence-based concept selection
    alpha, f_emo = confidence_pass(t_res.model, fer.train.images, t_cfg)
    thresholds = class_thresholds(alpha, labels, N_CLASSES, opts.percentile)
    high = high_confidence(alpha, labels, thresholds, opts.high_rule)

    # 3.-4. the perceptual pathway without and with the concepts, and the controls: every arm from the same seed
    # (the same initialisation, batches and augmentation), differing only in its distillation terms
    pool = (t_res.model, high, labels, f_emo[high], labels[high], opts)
    arms = {"no_kd": None, "crpn": PerceptLoss(*pool)}
    if opts.controls:
        arms |= {"plain_kd": HintonKD(t_res.model, opts.plain_kd_temperature, opts.kd_weight),
                 "shuffled_teacher": ShuffledPerceptLoss(*pool, seed=seed)}
    models = {}
    for name, extra in arms.items():
        torch.manual_seed(seed)
        res = train(s_cfg, fer, seed, checkpoint=folder / f"{name}.ckpt", progress=run.progress,
                    model=_student(s_cfg, opts), distill=extra)
        models[name] = res
        hashes[name] = run.save_weights(res.model, folder / f"{name}.pt")

    result = {"teacher": {"history": t_res.history, "best": t_res.best, **_scores(t_res.model, fer, t_cfg)},
              "concepts": {"thresholds": thresholds.tolist(), "high_fraction": float(high.float().mean()),
                           "high_per_class": torch.bincount(labels[high], minlength=N_CLASSES).tolist(),
                           "train_per_class": torch.bincount(labels, minlength=N_CLASSES).tolist()},
              "weights_sha256": hashes}
    for name, res in models.items():
        scores = _scores(res.model, fer, s_cfg)
        last = _last_epoch_test(_student(s_cfg, opts), folder / f"{name}.ckpt", fer, s_cfg)
        result[name] = {"history": res.history, "best": res.best, **scores, "test_accuracy_last_epoch": last}
    return result


def _brief(scores: dict) -> dict:
    """A split's scores without the per-image lists (those stay in the fold result)."""
    return {k: v for k, v in scores.items() if k not in ("labels", "predictions")}


#: The networks of a run in report order, with their row labels.
_LABELS = {"teacher": "conceptual pathway (teacher)", "no_kd": "perceptual pathway alone (baseline)",
           "plain_kd": "perceptual + Hinton KD from the teacher (plain KD)",
           "shuffled_teacher": "CRPN, teacher outputs shuffled across the batch", "crpn": "CRPN"}


#: The pathways' training options the paper or its code sets (docs/methods.md §4.5); the rest (width, arithmetic,
#: threads) are the project's and are listed under [fixed] where they matter.
_TRAINING = ("targets", "ce_weight", "label_smoothing", "class_weights", "lr", "adam_betas", "weight_decay",
             "lr_schedule", "cosine_t_max", "warmup_epochs", "grad_clip", "batch_size", "flip_p", "affine_p", "erase_p",
             "select_metric", "limit_train")


def recipe(opts: CRPNConfig) -> tuple[str, list[str]]:
    """``("paper" | "project", deviations)``. The reference is :class:`CRPNConfig`'s defaults: the paper's recipe,
    the released code's where the two disagree and docs/methods.md §8 takes the code (it produced the published
    numbers). A run is the paper's recipe unless one of those options other than the epochs differs; the epochs are
    listed as ``[budget]``, what is no option here as ``[fixed]``."""
    paper = CRPNConfig()
    own = recipe_deviations(opts, paper, ignore=("teacher", "student", "ferplus_root", "controls",
                                                 "plain_kd_temperature"))
    budget = []
    for name in ("teacher", "student"):
        ours, theirs = getattr(opts, name), getattr(paper, name)
        names = {f.name for f in fields(ours)}
        own += recipe_deviations(ours, theirs, ignore=tuple(names - set(_TRAINING)), prefix=f"{name}.")
        budget += recipe_deviations(ours, theirs, ignore=tuple(names - {"epochs"}), prefix=f"{name}.")
    fixed = [f"bodies: the project's ResNet-18 family at width x{opts.student.width_mult} on "
             f"{opts.student.image_size} px grey images, from scratch (paper: a VGGFace2 ResNet-50 teacher and an "
             "MS-Celeb-1M ResNet-18 student at 224 px); the non-emotion encoder is therefore a frozen random network",
             "data: FER+, 8 classes (paper: RAF-DB, AffectNet, FED-RO; 7 classes)",
             "selection on FER+ valid (the code selects on test; the report adds the last epoch's test accuracy)",
             "concept pools from one un-augmented confidence pass (the code re-reads and re-augments the K images)"]
    return ("paper" if not own else "project"), own + [f"{d} [budget]" for d in budget] + [f"{d} [fixed]"
                                                                                          for d in fixed]


def summarise(run: Run, state: None, results: list[dict]) -> tuple[dict, str]:
    r, opts = results[0], run.config.options
    names = [name for name in _LABELS if name in r]
    controls = [name for name in ("plain_kd", "shuffled_teacher") if name in r]
    pred = {name: np.asarray(r[name]["test"]["predictions"]) for name in names}
    kind, deviations = recipe(opts)
    comparison = split_comparison(np.asarray(r["no_kd"]["test"]["labels"]), pred["no_kd"], pred["crpn"],
                                  baseline_name="no_kd", method_name="crpn", dataset="FER+", seed=run.config.run.seed,
                                  n_classes=N_CLASSES, controls={name: pred[name] for name in controls},
                                  teacher=pred["teacher"], recipe=kind, deviations=deviations)
    summary = {"data": "real", "method": "crpn", "folds": len(results), "command": run.command,
               "concepts": r["concepts"], "recipe": kind, "deviations": deviations, "comparison": comparison,
               **{name: {"valid": _brief(r[name]["valid"]), "test": _brief(r[name]["test"]),
                         "best_epoch": r[name]["best"]["epoch"],
                         **({"test_accuracy_last_epoch": r[name]["test_accuracy_last_epoch"]} if name != "teacher"
                            else {})} for name in names}}
    return summary, _report(run, summary)


def _report(run: Run, s: dict) -> str:
    opts: CRPNConfig = run.config.options
    lines = [f"# Concept-regularised coding (CRPN) — {run.config.run.name}", "",
             "Real data: FER+ train (selection on FER+ valid), scored once on FER+ test; majority protocol, 8-way.", "",
             f"Teacher: conceptual pathway (width x{opts.teacher.width_mult}, {opts.teacher.epochs} epochs); students: "
             f"perceptual pathway (width x{opts.student.width_mult}, {opts.student.epochs} epochs), every one with the "
             "same recipe, optimiser, seed and budget, differing only in its distillation terms.", "",
             "| network | valid acc | valid macro-F1 | test acc | test macro-F1 | test bACC | test acc, last epoch |",
             "|---|---|---|---|---|---|---|"]
    for name, label in _LABELS.items():
        if name not in s:
            continue
        v, t = s[name]["valid"]["8way"], s[name]["test"]["8way"]
        last = s[name].get("test_accuracy_last_epoch")
        lines.append(f"| {label} | {100 * v['accuracy']:.2f} | {100 * v['macro_f1']:.2f} | {100 * t['accuracy']:.2f} "
                     f"| {100 * t['macro_f1']:.2f} | {100 * t['balanced_accuracy']:.2f} | "
                     f"{'' if last is None else f'{100 * last:.2f}'} |")
    k = s["concepts"]
    lines += ["", f"Concept selection: {100 * k['high_fraction']:.1f} % of the training images are high-confidence "
              f"(per-class {100 * opts.percentile:.0f}th percentile of the teacher's alpha, rule {opts.high_rule}).",
              "", "The comparison on the FER+ test images (%):", ""]
    arms = {"baseline" if k == "no_kd" else "method" if k == "crpn" else k: v for k, v in _LABELS.items()}
    lines += split_comparison_lines(s["comparison"], arms)
    lines += [f"Recipe: {s['recipe']}; deviations from the paper's:", ""] + [f"- {d}" for d in s["deviations"]]
    lines += ["", f"Command: `{run.command}`.", ""]
    return "\n".join(lines) + "\n"


def rescore(run: Run, state: None, fold: Fold, result: dict) -> dict[str, float]:
    """FER+ valid accuracy of the saved CRPN student again, minus the recorded one."""
    opts: CRPNConfig = run.config.options
    cfg = opts.student
    model = _student(cfg, opts)
    model.load_state_dict(torch.load(run.fold_dir(fold) / "crpn.pt", weights_only=True))
    fer = load_ferplus(cfg, data_root(opts.ferplus_root))
    acc = fer_split_scores(predict_logits(model, fer.valid.images, cfg), fer.valid.votes)["8way"]["accuracy"]
    return {f"fold {fold.index} CRPN FER+ valid accuracy": acc - result["crpn"]["valid"]["8way"]["accuracy"]}


METHOD = Method("crpn", CRPNConfig, prepare, fold, summarise, rescore, data_kinds=("ferplus",))
