"""Labels: which channels are electrodes, where they sit, and the headset presets built on them."""

import numpy as np
import pytest

from affectstream.core.electrodes import canonical_label, head_origin, is_non_eeg, position, template_name
from affectstream.core.montage import MONTAGE_32, map_channels
from affectstream.core.montage_presets import PRESETS, PresetError, get_preset, preset_labels


@pytest.mark.parametrize("label", ["Right AUX", "AUX", "aux1", "EOG1", "HEOG", "ECG", "ACC_X", "AccelY", "x",
                                   "COUNTER", "SampleCounter", "TIMESTAMP", "INTERPOLATED", "RAW_CQ", "BATTERY",
                                   "Trigger", "STI 014", "Status", "MARKER_HARDWARE", "A1", "M2", "-", "none"])
def test_non_eeg_channels_are_recognised_by_name(label):
    assert is_non_eeg(label) and position(label) is None


@pytest.mark.parametrize("label", ["Fp1", "fpz", "TP9", "AF7", "T3", "EEG Cz", "O2-REF", "Iz", "FT10", "POO9h"])
def test_scalp_labels_are_electrodes_with_positions(label):
    assert not is_non_eeg(label)
    xyz = position(label)
    assert xyz is not None and xyz.shape == (3,)
    # on the template's head (a real head, not a sphere): 6-15 cm from the fitted centre
    assert 0.05 < np.linalg.norm(xyz - np.array(head_origin())) < 0.16


def test_old_names_share_the_new_position():
    assert template_name("T3") == "T7" and np.allclose(position("T3"), position("T7"))
    assert canonical_label("EEG T5-REF") == "p7"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_maps_to_known_positions(name):
    preset = PRESETS[name]
    assert preset.electrodes and all(position(label) is not None for label in preset.electrodes)
    mapping = map_channels(list(preset.labels), len(preset.labels))
    assert mapping.electrodes == preset.electrodes
    assert set(mapping.unused) == set(preset.labels) - set(preset.electrodes)
    measured_model = {lab for lab in preset.electrodes if lab in MONTAGE_32}
    assert set(MONTAGE_32) - set(mapping.missing) == measured_model


def test_presets_by_stream_size():
    muse = get_preset("MUSE")
    assert preset_labels(muse, 5)[-1] == "Right AUX"
    assert preset_labels(muse, 4) == ("TP9", "AF7", "AF8", "TP10")  # a stream without its AUX channel
    with pytest.raises(PresetError, match="names 4 to 5 channels but the stream has 3"):
        preset_labels(muse, 3)
    with pytest.raises(PresetError, match="known: muse"):
        get_preset("muse-3000")
