"""Network definitions shared across methods and the live path: the causal TCN EEG student (:mod:`.eeg_tcn`), the
ResNet-18-family visual student (:mod:`.visual_student`) and NeuroGaze-Distill's valence/arousal prototype bank
(:mod:`.prototypes`). Plain torch modules; a method's own networks live in its package under ``models/methods/``.
Imports only torch and :mod:`affectstream.core`/``models``.
"""
