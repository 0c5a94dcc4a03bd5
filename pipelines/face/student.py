"""The visual student on onnxruntime: a face crop in, FER+ class probabilities and valence/arousal out.

Preprocessing is read from the model's manifest entry (:class:`affectstream.models.deploy.fer_onnx.FerOnnx`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from affectstream.models.deploy.fer_anchors import expected_valence_arousal
from affectstream.models.deploy.fer_onnx import VISUAL_STUDENT, FerOnnx
from affectstream.models.deploy.manifest import load_manifest, verified_path


@dataclass(frozen=True)
class FaceAffect:
    """The student's reading of one face crop."""

    probabilities: np.ndarray  #: (n_classes,) softmax over the FER+ classes
    classes: tuple[str, ...]
    valence: float
    arousal: float

    @property
    def label(self) -> str:
        return self.classes[int(np.argmax(self.probabilities))]


class FaceStudent(FerOnnx):
    """Runs the exported visual student on face crops (:class:`affectstream.models.deploy.fer_onnx.FerOnnx`) and reads
    the face's class probabilities and valence/arousal from its logits."""

    @classmethod
    def from_manifest(cls, device: str = "cpu", precision: str = "int8") -> FaceStudent:
        """The bundled student after its sha256 check.

        ``int8`` (the default) takes the statically quantised model when one is bundled: it is only bundled when it
        was measured faster at an accuracy within 0.5 pp of fp32 (see its manifest metrics).
        """
        names = [f"{VISUAL_STUDENT}_int8", VISUAL_STUDENT] if precision == "int8" else [VISUAL_STUDENT]
        available = load_manifest()["models"]
        name = next((n for n in names if n in available), VISUAL_STUDENT)
        path, entry = verified_path(name)
        return cls(path, entry, device)

    def __call__(self, crop: np.ndarray) -> FaceAffect:
        logits = self.session.run([self._logits], {self._input: self.preprocess(crop)})[0][0]
        p = np.exp(logits - logits.max())
        p /= p.sum()
        valence, arousal = expected_valence_arousal(p, self.classes)
        return FaceAffect(p, self.classes, float(valence), float(arousal))
