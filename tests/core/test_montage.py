"""Channel mapping by label onto the model montage."""

import numpy as np
import pytest

from affectstream.core.montage import MONTAGE_32, ChannelMappingError, electrode_positions_2d, map_channels


def test_identity_mapping():
    m = map_channels(list(MONTAGE_32), 32)
    assert list(m.source_index) == list(range(32)) and not m.missing and not m.unused


def test_shuffled_renamed_and_prefixed_labels_map_by_name():
    rng = np.random.default_rng(0)
    labels = list(MONTAGE_32)
    labels[labels.index("T7")] = "T3"
    labels[labels.index("T8")] = "t4"
    labels[labels.index("P7")] = "EEG T5"
    labels[labels.index("P8")] = "T6-REF"
    labels = [lab.upper() if i % 3 == 0 else lab for i, lab in enumerate(labels)]
    order = rng.permutation(32)
    shuffled = [labels[i] for i in order]
    m = map_channels(shuffled, 32)
    assert not m.missing
    data = np.arange(32, dtype=float)[order][:, None]  # column j holds original channel order[j]
    np.testing.assert_array_equal(m.apply(data)[:, 0], np.arange(32))
    assert m.renamed["T3"] == "T7" and m.renamed["EEG T5"] == "P7" and m.renamed["T6-REF"] == "P8"


def test_missing_channels_are_reported_and_masked_never_shifted():
    labels = [lab for lab in MONTAGE_32 if lab not in ("Fz", "O2")] + ["EOG1", "SampleCounter"]
    m = map_channels(labels, len(labels))
    assert set(m.missing) == {"Fz", "O2"}
    assert set(m.unused) == {"EOG1", "SampleCounter"}
    data = np.array([[i] for i in range(len(labels))], dtype=float)
    out = m.apply(data)[:, 0]
    assert np.isnan(out[MONTAGE_32.index("Fz")]) and np.isnan(out[MONTAGE_32.index("O2")])
    # the channel after the gap is still the right electrode
    assert out[MONTAGE_32.index("F4")] == labels.index("F4")
    assert "interpolated Fz, O2" in m.describe()


def test_unlabeled_streams():
    assert map_channels(None, 32).missing == ()
    with pytest.raises(ChannelMappingError, match="no channel labels"):
        map_channels(None, 8)


@pytest.mark.parametrize("labels, n, message", [
    (["Fp1", "Fp2"], 3, "lists 2 labels"),
    (["a", "b", "c"], 3, "only 0"),
    (["T3", "T7"], 2, "both map to T7"),
    ([], 0, "at least one"),
])
def test_unusable_layouts_raise_clear_errors(labels, n, message):
    with pytest.raises(ChannelMappingError, match=message):
        map_channels(labels, n)


def test_topomap_positions_are_on_a_unit_head():
    xy = electrode_positions_2d()
    assert xy.shape == (32, 2)
    r = np.linalg.norm(xy, axis=1)
    assert r.max() < 1.1
    fz, oz, t7, t8 = (MONTAGE_32.index(c) for c in ("Fz", "Oz", "T7", "T8"))
    assert xy[fz, 1] > 0 > xy[oz, 1]  # nose up
    assert xy[t7, 0] < 0 < xy[t8, 0]  # left on the left
