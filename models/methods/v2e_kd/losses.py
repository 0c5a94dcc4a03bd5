"""The distillation terms of Visual-to-EEG KD (docs/methods.md §2.3) and of its plain-KD control.

* :func:`feature_kd_loss`, the paper's Eq. (4): ``L1(V_t, V_s) = mean |V_t - V_s|`` over the batch, the steps and the
  128 features of the teacher's and the student's temporal features.
* :func:`output_kd_loss`, the vanilla distillation a regression task has (the ``plain_kd`` control of issue 19): the
  student's prediction pulled onto the teacher's by the mean squared difference.

Both take the windows' padding mask (``valid``, (B, T) bool; see
:func:`~affectstream.models.training.loop.ccc_loss`) and average over the valid steps only; with every step valid
they are torch's ``l1_loss`` / ``mse_loss`` (mean reduction), as the reference calls them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["feature_kd_loss", "output_kd_loss"]


def _masked_mean(error: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean of ``error`` (B, T, ...) over the valid (B, T) steps and all trailing entries."""
    m = valid.to(error.dtype).reshape(*valid.shape, *([1] * (error.dim() - valid.dim())))
    count = m.sum() * (error.numel() // valid.numel())  # valid steps x entries per step
    if count == 0:
        return error.sum() * 0.0
    return (error * m).sum() / count


def feature_kd_loss(student: torch.Tensor, teacher: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """``mean |V_t - V_s|`` of ``(B, T, D)`` features (the teacher's detached), over valid steps when ``valid`` is
    given."""
    teacher = teacher.detach()
    if valid is None or bool(valid.all()):
        return F.l1_loss(student, teacher)
    return _masked_mean((student - teacher).abs(), valid)


def output_kd_loss(student: torch.Tensor, teacher: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """``mean (y_t - y_s)^2`` of ``(B, T)`` predictions (the teacher's detached), over valid steps when ``valid`` is
    given."""
    teacher = teacher.detach()
    if valid is None or bool(valid.all()):
        return F.mse_loss(student, teacher)
    return _masked_mean((student - teacher) ** 2, valid)
