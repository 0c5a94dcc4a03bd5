"""CMCRD in the trainer (docs/methods.md §5): a teacher on one modality distils into a student on another by contrastive
representation distillation, generalised from eye movements -> EEG to the modalities the trainer knows.

The teacher sees the eye movements a dataset ships (SEED-IV, SEED-V: the paper's setting) or the face (the frozen FER+
student's 8 logits per frame); the student sees the EEG (band powers per frame, or SEED-V's differential entropy); the
task is classification, of the dataset's emotion classes or of the valence state into ``n_classes`` bins. Per fold:

1. **Teacher** (MLP, docs/methods.md §5.2 ``DNN_Net``): CE + ``mcc_weight`` x MCC on an unlabelled batch of the
   ``mcc_batch`` partition (the paper adds MCC; its code computes it on the test inputs but leaves it out of the loss:
   ``mcc_weight = 0``), SGD at ``teacher_lr``, selected on validation accuracy (:mod:`.training`).
2. **Four students** on the EEG, from the same initial weights, with the same optimiser, schedule, batches and
   selection (:data:`ARMS`): CE only (``no_kd``, the baseline), CE + CMCRD (``cmcrd``, the method), CE + plain CRD
   (``plain_kd``: no entropy weights, gating or signs) and CE + CMCRD from the teacher's outputs permuted across
   training samples (``shuffled_teacher``: distillation from a teacher that knows nothing of the sample).
3. **Scores** on the test partition: accuracy and balanced accuracy of every model.

Frames are samples (one per 0.25 s, as the 4-s windows of the paper are samples); features are z-scored with the
training statistics (``zscore = "train"``) or, as the paper's code does, each partition on itself (``"separate"``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from affectstream.core.feature_norm import zscore_by_train
from affectstream.models.datasets.features import FeatureCache
from affectstream.models.methods.cmcrd.config import CMCRDConfig
from affectstream.models.methods.cmcrd.training import StudentLoss, fit_student, fit_teacher, scores, teacher_outputs
from affectstream.models.training.compare import classification_report, fold_comparison, fold_scores
from affectstream.models.training.loop import recipe_deviations, stack_trials
from affectstream.models.training.method import Method, Run
from affectstream.models.training.protocols import Fold, protocol_name

__all__ = ["ARMS", "CMCRDConfig", "METHOD", "MLP"]


#: The paper's values where the default is not: the code z-scores the test set on itself, which lets its statistics
#: in (the project never does that by default); the paper's task is eye movements -> EEG on emotion classes.
_PAPER_OVERRIDES = {"zscore": "separate", "teacher_modality": "eye", "labels": "emotion"}

#: The student arms of a fold and their losses: the baseline, the method and its two controls.
ARMS: dict[str, StudentLoss] = {"no_kd": "ce", "cmcrd": "cmcrd", "plain_kd": "crd", "shuffled_teacher": "cmcrd"}


class MLP(nn.Module):
    """docs/methods.md §5.2 ``DNN_Net``: two blocks of Linear + BN + ReLU; the second block's output is the distilled
    feature.

    Shapes: ``(B, D_in) -> (logits (B, C), feature (B, hidden))``.
    """

    def __init__(self, d_in: int, n_classes: int, hidden: int = 128) -> None:
        super().__init__()

        def block(a: int, b: int) -> nn.Sequential:
            return nn.Sequential(nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU())

        self.block1 = nn.Sequential(block(d_in, hidden), block(hidden, hidden))
        self.block2 = nn.Sequential(block(hidden, hidden), block(hidden, hidden))
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.block2(self.block1(x))
        return self.head(f), f


@dataclass
class _Data:
    eeg: dict[str, np.ndarray]
    face: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    synthetic: bool


def _student_inputs(run: Run) -> dict[str, np.ndarray]:
    """The EEG student's input per frame: band power (missing channels 0), or, for a release that ships no signal
    (SEED-V), its differential-entropy features."""
    trials = run.trials
    if all(t.eeg is None for t in trials):
        return {t.key: np.asarray(t.features["eeg_de"], np.float32) for t in trials}
    config = run.config
    feats = FeatureCache(config.resolve(config.data.cache_dir) / "features").features_for(
        trials, config.features, progress=run.progress)
    return {k: np.nan_to_num(f.features.reshape(len(f.features), -1), nan=0.0).astype(np.float32)
            for k, f in feats.items()}


def _teacher_inputs(run: Run, modality: str) -> dict[str, np.ndarray]:
    if modality == "face":
        from affectstream.models.methods.v2e_kd.method import frame_features

        return frame_features(run, run.trials)
    missing = [t.key for t in run.trials if "eye" not in t.features]
    if missing:
        raise ValueError(f"{len(missing)} trials (e.g. {missing[0]}) have no eye-movement features: the eye teacher "
                         "needs a dataset that ships them (SEED-IV's eye_feature_smooth, SEED-V's "
                         "Eye_movement_features)")
    return {t.key: np.asarray(t.features["eye"], np.float32) for t in run.trials}


def _targets(run: Run, opts: CMCRDConfig) -> dict[str, np.ndarray]:
    if opts.labels == "emotion":
        names = {tuple(t.meta.get("class_names", ())) for t in run.trials}
        if len(names) != 1 or len(next(iter(names))) != opts.n_classes:
            raise ValueError(f"labels = 'emotion' needs trials with emotion classes, {opts.n_classes} of them "
                             f"(cmcrd.n_classes); the trials have {sorted(len(n) for n in names)}")
        return {t.key: np.asarray(t.meta["emotion"], np.int64) for t in run.trials}
    edges = np.array([-opts.neutral_band, opts.neutral_band]) if opts.n_classes == 3 else \
        np.linspace(-1, 1, opts.n_classes + 1)[1:-1]
    if any(t.continuous is None for t in run.trials):
        raise ValueError("the trials have no valence labels; classify their emotion classes with "
                         "--set cmcrd.labels=emotion")
    return {t.key: np.digitize(t.continuous.values, edges).astype(np.int64) for t in run.trials}


def prepare(run: Run) -> _Data:
    opts: CMCRDConfig = run.config.options
    return _Data(_student_inputs(run), _teacher_inputs(run, opts.teacher_modality), _targets(run, opts),
                 all(t.meta.get("synthetic", False) for t in run.trials))


def _deviations(opts: CMCRDConfig) -> tuple[str, list[str]]:
    """The run's recipe (``"paper"``: the paper's task, eye movements -> EEG on emotion classes; else ``"project"``)
    and every way it departs from the paper's, one line each: each option that differs from the paper's value, and
    the two choices that are not options."""
    out = recipe_deviations(opts, dataclasses.replace(CMCRDConfig(), **_PAPER_OVERRIDES),
                            ignore=("n_classes", "neutral_band"))
    out += ["model selection on held-out validation data (the code: best accuracy on its training set)",
            "memory banks sized to the training set (the code: n_data = 1200)"]
    return ("paper" if opts.teacher_modality == "eye" and opts.labels == "emotion" else "project"), out


def _transductive(opts: CMCRDConfig) -> list[str]:
    """What of the test partition (never its labels) the training sees."""
    out = ["the teacher's MCC term draws unlabelled batches of the test partition's teacher inputs"] \
        if opts.mcc_weight > 0 and opts.mcc_batch == "test" else []
    return out + (["each partition's features are z-scored with its own statistics"] if opts.zscore == "separate"
                  else [])


def fold(run: Run, data: _Data, fold: Fold) -> dict:
    """The teacher, then the four student arms from the same initial weights and batches (:data:`ARMS`)."""
    opts: CMCRDConfig = run.config.options
    seed = run.config.run.seed + fold.index
    tr, va, te = list(fold.train), list(fold.val), list(fold.test)
    sep = opts.zscore == "separate"
    e_tr, e_va, e_te = zscore_by_train(*(stack_trials(data.eeg, keys) for keys in (tr, va, te)), separate=sep)
    f_tr, f_va, f_te = zscore_by_train(*(stack_trials(data.face, keys) for keys in (tr, va, te)), separate=sep)
    y_tr, y_va, y_te = (np.concatenate([data.y[k] for k in keys]) for keys in (tr, va, te))
    run.seed(fold.index)
    models: dict[str, MLP] = {"teacher": MLP(f_tr.shape[1], opts.n_classes, opts.hidden)}
    unlabelled = {"test": f_te, "val": f_va, "train": f_tr}[opts.mcc_batch]
    fits = {"teacher": fit_teacher(models["teacher"], f_tr, y_tr, unlabelled, (f_va, y_va), opts, seed)}
    out = teacher_outputs(models["teacher"], f_tr)
    perm = torch.from_numpy(np.random.default_rng([seed, 2]).permutation(len(y_tr)))
    teachers = {"no_kd": None, "cmcrd": out, "plain_kd": out, "shuffled_teacher": (out[0][perm], out[1][perm])}
    for name, loss in ARMS.items():
        run.seed(fold.index)  # every arm starts from the same weights and random state
        models[name] = MLP(e_tr.shape[1], opts.n_classes, opts.hidden)
        fits[name] = fit_student(models[name], e_tr, y_tr, (e_va, y_va), opts, seed, loss, teachers[name])
    folder = run.fold_dir(fold)
    hashes = {name: run.save_weights(model, folder / f"{name}.pt") for name, model in models.items()}
    result = {name: {**fits[name], "test": scores(model, f_te if name == "teacher" else e_te, y_te, opts.n_classes)}
              for name, model in models.items()}
    return {**result, "class_counts_test": np.bincount(y_te, minlength=opts.n_classes).tolist(),
            "weights_sha256": hashes}


def summarise(run: Run, data: _Data, results: list[dict]) -> tuple[dict, str]:
    opts: CMCRDConfig = run.config.options
    metric = "balanced_accuracy"
    out = {"data": "synthetic" if data.synthetic else "real", "method": "cmcrd", "folds": len(results),
           "protocol": run.config.protocol.kind, "metric": metric, "command": run.command,
           **fold_scores(results, ("teacher", *ARMS))}
    per_fold = {name: [r[name]["test"][metric] for r in results] for name in ("teacher", *ARMS)}
    recipe, deviations = _deviations(opts)
    out["comparison"] = fold_comparison(per_fold["no_kd"], per_fold["cmcrd"], baseline_name="no_kd",
                                        method_name="cmcrd", metric=metric, dataset=run.dataset,
                                        folds=f"{len(results)} {protocol_name(out['protocol'])} folds",
                                        controls={name: per_fold[name] for name in ("plain_kd", "shuffled_teacher")},
                                        teacher=per_fold["teacher"], recipe=recipe, deviations=deviations)
    out["p_value"] = out["comparison"]["p_value"]
    out["transductive"] = _transductive(opts)
    classes = "emotion classes" if opts.labels == "emotion" else "valence classes"
    intro = (f"{opts.teacher_modality.capitalize()} teacher -> EEG student, {opts.n_classes} {classes}, "
             f"{protocol_name(out['protocol'])} ({out['folds']} folds), test scores mean ± std over folds. Every "
             "student arm has the same optimiser (AdamW, warm-up then cosine), epochs, batches and selection; only the "
             f"loss differs. Recipe: {recipe}; deviations from the paper's: {'; '.join(deviations)}."
             + (f" Transductive: {'; '.join(out['transductive'])} (never its labels)." if out["transductive"] else ""))
    labels = {"teacher": f"{opts.teacher_modality} teacher (MLP)", "no_kd": "EEG student, CE only",
              "cmcrd": "EEG student + CMCRD", "plain_kd": "EEG student + CRD (control: plain_kd)",
              "shuffled_teacher": "EEG student + CMCRD, teacher shuffled across samples (control)"}
    return out, classification_report(f"CMCRD — {run.config.run.name}", data.synthetic, intro, labels, out,
                                      out["comparison"], run.command)


def rescore(run: Run, data: _Data, fold: Fold, result: dict) -> dict[str, float]:
    opts: CMCRDConfig = run.config.options
    tr, te = list(fold.train), list(fold.test)
    sep = opts.zscore == "separate"
    _, e_te = zscore_by_train(stack_trials(data.eeg, tr), stack_trials(data.eeg, te), separate=sep)
    y_te = np.concatenate([data.y[k] for k in te])
    model = MLP(e_te.shape[1], opts.n_classes, opts.hidden)
    model.load_state_dict(torch.load(run.fold_dir(fold) / "cmcrd.pt", weights_only=True))
    acc = scores(model, e_te, y_te, opts.n_classes)["balanced_accuracy"]
    return {f"fold {fold.index} cmcrd test balanced accuracy": acc - result["cmcrd"]["test"]["balanced_accuracy"]}


METHOD = Method("cmcrd", CMCRDConfig, prepare, fold, summarise, rescore,
                data_kinds=("xdf", "deap", "mahnob", "mahnob_continuous", "dreamer", "seed", "seed_iv", "seed_v"))
