"""SYNTHETIC data with a planted truth: the session simulator (EEG, rendered faces, valence/arousal ground truth), its
LSL publisher and the planted benchmark written as the project's XDF recordings for the trainer. Nothing here is
recorded from a person, and every stream it makes says so. Part of :mod:`affectstream.pipelines` (may import
``models`` and ``core``).
"""
