"""NeuroGaze-Distill's visual student (docs/methods.md §1.4-1.5): the image loop's FER+ recipe plus the three
distillation terms, wired into the loop as an :class:`~affectstream.models.training.image_loop.ExtraLoss`.

``L = CE + lambda_kd L_KD + lambda_proto KL(q_pro || q_stu) + lambda_geo w(e) L_DGeo``; the terms themselves are in
:mod:`affectstream.models.methods.neurogaze.losses`, every ambiguity of the paper a switch of
:class:`NeuroGazeStudentConfig` (the ``[neurogaze.student]`` table).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from affectstream.models.methods.neurogaze.losses import (METHODS_ANCHORS, dgeo_loss, dgeo_ramp, kd_loss,
                                                          proto_kd_loss, proto_targets)
from affectstream.models.nets.prototypes import PrototypeBank
from affectstream.models.nets.visual_student import FERPLUS_CLASSES
from affectstream.models.training.image_loop import ExtraLoss, ImageTrainConfig

__all__ = ["Distillation", "NeuroGazeStudentConfig"]


@dataclass(frozen=True)
class NeuroGazeStudentConfig(ImageTrainConfig):
    """The visual student's training: the project's FER+ image loop with the paper's recipe as every default
    (docs/methods.md §1.4-1.5): the three distillation weights, inverse-frequency class weights, hard labels,
    macro-F1 selection, and its budget -- 100 epochs at a peak learning rate of 2e-4 without warm-up, the D-Geo ramp
    over epochs 20 -> 60. A weight of 0 switches its term off; every departure from the paper is a switch here,
    listed by :func:`~affectstream.models.methods.neurogaze.arms.recipe`."""

    epochs: int = 100
    lr: float = 2e-4
    warmup_epochs: float = 0.0  #: the paper's warm-up is unspecified (docs/methods.md §1.5: none)
    class_weights: Literal["none", "inverse_freq"] = "inverse_freq"
    select_metric: Literal["accuracy", "macro_f1"] = "macro_f1"
    targets: Literal["soft", "hard"] = "hard"
    kd_weight: float = 0.30  #: lambda_kd; needs the frozen FER teacher
    kd_mode: Literal["mse_prob", "mse_logit", "kl"] = "mse_prob"
    kd_temperature: float = 5.0
    proto_weight: float = 0.12  #: lambda_proto; needs the prototype bank
    proto_tau: float = 0.9  #: temperature of q_stu
    proto_target: Literal["class_anchor", "gaussian_grid", "teacher_mix"] = "class_anchor"  #: q_pro
    proto_target_tau: float = 0.9  #: temperature of the class-anchor q_pro
    proto_sigma: float = 0.4  #: width of the gaussian_grid q_pro
    dgeo_weight: float = 0.012  #: lambda_geo
    dgeo_kappa: float = 0.2
    dgeo_margin: float = 0.2
    dgeo_start: float = 20.0  #: ramp start epoch ("late cosine")
    dgeo_end: float = 60.0
    dgeo_hard_gate: float = 0.0
    dgeo_positive: tuple[str, ...] = ("happiness", "surprise")

    def check(self) -> None:
        super().check()
        unknown = set(self.dgeo_positive) - set(FERPLUS_CLASSES)
        if unknown:
            raise ValueError(f"dgeo_positive names unknown classes {sorted(unknown)}; classes: {list(FERPLUS_CLASSES)}")


@dataclass
class Distillation(ExtraLoss):
    """NeuroGaze-Distill's terms and what they need besides the config: the frozen FER teacher (normalised batch ->
    logits), the frozen prototype bank, and the classes' (valence, arousal) anchors for Proto-KD's target."""

    teacher: Callable[[torch.Tensor], torch.Tensor] | None = None
    bank: PrototypeBank | None = None
    anchors: tuple[tuple[float, float], ...] = METHODS_ANCHORS

    def check(self, cfg: NeuroGazeStudentConfig) -> None:
        if (cfg.kd_weight > 0 or cfg.proto_target == "teacher_mix" and cfg.proto_weight > 0) and self.teacher is None:
            raise ValueError("kd_weight > 0 (or the teacher_mix Proto-KD target) needs a KD teacher")
        if cfg.proto_weight > 0 and self.bank is None:
            raise ValueError("proto_weight > 0 needs a prototype bank")

    def attach(self, model: nn.Module) -> None:
        if self.bank is not None:
            model.set_prototypes(self.bank)

    def loss(self, out, x: torch.Tensor, target: torch.Tensor, epoch: float, cfg: NeuroGazeStudentConfig,
             idx: torch.Tensor | None = None) -> torch.Tensor:
        """lambda_kd L_KD + lambda_proto KL(q_pro || q_stu) + lambda_geo w(e) L_DGeo for one batch."""
        labels = target.argmax(dim=1) if target.ndim == 2 else target  # soft vote targets: their top class
        logits, emb = out.logits.float(), out.embedding.float()
        total = logits.sum() * 0.0
        teacher_logits = None
        if self.teacher is not None and (cfg.kd_weight > 0 or cfg.proto_target == "teacher_mix"):
            with torch.no_grad():
                teacher_logits = self.teacher(x).float()
        if cfg.kd_weight > 0:
            total = total + cfg.kd_weight * kd_loss(logits, teacher_logits, cfg.kd_mode, cfg.kd_temperature)
        if cfg.proto_weight > 0:
            probs = torch.softmax(teacher_logits, dim=1) if teacher_logits is not None else None
            q_pro = proto_targets(labels, self.bank, self.anchors, cfg.proto_target, cfg.proto_target_tau,
                                  cfg.proto_sigma, probs)
            total = total + cfg.proto_weight * proto_kd_loss(emb, self.bank, q_pro, cfg.proto_tau)
        ramp = dgeo_ramp(epoch, cfg.dgeo_start, cfg.dgeo_end, cfg.dgeo_hard_gate) if cfg.dgeo_weight > 0 else 0.0
        if ramp > 0:
            positive = [FERPLUS_CLASSES.index(c) for c in cfg.dgeo_positive]
            total = total + cfg.dgeo_weight * ramp * dgeo_loss(emb, labels, positive, cfg.dgeo_kappa,
                                                               cfg.dgeo_margin)
        return total
