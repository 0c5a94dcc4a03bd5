"""Visual teacher of the Visual-to-EEG KD method (docs/methods.md §2.2): per-frame face CNN + TCN + valence head.

The reference teacher uses an IR-50 (InsightFace "ir" ResNet-50, stages (3, 4, 14, 3), widths 64..512, about
44 M parameters) pre-trained on MS-Celeb-1M and fine-tuned on FER+, whose weights are not available offline.
:class:`FrameEncoder` is a smaller, configurable stand-in with the same building blocks and the same interface:

- stem ``conv3x3/1 -> BN -> PReLU``;
- stages of IR units ``BN -> conv3x3/1 -> PReLU -> conv3x3/s -> BN`` plus a (1x1 conv + BN when the shape
  changes) shortcut; the first unit of each stage has stride 2;
- output layer ``BN2d -> Dropout(0.4) -> Flatten -> Linear(C * h * w, 512) -> BN1d(512)``, then L2 normalisation.

With the default three stages (widths 32, 64, 128; one unit each; 1.95 M parameters, 1.6 M of them in the
output Linear) a 40x40 crop ends in a 5x5 map, the final map size docs/methods.md §2.2 reports for the reference on
40 px.  ``units=(3, 4, 14, 3),
widths=(64, 128, 256, 512)`` gives the IR-50 stage layout (four stride-2 stages, so a 3x3 map on 40 px); the
flattened size of the output layer is computed from the configuration, so any stride schedule works.

The temporal part is the same :class:`~affectstream.models.nets.eeg_tcn.TemporalConvNet` as the EEG student (512 -> 128, 128,
kernel 3, dropout 0.1): its per-step 128-D output is the KD "knowledge" the EEG student imitates.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from affectstream.models.nets.eeg_tcn import TemporalConvNet

__all__ = ["IRUnit", "FrameEncoder", "TemporalTeacher", "VisualTeacher", "VisualTeacherOutput"]


class IRUnit(nn.Module):
    """IR residual unit (ArcFace "ir"): ``BN -> conv3x3 -> PReLU -> conv3x3(stride) -> BN`` + shortcut.

    Shapes
    ------
    ``(B, in_channels, H, W) -> (B, out_channels, ceil(H / stride), ceil(W / stride))``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.residual = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=False),
            nn.PReLU(out_channels),
            nn.Conv2d(out_channels, out_channels, 3, stride, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut: nn.Module
        if in_channels == out_channels and stride == 1:
            self.shortcut = nn.Identity()
        elif in_channels == out_channels:
            self.shortcut = nn.MaxPool2d(1, stride)  # IR-50's parameter-free subsampling shortcut
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x) + self.shortcut(x)


class FrameEncoder(nn.Module):
    """Per-frame face CNN producing an L2-normalised embedding (compact stand-in for IR-50).

    Parameters
    ----------
    in_channels : int
        Image channels (3: OpenFace-aligned colour crops).
    image_size : int
        Input height = width (40 in the reference: random/centre 40 px crops of 48 px aligned faces).
    widths : sequence of int
        Channels of each stage; each stage starts with a stride-2 unit.
    units : sequence of int
        IR units per stage.
    embedding_dim : int
        Output dimension (512 in the reference).
    dropout : float
        Dropout of the output layer (0.4 in the reference).

    Shapes
    ------
    ``(N, in_channels, image_size, image_size) -> (N, embedding_dim)``, unit norm.
    """

    def __init__(
        self,
        in_channels: int = 3,
        image_size: int = 40,
        widths: Sequence[int] = (32, 64, 128),
        units: Sequence[int] = (1, 1, 1),
        embedding_dim: int = 512,
        dropout: float = 0.4,
    ):
        super().__init__()
        if len(widths) != len(units) or not widths:
            raise ValueError("widths and units must have the same, non-zero length")
        self.in_channels = in_channels
        self.image_size = image_size
        self.embedding_dim = embedding_dim
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.PReLU(widths[0])
        )
        layers = []
        in_w = widths[0]
        side = image_size
        for w, n in zip(widths, units):
            for j in range(n):
                layers.append(IRUnit(in_w, w, 2 if j == 0 else 1))
                in_w = w
            side = (side + 1) // 2
        self.body = nn.Sequential(*layers)
        self.output_layer = nn.Sequential(
            nn.BatchNorm2d(in_w),
            nn.Dropout(dropout),
            nn.Flatten(),
            nn.Linear(in_w * side * side, embedding_dim),
            nn.BatchNorm1d(embedding_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.output_layer(self.body(self.stem(x))), dim=1)


class VisualTeacherOutput(NamedTuple):
    """Outputs of :class:`VisualTeacher`.

    Attributes
    ----------
    valence : torch.Tensor
        ``(B, T)`` per-frame valence.
    features : torch.Tensor
        ``(B, T, 128)`` per-frame TCN features: the KD knowledge ``V_t`` (docs/methods.md §2.2).
    """

    valence: torch.Tensor
    features: torch.Tensor


class TemporalTeacher(nn.Module):
    """The visual teacher's temporal part: causal TCN over per-frame embeddings and a per-step valence regressor.

    Used on its own when the frame backbone is frozen and its embeddings are computed once for a whole dataset
    (the state of the reference teacher before its backbone is unfrozen, docs/methods.md §2.4).

    Shapes
    ------
    - input: ``(B, T, D)`` per-frame embeddings.
    - output: :class:`VisualTeacherOutput` with ``valence (B, T)`` and ``features (B, T, channels[-1])``.
    """

    def __init__(self, n_inputs: int, channels: Sequence[int] = (128, 128), kernel_size: int = 3,
                 dropout: float = 0.1):
        super().__init__()
        self.n_inputs = n_inputs
        self.tcn = TemporalConvNet(n_inputs, channels, kernel_size, dropout)
        self.regressor = nn.Linear(self.tcn.out_channels, 1)

    @property
    def receptive_field(self) -> int:
        """Frames that determine one output step."""
        return self.tcn.receptive_field

    def forward(self, emb: torch.Tensor) -> VisualTeacherOutput:
        if not torch.jit.is_tracing() and (emb.dim() != 3 or emb.shape[2] != self.n_inputs):
            raise ValueError(f"expected input (B, T, {self.n_inputs}), got {tuple(emb.shape)}")
        features = self.tcn(emb.transpose(1, 2)).transpose(1, 2)
        return VisualTeacherOutput(self.regressor(features).squeeze(-1), features)


class VisualTeacher(nn.Module):
    """Visual teacher: :class:`FrameEncoder` per frame, causal TCN over frames, per-step valence regressor.

    Parameters
    ----------
    encoder : FrameEncoder, optional
        Per-frame backbone (default: ``FrameEncoder()``, 40 px colour crops -> 512-D).
    channels : sequence of int
        TCN widths (docs/methods.md §2.2: ``(128, 128)``).
    kernel_size : int
        TCN kernel size (3).
    dropout : float
        TCN dropout (0.1).

    Shapes
    ------
    - input: ``(B, T, C, S, S)`` = ``(B, T, 3, 40, 40)`` by default, normalised with mean = std = 0.5 (§2.4).
    - output: :class:`VisualTeacherOutput` with ``valence (B, T)`` and ``features (B, T, 128)``.
    """

    def __init__(
        self,
        encoder: FrameEncoder | None = None,
        channels: Sequence[int] = (128, 128),
        kernel_size: int = 3,
        dropout: float = 0.1,
    ):
        super().__init__()
        self.encoder = encoder if encoder is not None else FrameEncoder()
        self.temporal = TemporalTeacher(self.encoder.embedding_dim, channels, kernel_size, dropout)

    @property
    def receptive_field(self) -> int:
        """Frames that determine one output step."""
        return self.temporal.receptive_field

    def forward(self, x: torch.Tensor) -> VisualTeacherOutput:
        enc = self.encoder
        expected = (enc.in_channels, enc.image_size, enc.image_size)
        # Skipped while tracing for ONNX export, where the comparison would become a constant (and a warning).
        if not torch.jit.is_tracing() and (x.dim() != 5 or tuple(x.shape[2:]) != expected):
            raise ValueError(f"expected input (B, T, {', '.join(map(str, expected))}), got {tuple(x.shape)}")
        b, t = x.shape[:2]
        return self.temporal(enc(x.flatten(0, 1)).reshape(b, t, enc.embedding_dim))  # frames share the backbone
