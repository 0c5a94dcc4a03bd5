"""The models layer: networks, training methods, the trainer, dataset loaders, and export and inference of the
bundled students.

``nets/`` (the students and shared building blocks), ``methods/`` (one package per training method, see
docs/methods.md), ``training/`` (``affectstream train``: config, loop, protocols, metrics, reports), ``datasets/``
(loaders for the emotion datasets and the project's recordings), ``deploy/`` (ONNX export, onnxruntime sessions, the
manifest). The bundled ``weights/``, the trainer's ``configs/`` and the measured ``reports/`` are data folders.

May import only :mod:`affectstream.core` (docs/architecture.md); the live path is never imported from here, so a
caller that needs both (the ``eeg_student`` method) lives in ``affectstream.pipelines``.
"""
