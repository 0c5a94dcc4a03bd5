"""The options of CMCRD (the ``[cmcrd]`` table), apart from the method so that its training module can name them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["CMCRDConfig"]


@dataclass(frozen=True)
class CMCRDConfig:
    """Options of CMCRD (the ``[cmcrd]`` table). The training recipe's defaults are the paper's (its code's where the
    text is silent), except ``zscore`` (:data:`_PAPER_OVERRIDES`); a run lists each option it changes as a deviation.
    """

    n_classes: int = 3
    neutral_band: float = 0.2  #: |valence| below this is the neutral class (3 classes)
    hidden: int = 128
    feat_dim: int = 128
    crd_weight: float = 0.02
    nce_k: int = 1000  #: negatives per sample (from the other classes)
    tau: float = 0.07
    momentum: float = 0.05
    #: the teacher's MCC term (the paper's; 0 = the released code, which computes it but leaves it out of the loss)
    mcc_weight: float = 1.0
    #: where MCC's unlabelled batches come from: the test partition's inputs (the code's: transductive, never its
    #: labels), the validation partition's, or the training partition's (labels unused)
    mcc_batch: Literal["test", "val", "train"] = "test"
    teacher_lr: float = 1e-3  #: the teacher's SGD rate (momentum 0.9)
    teacher_epochs: int = 50
    teacher_patience: int = 10  #: stop after this many epochs without a better validation accuracy (0 = never)
    student_epochs: int = 40
    warmup_epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3  #: every student's AdamW rate
    weight_decay: float = 1e-3  #: every student's AdamW weight decay
    zscore: Literal["train", "separate"] = "train"
    #: what the teacher sees: the face (the frozen FER+ student's logits per frame) or the eye-movement features a
    #: dataset ships (SEED-IV, SEED-V: the paper's EM -> EEG)
    teacher_modality: Literal["face", "eye"] = "face"
    #: valence bins, or the dataset's own emotion classes (the SEED family; n_classes must be their number)
    labels: Literal["valence", "emotion"] = "valence"
