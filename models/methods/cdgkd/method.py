"""CDGKD in the trainer (IJCAI 2025; docs/methods.md §3): a multimodal (face + EEG) teacher, rebalanced so that neither
modality is left unlearnt, guides a chain of teacher assistants and, densely and stochastically, a unimodal student.

The task is the paper's: binary high/low classification of one affect dimension (``target``, threshold
``threshold`` on the [-1, 1] scale, i.e. the middle of a 1-9 rating). A sample is a non-overlapping segment of
``segment_frames`` frames of one trial (16 frames = 4 s, the paper's segment), labelled by the segment's mean rating;
each frame carries the frozen FER+ student's features (the face) and the band powers (the EEG). Per fold:

1. **Teacher** (:class:`~affectstream.models.methods.cdgkd.nets.MultimodalGuide`): ``CE + pmr_alpha (beta L_PCE^face +
   gamma L_PCE^eeg)`` with the weights re-set at every epoch's end from the modalities' paces
   (:func:`~affectstream.models.methods.cdgkd.losses.rebalance_weights`; ``pmr_code_compat`` gives the released code's
   inert PMR).
2. **Teacher assistants** TA-1, TA-2: the teacher with fewer EEG kernels and filters, each trained with
   ``alpha CE + (1 - alpha) sum_kept KD_g`` from every model before it (TA-1 from the teacher; TA-2 from the teacher
   and TA-1), each guide dropped with probability ``drop_rate`` at every step.
3. **Student** on one modality (``student_modality``; the paper's is the face) from the teacher and both assistants
   the same way, and the **baseline**: the same student with CE only, same optimiser, epochs and selection.
4. **Controls** (issue 19), the same student with the same optimiser, budget, seed and ``alpha``: ``plain_kd``,
   Hinton's KD from the teacher alone (``alpha CE + (1 - alpha) T^2 KL(p_t || p_s)`` at the method's ``T``, no
   assistants, no dropping), and ``shuffled_teacher``, CDGKD with every guide's logits permuted across the batch's
   samples (a seeded permutation per step), which keeps the guidance's form and loses its knowledge of the sample.
5. **Scores** on the fold's test trials: accuracy (the paper's metric) and balanced accuracy of every model.

Training follows the released code's optimiser (Adam with AMSGrad, a constant learning rate, early stopping) with the
best validation-accuracy weights kept; features are z-scored with the training partition's statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from affectstream.core.feature_norm import zscore_by_train
from affectstream.core.typed_config import ConfigError
from affectstream.models.methods.cdgkd.losses import dense_guidance_loss, prototype_ce_and_pace, rebalance_weights
from affectstream.models.methods.cdgkd.nets import MultimodalGuide, UnimodalStudent
from affectstream.models.training.evaluation import balanced_accuracy
from affectstream.models.training.protocols import Fold, protocol_name
from affectstream.models.training.compare import classification_report, fold_comparison, fold_scores
from affectstream.models.training.loop import OptimConfig, fit, index_batches, recipe_deviations, stack_trials
from affectstream.models.training.method import Method, Run

__all__ = ["CDGKDConfig", "METHOD", "PMRTeacher"]

GUIDES = ("teacher", "ta1", "ta2")
CONTROLS = ("plain_kd", "shuffled_teacher")
MODELS = (*GUIDES, "no_kd", "cdgkd", *CONTROLS)
LABELS = {"teacher": "multimodal teacher (face + EEG, PMR)", "ta1": "teacher assistant 1", "ta2": "teacher assistant 2",
          "no_kd": "student, CE only", "cdgkd": "student + CDGKD",
          "plain_kd": "control: student + plain KD (Hinton, teacher only)",
          "shuffled_teacher": "control: student + CDGKD, guides' logits shuffled across the batch"}
#: The shuffled-teacher control's permutations come from a generator re-seeded at every epoch from
#: ``(seed, epoch, *SHUFFLE_KEY)``: apart from torch's global generator, so the control draws the same guide drops and
#: dropout as the CDGKD student and a resumed run permutes as an uninterrupted one.
SHUFFLE_KEY = (0x5EED, 19)


def _optim(lr: float) -> OptimConfig:
    """The released code's schedule: Adam(amsgrad) at a constant rate (no plateau decay), batch 128, 100 epochs,
    early stopping after 20 epochs without a better validation score, no reloading of the best weights. The
    plateau's patience, 10 000 epochs, is longer than any run: the rate never decays."""
    return OptimConfig(lr=lr, weight_decay=0.0, batch_size=128, max_epochs=100, early_stop=20,
                       plateau_patience=10_000, reload_best_each_epoch=False, amsgrad=True)


@dataclass(frozen=True)
class CDGKDConfig:
    """Options of CDGKD (the ``[cdgkd]`` table); defaults are the paper's / released code's unless noted."""

    target: Literal["valence", "arousal"] = "valence"
    threshold: float = 0.0  #: high if the segment's mean rating > threshold (5 on a 1-9 scale, docs/methods.md §8 #16)
    segment_frames: int = 16  #: 4 s at the label rate
    student_modality: Literal["face", "eeg"] = "face"  #: the paper's student sees the video only
    #: an EEG student's branch (``student_modality = "eeg"``): no wider than the assistants', so the chain thins
    student_eeg_kernels: tuple[int, ...] = (7,)
    student_eeg_width: int = 32
    # networks (the chain's EEG branch thins from the teacher to TA-2)
    teacher_kernels: tuple[int, ...] = (7, 5, 3)
    ta1_kernels: tuple[int, ...] = (7, 3)
    ta2_kernels: tuple[int, ...] = (7,)
    teacher_eeg_width: int = 64
    ta1_eeg_width: int = 48
    ta2_eeg_width: int = 32
    video_width: int = 32
    # PMR (teacher)
    pmr_alpha: float = 1.0
    pmr_distance: Literal["euclidean", "cosine"] = "euclidean"
    pmr_code_compat: bool = False  #: reproduce the released code's inert PMR (docs/methods.md §8 #13)
    # dense guidance (assistants, student)
    alpha: float = 0.5  #: CE weight; the released code's effective 1.0 disables the KD (§8 #14)
    temperature: float = 2.0
    drop_rate: float = 0.5
    kl_direction: Literal["code", "hinton"] = "code"  #: KL(p_s || p_g) without T^2 (§8 #15), or T^2 KL(p_g || p_s)
    teacher: OptimConfig = field(default_factory=lambda: _optim(1e-4))
    student: OptimConfig = field(default_factory=lambda: _optim(1e-5))  #: TAs, student and baseline (DGKD.sh)

    def __post_init__(self) -> None:
        if self.student_modality != "eeg":
            return
        for name, kernels, width in (("ta1", self.ta1_kernels, self.ta1_eeg_width),
                                     ("ta2", self.ta2_kernels, self.ta2_eeg_width)):
            if self.student_eeg_width > width or len(self.student_eeg_kernels) > len(kernels):
                raise ConfigError(
                    f"cdgkd: an EEG student must be no wider than the teacher assistants, but student_eeg_width "
                    f"{self.student_eeg_width} with {len(self.student_eeg_kernels)} kernels exceeds {name}_eeg_width "
                    f"{width} with {len(kernels)} (set cdgkd.student_eeg_width / student_eeg_kernels lower)")


@dataclass
class _Data:
    face: dict[str, np.ndarray]  #: (n_segments, S, D_face) per trial
    eeg: dict[str, np.ndarray]  #: (n_segments, S, N_FEATURES)
    y: dict[str, np.ndarray]  #: (n_segments,) int64 0 = low, 1 = high
    synthetic: bool


def segments(x: np.ndarray, frames: int) -> np.ndarray:
    """``(T, ...) -> (T // frames, frames, ...)``: non-overlapping segments, the incomplete tail dropped."""
    n = len(x) // frames
    return np.asarray(x[:n * frames]).reshape(n, frames, *x.shape[1:])


def prepare(run: Run) -> _Data:
    from affectstream.models.methods.v2e_kd.method import trial_arrays

    opts: CDGKDConfig = run.config.options
    base = trial_arrays(run, opts.target)
    s = opts.segment_frames
    face = {k: segments(v, s) for k, v in base.frames.items()}
    eeg = {k: segments(v, s) for k, v in base.eeg.items()}
    y = {k: (segments(v, s).mean(axis=1) > opts.threshold).astype(np.int64) for k, v in base.y.items()}
    if not any(len(v) for v in y.values()):
        raise ValueError(f"every trial is shorter than one segment of {s} frames")
    return _Data(face, eeg, y, base.synthetic)


class PMRTeacher(nn.Module):
    """The teacher with its PMR state: the epoch's summed paces and the current ``(beta, gamma)`` are buffers, so
    the training loop's checkpoints carry them and a resumed run rebalances exactly as an uninterrupted one."""

    def __init__(self, guide: MultimodalGuide) -> None:
        super().__init__()
        self.guide = guide
        self.register_buffer("pace_sums", torch.zeros(2, dtype=torch.float64))  #: face, EEG
        self.register_buffer("weights", torch.zeros(2, dtype=torch.float64))  #: beta (face), gamma (EEG)

    def end_epoch(self, code_compat: bool) -> None:
        """Set the next epoch's ``(beta, gamma)`` from this epoch's paces and start counting again."""
        if self.pace_sums.min() > 0:
            self.weights.copy_(torch.tensor(rebalance_weights(*self.pace_sums.tolist(), code_compat=code_compat)))
        self.pace_sums.zero_()

    def loss(self, face: torch.Tensor, eeg: torch.Tensor, y: torch.Tensor, opts: CDGKDConfig) -> torch.Tensor:
        out = self.guide(face, eeg)
        loss = F.cross_entropy(out.logits, y)
        pce_v, pace_v = prototype_ce_and_pace(out.video, y, 2, opts.pmr_distance)
        pce_e, pace_e = prototype_ce_and_pace(out.eeg, y, 2, opts.pmr_distance)
        self.pace_sums += torch.stack([pace_v, pace_e]).double()
        beta, gamma = self.weights.tolist()
        return loss + opts.pmr_alpha * (beta * pce_v + gamma * pce_e)


def _zscore(parts: list[np.ndarray]) -> list[np.ndarray]:
    """Z-score ``(N, S, D)`` partitions per feature with the training (first) partition's statistics."""
    flat = zscore_by_train(*(p.reshape(-1, p.shape[-1]) for p in parts))
    return [f.reshape(p.shape).astype(np.float32) for f, p in zip(flat, parts)]


@torch.no_grad()
def _logits(model: nn.Module, *inputs: np.ndarray, batch: int = 1024) -> np.ndarray:
    model.eval()
    out = [model(*(torch.from_numpy(x[i:i + batch]) for x in inputs)) for i in range(0, len(inputs[0]), batch)]
    return torch.cat([o.logits if hasattr(o, "logits") else o for o in out]).numpy()


def _scores(logits: np.ndarray, y: np.ndarray) -> dict[str, float]:
    pred = logits.argmax(1)
    return {"accuracy": float((pred == y).mean()), "balanced_accuracy": balanced_accuracy(y, pred, 2)}


def fold(run: Run, data: _Data, fold: Fold) -> dict:
    opts: CDGKDConfig = run.config.options
    seed, folder = run.config.run.seed + fold.index, run.fold_dir(fold)
    parts = [list(fold.train), list(fold.val), list(fold.test)]
    face = _zscore([stack_trials(data.face, keys) for keys in parts])
    eeg = _zscore([stack_trials(data.eeg, keys) for keys in parts])
    y = [np.concatenate([data.y[k] for k in keys]) for keys in parts]
    student_inputs = face if opts.student_modality == "face" else eeg
    yt = torch.from_numpy(y[0])
    tr_face, tr_eeg, tr_student = (torch.from_numpy(a[0]) for a in (face, eeg, student_inputs))

    def guide(kernels: tuple[int, ...], width: int) -> MultimodalGuide:
        return MultimodalGuide(face[0].shape[2], eeg[0].shape[2], 2, kernels, width, opts.video_width)

    def student() -> UnimodalStudent:
        return _student(opts, student_inputs[0].shape[2])

    def val_accuracy(model: nn.Module, *inputs: np.ndarray) -> float:
        return _scores(_logits(model, *inputs), y[1])["accuracy"]

    def train(name: str, model: nn.Module, loss, epoch_start, score, cfg: OptimConfig) -> dict:
        def epoch_batches(epoch: int):
            epoch_start(epoch)
            for idx in index_batches(len(yt), cfg.batch_size, seed, epoch):
                yield torch.from_numpy(idx)

        result = fit(model, loss, epoch_batches, score, cfg,
                     checkpoint=folder / f"{name}.ckpt", desc=name, progress=run.progress, ctx=None,
                     amp=run.amp, cpu_bf16=run.cpu_bf16)
        return {"best_epoch": result.best_epoch, "val_accuracy": result.best_score,
                "epochs_run": len(result.history)}

    fits, models = {}, {}
    # 1. the rebalanced multimodal teacher
    run.seed(fold.index)
    teacher = PMRTeacher(guide(opts.teacher_kernels, opts.teacher_eeg_width))
    fits["teacher"] = train("teacher", teacher, lambda net, idx: net.loss(tr_face[idx], tr_eeg[idx], yt[idx], opts),
                            lambda epoch: teacher.end_epoch(opts.pmr_code_compat) if epoch > 0 else None,
                            lambda m: val_accuracy(m.guide, face[1], eeg[1]), opts.teacher)
    fits["teacher"]["pmr_weights_last"] = teacher.weights.tolist()
    models["teacher"] = teacher.guide

    # 2.-3. the chain, each model guided by all before it; the student's baseline without guides; the controls
    both = (tr_face, tr_eeg)
    for name, kernels, width in (("ta1", opts.ta1_kernels, opts.ta1_eeg_width),
                                 ("ta2", opts.ta2_kernels, opts.ta2_eeg_width)):
        run.seed(fold.index)
        models[name] = guide(kernels, width)
        loss = partial(_guided_loss, y=yt, inputs=both, guide_inputs=both, opts=opts,
                       guides=[models[k] for k in GUIDES if k in models and k != name])
        fits[name] = train(name, models[name], loss, lambda epoch: None, lambda m: val_accuracy(m, face[1], eeg[1]),
                           opts.student)
    arms = {"no_kd": {"guides": []}, "cdgkd": {"guides": [models[k] for k in GUIDES]},
            "plain_kd": {"guides": [models["teacher"]], "hinton": True},
            "shuffled_teacher": {"guides": [models[k] for k in GUIDES], "shuffle": torch.Generator()}}
    for name, arm in arms.items():
        run.seed(fold.index)
        models[name] = student()
        shuffle = arm.get("shuffle")
        loss = partial(_guided_loss, y=yt, inputs=(tr_student,), guide_inputs=both, opts=opts, **arm)
        fits[name] = train(name, models[name], loss,
                           lambda epoch, g=shuffle: None if g is None else g.manual_seed(_stream(seed, epoch)),
                           lambda m: val_accuracy(m, student_inputs[1]), opts.student)

    hashes = {name: run.save_weights(m, folder / f"{name}.pt") for name, m in models.items()}
    test = {name: _scores(_logits(m, face[2], eeg[2]) if name in GUIDES else _logits(m, student_inputs[2]), y[2])
            for name, m in models.items()}
    return {name: {**fits[name], "test": test[name]} for name in MODELS} | {
        "class_counts_test": np.bincount(y[2], minlength=2).tolist(), "weights_sha256": hashes}


def _guided_loss(net: nn.Module, idx: torch.Tensor, *, y: torch.Tensor, inputs: tuple, guide_inputs: tuple,
                 guides: list[nn.Module], opts: CDGKDConfig, hinton: bool = False,
                 shuffle: torch.Generator | None = None) -> torch.Tensor:
    """The loss of a guided model on the batch ``idx``: ``alpha CE + (1 - alpha) KD`` (CE alone without guides).

    CDGKD keeps each guide with probability ``1 - drop_rate``, drawn from torch's global generator (checkpointed, so
    resumes are exact), and sums the kept guides' KL terms (``opts.kl_direction``); ``hinton`` (the plain-KD control)
    keeps every guide and uses Hinton's ``T^2 KL(p_g || p_s)``; ``shuffle`` (the shuffled-teacher control) permutes
    the guides' logits across the batch's samples with that generator. ``inputs``: the model's own (all rows),
    ``guide_inputs``: the guides' (face, EEG).
    """
    out = net(*(x[idx] for x in inputs))
    logits = out.logits if hasattr(out, "logits") else out
    ce = F.cross_entropy(logits, y[idx])
    if not guides:
        return ce
    keep = torch.ones(len(guides), dtype=torch.bool) if hinton else torch.rand(len(guides)) >= opts.drop_rate
    with torch.no_grad():  # only the guides that speak at this step run (about half of them)
        g_logits = [g(*(x[idx] for x in guide_inputs)).logits for g, kept in zip(guides, keep.tolist()) if kept]
    if shuffle is not None:  # each sample gets another sample's guidance
        perm = torch.randperm(len(idx), generator=shuffle)
        g_logits = [g[perm] for g in g_logits]
    kd = dense_guidance_loss(logits, g_logits, torch.ones(len(g_logits), dtype=torch.bool), opts.temperature,
                             "hinton" if hinton else opts.kl_direction)
    return opts.alpha * ce + (1 - opts.alpha) * kd


def _stream(seed: int, epoch: int) -> int:
    """The shuffled-teacher control's seed for ``epoch`` (see :data:`SHUFFLE_KEY`)."""
    return int(np.random.SeedSequence([seed, epoch, *SHUFFLE_KEY]).generate_state(1)[0])


def _student(opts: CDGKDConfig, d_in: int) -> UnimodalStudent:
    """The unimodal student (and baseline, and controls) on ``d_in`` features per frame."""
    return UnimodalStudent(opts.student_modality, d_in, 2, opts.student_eeg_kernels, opts.student_eeg_width,
                           opts.video_width)


def recipe(opts: CDGKDConfig) -> tuple[str, list[str]]:
    """``("paper", [])`` when the options are the paper's (the defaults), else ``("project", deviations)``."""
    deviations = recipe_deviations(opts, CDGKDConfig(), ignore=("target",))
    return ("project" if deviations else "paper"), deviations


def summarise(run: Run, data: _Data, results: list[dict]) -> tuple[dict, str]:
    opts: CDGKDConfig = run.config.options
    out = {"data": "synthetic" if data.synthetic else "real", "method": "cdgkd", "folds": len(results),
           "protocol": run.config.protocol.kind, "metric": "accuracy", "student_modality": opts.student_modality,
           "target": opts.target, "command": run.command, **fold_scores(results, MODELS),
           "seconds": float(sum(r.get("seconds", 0.0) for r in results))}  # training time of every fold and model
    kind, deviations = recipe(opts)
    out["comparison"] = fold_comparison(
        [r["no_kd"]["test"]["accuracy"] for r in results], [r["cdgkd"]["test"]["accuracy"] for r in results],
        baseline_name="no_kd", method_name="cdgkd", metric="accuracy", dataset=run.dataset,
        folds=f"{len(results)} {protocol_name(out['protocol'])} folds",
        controls={c: [r[c]["test"]["accuracy"] for r in results] for c in CONTROLS},
        teacher=[r["teacher"]["test"]["accuracy"] for r in results], recipe=kind, deviations=deviations)
    out["p_value"] = out["comparison"]["p_value"]
    intro = (f"Multimodal teacher (face + EEG) -> TA-1 -> TA-2 -> {opts.student_modality} student, high/low "
             f"{opts.target} (threshold {opts.threshold}), segments of {opts.segment_frames} frames, "
             f"{protocol_name(out['protocol'])} ({out['folds']} folds); test scores, mean ± std over folds. "
             "Controls: the same student with Hinton's KD from the teacher alone, and with CDGKD whose guides' "
             f"logits are shuffled across each batch. Recipe: {kind}"
             + (f" ({'; '.join(deviations)})." if deviations else "."))
    return out, classification_report(f"CDGKD — {run.config.run.name}", data.synthetic, intro, LABELS, out,
                                      out["comparison"], run.command)


def rescore(run: Run, data: _Data, fold: Fold, result: dict) -> dict[str, float]:
    opts: CDGKDConfig = run.config.options
    parts = [list(fold.train), list(fold.val), list(fold.test)]
    source = data.face if opts.student_modality == "face" else data.eeg
    x_te = _zscore([stack_trials(source, keys) for keys in parts])[2]
    y_te = np.concatenate([data.y[k] for k in parts[2]])
    diffs = {}
    for name in ("no_kd", "cdgkd", *CONTROLS):
        model = _student(opts, x_te.shape[2])
        model.load_state_dict(torch.load(run.fold_dir(fold) / f"{name}.pt", weights_only=True))
        acc = _scores(_logits(model, x_te), y_te)["accuracy"]
        diffs[f"fold {fold.index} {name} test accuracy"] = acc - result[name]["test"]["accuracy"]
    return diffs


METHOD = Method("cdgkd", CDGKDConfig, prepare, fold, summarise, rescore,
                data_kinds=("xdf", "deap", "mahnob", "mahnob_continuous"))
