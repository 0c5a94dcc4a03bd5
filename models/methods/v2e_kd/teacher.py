"""Visual teacher of the Visual-to-EEG KD method (docs/methods.md §2.2): causal TCN over per-frame face features.

The reference teacher runs an IR-50 (InsightFace "ir" ResNet-50) on each frame, fine-tuned on FER+, whose weights are
not available offline; here the frame backbone is the frozen FER+ student, whose per-frame outputs are computed once
for a whole dataset, and :class:`TemporalTeacher` is the part that is trained: the same
:class:`~affectstream.models.nets.eeg_tcn.TemporalConvNet` as the EEG student (-> 128, 128, kernel 3, dropout 0.1)
with a per-step valence regressor. Its per-step 128-D output is the KD "knowledge" the EEG student imitates.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
from torch import nn

from affectstream.models.nets.eeg_tcn import TemporalConvNet

__all__ = ["TemporalTeacher", "VisualTeacherOutput"]


class VisualTeacherOutput(NamedTuple):
    """Outputs of :class:`TemporalTeacher`.

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
