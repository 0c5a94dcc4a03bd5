"""The face half of the pipeline: face detection and tracking (Haar cascade or YuNet), cropping, and the visual
student on onnxruntime, turning each frame into a face estimate that hops pair with by stream time. Part of
:mod:`affectstream.pipelines` (may import ``models`` and ``core``).
"""
