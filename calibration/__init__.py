"""Calibration: adapting the bundled EEG student to one subject, and the subject profiles the live path loads.

The protocol (signal check, resting baseline, rated stimulus blocks), its sources (a live headset, a recorded real
session, or the simulator for a SYNTHETIC dry run), the fine-tuning of the student's output heads, and the profile
folder it writes. Layers point one way, app -> calibration -> pipelines -> models -> core: this package may import
``pipelines``, ``models`` and ``core`` (the live feature path, the student, the normaliser), never ``app``, and
nothing here imports Qt; the wizard and the ``affectstream calibrate`` command in ``app`` drive it.
"""
