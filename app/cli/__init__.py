"""The ``affectstream`` command line (:mod:`.main`), one module per command: each parses its options, calls
the layer that does the work and prints the outcome."""
