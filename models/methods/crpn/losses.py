"""The loss terms of CRPN, concept-regularised perceptual networks (Lu, Zhuang, Luo; AAAI 2024; docs/methods.md §4), one
function each.

CRPN trains in two stages.

**Conceptual pathway** (the teacher): an emotion encoder and a frozen-body "non-emotion" encoder, and a classifier
whose logits are scaled by a per-sample confidence ``alpha_i = sigmoid(w . f_emo_i)``. Its loss is

``L_CP = 0.1 * L_orth + 1 * (L_WCE + L_RR) + 0.01 * L_CC``

* :func:`orthogonality_loss` pushes the emotion and non-emotion codes apart (``F_emo^T F_non`` towards zero);
* :func:`weighted_ce` is the classification term on the confidence-scaled logits (plain CE in the paper, a focal
  loss with per-class weights in the released code);
* :func:`rank_regularization` asks the confident 70 % of the batch to be more confident, on average, than the
  rest by a margin (as in SCN);
* :func:`weighted_supcon` is a supervised contrastive term in which anchors of frequent classes count less.

**Perceptual pathway** (the student, a ResNet-18): after the teacher is trained, its confidences pick, per class,
the samples above the class's 20th percentile (:func:`class_thresholds`, :func:`high_confidence`). Each training
sample gets a *concept target* (:func:`concept_targets`): its own teacher feature when it is high-confidence,
otherwise the mean teacher feature of ``K = 8`` high-confidence samples of its class. The student's loss is

``L_PP = 2 * L_CE + 1 * L_S + 1 * L_D``

with ``L_S`` (:func:`concept_regression_loss`) pulling the student's features onto the concept targets (MSE in the
paper, a multi-kernel MMD, :func:`mmd_rbf`, in the released code) and ``L_D`` (:func:`logit_kd`) a KL distillation of
the teacher's class distribution on the high-confidence samples only.

Where the paper and the released code disagree, a switch picks one (docs/methods.md §8 #17-20); each docstring says
which value is which. Teacher-side tensors are detached inside the terms that use them as targets, so no gradient
reaches the frozen teacher from the student's loss.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "RAFDB_FOCAL_ALPHA",
    "class_thresholds",
    "concept_regression_loss",
    "concept_targets",
    "high_confidence",
    "logit_kd",
    "mmd_rbf",
    "orthogonality_loss",
    "rank_regularization",
    "weighted_ce",
    "weighted_supcon",
]

#: The released code's per-class focal weights for RAF-DB. Their order is the sorted class-folder order, which for
#: RAF-DB's label folders 1..7 is [surprise, fear, disgust, happiness, sadness, anger, neutral] (docs/methods.md §4.1,
#: inferred, not stated by the authors).
RAFDB_FOCAL_ALPHA: tuple[float, ...] = (0.7, 0.8, 0.9, 0.2, 0.4, 0.4, 0.6)

_NORM_EPS = 1e-6  # added to the detached row norms in L_orth (released code)
_LOG_EPS = 1e-8  # inside the focal loss's log (released code)


def _check_mode(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {tuple(allowed)}, got {value!r}")


# --------------------------------------------------------------------------------------------------------------------
# Conceptual pathway
# --------------------------------------------------------------------------------------------------------------------


def orthogonality_loss(f_emo: torch.Tensor, f_non: torch.Tensor, mode: str = "mean") -> torch.Tensor:
    """``L_orth``: how far the emotion and non-emotion codes of a batch are from orthogonal.

    Each row is divided by its own L2 norm, *detached* (plus ``1e-6``), as the released code does: the loss then
    also shrinks the raw features instead of acting on their directions only. With ``M = E~^T N~`` (P x P, summed
    over the batch):

    * ``"mean"``: ``mean(M**2)`` (released code; docs/methods.md §8 #17 default);
    * ``"frobenius"``: ``sum(M**2) = ||F_emo^T F_non||_F^2`` (paper Eq. 1), i.e. ``P**2`` times the mean.

    Parameters
    ----------
    f_emo, f_non : Tensor, shape (B, P)
        Emotion and non-emotion features of the same samples.
    mode : {"mean", "frobenius"}

    Returns
    -------
    Tensor, shape ()
        Gradient flows into both inputs.
    """
    _check_mode("mode", mode, ("mean", "frobenius"))
    if f_emo.shape != f_non.shape or f_emo.dim() != 2:
        raise ValueError(f"f_emo and f_non must both be (B, P), got {tuple(f_emo.shape)} and {tuple(f_non.shape)}")
    e = f_emo / (f_emo.norm(dim=1, keepdim=True).detach() + _NORM_EPS)
    n = f_non / (f_non.norm(dim=1, keepdim=True).detach() + _NORM_EPS)
    m = e.T @ n
    return (m**2).mean() if mode == "mean" else (m**2).sum()


def weighted_ce(scaled_logits: torch.Tensor, y: torch.Tensor, mode: str = "wce",
                class_alpha: Sequence[float] | None = None, gamma: float = 2.0) -> torch.Tensor:
    """``L_WCE``: the classification term on logits the model has already multiplied by the confidence ``alpha_i``.

    * ``"wce"``: cross-entropy of the scaled logits (paper Eq. 3, as in SCN). A small ``alpha_i`` flattens the
      sample's softmax, so an uncertain sample's loss, and its gradient, is damped; the weighting lives entirely
      in the logits, hence "weighted" CE with no explicit weight here.
    * ``"focal"``: the released code, ``mean(-a_y * (1 - p_y)**gamma * log(p_y + 1e-8))`` with ``p`` the softmax
      and ``a_y = class_alpha[y]`` (all ones when ``class_alpha`` is None; :data:`RAFDB_FOCAL_ALPHA` for RAF-DB,
      docs/methods.md §8 #18 default there).

    Parameters
    ----------
    scaled_logits : Tensor, shape (B, C)
    y : LongTensor, shape (B,)
    mode : {"wce", "focal"}
    class_alpha : sequence of C floats, optional
        Per-class weight of the focal loss (ignored by ``"wce"``).
    gamma : float
        Focusing exponent of the focal loss.

    Returns
    -------
    Tensor, shape ()
    """
    _check_mode("mode", mode, ("wce", "focal"))
    if mode == "wce":
        return F.cross_entropy(scaled_logits, y)
    p_y = torch.softmax(scaled_logits, dim=1).gather(1, y[:, None]).squeeze(1)
    if class_alpha is None:
        a_y = torch.ones_like(p_y)
    else:
        if len(class_alpha) != scaled_logits.shape[1]:
            raise ValueError(f"class_alpha has {len(class_alpha)} entries for {scaled_logits.shape[1]} classes")
        a_y = torch.as_tensor(class_alpha, dtype=p_y.dtype, device=p_y.device)[y]
    return (-a_y * (1 - p_y) ** gamma * torch.log(p_y + _LOG_EPS)).mean()


def rank_regularization(alpha: torch.Tensor, ratio: float = 0.7, margin: float = 0.15) -> torch.Tensor:
    """``L_RR``: the batch's most confident ``floor(ratio * B)`` samples must out-score the rest, on average, by
    ``margin``: ``relu(margin - (mean(alpha_high) - mean(alpha_low)))``.

    Once the gap is wider than the margin the term is zero and sends no gradient, so confidences are not pushed
    to the extremes for their own sake.

    Parameters
    ----------
    alpha : Tensor, shape (B,) or (B, 1)
        Per-sample confidences.
    ratio : float
        Share of the batch in the high group (0.7).
    margin : float
        ``delta_1`` (0.15).

    Returns
    -------
    Tensor, shape ()

    Raises
    ------
    ValueError
        If ``B < 2`` or ``ratio`` leaves either group empty.
    """
    a = alpha.reshape(-1)
    b = a.numel()
    if b < 2:
        raise ValueError(f"rank_regularization needs at least 2 confidences, got {b}")
    m = math.floor(ratio * b)
    if not 0 < m < b:
        raise ValueError(f"ratio={ratio} with a batch of {b} puts {m} samples in the high group; "
                         f"both the high and the low group must be non-empty")
    ranked, _ = torch.sort(a, descending=True)
    gap = ranked[:m].mean() - ranked[m:].mean()
    return F.relu(margin - gap)


def _supcon_views(features: torch.Tensor, labels: torch.Tensor, views: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The anchors' similarity matrix (before ``/ tau``) and their sample labels, for either view convention."""
    if views == "vector":
        return features @ features.T, labels
    # Released code: features reach SupCon as (B, P, 1), so each of the P scalars of a sample is a "view" of it.
    # SupCon stacks views view-major (all samples' dim 0, then dim 1, ...); the order does not change the loss.
    z = features.T.reshape(-1)
    return z[:, None] * z[None, :], labels.repeat(features.shape[1])


def weighted_supcon(features: torch.Tensor, labels: torch.Tensor, tau: float = 0.07, reduce: str = "sum",
                    views: str = "vector") -> torch.Tensor:
    """``L_CC``: supervised contrastive loss with class-frequency sample weights (docs/methods.md §4.3).

    For anchor ``i`` with positives ``D_i`` (the other anchors of its label)::

        l_i = -sum_{d in D_i} log( exp(s_id / tau) / sum_{j != i} exp(s_ij / tau) )
        w_i = 1 - E_c(i) / B        (E_c: samples of i's class in the batch)
        L   = mean_i (w_i * l_i)

    so a class that fills the batch contributes little (all samples of one class give zero). Anchors without a
    positive contribute 0 but are still counted in the mean.

    * ``reduce="sum"`` sums over the positives (paper); ``"mean"`` averages over them (released SupCon code).
    * ``views="vector"``: one view per sample, ``s_ij = f_i . f_j`` (paper; docs/methods.md §8 #19 default).
    * ``views="code_dims"``: the released code's behaviour. Each of the P dimensions of each sample is a separate
      1-D anchor (B * P anchors), ``s = product of the two scalars``, positives = every other (sample, dim) entry
      whose sample has the same label (so a sample's own other dimensions are positives), ``w`` from the anchor's
      sample, mean over the B * P anchors. It builds a (B * P)^2 similarity matrix: about 1 GB of float32 at
      B = 64, P = 256, before autograd's copies.

    The log-softmax subtracts each row's largest off-diagonal logit (detached) before the exponential, and the
    anchor itself is excluded with ``-inf``, so small ``tau`` or large features do not overflow.

    Parameters
    ----------
    features : Tensor, shape (B, P)
        Usually L2-normalised (the paper's emotion codes are).
    labels : LongTensor, shape (B,)
    tau : float
        Temperature (0.07).
    reduce : {"sum", "mean"}
    views : {"vector", "code_dims"}

    Returns
    -------
    Tensor, shape ()
    """
    _check_mode("reduce", reduce, ("sum", "mean"))
    _check_mode("views", views, ("vector", "code_dims"))
    if features.dim() != 2 or labels.shape != features.shape[:1]:
        raise ValueError(f"features must be (B, P) and labels (B,), got {tuple(features.shape)} and "
                         f"{tuple(labels.shape)}")
    b = features.shape[0]
    sim, anchor_labels = _supcon_views(features, labels, views)
    n = sim.shape[0]
    if n < 2:
        raise ValueError("weighted_supcon needs at least 2 anchors")
    self_mask = torch.eye(n, dtype=torch.bool, device=sim.device)
    logits = (sim / tau).masked_fill(self_mask, float("-inf"))
    # Shift by the largest term of the denominator: it becomes exp(0) = 1, so the log below stays finite.
    logits = logits - logits.max(dim=1, keepdim=True).values.detach()
    log_prob = logits - torch.log(torch.exp(logits).sum(dim=1, keepdim=True))
    positive = (anchor_labels[:, None] == anchor_labels[None, :]) & ~self_mask
    # where(), not a product: the diagonal holds -inf, and -inf * 0 would be nan.
    per_anchor = -torch.where(positive, log_prob, torch.zeros_like(log_prob)).sum(dim=1)
    if reduce == "mean":
        per_anchor = per_anchor / positive.sum(dim=1).clamp(min=1)  # no positive: the sum is already 0
    class_count = (labels[:, None] == labels[None, :]).sum(dim=1)
    w = 1 - class_count.to(features.dtype) / b
    if views == "code_dims":
        w = w.repeat(features.shape[1])  # in the same view-major order as the anchors
    return (w * per_anchor).mean()


# --------------------------------------------------------------------------------------------------------------------
# Perceptual pathway
# --------------------------------------------------------------------------------------------------------------------


def mmd_rbf(x: torch.Tensor, y: torch.Tensor, kernel_mul: float = 2.0, kernel_num: int = 5) -> torch.Tensor:
    """Multi-kernel Gaussian maximum mean discrepancy between two samples (DAN style, as in the released code).

    With ``z = [x; y]`` (``n = N + M`` rows) and ``L2`` its pairwise squared distances, the base bandwidth is the
    mean off-diagonal distance ``sum(L2) / (n**2 - n)`` (from detached values: the bandwidth is a scale, not
    something to optimise), divided by ``kernel_mul ** (kernel_num // 2)`` so that the ``kernel_num`` bandwidths
    ``base * kernel_mul**i`` straddle it. ``K = sum_i exp(-L2 / (base * kernel_mul**i))`` and

    ``MMD^2 = mean(K_XX) + mean(K_YY) - mean(K_XY) - mean(K_YX)``.

    The released code assumes ``N = M`` and takes a single mean of the block sum ``K_XX + K_YY - K_XY - K_YX``;
    with equal sizes every block has the same number of entries and the two are the same number. Taking each
    block's own mean also makes ``N != M`` meaningful. If all points coincide the bandwidth would be 0 (the released
    code then gives nan); it is floored at a tiny value here, which gives the correct 0.

    Parameters
    ----------
    x : Tensor, shape (N, P)
    y : Tensor, shape (M, P)
    kernel_mul : float
        Ratio between neighbouring bandwidths.
    kernel_num : int
        Number of kernels.

    Returns
    -------
    Tensor, shape ()
        Builds an (n, n, P) difference tensor, exact (no cancellation) but O(n^2 P) memory.
    """
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must be (N, P) and (M, P), got {tuple(x.shape)} and {tuple(y.shape)}")
    n_x = x.shape[0]
    z = torch.cat([x, y], dim=0)
    n = z.shape[0]
    if n < 2:
        raise ValueError("mmd_rbf needs at least 2 points in total")
    l2 = ((z[:, None, :] - z[None, :, :]) ** 2).sum(dim=2)
    base = l2.detach().sum() / (n * n - n) / kernel_mul ** (kernel_num // 2)
    base = base.clamp(min=torch.finfo(z.dtype).tiny)
    k = sum(torch.exp(-l2 / (base * kernel_mul**i)) for i in range(kernel_num))
    k_xx, k_yy = k[:n_x, :n_x], k[n_x:, n_x:]
    k_xy, k_yx = k[:n_x, n_x:], k[n_x:, :n_x]
    return k_xx.mean() + k_yy.mean() - k_xy.mean() - k_yx.mean()


def concept_regression_loss(f_ec: torch.Tensor, f_per: torch.Tensor, mode: str = "mmd") -> torch.Tensor:
    """``L_S``: pull the student's perceptual features onto the teacher's concept targets.

    * ``"mse"``: ``MSE(f_ec, f_per)``, mean over all elements (paper Eq. 11);
    * ``"mmd"``: ``mmd_rbf(f_ec, f_per)`` (released code; docs/methods.md §8 #20 default). This matches the two
      batches as distributions rather than sample by sample.

    Parameters
    ----------
    f_ec : Tensor, shape (B, P)
        Concept targets from the frozen teacher; detached here, so nothing reaches the teacher through this term.
    f_per : Tensor, shape (B, P)
        The student's features.
    mode : {"mse", "mmd"}

    Returns
    -------
    Tensor, shape ()
    """
    _check_mode("mode", mode, ("mse", "mmd"))
    if f_ec.shape != f_per.shape:
        raise ValueError(f"f_ec and f_per must have the same shape, got {tuple(f_ec.shape)} and {tuple(f_per.shape)}")
    target = f_ec.detach()
    if mode == "mse":
        return F.mse_loss(f_per, target)
    return mmd_rbf(target, f_per)


def class_thresholds(alpha: torch.Tensor, labels: torch.Tensor, n_classes: int,
                     percentile: float = 0.2) -> torch.Tensor:
    """Per-class confidence thresholds ``delta_c``: the ``floor(percentile * n_c)``-th smallest ``alpha`` of class c.

    Computed once over the training set from the trained teacher. A class with no sample gets ``+inf``, so none
    of its samples could count as high-confidence.

    Parameters
    ----------
    alpha : Tensor, shape (N,)
        The teacher's confidences.
    labels : LongTensor, shape (N,)
    n_classes : int
    percentile : float
        In ``[0, 1)``; 0.2 (the 20th percentile).

    Returns
    -------
    Tensor, shape (n_classes,)
        Not differentiable (a selection rule, not a loss).
    """
    if not 0.0 <= percentile < 1.0:
        raise ValueError(f"percentile must be in [0, 1), got {percentile}")
    a = alpha.detach().reshape(-1)
    out = torch.full((n_classes,), float("inf"), dtype=a.dtype, device=a.device)
    for c in range(n_classes):
        members, _ = torch.sort(a[labels == c])
        if members.numel():
            out[c] = members[math.floor(percentile * members.numel())]
    return out


def high_confidence(alpha: torch.Tensor, labels: torch.Tensor, thresholds: torch.Tensor,
                    rule: str = "gt") -> torch.Tensor:
    """Which samples are above their class's threshold.

    ``"gt"``: ``alpha_i > delta_c(i)`` (paper); ``"ge"``: ``alpha_i >= delta_c(i)`` (released code, which thereby
    keeps the threshold sample itself).

    Parameters
    ----------
    alpha : Tensor, shape (N,)
    labels : LongTensor, shape (N,)
    thresholds : Tensor, shape (C,)
        From :func:`class_thresholds`.
    rule : {"gt", "ge"}

    Returns
    -------
    BoolTensor, shape (N,)
    """
    _check_mode("rule", rule, ("gt", "ge"))
    delta = thresholds[labels]
    a = alpha.detach().reshape(-1)
    return a > delta if rule == "gt" else a >= delta


def concept_targets(f_emo: torch.Tensor, high: torch.Tensor, labels: torch.Tensor, pool_features: torch.Tensor,
                    pool_labels: torch.Tensor, k: int = 8,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Concept targets ``f_ec`` (paper Eq. 10): a confident sample keeps its own emotion feature; any other is
    replaced by the mean emotion feature of ``k`` high-confidence samples of its class, so the student imitates
    what the teacher is sure a class looks like.

    The ``k`` samples are drawn without replacement (``torch.randperm`` with ``generator``), afresh for each
    sample. A class pool with fewer than ``k`` entries is used whole; an empty one falls back to ``f_emo_i``.

    Parameters
    ----------
    f_emo : Tensor, shape (B, P)
        The teacher's emotion features of the batch.
    high : BoolTensor, shape (B,)
        From :func:`high_confidence`.
    labels : LongTensor, shape (B,)
    pool_features : Tensor, shape (N, P)
        Teacher emotion features of the high-confidence pool.
    pool_labels : LongTensor, shape (N,)
    k : int
        Samples averaged per target (8).
    generator : torch.Generator, optional

    Returns
    -------
    Tensor, shape (B, P)
        Detached: a target, not a path into the teacher.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if pool_features.dim() != 2 or pool_features.shape[1] != f_emo.shape[1]:
        raise ValueError(f"pool_features must be (N, {f_emo.shape[1]}), got {tuple(pool_features.shape)}")
    out = f_emo.detach().clone()
    pool = pool_features.detach()
    perm_device = generator.device if generator is not None else torch.device("cpu")
    for i in torch.nonzero(~high).flatten().tolist():
        members = pool[pool_labels == labels[i]]
        n = members.shape[0]
        if n == 0:
            continue
        if n > k:
            pick = torch.randperm(n, generator=generator, device=perm_device)[:k].to(members.device)
            members = members[pick]
        out[i] = members.mean(dim=0)
    return out


def logit_kd(teacher_logits: torch.Tensor, student_logits: torch.Tensor, mask: torch.Tensor | None = None,
             temperature: float = 1.0) -> torch.Tensor:
    """``L_D``: ``KL(softmax(V_emo / T) || softmax(V_per / T))``, averaged over the selected rows.

    ``V_emo`` are the teacher's (confidence-scaled) logits and are detached. ``mask`` keeps only the
    high-confidence samples (CRPN); None keeps all of them (the released code's default path, plain KD, docs/methods.md
    §4.4). There is no ``T**2`` factor (the paper uses ``T = 1``). An all-False mask gives a zero that is still
    connected to ``student_logits``, so a training step can call ``backward()`` unconditionally.

    Parameters
    ----------
    teacher_logits, student_logits : Tensor, shape (B, C)
    mask : BoolTensor, shape (B,), optional
    temperature : float

    Returns
    -------
    Tensor, shape ()
    """
    if teacher_logits.shape != student_logits.shape:
        raise ValueError(f"teacher and student logits differ in shape: {tuple(teacher_logits.shape)} vs "
                         f"{tuple(student_logits.shape)}")
    teacher = teacher_logits.detach()
    student = student_logits
    if mask is not None:
        teacher, student = teacher[mask], student[mask]
        if student.shape[0] == 0:
            return student.sum()  # an empty sum: 0, with a grad_fn back to student_logits
    log_q = F.log_softmax(student / temperature, dim=1)
    p = F.softmax(teacher / temperature, dim=1)
    return F.kl_div(log_q, p, reduction="batchmean")
