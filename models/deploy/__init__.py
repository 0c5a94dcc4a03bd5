"""From trained weights to the live path: ONNX export and static int8 quantisation (:mod:`.export`), onnxruntime
sessions without torch (:mod:`.runtime`), the SHA-256-checked manifest of bundled models (:mod:`.manifest`), and the
FER+ classifier runner and valence/arousal anchors shared by the face path and the trainer (docs/architecture.md,
"Inference" and "The model manifest"). Imports only :mod:`affectstream.core` and ``models``.
"""
