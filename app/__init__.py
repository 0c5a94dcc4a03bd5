"""The application layer: the ``affectstream`` command line (:mod:`affectstream.app.cli`), the live dashboard
(:mod:`affectstream.app.dashboard`) and the calibration wizard, i.e. everything a user starts and every Qt window.

Top of the layers (``app -> calibration -> pipelines -> models -> core``, docs/architecture.md): it may import every
layer below it, and it is the only layer that may import Qt (PySide6, pyqtgraph). Commands import what they need
when they run, so ``affectstream --help`` loads neither Qt nor torch.
"""
