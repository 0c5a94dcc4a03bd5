"""The distillation terms of NeuroGaze-Distill's visual student (docs/methods.md §1.4), one function each.

``L = L_CE + lambda_kd * L_KD + lambda_proto * KL(q_pro || q_stu) + lambda_geo * w(e) * L_DGeo``

The paper leaves several pieces undefined; each is a switch here with docs/methods.md §8's recommended default:

* **L_KD** (§8 #2): the teacher is a frozen FER model; ``mode`` ``"mse_prob"`` (default: MSE between the
  temperature-``T`` softmaxes), ``"mse_logit"`` or ``"kl"`` (Hinton: ``T^2 KL(p_t || p_s)``); ``T = 5``.
* **q_pro** (§8 #1): ``"class_anchor"`` (default: the class's anchor bin on the grid, ``softmax_k(cos(p_a(y), p_k) /
  tau_pro)``), ``"gaussian_grid"`` (a Gaussian of width ``sigma`` around the class's anchor point on the grid), or
  ``"teacher_mix"`` (the class targets mixed by the KD teacher's probabilities).
* **D-Geo** (§8 #3): batch statistics of the normalised embeddings: a variance cap ``kappa`` on the positive
  classes plus an inter-class margin ``m`` on the centroids' cosines; ``hard_gate`` > 0 zeroes the term while the
  ramp is below it (one of its three readings; off by default).
* **ramp** (§1.4): ``w(e) = 0`` before ``start``, ``0.5 (1 - cos(pi (e - start) / (end - start)))`` up to ``end``,
  then 1 (``e`` may be fractional, so the weight rises per step).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from affectstream.models.nets.prototypes import PrototypeBank

__all__ = ["METHODS_ANCHORS", "dgeo_loss", "dgeo_ramp", "kd_loss", "proto_kd_loss", "proto_targets"]

#: Suggested (valence, arousal) anchor per FER+ class, FER+ order (docs/methods.md §1.4, option A).
METHODS_ANCHORS: tuple[tuple[float, float], ...] = (
    (0.0, 0.0), (0.8, 0.4), (0.4, 0.8), (-0.8, -0.4), (-0.4, 0.8), (-0.8, 0.4), (-0.8, 0.8), (-0.4, 0.0))


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, mode: str = "mse_prob",
            temperature: float = 5.0) -> torch.Tensor:
    """Logit distillation from a frozen teacher, ``(B, C)`` each -> scalar."""
    t = temperature
    if mode == "mse_prob":
        return F.mse_loss(torch.softmax(student_logits / t, dim=1), torch.softmax(teacher_logits / t, dim=1))
    if mode == "mse_logit":
        return F.mse_loss(student_logits, teacher_logits)
    if mode == "kl":
        return F.kl_div(F.log_softmax(student_logits / t, dim=1), torch.softmax(teacher_logits / t, dim=1),
                        reduction="batchmean") * t * t
    raise ValueError(f"kd mode must be 'mse_prob', 'mse_logit' or 'kl', got {mode!r}")


def _anchor_bins(bank: PrototypeBank, anchors: torch.Tensor) -> torch.Tensor:
    """Flat grid index of the bin nearest to each anchor point (C, 2) -> (C,)."""
    centers = bank.centers
    v = torch.argmin((anchors[:, :1] - centers[None]).abs(), dim=1)
    a = torch.argmin((anchors[:, 1:] - centers[None]).abs(), dim=1)
    return v * centers.numel() + a


def proto_targets(labels: torch.Tensor, bank: PrototypeBank, anchors: Sequence[Sequence[float]],
                  mode: str = "class_anchor", tau: float = 0.9, sigma: float = 0.4,
                  teacher_probs: torch.Tensor | None = None) -> torch.Tensor:
    """q_pro, the Proto-KD target over the grid's prototypes, for class ``labels`` (B,) -> (B, G * G).

    ``anchors`` are the classes' (valence, arousal) points in class order.
    """
    anchor = torch.as_tensor(anchors, dtype=bank.prototypes.dtype, device=bank.prototypes.device)
    if mode in ("class_anchor", "teacher_mix"):
        p = F.normalize(bank.prototypes, dim=1)
        per_class = torch.softmax(p[_anchor_bins(bank, anchor)] @ p.T / tau, dim=1)  # (C, G*G)
    elif mode == "gaussian_grid":
        d2 = ((anchor[:, None, :] - bank.grid[None]) ** 2).sum(-1)  # (C, G*G)
        per_class = torch.softmax(-d2 / (2 * sigma ** 2), dim=1)
    else:
        raise ValueError(f"proto target must be 'class_anchor', 'gaussian_grid' or 'teacher_mix', got {mode!r}")
    if mode == "teacher_mix":
        if teacher_probs is None:
            raise ValueError("the teacher_mix target needs the KD teacher's probabilities")
        return teacher_probs.to(per_class.dtype) @ per_class
    return per_class[labels]


def proto_kd_loss(embedding: torch.Tensor, bank: PrototypeBank, q_pro: torch.Tensor, tau: float = 0.9) -> torch.Tensor:
    """``KL(q_pro || q_stu)`` with ``q_stu = softmax(cos(e, p_k) / tau)`` (target first, batch mean)."""
    sims = F.normalize(embedding, dim=1) @ F.normalize(bank.prototypes, dim=1).T
    return F.kl_div(F.log_softmax(sims / tau, dim=1), q_pro, reduction="batchmean")


def dgeo_loss(embedding: torch.Tensor, labels: torch.Tensor, positive: Sequence[int], kappa: float = 0.2,
              margin: float = 0.2) -> torch.Tensor:
    """Variance cap on the positive classes + inter-class margin, from the batch's normalised embeddings.

    Classes with fewer than two samples in the batch are left out (no centroid to speak of).
    """
    z = F.normalize(embedding, dim=1)
    classes = [int(c) for c in torch.unique(labels) if int((labels == c).sum()) >= 2]
    zero = z.sum() * 0.0
    if not classes:
        return zero
    centroids = torch.stack([F.normalize(z[labels == c].mean(0), dim=0) for c in classes])
    cap = zero
    for c, mu in zip(classes, centroids):
        if c in positive:
            var = (1 - z[labels == c] @ mu).mean()
            cap = cap + F.relu(var - kappa)
    mar = zero
    if len(classes) > 1:
        cos = centroids @ centroids.T
        off = ~torch.eye(len(classes), dtype=torch.bool, device=z.device)
        mar = F.relu(cos[off] - (1 - margin)).mean()
    return cap + mar


def dgeo_ramp(epoch: float, start: float = 20.0, end: float = 60.0, hard_gate: float = 0.0) -> float:
    """The late cosine ramp ``w(e)`` in [0, 1]; 0 while below ``hard_gate``."""
    if epoch < start:
        w = 0.0
    elif epoch >= end:
        w = 1.0
    else:
        w = 0.5 * (1 - math.cos(math.pi * (epoch - start) / (end - start)))
    return 0.0 if w < hard_gate else w
