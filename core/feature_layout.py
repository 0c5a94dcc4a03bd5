"""The layout of one EEG feature frame, the students' input: band power of every montage channel, band-major.

A frame holds ``N_BANDS x N_CHANNELS`` = 192 (6 x 32) values: the bands of
:data:`~affectstream.core.bandpower.BAND_NAMES` for each channel of :data:`~affectstream.core.montage.MONTAGE_32`,
value ``band * N_CHANNELS + channel`` being that band on that channel. Code that sizes a frame uses
:data:`N_FEATURES`, so the layout has one source: those two lists.
"""

from __future__ import annotations

from affectstream.core.bandpower import BAND_NAMES
from affectstream.core.montage import MONTAGE_32

__all__ = ["N_BANDS", "N_CHANNELS", "N_FEATURES"]

#: Frequency bands per channel.
N_BANDS = len(BAND_NAMES)
#: Channels of the model montage.
N_CHANNELS = len(MONTAGE_32)
#: Values in one feature frame.
N_FEATURES = N_BANDS * N_CHANNELS
