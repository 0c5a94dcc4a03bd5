"""The bundled trainer: configuration, the training loop, the run folder and the report (``affectstream train``)."""
