"""EEG student of the Visual-to-EEG KD method: a causal TCN over band-power frames.

docs/methods.md §2.2 (Zhang, Tang, Guan 2022; ``sucv/Visual_to_EEG_Cross_Modal_KD_for_CER``): a Bai-et-al.-style
temporal convolutional network, channels [128, 128], kernel 3, dilations 1 and 2, dropout 0.1, PReLU, weight norm
on the dilated convolutions, a 1x1 convolution on the residual path when the channel count changes, and a
``Linear(128, 1)`` regressor per time step.  This module adds an arousal head next to the valence head (the
output stream carries both, docs/architecture.md) and a streaming form for the live path.

The generic :class:`TemporalConvNet` is also the temporal part of the visual teacher
(:mod:`affectstream.models.methods.v2e_kd.teacher`), so teacher and student features live in the same 128-D per-step
space.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from affectstream.core.feature_layout import N_BANDS, N_CHANNELS

__all__ = ["TemporalBlock", "TemporalConvNet", "EEGTCN", "EEGTCNOutput", "EEGTCNStreaming"]


class TemporalBlock(nn.Module):
    """One residual level of a causal TCN: two dilated causal convolutions plus a residual path.

    ``conv(k, d) -> PReLU -> Dropout -> conv(k, d) -> PReLU -> Dropout``, added to the input (through a 1x1
    convolution when ``in_channels != out_channels``) and passed through a final PReLU.

    Causality comes from padding ``(k - 1) * d`` zeros on the *left* only (equivalent to the reference code's
    symmetric padding followed by a "chomp" of the right end, without computing the discarded columns).

    Parameters
    ----------
    in_channels, out_channels : int
        Feature channels in and out.
    kernel_size : int
        Temporal kernel size ``k``.
    dilation : int
        Dilation ``d`` of both convolutions.
    dropout : float
        Dropout probability after each activation.

    Shapes
    ------
    - input: ``(B, in_channels, T)``
    - output: ``(B, out_channels, T)`` with ``pad=True``; ``(B, out_channels, T - 2 * (k - 1) * d)`` with
      ``pad=False`` (the "valid" form used for streaming).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int, dropout: float):
        super().__init__()
        self.pad = (kernel_size - 1) * dilation
        self.conv1 = weight_norm(nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation))
        self.act1 = nn.PReLU()
        self.drop1 = nn.Dropout(dropout)
        self.conv2 = weight_norm(nn.Conv1d(out_channels, out_channels, kernel_size, dilation=dilation))
        self.act2 = nn.PReLU()
        self.drop2 = nn.Dropout(dropout)
        self.downsample = nn.Conv1d(in_channels, out_channels, 1) if in_channels != out_channels else None
        self.act_out = nn.PReLU()
        if self.downsample is not None:
            # The reference initialises conv weights with N(0, 0.01); under weight norm that only survives on the
            # plain 1x1 convolution (docs/methods.md §2.2), so that is the only place it is applied here.
            nn.init.normal_(self.downsample.weight, 0.0, 0.01)

    def forward(self, x: torch.Tensor, pad: bool = True) -> torch.Tensor:
        """Apply the block; ``pad=False`` skips the causal padding and returns only fully-determined steps."""
        y = self.conv1(F.pad(x, (self.pad, 0)) if pad else x)
        y = self.drop1(self.act1(y))
        y = self.conv2(F.pad(y, (self.pad, 0)) if pad else y)
        y = self.drop2(self.act2(y))
        res = x if self.downsample is None else self.downsample(x)
        if not pad:
            # The unpadded conv path is 2 * pad steps shorter; its steps align with the *last* residual steps.
            # (A Python-int offset keeps the exported graph free of Shape/Sub ops.)
            res = res[..., 2 * self.pad:]
        return self.act_out(y + res)


class TemporalConvNet(nn.Module):
    """Stack of :class:`TemporalBlock` levels with dilation ``2**i`` at level ``i``.

    Parameters
    ----------
    in_channels : int
        Input feature channels per step.
    channels : sequence of int
        Output channels of each level (its length is the number of levels).
    kernel_size : int
        Temporal kernel size.
    dropout : float
        Dropout probability.

    Shapes
    ------
    - input: ``(B, in_channels, T)``
    - output: ``(B, channels[-1], T)`` (``pad=True``) or ``(B, channels[-1], T - receptive_field + 1)``
      (``pad=False``).
    """

    def __init__(self, in_channels: int, channels: Sequence[int], kernel_size: int = 3, dropout: float = 0.1):
        super().__init__()
        if not channels:
            raise ValueError("channels must name at least one level")
        widths = [in_channels, *channels]
        self.blocks = nn.ModuleList(
            TemporalBlock(widths[i], widths[i + 1], kernel_size, 2**i, dropout) for i in range(len(channels))
        )
        self.out_channels = widths[-1]

    @property
    def receptive_field(self) -> int:
        """Number of input steps that determine one output step: ``1 + sum_i 2 (k - 1) 2**i``."""
        return 1 + sum(2 * block.pad for block in self.blocks)

    def forward(self, x: torch.Tensor, pad: bool = True) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, pad=pad)
        return x


class EEGTCNOutput(NamedTuple):
    """Per-step outputs of :class:`EEGTCN`.

    Attributes
    ----------
    valence, arousal : torch.Tensor
        ``(B, T)`` per-step predictions (unbounded regression, as in the reference).
    features : torch.Tensor
        ``(B, T, C)`` per-step TCN features, ``C = channels[-1]`` (128 by default): the KD "knowledge" that is
        matched with the visual teacher's features by an L1 loss (docs/methods.md §2.3).
    """

    valence: torch.Tensor
    arousal: torch.Tensor
    features: torch.Tensor


class EEGTCN(nn.Module):
    """EEG student: causal TCN over band-power frames with per-step valence and arousal heads.

    Parameters
    ----------
    n_bands : int
        Frequency bands per frame (6: delta, theta, alpha, beta1, beta2, gamma).
    n_channels : int
        EEG channels per frame (32, the DEAP/MAHNOB montage).
    channels : sequence of int
        TCN level widths; default ``(128, 128)`` (docs/methods.md §2.2).
    kernel_size : int
        Temporal kernel size, default 3.
    dropout : float
        Dropout probability, default 0.1.

    Shapes
    ------
    - input ``x``: ``(B, n_bands * n_channels, T)`` = ``(B, N_FEATURES, T)`` by default, features band-major within a
      frame (``index = band * n_channels + channel``), frames at the 4 Hz hop rate.
    - output: :class:`EEGTCNOutput` with ``valence (B, T)``, ``arousal (B, T)``, ``features (B, T, 128)``.

    Output step ``t`` depends only on input steps ``t - receptive_field + 1 .. t`` (causal).
    """

    def __init__(
        self,
        n_bands: int = N_BANDS,
        n_channels: int = N_CHANNELS,
        channels: Sequence[int] = (128, 128),
        kernel_size: int = 3,
        dropout: float = 0.1,
    ):
        super().__init__()
        self.n_bands = n_bands
        self.n_channels = n_channels
        self.n_inputs = n_bands * n_channels
        self.tcn = TemporalConvNet(self.n_inputs, channels, kernel_size, dropout)
        self.valence_head = nn.Linear(self.tcn.out_channels, 1)
        self.arousal_head = nn.Linear(self.tcn.out_channels, 1)

    @property
    def receptive_field(self) -> int:
        """Input frames that determine one output step (13 for the default: 3.25 s at 4 Hz)."""
        return self.tcn.receptive_field

    def _heads(self, features: torch.Tensor) -> EEGTCNOutput:
        return EEGTCNOutput(
            self.valence_head(features).squeeze(-1), self.arousal_head(features).squeeze(-1), features
        )

    def forward(self, x: torch.Tensor) -> EEGTCNOutput:
        """Full-sequence forward; see the class docstring for shapes."""
        # Skipped while tracing for ONNX export, where the comparison would become a constant (and a warning).
        if not torch.jit.is_tracing() and (x.dim() != 3 or x.shape[1] != self.n_inputs):
            raise ValueError(f"expected input (B, {self.n_inputs}, T), got {tuple(x.shape)}")
        return self._heads(self.tcn(x).transpose(1, 2))

    def forward_last(self, x: torch.Tensor) -> torch.Tensor:
        """Valence and arousal of the last step only, from the last ``receptive_field`` frames.

        The convolutions run unpadded ("valid"), so only the columns that feed the last step are computed.

        Parameters
        ----------
        x : torch.Tensor
            ``(B, N_FEATURES, receptive_field)`` frames, oldest first.

        Returns
        -------
        torch.Tensor
            ``(B, 2)``: ``[valence, arousal]`` of the newest frame.  Equal to ``forward(seq)`` at step ``t`` when
            ``x = seq[..., t - receptive_field + 1 : t + 1]`` and ``t >= receptive_field - 1``.  (Earlier steps
            of a full sequence see zero padding inside every level, which a window cannot reproduce; the live
            path therefore waits for ``receptive_field`` frames or accepts a warm-up approximation.)
        """
        expected = (self.n_inputs, self.receptive_field)
        # Skipped while tracing for ONNX export, where the comparison would become a constant (and a warning).
        if not torch.jit.is_tracing() and (x.dim() != 3 or tuple(x.shape[1:]) != expected):
            raise ValueError(f"expected input (B, {self.n_inputs}, {self.receptive_field}), got {tuple(x.shape)}")
        out = self._heads(self.tcn(x, pad=False).transpose(1, 2))
        return torch.cat([out.valence, out.arousal], dim=1)


class EEGTCNStreaming(nn.Module):
    """Export form of :class:`EEGTCN` for the live path: one output step per hop.

    Shares its parameters with the wrapped model; ``forward`` is :meth:`EEGTCN.forward_last`.

    Shapes
    ------
    - input: ``(B, N_FEATURES, receptive_field)`` = ``(1, N_FEATURES, 13)`` live.
    - output: ``(B, 2)`` = ``[valence, arousal]`` of the newest frame.
    """

    def __init__(self, model: EEGTCN):
        super().__init__()
        self.model = model

    @property
    def receptive_field(self) -> int:
        return self.model.receptive_field

    def example_input(self, batch: int = 1) -> torch.Tensor:
        """A zero input of the exported shape ``(batch, N_FEATURES, receptive_field)``."""
        return torch.zeros(batch, self.model.n_inputs, self.receptive_field)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_last(x)
