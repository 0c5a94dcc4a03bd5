"""The loss terms of CMCRD, cross-modal contrastive representation distillation (docs/methods.md §5), one piece each.

``L_student = CE(z_s, y) + 0.02 * (L_s + L_t)``, where ``L_s`` / ``L_t`` are CRD's NCE losses (Tian et al. 2020)
anchored on the student's and the teacher's embeddings, against two memory banks, with CMCRD's changes:

* **entropy sample weights** from the teacher's predictions (a confident teacher weighs more):
  ``w_i = 1 + exp(-H_i)``, normalised to sum to ``B0`` (the batch size; the code hard-codes 32, docs/methods.md §8 #24);
* **gradient gating** after UniS-MMC: a sample the student gets right and the teacher wrong does not pull the
  student's embedding (it is detached), and the converse for the teacher's; each sample's NCE terms are signed
  ``+1`` when the teacher is right, ``-1`` when it is wrong (if no sample is right in either modality, the gating
  masks are inverted, as in the released code);
* memory momentum ``m = 0.05`` (95 % new; CRD's default is 0.5).

:func:`mcc_loss` is the minimum-class-confusion term (Jin et al. 2020) of the teacher's training, on an unlabelled
batch. With unit weights and signs :func:`weighted_nce` is CRD's own NCE loss (the ``plain_kd`` control).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ContrastMemory", "Embed", "entropy_weights", "gate", "mcc_loss", "weighted_nce"]


def entropy_weights(logits: torch.Tensor, b0: float | None = None, eps: float = 1e-5) -> torch.Tensor:
    """``(B, C)`` logits -> ``(B,)`` weights ``1 + exp(-H)`` normalised to sum to ``b0`` (default: the batch size)."""
    p = torch.softmax(logits, dim=1)
    h = -(p * torch.log(p + eps)).sum(dim=1)
    w = 1 + torch.exp(-h)
    return (b0 if b0 is not None else len(w)) * w / w.sum()


def mcc_loss(logits: torch.Tensor, temperature: float = 2.5, b0: float | None = None) -> torch.Tensor:
    """Minimum class confusion of a batch: ``(B, C)`` logits -> scalar (docs/methods.md §5.3, steps 1-4).

    The class-correlation matrix ``C = (p * w)^T p`` of the temperature-scaled predictions, entropy-weighted, each
    column divided by its sum; the loss is its off-diagonal mass over the number of classes. The entropy weights are
    constants (computed from detached logits), as in MCC's reference code and CMCRD's: the loss lowers the confusion
    of the predictions, it does not make the model more or less certain in order to re-weight its samples.
    """
    p = torch.softmax(logits / temperature, dim=1)
    w = entropy_weights(logits.detach() / temperature, b0)
    c = (p * w[:, None]).T @ p
    c = c / c.sum(dim=1)  # C is symmetric: dividing by the row sums divides every column by its own sum
    return (c.sum() - torch.trace(c)) / logits.shape[1]


class Embed(nn.Module):
    """Linear projection to the contrastive space, L2-normalised: ``(B, D_in) -> (B, feat_dim)``."""

    def __init__(self, d_in: int, feat_dim: int = 128) -> None:
        super().__init__()
        self.linear = nn.Linear(d_in, feat_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.linear(x.flatten(1)), dim=1)


class ContrastMemory(nn.Module):
    """CRD's two memory banks (one per modality) and the contrast probabilities against them.

    Parameters
    ----------
    feat_dim : int
        Embedding size.
    n_data : int
        Training samples (the banks are indexed by sample index: docs/methods.md §8 #26 sets it to the training size).
    tau : float
        Temperature (0.07).
    momentum : float
        Weight of the old memory entry on update (CMCRD 0.05; CRD 0.5).

    Shapes
    ------
    ``forward(e_s (B, D), e_t (B, D), idx (B,), contrast_idx (B, K + 1))`` -> ``P_s, P_t`` each ``(B, K + 1)``;
    column 0 is the positive (the sample's own entry), the rest its K negatives.

    Notes
    -----
    A batch's entries are written to the banks when the next batch reads them (or on :meth:`flush`), not at once:
    the scores are one matrix product with the whole bank (:func:`_dots`), whose backward pass needs the bank as it
    was, and an in-place write before it would invalidate it. Every batch still reads the banks with all earlier
    batches' entries written, as in CRD, and the gradient is that of the bank it read.
    """

    def __init__(self, feat_dim: int, n_data: int, tau: float = 0.07, momentum: float = 0.05) -> None:
        super().__init__()
        stdv = 1.0 / math.sqrt(feat_dim / 3)
        self.register_buffer("memory_s", torch.rand(n_data, feat_dim) * 2 * stdv - stdv)
        self.register_buffer("memory_t", torch.rand(n_data, feat_dim) * 2 * stdv - stdv)
        self.register_buffer("z", torch.full((2,), -1.0))  #: normalisers Z_s, Z_t (set at the first batch)
        self.n_data, self.tau, self.momentum = n_data, tau, momentum
        self._pending: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  #: idx, e_s, e_t to write

    def forward(self, e_s: torch.Tensor, e_t: torch.Tensor, idx: torch.Tensor,
                contrast_idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.flush()
        p_s = torch.exp(_dots(e_s, self.memory_t, contrast_idx) / self.tau)
        p_t = torch.exp(_dots(e_t, self.memory_s, contrast_idx) / self.tau)
        if self.z[0] < 0:  # Z is estimated once, from the first batch, and then fixed (Monte-Carlo, as in CRD)
            self.z[0] = p_s.mean().detach() * self.n_data
            self.z[1] = p_t.mean().detach() * self.n_data
        self._pending = idx, e_s.detach(), e_t.detach()
        return p_s / self.z[0], p_t / self.z[1]

    def flush(self) -> None:
        """Write the last batch's embeddings to the banks: ``m * old + (1 - m) * new``, renormalised."""
        if self._pending is None:
            return
        idx, e_s, e_t = self._pending
        self._pending = None
        with torch.no_grad():
            m = self.momentum
            self.memory_s[idx] = F.normalize(m * self.memory_s[idx] + (1 - m) * e_s, dim=1)
            self.memory_t[idx] = F.normalize(m * self.memory_t[idx] + (1 - m) * e_t, dim=1)


def _dots(e: torch.Tensor, bank: torch.Tensor, contrast_idx: torch.Tensor) -> torch.Tensor:
    """``(B, D)`` embeddings . the ``(N, D)`` bank's rows ``contrast_idx (B, K + 1)`` -> ``(B, K + 1)`` dot products.

    While the bank is smaller than the rows a batch reads (N <= B (K + 1)), every dot product of the batch with the
    whole bank is one matrix product and the wanted ones are picked from it; else the rows are gathered. Why: on a
    CPU core the gathered ``(B, K + 1, D)`` copy costs more than the product over the bank it is drawn from (B = 32,
    K = 1000, D = 128, N = 26000, forward and backward: 27.7 ms gathered, 9.9 ms as one product). Both give the same
    numbers up to float rounding (a test checks).
    """
    if len(bank) <= contrast_idx.numel():
        return torch.gather(e @ bank.T, 1, contrast_idx)
    return torch.bmm(bank[contrast_idx], e[:, :, None]).squeeze(-1)


def weighted_nce(p: torch.Tensor, weights: torch.Tensor, sign: torch.Tensor, n_data: int,
                 eps: float = 1e-7) -> torch.Tensor:
    """CRD's NCE loss (its Eq. 18) with CMCRD's sample weights inside the log and the teacher-correctness sign.

    ``p`` (B, K + 1) contrast probabilities (column 0 the positive), ``weights`` (B,), ``sign`` (B,) of +-1.
    """
    k = p.shape[1] - 1
    noise = k / n_data
    p = p * weights[:, None]
    log_d1 = torch.log(p[:, 0] / (p[:, 0] + noise + eps))
    log_d0 = torch.log(noise / (p[:, 1:] + noise + eps))
    return -((sign * log_d1).sum() + (sign[:, None] * log_d0).sum()) / p.shape[0]


def gate(e_s: torch.Tensor, e_t: torch.Tensor, z_s: torch.Tensor, z_t: torch.Tensor,
         y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """UniS-MMC gating: the embeddings with the gradient stopped where the other modality is the reliable one, and
    the per-sample sign (+1 where the teacher is right)."""
    s_ok = z_s.argmax(dim=1) == y
    t_ok = z_t.argmax(dim=1) == y
    stop_s, stop_t = s_ok & ~t_ok, t_ok & ~s_ok
    if not (s_ok | t_ok).any():
        stop_s, stop_t = ~stop_s, ~stop_t
    e_s = torch.where(stop_s[:, None], e_s.detach(), e_s)
    e_t = torch.where(stop_t[:, None], e_t.detach(), e_t)
    sign = torch.where(t_ok, 1.0, -1.0).to(e_s.dtype)
    return e_s, e_t, sign
