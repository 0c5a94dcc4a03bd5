"""Training methods of the trainer, one module each (registered in :mod:`models.training.runner`)."""
