"""The loss terms of CDGKD, cross-modal densely guided knowledge distillation (Wu et al., IJCAI 2025;
docs/methods.md §3).

Two stages, one loss family each:

* **Prototype-based modality rebalancing (PMR)** of the multimodal teacher. Each modality's features are compared
  with that modality's class prototypes (the batch's class means): a prototypical cross-entropy
  ``L_PCE^m = -mean_i log softmax_k(-d(z_i^m, c_k^m))[y_i]`` and a *pace* ``p^m = sum_i softmax(...)[y_i]`` that
  says how well modality ``m`` alone already separates the classes. Over an epoch the ratio
  ``rho = p^video / p^eeg`` is accumulated; at the epoch's end it sets the next epoch's weights: the slower
  modality's PCE is switched on (``beta`` for video when ``rho < 1``, ``gamma`` for the EEG when ``rho > 1``), so
  the modality the fused classifier would otherwise ignore is pushed to learn on its own.
  ``L_teacher = CE + alpha (beta L_PCE^video + gamma L_PCE^eeg)``.
* **Dense stochastic guidance** (after DGKD, Son et al. 2021) of each later model in the chain teacher -> TA-1 ->
  TA-2 -> student by *every* earlier one: one KL term per guide at temperature ``T``, each dropped with probability
  ``drop_rate`` at every step, so the student never leans on one guide. ``L = a CE + (1 - a) sum_kept KD_g``.

The released code differs in three places (docs/methods.md §3.3, §8 #13-#15), each a switch of
:class:`~affectstream.models.methods.cdgkd.method.CDGKDConfig`: its PMR is inert (its pace is a constant, so ``rho`` is
always 1 and both weights are 0: :func:`rebalance_weights` with ``code_compat=True``), its KD weight is 0 (``alpha`` is
never passed; the script's 0.5 is the default here), and its KL runs from the student to the guide without ``T^2``
(``direction="code"``, the default §8 #15 recommends; ``"hinton"`` is ``T^2 KL(p_g || p_s)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F

__all__ = ["batch_prototypes", "dense_guidance_loss", "prototype_distances", "prototype_ce_and_pace",
           "rebalance_weights"]

Distance = Literal["euclidean", "cosine"]


def batch_prototypes(z: torch.Tensor, y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Class means of a batch's features: ``(B, D), (B,) -> (n_classes, D)``; a class absent from the batch gets the
    zero vector (as in the released code)."""
    one_hot = F.one_hot(y, n_classes).to(z.dtype)  # (B, C)
    counts = one_hot.sum(dim=0)
    return (one_hot.T @ z) / counts.clamp(min=1)[:, None]


def prototype_distances(z: torch.Tensor, prototypes: torch.Tensor, distance: Distance = "euclidean") -> torch.Tensor:
    """``(B, D), (C, D) -> (B, C)`` distances: mean squared difference (``euclidean``, the default) or ``1 - cos``."""
    if distance == "euclidean":
        return ((z[:, None, :] - prototypes[None, :, :]) ** 2).mean(dim=2)
    if distance == "cosine":
        return 1 - F.normalize(z, dim=1) @ F.normalize(prototypes, dim=1).T
    raise ValueError(f"distance must be 'euclidean' or 'cosine', got {distance!r}")


def prototype_ce_and_pace(z: torch.Tensor, y: torch.Tensor, n_classes: int,
                          distance: Distance = "euclidean") -> tuple[torch.Tensor, torch.Tensor]:
    """One modality's prototypical cross-entropy (scalar, differentiable) and pace (scalar, detached).

    The prototypes are the batch's own class means, so the PCE pulls every sample towards its class mean and away
    from the others'. The pace is the summed probability of the right class under that soft nearest-prototype
    rule: the higher, the further this modality has learnt on its own.
    """
    log_p = torch.log_softmax(-prototype_distances(z, batch_prototypes(z, y, n_classes), distance), dim=1)
    right = log_p.gather(1, y[:, None]).squeeze(1)
    return -right.mean(), right.detach().exp().sum()


def rebalance_weights(pace_video: float, pace_eeg: float, code_compat: bool = False) -> tuple[float, float]:
    """``(beta, gamma)``: the next epoch's weights of the video and EEG PCE from an epoch's summed paces.

    ``rho = pace_video / pace_eeg``; ``rho < 1`` (the video lags): ``beta = clip(1/rho - 1, 0, 1)``, ``gamma = 0``;
    otherwise ``beta = 0``, ``gamma = clip(rho - 1, 0, 1)``. ``code_compat`` reproduces the released code, whose
    pace is the same constant for both modalities, so ``rho = 1`` and both weights are 0 (plain CE).
    """
    if code_compat:
        return 0.0, 0.0
    if pace_video <= 0 or pace_eeg <= 0:
        raise ValueError(f"paces must be positive, got video {pace_video}, EEG {pace_eeg}")
    rho = pace_video / pace_eeg
    if rho < 1:
        return min(max(1 / rho - 1, 0.0), 1.0), 0.0
    return 0.0, min(max(rho - 1, 0.0), 1.0)


def dense_guidance_loss(student_logits: torch.Tensor, guide_logits: Sequence[torch.Tensor], keep: torch.Tensor,
                        temperature: float = 2.0, direction: Literal["code", "hinton"] = "code") -> torch.Tensor:
    """Sum of the kept guides' KL terms (a scalar; 0 with a gradient path when every guide is dropped).

    Parameters
    ----------
    student_logits : torch.Tensor
        ``(B, C)``.
    guide_logits : sequence of torch.Tensor
        One ``(B, C)`` per guide (teacher, assistants), frozen: detached here.
    keep : torch.Tensor
        ``(n_guides,)`` bool: which guides speak at this step (each drawn with probability ``1 - drop_rate``).
    direction : {"code", "hinton"}
        ``code``: ``KL(p_s || p_g)`` per sample, batch mean, no ``T^2`` (the released code's Keras
        ``KLDivergence(y_true=student, y_pred=guide)``); ``hinton``: ``T^2 KL(p_g || p_s)``.
    """
    if len(guide_logits) != len(keep):
        raise ValueError(f"{len(guide_logits)} guides but {len(keep)} keep flags")
    log_s = torch.log_softmax(student_logits / temperature, dim=1)
    total = student_logits.sum() * 0.0
    for g, kept in zip(guide_logits, keep.tolist()):
        if not kept:
            continue
        log_g = torch.log_softmax(g.detach() / temperature, dim=1)
        if direction == "code":
            total = total + (log_s.exp() * (log_s - log_g)).sum(dim=1).mean()
        elif direction == "hinton":
            total = total + temperature ** 2 * (log_g.exp() * (log_g - log_s)).sum(dim=1).mean()
        else:
            raise ValueError(f"direction must be 'code' or 'hinton', got {direction!r}")
    return total
