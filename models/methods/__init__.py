"""Training methods of the trainer, one package each: a method's networks, losses and training code live together.

:data:`BUILT_IN` is the catalogue of the methods defined here; the runner never looks methods up by itself, its caller
passes it a catalogue (``affectstream train`` adds the ``eeg_student`` method, which needs the live pipeline's
features and so lives in ``affectstream.pipelines``).
"""

from __future__ import annotations

from affectstream.models.methods.cdgkd.method import METHOD as CDGKD
from affectstream.models.methods.cmcrd.method import METHOD as CMCRD
from affectstream.models.methods.crpn.method import METHOD as CRPN
from affectstream.models.methods.ferplus_supervised.method import METHOD as FERPLUS_SUPERVISED
from affectstream.models.methods.neurogaze.method import METHOD as NEUROGAZE
from affectstream.models.methods.v2e_kd.method import METHOD as V2E_KD
from affectstream.models.training.method import Method

#: The built-in methods by their ``method`` config value.
BUILT_IN: dict[str, Method] = {m.name: m for m in (V2E_KD, NEUROGAZE, CMCRD, CDGKD, CRPN, FERPLUS_SUPERVISED)}
