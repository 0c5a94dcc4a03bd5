"""affectstream: real-time brain-and-face affect estimation.

One import root for five layers, each a sub-package whose folder sits at the repository's top level (the
distribution maps ``affectstream.<layer>`` onto ``<layer>/``). Arrows point one way only, and ``tests/test_layers.py``
checks every import statement against them:

``affectstream.app`` -> ``affectstream.calibration`` -> ``affectstream.pipelines`` -> ``affectstream.models``
-> ``affectstream.core``

``docs/architecture.md`` describes each layer and the data flow from an LSL sample to the ``Affect`` outlet.
"""

__version__ = "0.1.0"
