"""The bundled EEG student's inputs on a recording, as the live path makes them (the saliency benches and tests)."""

from __future__ import annotations

import numpy as np

__all__ = ["student_inputs"]


def student_inputs(spec, eeg: np.ndarray, times: np.ndarray, every: int = 10, skip: int = 40):
    """The bundled student's inputs (k, N_FEATURES, frames) on a recording, every ``every``-th hop after ``skip``
    warm-up hops, with the student (an :class:`~affectstream.pipelines.eeg.student.EEGStudentEstimator`).

    The inputs are what the live path feeds it: the pipeline's band power, z-scored by the student's own running
    normaliser; the saliency figures and tests are measured on these, not on random numbers.
    """
    from affectstream.pipelines.config import PipelineConfig
    from affectstream.pipelines.engine import AffectPipeline
    from affectstream.pipelines.eeg.student import EEGStudentEstimator

    hops = AffectPipeline(spec, PipelineConfig(eeg_estimator="baseline")).push_eeg(eeg, times)
    student = EEGStudentEstimator.from_manifest()
    _, inputs = student.step_many(np.stack([h.features for h in hops]), np.stack([h.good for h in hops]))
    return inputs[skip::every], student
