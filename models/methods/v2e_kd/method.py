"""Visual-to-EEG cross-modal knowledge distillation (Zhang, Tang & Guan, Pattern Recognition 2022; docs/methods.md §2).

Per fold:

1. **Visual teacher**: per-frame face features through a causal TCN (128, 128, kernel 3) and a per-step
   regressor, trained with ``1 - CCC`` on the training trials, selected on the validation CCC.
2. **Knowledge**: the trained teacher's per-step TCN output ``V_t`` (T x 128) and its prediction over every training
   trial (whole trials, as the reference extracts it).
3. **EEG student** (:class:`~affectstream.models.nets.eeg_tcn.EEGTCN` on the N_FEATURES band-power features) trained
   twice and more: without KD (``1 - CCC``) and with KD for every ``w`` of the grid (``1 - CCC + w * L1(V_t, V_s)``);
   the KD weight is chosen on the validation CCC, as the paper does within its grid.
4. **Controls** (issue 19), at the chosen ``w``, same initial weights, optimiser, schedule and batches:
   ``plain_kd``, the vanilla distillation of a regression task (``1 - CCC + w * MSE(y_s, y_t)``, the student's
   prediction pulled onto the teacher's), and ``shuffled_teacher``, the method's loss with the teacher's features
   permuted across the training windows (one seeded random cycle): what the L1 term gives without the teacher's
   knowledge of *this* window, i.e. as a regulariser. Every student's loss leaves the zero padding of a trial shorter
   than a window out.
5. **Test**: window-wise predictions (96 / 32) stitched back by overlap averaging and scored on the concatenated test
   trials: CCC, PCC, RMSE for the teacher, the student without and with KD, the controls, and an *oracle* that uses
   the planted truth's form (valence is planted linearly in log band power): a ridge read-out of log band power
   fitted on the test subject's other trials. It sees labelled data of the test subject, which no LOSO model does:
   context, not a competitor.

Deviation from the reference, for a CPU: the frame backbone is **frozen** -- the bundled FER+ visual student
(``models/weights/visual_student.onnx``) gives 8 FER+ logits per frame, computed once per dataset -- where the
reference fine-tunes an IR-50 and unfreezes it gradually. The teacher's temporal part is trained as in the paper.
Frames are taken at the label rate (4 Hz; the reference samples one of the 16 frames per label at 64 fps). Every
other choice is an option whose default is the paper's (:class:`V2EKDConfig`); a config that departs from them says
so in its summary (``comparison.recipe``, ``comparison.deviations``).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Literal

import numpy as np
import torch
from tqdm import tqdm

from affectstream.models.nets.eeg_tcn import EEGTCN
from affectstream.models.training.compare import fold_comparison
from affectstream.models.training.config import TrainConfig
from affectstream.models.training.evaluation import (evaluate_regression, paired_ttest_one_tailed, sequence_windows,
                                                     stitch)
from affectstream.models.datasets.features import FeatureCache, FeatureConfig
from affectstream.models.training.protocols import Fold, protocol_name
from affectstream.models.training.loop import (VALID, OptimConfig, WindowSet, batches, ccc_loss, fit, make_windows,
                                               recipe_deviations)
from affectstream.models.training.method import Method, Run
from affectstream.models.methods.v2e_kd.losses import feature_kd_loss, output_kd_loss
from affectstream.models.methods.v2e_kd.report import mean_std, report_markdown
from affectstream.models.methods.v2e_kd.teacher import TemporalTeacher

log = logging.getLogger(__name__)

__all__ = ["METHOD", "V2EKDConfig"]


#: The shuffled-teacher control's permutation is drawn from ``default_rng([seed, *SHUFFLE_KEY])``, a stream apart from
#: the batch order's ``default_rng([seed, epoch])``.
SHUFFLE_KEY = (0x5EED, 19)


def _paper_optim(max_epochs: int) -> OptimConfig:
    """The paper's optimisation (docs/methods.md §2.4): Adam at 1e-5, batch 2; the rest is OptimConfig's default."""
    return OptimConfig(lr=1e-5, batch_size=2, max_epochs=max_epochs)


@dataclass(frozen=True)
class V2EKDConfig:
    """Options of the Visual-to-EEG KD method (the ``[v2e_kd]`` table); every default is the paper's choice."""

    #: grid of w, the best on validation kept: the paper reports 0.2 ... 2.0 and selects within 0.2 ... 1.0
    kd_weights: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8, 1.0)
    target: Literal["valence", "arousal"] = "valence"  #: the paper regresses valence (MAHNOB's only annotation)
    channels: tuple[int, ...] = (128, 128)
    kernel_size: int = 3
    dropout: float = 0.1
    frame_backbone: Literal["fer_student"] = "fer_student"  #: frozen FER+ student logits per frame
    teacher: OptimConfig = field(default_factory=lambda: _paper_optim(30))
    student: OptimConfig = field(default_factory=lambda: _paper_optim(15))
    oracle_ridge: float = 1.0  #: ridge penalty of the within-subject linear oracle (standardised features)


@dataclass
class _Data:
    """Per-trial arrays, keyed by trial key."""

    eeg: dict[str, np.ndarray]  #: (T, N_FEATURES) band power, band-major
    #: (T, N_FEATURES) log10 band power: the domain of the planted relation (oracle only)
    log_eeg: dict[str, np.ndarray]
    frames: dict[str, np.ndarray]  #: (T, n_frame_features)
    y: dict[str, np.ndarray]  #: (T,) target
    subject: dict[str, int]
    synthetic: bool


# ------------------------------------------------------------------------------------------------ preparation
def _face_frames(run: Run, trial) -> np.ndarray:
    """The trial's face frames: a recording's Video stream, or crops cut from a dataset's video now (the face path
    the app handed the run; they are cut only for the methods that need them)."""
    frames = trial.meta.get("frames")
    if frames is None and trial.video_path is not None and run.face_frames is not None:
        frames = run.face_frames(trial.video_path, trial.meta["video_times"])
    if frames is None:
        raise ValueError(f"trial {trial.key} has no face frames: the visual teacher needs the Video stream of a "
                         "recording, or a dataset's face video with a face in it (DEAP has videos for subjects 1-22 "
                         "only: --set data.subjects=[...])")
    return frames


def frame_features(run: Run, trials: list) -> dict[str, np.ndarray]:
    """FER+ logits of each trial's label-rate frames, cached on disk by model hash and trial (and for a dataset's
    trial, its source file's size and time)."""
    from affectstream.models.deploy.fer_onnx import VISUAL_STUDENT, FerOnnx
    from affectstream.models.deploy.manifest import load_manifest

    student = FerOnnx.from_name(VISUAL_STUDENT)  # the fp32 student, sha256-verified
    model_hash = load_manifest()["models"][VISUAL_STUDENT]["sha256"][:16]
    cache = run.config.resolve(run.config.data.cache_dir) / "frame_logits"
    cache.mkdir(parents=True, exist_ok=True)
    out = {}
    for trial in tqdm(trials, desc="face features (frozen FER+ student)", unit="trial", disable=not run.progress):
        frames = trial.meta.get("frames")
        n = len(frames) if frames is not None else len(trial.meta.get("video_times", ()))
        source = f"{trial.meta.get('source')}|{trial.meta.get('source_stamp', '')}"
        key = hashlib.sha256(f"{model_hash}|{source}|{trial.key}|{n}".encode())
        path = cache / f"{key.hexdigest()[:32]}.npy"
        if path.is_file():
            logits = np.load(path, allow_pickle=False)
        else:
            frames = _face_frames(run, trial)
            logits = student.logits(np.concatenate([student.preprocess(f) for f in frames]))
            np.save(path, logits, allow_pickle=False)
        out[trial.key] = logits
    return out


def prepare(run: Run) -> _Data:
    return trial_arrays(run, run.config.options.target)


def trial_arrays(run: Run, target: str) -> _Data:
    """Per trial: band powers, the frozen FER+ student's face features and the ``target`` labels (also CMCRD's)."""
    config = run.config
    trials = run.trials
    cache = FeatureCache(config.resolve(config.data.cache_dir) / "features")
    feats = cache.features_for(trials, config.features, progress=run.progress)
    log_feats = cache.features_for(trials, replace(config.features, kind="log"), progress=run.progress)
    eeg, log_eeg, y = {}, {}, {}
    for t in trials:
        f = feats[t.key].features
        eeg[t.key] = np.nan_to_num(f.reshape(len(f), -1), nan=0.0).astype(np.float32)  # missing channels -> 0
        g = log_feats[t.key].features
        log_eeg[t.key] = np.nan_to_num(g.reshape(len(g), -1), nan=0.0)
        values = t.continuous.values if target == "valence" else t.meta.get("arousal")
        if values is None:
            raise ValueError(f"trial {t.key} has no {target} labels")
        y[t.key] = np.asarray(values, dtype=np.float32)
    return _Data(eeg, log_eeg, frame_features(run, trials), y, {t.key: t.subject for t in trials},
                 all(t.meta.get("synthetic", False) for t in trials))


# ------------------------------------------------------------------------------------------------ one fold
def _predict(forward, x: np.ndarray, window: int, hop: int, device: torch.device) -> np.ndarray:
    """Window-wise predictions of one trial (T, D) -> (T,) stitched by overlap averaging (docs/methods.md §2.6)."""
    w = sequence_windows(len(x), window, hop)
    with torch.no_grad():
        out = forward(torch.from_numpy(w.take(x)).to(device)).cpu().numpy()
    return stitch(out, w.starts, w.lengths, len(x))


def _scores(forward, inputs: dict[str, np.ndarray], labels: dict[str, np.ndarray], keys, cfg: OptimConfig,
            device: torch.device) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    preds = {k: _predict(forward, inputs[k], cfg.window, cfg.hop, device) for k in keys}
    return evaluate_regression(preds, {k: labels[k] for k in keys}), preds


def _teacher_forward(teacher: TemporalTeacher):
    return lambda x: teacher(x).valence


def _student_forward(student: EEGTCN, target: str):
    return lambda x: getattr(student(x.transpose(1, 2)), target)


def _oracle(data: _Data, keys, ridge: float) -> dict[str, float]:
    """Subject-dependent linear reference built on what the planted truth says: the simulator plants valence as a
    *linear* effect on log band power, so for each test trial a ridge read-out of the target from log band power is
    fitted on the test subject's *other* trials (leave one trial out) and scored like the students.

    It knows the form of the planted relation and sees the test subject's own labelled data, which a LOSO student
    never does: an upper reference for context, not a competitor.
    """
    preds = {}
    for k in keys:
        others = [o for o in keys if o != k] or [k]
        x = np.concatenate([data.log_eeg[o] for o in others]).astype(np.float64)
        y = np.concatenate([data.y[o] for o in others]).astype(np.float64)
        mu, sd = x.mean(0), x.std(0) + 1e-12
        z = (x - mu) / sd
        coef = np.linalg.solve(z.T @ z + ridge * len(z) * np.eye(z.shape[1]), z.T @ (y - y.mean()))
        preds[k] = ((data.log_eeg[k] - mu) / sd) @ coef + y.mean()
    return evaluate_regression(preds, {k: data.y[k] for k in keys})


def _saliency(student: EEGTCN, data: _Data, keys, target: str, device: torch.device) -> np.ndarray:
    """docs/methods.md §2.7: per test trial, the gradient of the peak prediction with respect to the input, averaged
    over time, then over trials; (N_FEATURES,) band-major, not yet normalised."""
    grads = []
    for k in keys:
        x = torch.from_numpy(data.eeg[k].T[None].copy()).to(device).requires_grad_(True)
        getattr(student(x), target)[0].max().backward()
        grads.append(x.grad[0].mean(dim=1).cpu().numpy())
    return np.mean(grads, axis=0)


def shuffled_extra(windows: WindowSet, name: str, seed: int) -> WindowSet:
    """``windows`` with ``extra[name]`` permuted across the windows (the shuffled-teacher control): each window keeps
    its inputs, targets and padding but is paired with another window's teacher output.

    The permutation is one random cycle through all windows (Sattolo's algorithm, seeded by ``seed``), so no window
    keeps its own, which a uniform permutation of a few windows often would.
    """
    rng = np.random.default_rng([seed, *SHUFFLE_KEY])
    perm = np.arange(len(windows))
    for i in range(len(perm) - 1, 0, -1):
        j = int(rng.integers(i))  # 0 <= j < i: i never stays in place
        perm[i], perm[j] = perm[j], perm[i]
    return WindowSet(windows.x, windows.y, {**windows.extra, name: windows.extra[name][perm]})


def _student_loss(net, b, *, kd: str, w: float, target: str, device: torch.device) -> torch.Tensor:
    """``1 - CCC`` plus, for ``w > 0``, ``w`` times the KD term ``kd``: ``"features"`` (the method's L1 on the
    teacher's features) or ``"output"`` (the plain-KD control's MSE on the teacher's prediction); padding left out."""
    out, valid = net(b[0].to(device).transpose(1, 2)), b[2][VALID].to(device)
    pred = getattr(out, target)
    value = ccc_loss(pred, b[1].to(device), valid)
    if w > 0 and kd == "features":
        value = value + w * feature_kd_loss(out.features, b[2]["knowledge"].to(device), valid)
    elif w > 0 and kd == "output":
        value = value + w * output_kd_loss(pred, b[2]["teacher_output"].to(device), valid)
    return value


def fold(run: Run, data: _Data, fold: Fold) -> dict:
    opts: V2EKDConfig = run.config.options
    device, seed = run.device, run.config.run.seed + fold.index
    folder = run.fold_dir(fold)
    train, val, test = list(fold.train), list(fold.val), list(fold.test)
    tag = f"fold {fold.index} (test {', '.join(map(str, fold.test_subjects)) or '-'})"

    # 1. visual teacher on the frozen frame features
    t_cfg = opts.teacher
    n_frame = next(iter(data.frames.values())).shape[1]
    run.seed(fold.index)
    teacher = TemporalTeacher(n_frame, opts.channels, opts.kernel_size, opts.dropout).to(device)
    t_windows = make_windows([(data.frames[k], data.y[k], {}) for k in train], t_cfg.window, t_cfg.hop)
    t_fit = fit(teacher,
                lambda net, b: ccc_loss(net(b[0].to(device)).valence, b[1].to(device), b[2][VALID].to(device)),
                lambda e: batches(t_windows, t_cfg.batch_size, seed, e, run.ctx),
                lambda m: _scores(_teacher_forward(m), data.frames, data.y, val, t_cfg, device)[0]["ccc"],
                t_cfg, checkpoint=folder / "teacher.ckpt", desc=f"teacher, {tag}", progress=run.progress,
                ctx=run.ctx, amp=run.amp, cpu_bf16=run.cpu_bf16)
    hashes = {"teacher": run.save_weights(teacher, folder / "teacher.pt")}

    # 2. knowledge (and, for the plain-KD control, the prediction) over whole training trials
    with torch.no_grad():
        outs = {k: teacher(torch.from_numpy(data.frames[k][None]).to(device)) for k in train}
    extras = {k: {"knowledge": o.features[0].cpu().numpy(), "teacher_output": o.valence[0].cpu().numpy()}
              for k, o in outs.items()}

    # 3. EEG students: w = 0 is the no-KD baseline; then the controls at the chosen w
    s_cfg = opts.student
    s_windows = make_windows([(data.eeg[k], data.y[k], extras[k]) for k in train], s_cfg.window, s_cfg.hop)
    students, fits = {}, {}

    def train_student(name: str, kd: str, w: float, windows: WindowSet) -> None:
        run.seed(fold.index)  # every student starts from the same initial weights: the comparison is paired
        student = EEGTCN(channels=opts.channels, kernel_size=opts.kernel_size, dropout=opts.dropout).to(device)
        other = "arousal" if opts.target == "valence" else "valence"
        getattr(student, f"{other}_head").requires_grad_(False)  # not trained (and DDP needs every trained weight used)
        forward = _student_forward(student, opts.target)
        fits[name] = fit(student, partial(_student_loss, kd=kd, w=w, target=opts.target, device=device),
                         lambda e: batches(windows, s_cfg.batch_size, seed, e, run.ctx),
                         lambda m: _scores(forward, data.eeg, data.y, val, s_cfg, device)[0]["ccc"], s_cfg,
                         checkpoint=folder / f"{name}.ckpt", desc=f"student {name}, {tag}", progress=run.progress,
                         ctx=run.ctx, amp=run.amp, cpu_bf16=run.cpu_bf16)
        hashes[name] = run.save_weights(student, folder / f"{name}.pt")
        students[name] = student

    for w in (0.0, *opts.kd_weights):
        train_student("no_kd" if w == 0 else f"kd_w{w:g}", "features", w, s_windows)
    kd_names = [n for n in students if n != "no_kd"]
    chosen = max(kd_names, key=lambda n: fits[n].best_score)
    w = float(chosen.removeprefix("kd_w"))
    train_student("plain_kd", "output", w, s_windows)
    train_student("shuffled_teacher", "features", w, shuffled_extra(s_windows, "knowledge", seed))
    saliency = _saliency(students[chosen], data, test, opts.target, device)

    # 4. test
    test_scores, preds = {}, {}
    test_scores["teacher"], preds["teacher"] = _scores(_teacher_forward(teacher), data.frames, data.y, test, t_cfg,
                                                       device)
    for name, student in students.items():
        test_scores[name], preds[name] = _scores(_student_forward(student, opts.target), data.eeg, data.y, test,
                                                 s_cfg, device)
    if run.ctx.is_main:
        np.savez_compressed(folder / "test_predictions.npz", keys=np.array(test),
                            truth=np.concatenate([data.y[k] for k in test]),
                            **{n: np.concatenate([p[k] for k in test]) for n, p in preds.items()})
    return {
        "teacher": {"val_ccc": t_fit.best_score, "best_epoch": t_fit.best_epoch, "history": t_fit.history},
        "students": {n: {"val_ccc": f.best_score, "best_epoch": f.best_epoch, "history": f.history}
                     for n, f in fits.items()},
        "kd_chosen": chosen, "kd_w": w, "saliency": saliency.tolist(), "weights_sha256": hashes,
        "test": {"teacher": test_scores["teacher"], "no_kd": test_scores["no_kd"], "kd": test_scores[chosen],
                 **{n: test_scores[n] for n in (*kd_names, *CONTROLS)},
                 "oracle_within_subject_linear": _oracle(data, test, opts.oracle_ridge)},
    }


# ------------------------------------------------------------------------------------------------ summary
#: The issue-19 control arms every fold trains beside the method (docs/methods.md §2.3).
CONTROLS = ("plain_kd", "shuffled_teacher")

#: What this implementation always does differently from the paper (not options: the data and a CPU decide them).
ADAPTATIONS = ("the frame backbone is the frozen FER+ student (8 logits per frame) where the paper fine-tunes an "
               "IR-50", "face frames at the label rate, 4 Hz, where the paper pairs 16 frames at 64 fps with a label")


def recipe(config: TrainConfig) -> tuple[str, list[str]]:
    """``("paper", [])`` when a run's options and features are the paper's, else ``("project", deviations)``."""
    features = recipe_deviations(config.features, FeatureConfig(), ignore=("align", "min_channels", "batch_windows"),
                                 prefix="features.")  # the rest are the project's (no paper counterpart)
    deviations = recipe_deviations(config.options, V2EKDConfig(), ignore=("target", "oracle_ridge")) + features
    return ("project" if deviations else "paper"), deviations


def summarise(run: Run, data: _Data, results: list[dict]) -> tuple[dict, str]:
    opts: V2EKDConfig = run.config.options
    kd = [r["test"]["kd"] for r in results]
    no_kd = [r["test"]["no_kd"] for r in results]
    if len(results) >= 2:
        p = {m: paired_ttest_one_tailed([x[m] for x in kd], [x[m] for x in no_kd]).pvalue for m in ("ccc", "pcc")}
        p["rmse"] = paired_ttest_one_tailed([x["rmse"] for x in no_kd], [x["rmse"] for x in kd]).pvalue
    else:  # a one-fold look (protocol.max_folds = 1) has no test
        p = {"ccc": math.nan, "pcc": math.nan, "rmse": math.nan}
    chosen = [r["kd_w"] for r in results]
    kind, deviations = recipe(run.config)
    comparison = fold_comparison(
        [x["ccc"] for x in no_kd], [x["ccc"] for x in kd], baseline_name="no_kd", method_name="kd", metric="ccc",
        dataset=run.dataset, folds=f"{len(results)} {protocol_name(run.config.protocol.kind)} folds",
        controls={c: [r["test"][c]["ccc"] for r in results] for c in CONTROLS},
        teacher=[r["test"]["teacher"]["ccc"] for r in results], recipe=kind, deviations=deviations)
    comparison["adaptations"] = list(ADAPTATIONS)
    summary = {
        "data": "synthetic" if data.synthetic else "real", "method": "v2e_kd", "protocol": run.config.protocol.kind,
        "folds": len(results), "target": opts.target, "no_kd": mean_std(results, "no_kd"),
        "kd": {**mean_std(results, "kd"), "w": Counter(chosen).most_common(1)[0][0] if chosen else math.nan,
               "w_per_fold": chosen, "w_grid": list(opts.kd_weights)},
        **{c: mean_std(results, c) for c in CONTROLS},
        "teacher": mean_std(results, "teacher"),
        "oracle_within_subject_linear": mean_std(results, "oracle_within_subject_linear"),
        "p_value": p["ccc"], "p_values": p, "command": run.command,
        "seconds": float(sum(r.get("seconds", 0.0) for r in results)), "comparison": comparison,
    }
    from affectstream.models.training.plots import v2e_plots

    return summary, report_markdown(run, summary, results, v2e_plots(run, results))


def rescore(run: Run, data: _Data, fold: Fold, result: dict) -> dict[str, float]:
    """Test CCC of the fold's saved teacher, students and controls again; differences to the recorded values."""
    opts: V2EKDConfig = run.config.options
    folder = run.fold_dir(fold)
    test = list(fold.test)
    n_frame = next(iter(data.frames.values())).shape[1]
    diffs = {}
    for name, recorded in (("teacher", "teacher"), ("no_kd", "no_kd"), (result["kd_chosen"], "kd"),
                           *((c, c) for c in CONTROLS)):
        if name == "teacher":
            model = TemporalTeacher(n_frame, opts.channels, opts.kernel_size, opts.dropout)
            forward, inputs, cfg = _teacher_forward(model), data.frames, opts.teacher
        else:
            model = EEGTCN(channels=opts.channels, kernel_size=opts.kernel_size, dropout=opts.dropout)
            forward, inputs, cfg = _student_forward(model, opts.target), data.eeg, opts.student
        model.load_state_dict(torch.load(folder / f"{name}.pt", weights_only=True))
        model.to(run.device).eval()
        score = _scores(forward, inputs, data.y, test, cfg, run.device)[0]["ccc"]
        diffs[f"fold {fold.index} {recorded} test CCC"] = score - result["test"][recorded]["ccc"]
    return diffs


METHOD = Method("v2e_kd", V2EKDConfig, prepare, fold, summarise, rescore, data_kinds=("xdf", "mahnob_continuous"))
