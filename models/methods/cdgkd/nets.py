"""The networks of CDGKD (docs/methods.md §3.2) on the trainer's per-frame inputs: a multimodal guide (face + EEG) and a
unimodal student.

The released models read raw inputs (5 frames of 768-D video embeddings; 28 EEG channels x 512 samples). Here a
sample is a segment of ``S`` frames at the label rate (4 Hz), each frame with the frozen FER+ student's features
and the 6 x 32 band powers, so the front-ends are temporal convolutions over frames. What the method needs from
them is kept: the teacher assistants are the teacher with a **progressively thinner EEG branch** (fewer parallel
temporal kernels and fewer filters, as TA-1 and TA-2 drop TSception's kernels), the video branch is the same in
every model, and every model ends in the released ``Classifier`` (dropout, then four dense layers *without*
activations between them).

Shapes: video ``(B, S, D_video)``, EEG ``(B, S, D_eeg)`` -> logits ``(B, n_classes)``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

__all__ = ["Classifier", "EEGBranch", "GuideOutput", "MultimodalGuide", "UnimodalStudent", "VideoBranch"]


class Classifier(nn.Sequential):
    """``Dropout(0.5) -> Linear(d, 128) -> Linear(128, 128) -> Linear(128, 128) -> Linear(128, C)``, no activations
    in between (as released): ``(B, d) -> (B, C)``."""

    def __init__(self, d_in: int, n_classes: int, hidden: int = 128, dropout: float = 0.5) -> None:
        super().__init__(nn.Dropout(dropout), nn.Linear(d_in, hidden), nn.Linear(hidden, hidden),
                         nn.Linear(hidden, hidden), nn.Linear(hidden, n_classes))


class EEGBranch(nn.Module):
    """Multi-scale temporal convolutions over band-power frames, fused and averaged over time.

    One ``Conv1d(D_eeg, width, k, padding="same") -> LeakyReLU`` per kernel size, concatenated, batch-normalised,
    fused by a 1x1 convolution to ``width`` channels, LeakyReLU, mean over the segment.

    Shapes: ``(B, S, D_eeg) -> (B, width)``.
    """

    def __init__(self, d_in: int, kernels: tuple[int, ...], width: int) -> None:
        super().__init__()
        if not kernels:
            raise ValueError("the EEG branch needs at least one temporal kernel")
        self.temporal = nn.ModuleList(nn.Conv1d(d_in, width, k, padding="same", bias=False) for k in kernels)
        self.norm = nn.BatchNorm1d(width * len(kernels))
        self.fuse = nn.Conv1d(width * len(kernels), width, 1)
        self.out_dim = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.transpose(1, 2)  # (B, D, S)
        h = torch.cat([nn.functional.leaky_relu(conv(x)) for conv in self.temporal], dim=1)
        return nn.functional.leaky_relu(self.fuse(self.norm(h))).mean(dim=2)


class VideoBranch(nn.Module):
    """Two temporal convolutions (kernel 3) over the per-frame face features, mean over the segment.

    Shapes: ``(B, S, D_video) -> (B, width)``.
    """

    def __init__(self, d_in: int, width: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv1d(d_in, width, 3, padding=1), nn.BatchNorm1d(width), nn.ReLU(),
                                 nn.Conv1d(width, width, 3, padding=1), nn.ReLU())
        self.out_dim = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.transpose(1, 2)).mean(dim=2)


class GuideOutput(NamedTuple):
    """A guide's logits ``(B, C)`` and its two modality features (``(B, D_v)``, ``(B, D_e)``, for PMR)."""

    logits: torch.Tensor
    video: torch.Tensor
    eeg: torch.Tensor


class MultimodalGuide(nn.Module):
    """The teacher or a teacher assistant: ``Classifier(concat[video feature, EEG feature])``.

    Parameters
    ----------
    d_video, d_eeg : int
        Per-frame input sizes.
    n_classes : int
    eeg_kernels : tuple of int
        The EEG branch's temporal kernels (fewer for each assistant down the chain).
    eeg_width : int
        The EEG branch's filters.
    video_width : int
    """

    def __init__(self, d_video: int, d_eeg: int, n_classes: int, eeg_kernels: tuple[int, ...], eeg_width: int,
                 video_width: int = 32) -> None:
        super().__init__()
        self.video = VideoBranch(d_video, video_width)
        self.eeg = EEGBranch(d_eeg, eeg_kernels, eeg_width)
        self.classifier = Classifier(video_width + eeg_width, n_classes)

    def forward(self, video: torch.Tensor, eeg: torch.Tensor) -> GuideOutput:
        v, e = self.video(video), self.eeg(eeg)
        return GuideOutput(self.classifier(torch.cat([v, e], dim=1)), v, e)


class UnimodalStudent(nn.Module):
    """The student: one modality's branch and the classifier, ``(B, S, D) -> (B, C)``.

    ``modality="face"`` (the paper: the student sees the video only) uses a :class:`VideoBranch`, ``"eeg"`` an
    :class:`EEGBranch` with ``eeg_kernels`` / ``eeg_width`` (by default TA-2's, the thinnest of the chain: a student
    wider than its assistants would make the chain widen again at its end).
    """

    def __init__(self, modality: str, d_in: int, n_classes: int, eeg_kernels: tuple[int, ...] = (7,),
                 eeg_width: int = 32, video_width: int = 32) -> None:
        super().__init__()
        if modality == "face":
            self.branch: nn.Module = VideoBranch(d_in, video_width)
        elif modality == "eeg":
            self.branch = EEGBranch(d_in, eeg_kernels, eeg_width)
        else:
            raise ValueError(f"student modality must be 'face' or 'eeg', got {modality!r}")
        self.modality = modality
        self.classifier = Classifier(self.branch.out_dim, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.branch(x))
