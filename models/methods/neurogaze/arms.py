"""The visual students of one NeuroGaze-Distill fold and what they are compared by (issue 19): the method, its
baseline and two controls, trained by the image loop with the same recipe, optimiser, budget, seed and FER+ images,
so that they differ only in the distillation terms:

- ``method``: CE + KD + Proto-KD + D-Geo, the student's config as given;
- ``baseline``: CE only (the three weights 0): the paper's B0;
- ``plain_kd``: CE + KD from the frozen FER teacher (Proto-KD and D-Geo off): the paper's B1, vanilla distillation
  from the same teacher -- what the method adds over it is the EEG prototypes' share;
- ``shuffled_teacher``: the method with the prototype bank's prototypes permuted across the grid's bins (a seeded
  derangement, :func:`shuffled_bank`): the same terms, prototypes and statistics with the valence/arousal geometry
  the EEG teacher gave them destroyed -- it tells the EEG teacher's knowledge from a regulariser.

Every arm starts from the same seed (the image loop seeds itself and hands the caller's random state back), so an
arm's weights depend only on its config, the data and the seed: the same with or without the other arms. The frozen
FER teacher is scored on the same images (:func:`teacher_scores`), and :func:`recipe` lists how the run departs from
the paper's recipe.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch

from affectstream.models.methods.neurogaze.distillation import Distillation, NeuroGazeStudentConfig
from affectstream.models.nets.prototypes import PrototypeBank
from affectstream.models.training.fer_data import FerData, preprocess
from affectstream.models.training.fer_scores import fer_split_scores
from affectstream.models.training.image_loop import TrainResult, train
from affectstream.models.training.loop import recipe_deviations

__all__ = ["CONTROLS", "Student", "arm_config", "recipe", "shuffled_bank", "teacher_scores", "train_students",
           "weights_name"]

#: The control arms beside the method and its baseline.
CONTROLS = ("plain_kd", "shuffled_teacher")
#: The student's options that are the paper's recipe (docs/methods.md §1.4-1.5, stated by its summary or README, and
#: the whole training split); a run that changes one is a "project" recipe.
_RECIPE = ("targets", "class_weights", "select_metric", "label_smoothing", "ce_weight", "kd_weight", "kd_mode",
           "kd_temperature", "proto_weight", "proto_tau", "dgeo_weight", "dgeo_positive", "batch_size",
           "weight_decay", "grad_clip", "lr_schedule", "limit_train")
#: The paper's budget: a shorter run keeps the recipe but lists these.
_BUDGET = ("epochs", "lr", "warmup_epochs", "dgeo_start", "dgeo_end")


@dataclass
class Student:
    """One trained arm: the image loop's result and what else its record needs (the shuffled bank's permutation)."""

    result: TrainResult
    record: dict = field(default_factory=dict)


def arm_config(student: NeuroGazeStudentConfig, arm: str) -> NeuroGazeStudentConfig:
    """The student config of ``arm`` (``method``, ``baseline`` or one of :data:`CONTROLS`): the method's with the
    terms the arm leaves out set to 0; everything else (recipe, optimiser, budget) is the method's."""
    if arm == "baseline":
        return replace(student, kd_weight=0.0, proto_weight=0.0, dgeo_weight=0.0)
    if arm == "plain_kd":
        return replace(student, proto_weight=0.0, dgeo_weight=0.0)
    if arm in ("method", "shuffled_teacher"):
        return student
    raise ValueError(f"unknown arm {arm!r}")


def weights_name(arm: str) -> str:
    """The stem of an arm's weights file and hash key (``visual_student`` for the method, as before the controls)."""
    return "visual_student" if arm == "method" else f"visual_{arm}"


def shuffled_bank(bank: PrototypeBank, seed: int) -> tuple[PrototypeBank, np.ndarray]:
    """The bank with its prototypes permuted across bins, and the permutation (bin k holds prototype ``perm[k]``).

    The permutation is one random cycle through every bin (drawn from ``seed``), so no bin keeps its own prototype;
    each prototype's bin count moves with it. Which bins were filled from a neighbour is no longer recorded.
    """
    n = bank.prototypes.shape[0]
    order = np.random.default_rng([seed, n]).permutation(n)
    perm = np.empty(n, dtype=np.int64)
    perm[order] = np.roll(order, -1)  # bin order[j] takes the prototype of bin order[j + 1]
    counts = bank.counts.reshape(-1)[torch.from_numpy(perm)].reshape(bank.counts.shape)
    return PrototypeBank(bank.prototypes[torch.from_numpy(perm)], bank.centers, counts, tau=bank.tau), perm


def train_students(student: NeuroGazeStudentConfig, arms: Sequence[str], fer: FerData, bank: PrototypeBank,
                   teacher: Callable[[torch.Tensor], torch.Tensor], anchors: tuple[tuple[float, float], ...],
                   seed: int, folder: Path, progress: bool = True) -> dict[str, Student]:
    """Train the method and then each of ``arms`` on ``fer``, every one from ``seed`` (checkpoints in ``folder``:
    ``visual.ckpt`` for the method, ``visual_<arm>.ckpt`` for the others)."""
    out = {}
    for arm in ("method", *arms):
        cfg, arm_bank, record = arm_config(student, arm), bank, {}
        if arm == "shuffled_teacher":
            arm_bank, perm = shuffled_bank(bank, seed)
            record = {"permutation": perm.tolist(), "prototypes_sha256": arm_bank.sha256()}
        distill = None if arm == "baseline" else Distillation(teacher, arm_bank, anchors)
        ckpt = folder / ("visual.ckpt" if arm == "method" else f"visual_{arm}.ckpt")
        out[arm] = Student(train(cfg, fer, seed, checkpoint=ckpt, progress=progress, distill=distill), record)
    return out


def teacher_scores(teacher: Callable[[torch.Tensor], torch.Tensor], fer: FerData,
                   cfg: NeuroGazeStudentConfig) -> dict:
    """FER+ valid and test scores of the frozen FER teacher, as a student's are scored (its ONNX graph averages the
    flipped image itself, as the students' flip TTA does)."""
    def logits(images: np.ndarray) -> np.ndarray:
        step = cfg.eval_batch_size
        return np.concatenate([teacher(preprocess(images[i:i + step], cfg)).float().numpy()
                               for i in range(0, len(images), step)])

    return {split: fer_split_scores(logits(getattr(fer, split).images), getattr(fer, split).votes)
            for split in ("valid", "test")}


def recipe(student: NeuroGazeStudentConfig, eeg: str) -> tuple[str, list[str]]:
    """``("paper" | "project", deviations)``: the run is the paper's recipe unless one of the recipe's options differs
    from the paper's (the student's defaults); the deviations list those, then the budget's (marked ``[budget]``),
    then the differences that are no option here (``[fixed]``). ``eeg`` names the EEG teacher's data."""
    paper, names = NeuroGazeStudentConfig(), {f.name for f in fields(NeuroGazeStudentConfig)}
    own = recipe_deviations(student, paper, ignore=tuple(names - set(_RECIPE)), prefix="student.")
    budget = recipe_deviations(student, paper, ignore=tuple(names - set(_BUDGET)), prefix="student.")
    fixed = [f"student: the project's ResNet-18 family at width x{student.width_mult} on {student.image_size} px grey "
             "FER+ images, trained from scratch (paper: ResNet-18 at 224 px, presumably ImageNet-pretrained)",
             f"EEG teacher: the TCN on per-subject z-scored band powers, data: {eeg} (paper: a CNN on topographic "
             "maps of DREAMER and MAHNOB-HCI)",
             "scores on FER+ test with selection on FER+ valid (the paper reports FER+ valid, on which it selects)"]
    return ("paper" if not own else "project"), own + [f"{d} [budget]" for d in budget] + [f"{d} [fixed]"
                                                                                          for d in fixed]
