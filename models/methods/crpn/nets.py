"""The two pathways of concept-regularised coding (Lu, Zhuang, Luo, AAAI 2024; docs/methods.md §4.2), on the project's
ResNet-18-family body (:class:`~affectstream.models.nets.visual_student.ResNetBody`).

* :class:`ConceptualPathway` (the teacher): an **emotion encoder** (body + two-layer concept head, L2-normalised
  ``f_emo``), a **non-emotion encoder** of the same architecture and initialisation whose body is frozen (the paper
  freezes all of it; the released code lets its two head layers learn: ``non_emotion_heads_trainable``), and a
  classifier whose logits are scaled by a per-sample **confidence** ``alpha = sigmoid(Linear(f_emo))`` (the paper's
  single linear layer, or the released code's ``Linear -> ReLU -> Linear``: ``classifier``).
* :class:`PerceptualPathway` (the student, CRPN): body + concept head (``f_per``) + ``Linear -> ReLU -> Linear``
  classifier; at inference it is the only network that runs.

The paper initialises both teacher encoders from a face-recognition ResNet-50 and the student from a face-recognition
ResNet-18; no such weights exist offline here, so every body starts from the same seeded Kaiming initialisation
(the non-emotion encoder is then a frozen random network: a code of appearance that knows nothing of emotion).

Shapes: images ``(B, C, H, W)`` -> logits ``(B, n_classes)``, features ``(B, dim)`` (unit norm), ``alpha (B,)``.
"""

from __future__ import annotations

import copy
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from affectstream.models.nets.visual_student import FERPLUS_CLASSES, ResNetBody, init_convs

__all__ = ["ConceptHead", "ConceptualOutput", "ConceptualPathway", "PerceptualOutput", "PerceptualPathway"]


class ConceptHead(nn.Module):
    """``Linear(d, dim) -> ReLU -> Dropout -> Linear(dim, dim)``, then L2 normalisation: ``(B, d) -> (B, dim)``."""

    def __init__(self, d_in: int, dim: int = 256, dropout: float = 0.4) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(x), dim=1)


def _mlp_classifier(dim: int, n_classes: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, 128), nn.ReLU(), nn.Linear(128, n_classes))


class ConceptualOutput(NamedTuple):
    """The teacher's outputs: confidence-scaled ``logits`` (B, C), ``embedding`` = f_emo (B, dim), ``alpha`` (B,),
    ``non_emotion`` = f_non (B, dim)."""

    logits: torch.Tensor
    embedding: torch.Tensor
    alpha: torch.Tensor
    non_emotion: torch.Tensor


class ConceptualPathway(nn.Module):
    """The conceptual pathway (teacher) of CRPN.

    Parameters
    ----------
    in_channels, width_mult, stem_pool
        The body, as for the visual student.
    n_classes : int
    dim : int
        Concept feature size P (256).
    dropout : float
        Dropout of the concept heads (0.4).
    classifier : {"linear", "mlp"}
        The paper's ``W f_emo`` or the released code's two-layer MLP, before the ``alpha`` scaling.
    non_emotion_heads_trainable : bool
        False: the whole non-emotion encoder is fixed (the paper); True: its head learns (the released code).
    """

    def __init__(self, in_channels: int = 1, width_mult: float = 0.5, stem_pool: bool = True,
                 n_classes: int = len(FERPLUS_CLASSES), dim: int = 256, dropout: float = 0.4,
                 classifier: Literal["linear", "mlp"] = "linear", non_emotion_heads_trainable: bool = False) -> None:
        super().__init__()
        self.emotion_body = ResNetBody(in_channels, width_mult, stem_pool)
        self.emotion_head = ConceptHead(self.emotion_body.out_dim, dim, dropout)
        self.confidence = nn.Linear(dim, 1)
        if classifier == "linear":
            self.classifier: nn.Module = nn.Linear(dim, n_classes)
        elif classifier == "mlp":
            self.classifier = _mlp_classifier(dim, n_classes)
        else:
            raise ValueError(f"classifier must be 'linear' or 'mlp', got {classifier!r}")
        init_convs(self.emotion_body)
        # same architecture and initialisation as the emotion encoder, then frozen
        self.non_emotion_body = copy.deepcopy(self.emotion_body).requires_grad_(False)
        self.non_emotion_head = copy.deepcopy(self.emotion_head).requires_grad_(non_emotion_heads_trainable)
        self.in_channels = in_channels

    def emotion(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The emotion side only (what the student's losses and the confidence pass need): ``(logits, f_emo,
        alpha)``."""
        f_emo = self.emotion_head(self.emotion_body(x))
        alpha = torch.sigmoid(self.confidence(f_emo)).squeeze(1)
        return self.classifier(f_emo) * alpha[:, None], f_emo, alpha

    def forward(self, x: torch.Tensor) -> ConceptualOutput:
        logits, f_emo, alpha = self.emotion(x)
        with torch.no_grad():
            h = self.non_emotion_body(x)
        return ConceptualOutput(logits, f_emo, alpha, self.non_emotion_head(h))


class PerceptualOutput(NamedTuple):
    """The student's outputs: ``logits`` (B, C) and ``embedding`` = f_per (B, dim)."""

    logits: torch.Tensor
    embedding: torch.Tensor


class PerceptualPathway(nn.Module):
    """The perceptual pathway (student, CRPN): ``ResNetBody -> ConceptHead -> MLP classifier``."""

    def __init__(self, in_channels: int = 1, width_mult: float = 0.5, stem_pool: bool = True,
                 n_classes: int = len(FERPLUS_CLASSES), dim: int = 256, dropout: float = 0.4) -> None:
        super().__init__()
        self.body = ResNetBody(in_channels, width_mult, stem_pool)
        self.head = ConceptHead(self.body.out_dim, dim, dropout)
        self.classifier = _mlp_classifier(dim, n_classes)
        init_convs(self)
        self.in_channels = in_channels

    def forward(self, x: torch.Tensor) -> PerceptualOutput:
        f_per = self.head(self.body(x))
        return PerceptualOutput(self.classifier(f_per), f_per)
