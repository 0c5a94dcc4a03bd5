"""Visual FER student of NeuroGaze-Distill (docs/methods.md §1.3): a ResNet-18-family CNN for small face crops.

ResNet-18 layout (BasicBlock stages [2, 2, 2, 2], widths ``64 * mult * (1, 2, 4, 8)``) with a stem for 48..112 px
face crops instead of the ImageNet 7x7/2 conv + 3x3/2 max-pool: a 3x3 stride-1 conv, optionally followed by a
3x3/2 max-pool.  On a 48 px FER+ image the ImageNet stem would leave a 12x12 map before stage 1 and 2x2 at the
end; the 3x3/1 stem keeps 48 -> 6x6 at the last stage (the usual CIFAR-style choice for small inputs).

Heads on the global-average-pooled feature ``f`` (``512 * mult`` wide):

- ``logits``: 8-way FER+ classifier, class order :data:`FERPLUS_CLASSES` (FER+ vote-column order, §1.6);
- ``embedding``: linear projection to D (default 128) then L2 normalisation.  The projection is the one §1.3
  requires when the EEG teacher's dim D differs from the backbone width; Proto-KD and D-Geo act on it;
- ``va_regression``: ``tanh(Linear(f, 2))`` = direct ``[valence, arousal]`` in [-1, 1];
- ``va_prototype``: the :class:`~affectstream.models.nets.prototypes.PrototypeBank` readout of ``embedding``.

Width multipliers for the three sizes the project uses (``count_parameters`` of the whole model, 3-channel input,
D = 128; 1-channel input saves ``64 * mult * 9 * 2`` weights):

===========  ==================  ==========
name         ``width_mult``      params
===========  ==================  ==========
``small``    0.25 (16..128)      0.718 M
``medium``   0.5 (32..256)       2.83 M
``large``    1.0 (64..512)       11.24 M
===========  ==================  ==========
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from affectstream.models.datasets.ferplus import EMOTIONS as FERPLUS_CLASSES
from affectstream.models.nets.prototypes import PrototypeBank

__all__ = [
    "FERPLUS_CLASSES",
    "WIDTH_MULTIPLIERS",
    "BasicBlock",
    "ResNetBody",
    "init_convs",
    "VisualStudent",
    "VisualStudentOutput",
    "count_parameters",
]

WIDTH_MULTIPLIERS: dict[str, float] = {"small": 0.25, "medium": 0.5, "large": 1.0}


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (buffers such as BN statistics and prototype banks are not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


class BasicBlock(nn.Module):
    """ResNet BasicBlock: ``conv3x3(stride) -> BN -> ReLU -> conv3x3 -> BN`` plus (projected) identity, ReLU.

    Shapes
    ------
    ``(B, in_channels, H, W) -> (B, out_channels, ceil(H / stride), ceil(W / stride))``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class ResNetBody(nn.Module):
    """The ResNet-18-family trunk (stem, four stages of two BasicBlocks) with global average pooling.

    Shared by the visual student and the CRPN pathways (:mod:`affectstream.models.methods.crpn.nets`), so every FER
    network of the project has the same body for the same ``width_mult``. The owner calls :func:`init_convs` once its
    own layers exist.

    Shapes
    ------
    ``(B, in_channels, H, W) -> (B, out_dim)``, ``out_dim = 8 * round(64 * width_mult)``.
    """

    def __init__(self, in_channels: int = 1, width_mult: float = 1.0, stem_pool: bool = False) -> None:
        super().__init__()
        if in_channels not in (1, 3):
            raise ValueError(f"in_channels must be 1 or 3, got {in_channels}")
        base = max(8, int(round(64 * width_mult)))
        widths = [base, 2 * base, 4 * base, 8 * base]
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, base, 3, 1, 1, bias=False),
            nn.BatchNorm2d(base),
            nn.ReLU(inplace=True),
            *([nn.MaxPool2d(3, 2, 1)] if stem_pool else []),
        )
        stages = []
        in_w = base
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            stages.append(nn.Sequential(BasicBlock(in_w, w, stride), BasicBlock(w, w, 1)))
            in_w = w
        self.stages = nn.Sequential(*stages)
        self.out_dim = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x)).mean(dim=(2, 3))


def init_convs(module: nn.Module) -> None:
    """Kaiming-normal (fan-out, ReLU) weights for every convolution of ``module``.

    Called by each network that holds a :class:`ResNetBody` once its heads exist, so that the random draws follow
    the order they always had (body, heads, then this) and a seed gives the weights it gave before.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


class VisualStudentOutput(NamedTuple):
    """Outputs of :class:`VisualStudent` (all batch-first).

    Attributes
    ----------
    logits : torch.Tensor
        ``(B, 8)`` FER+ class logits, order :data:`FERPLUS_CLASSES`.
    embedding : torch.Tensor
        ``(B, D)`` unit-norm embedding.
    va_regression : torch.Tensor
        ``(B, 2)`` ``[valence, arousal]`` from the tanh regression head.
    va_prototype : torch.Tensor
        ``(B, 2)`` ``[valence, arousal]`` read out from the prototype bank.
    """

    logits: torch.Tensor
    embedding: torch.Tensor
    va_regression: torch.Tensor
    va_prototype: torch.Tensor


class VisualStudent(nn.Module):
    """ResNet-18-family face student with FER+, embedding, and two valence/arousal heads.

    Parameters
    ----------
    in_channels : int
        1 (grey FER+ crops) or 3 (colour webcam crops).
    width_mult : float
        Stage widths are ``round(64 * width_mult) * (1, 2, 4, 8)``; see :data:`WIDTH_MULTIPLIERS`.
    num_classes : int
        Classifier outputs (8 for FER+).
    embedding_dim : int
        D, the prototype-space dimension (must equal the bank's D).
    stem_pool : bool
        Add a 3x3/2 max-pool after the stem: 4x fewer FLOPs, for inputs of 96 px and more.
    prototypes : PrototypeBank, optional
        The frozen bank for ``va_prototype``.  Without one, a placeholder bank of zero prototypes is used, whose
        readout is uniform over the grid and hence exactly (0, 0); attach the real one with
        :meth:`set_prototypes`.

    Shapes
    ------
    - input: ``(B, in_channels, H, W)``, H = W in 48..112 (any size >= 8 works; the design range is 48..112),
      normalised by the caller (e.g. ``(x / 255 - 0.5) / 0.5``).
    - output: :class:`VisualStudentOutput`.
    """

    def __init__(
        self,
        in_channels: int = 1,
        width_mult: float = 1.0,
        num_classes: int = len(FERPLUS_CLASSES),
        embedding_dim: int = 128,
        stem_pool: bool = False,
        prototypes: PrototypeBank | None = None,
    ):
        super().__init__()
        body = ResNetBody(in_channels, width_mult, stem_pool)
        self.in_channels = in_channels
        self.width_mult = width_mult
        # the body's parts as direct attributes: the state-dict keys (stem.*, stages.*) stay those of saved students
        self.stem, self.stages = body.stem, body.stages
        self.feature_dim = body.out_dim
        self.classifier = nn.Linear(self.feature_dim, num_classes)
        self.projection = nn.Linear(self.feature_dim, embedding_dim)
        self.va_head = nn.Linear(self.feature_dim, 2)
        self.embedding_dim = embedding_dim
        self.prototypes = prototypes if prototypes is not None else PrototypeBank(torch.zeros(25, embedding_dim))
        self._check_bank(self.prototypes)
        init_convs(self)

    def _check_bank(self, bank: PrototypeBank) -> None:
        if bank.dim != self.embedding_dim:
            raise ValueError(f"prototype dim {bank.dim} != embedding_dim {self.embedding_dim}")

    def set_prototypes(self, bank: PrototypeBank) -> None:
        """Attach the frozen prototype bank used by ``va_prototype``."""
        self._check_bank(bank)
        self.prototypes = bank

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Global-average-pooled backbone feature: ``(B, C, H, W) -> (B, 512 * width_mult)``."""
        return self.stages(self.stem(x)).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> VisualStudentOutput:
        # Skipped while tracing for ONNX export, where the comparison would become a constant (and a warning).
        if not torch.jit.is_tracing() and (x.dim() != 4 or x.shape[1] != self.in_channels):
            raise ValueError(f"expected input (B, {self.in_channels}, H, W), got {tuple(x.shape)}")
        f = self.features(x)
        embedding = F.normalize(self.projection(f), dim=1)
        return VisualStudentOutput(
            logits=self.classifier(f),
            embedding=embedding,
            va_regression=torch.tanh(self.va_head(f)),
            va_prototype=self.prototypes(embedding),
        )
