"""The EEG half of the pipeline: window preprocessing (average reference, band-pass), per-channel signal quality, the
ONNX EEG student and the transparent baseline estimator, live saliency and scalp-map interpolation. Part of
:mod:`affectstream.pipelines` (may import ``models`` and ``core``).
"""
