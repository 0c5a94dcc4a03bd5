"""Supervised FER+ training of the visual student: the recipe of the bundled ``visual_student`` as a method of
``affectstream train`` (``method = "ferplus_supervised"``), with its ONNX export, manifest entry and report."""
