"""The trainer behind ``affectstream train``: the typed run configuration, cross-validation protocols, the shared
sequence and image training loops, metrics and evaluation, the run folder, reports and plots.

A training method plugs in through :class:`affectstream.models.training.method.Method`; the runner receives the
catalogue of methods from its caller and never imports a method itself (docs/methods.md §0). Imports only
:mod:`affectstream.core` and ``models``.
"""
