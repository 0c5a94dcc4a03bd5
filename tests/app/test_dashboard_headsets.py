"""The dashboard with headsets other than the 32-channel montage (issue 17, item 5; pytest-qt, offscreen).

The EEG panel shows the headset's own electrodes (four rows for a Muse, eight for an OpenBCI Cyton), the scalp maps
keep the 32 model channels and draw the measured ones filled and the interpolated ones hollow, and the status bar
says how many electrodes there are. First on fake sessions with real channel mappings (no LSL, no models), then on
real recordings replayed through the whole pipeline: the Muse P300 recording and the OpenBCI 8-channel XDF (both
skip without ``../shared``). Window screenshots go to ``/tmp/affectstream-dashboard-headsets/`` for a person to
look at.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")
QtCore = pytest.importorskip("PySide6.QtCore")

from affectstream.app.dashboard.worker import SourceSpec  # noqa: E402
from affectstream.core.montage import MONTAGE_32  # noqa: E402
from fixtures.dashboard_session import fake_factory  # noqa: E402
from fixtures.marker_files import write_muse_p300_xdf  # noqa: E402

MUSE = ("TP9", "AF7", "AF8", "TP10", "Right AUX")
CYTON = ("Fp1", "Fp2", "C3", "C4", "P7", "P8", "O1", "O2")
#: Where the screenshots go (outside the project: they are for looking at, not for keeping).
SHOTS = Path("/tmp/affectstream-dashboard-headsets")


def _window(qtbot, tmp_path, config=None, channels=None, sessions=None):
    from affectstream.app.dashboard import _application
    from affectstream.app.dashboard.main_window import DashboardWindow

    _application()
    factory = fake_factory(sessions if sessions is not None else [], channels) if channels is not None else None
    w = DashboardWindow(None, config=config, publish=False, list_streams=False, record_dir=tmp_path,
                        session_factory=factory)
    qtbot.addWidget(w)
    w.show()
    return w


def _settle(w, qtbot) -> None:
    """Stop the session and let the panels draw its last hop (a comparison with the history is then exact)."""
    w.stop()
    ticks = w.ticks
    qtbot.waitUntil(lambda: w.ticks >= ticks + 6, timeout=5000)


def _interpolated(history) -> tuple[str, ...]:
    good, measured = np.asarray(history.good, bool), np.asarray(history.measured, bool)
    return tuple(label for label, g, m in zip(MONTAGE_32, good, measured) if g and not m)


def _dots(maps, layer, band: int = 0) -> np.ndarray:
    """The positions a dot layer draws (n, 2)."""
    x, y = getattr(maps, layer)[band].getData()
    return np.column_stack([x, y]) if x is not None else np.empty((0, 2))


def _check_dots(maps, history) -> None:
    """Hollow dots are exactly the interpolated model channels, filled ones the measured electrodes, and every
    layer is drawn where its channels sit."""
    hollow = maps.hollow_labels()
    assert hollow == _interpolated(history)
    positions = dict(zip(maps.dot_labels, np.vstack([maps.interp.positions] +
                                                    [_dots(maps, "dots")[len(MONTAGE_32):]])))
    for layer, state in (("hollow_dots", "interpolated"), ("filled_dots", "measured"), ("bad_dots", "none")):
        labels = [lab for lab, s in zip(maps.dot_labels, maps.dot_state) if s == state]
        drawn = _dots(maps, layer)
        assert len(drawn) == len(labels), layer
        if labels:
            np.testing.assert_allclose(drawn, np.array([positions[lab] for lab in labels]), atol=1e-9)


def _save(w, name: str) -> Path:
    return w.save_screenshot(SHOTS / name)


# --------------------------------------------------------------------------------------------------- fake sessions
def test_a_muse_shows_its_four_electrodes_and_32_hollow_channels(qtbot, tmp_path):
    w = _window(qtbot, tmp_path, channels=MUSE)
    w.start(SourceSpec("EEG", eeg_source_id="fake-muse"))
    qtbot.waitUntil(lambda: w.history.hops.n >= 6 and w.eeg_panel.strip_updates > 2, timeout=10000)
    qtbot.waitUntil(lambda: "4 electrodes" in w.status.eeg.text(), timeout=5000)
    _settle(w, qtbot)
    panel = w.eeg_panel
    assert panel.labels == MUSE[:4] and panel.n == 4 and len(panel.label_items) == 4  # the AUX channel left out
    assert [item.toPlainText() for item in panel.label_items] == list(MUSE[:4])
    assert w.history.eeg.n_channels == 4 and sum(panel.curves_by_quality().values()) > 0
    assert panel.bad_label.text() == ""  # no electrode is bad; the 32 interpolated channels are the maps' to show
    maps = w.topomaps
    assert maps.hollow_labels() == MONTAGE_32  # the Muse measures no model channel
    assert [lab for lab, s in zip(maps.dot_labels, maps.dot_state) if s == "measured"] == list(MUSE[:4])
    _check_dots(maps, w.history)
    tp9 = _dots(maps, "filled_dots")[0]
    assert tp9[0] < -1.0 and tp9[1] < 0  # left, behind the ear
    tip = maps._tip_for(2)
    assert tip(0.0, 0.0, MONTAGE_32.index("Fz")).startswith("Fz (interpolated)\nalpha: ")
    assert "headset electrode" in tip(0.0, 0.0, maps.dot_labels.index("AF7"))
    assert "4 electrodes, 32/32 interpolated" in w.status.eeg.text()
    tooltip = w.status.eeg.toolTip()
    assert tooltip.startswith("fake-EEG @ testhost\nelectrodes (4): TP9, AF7, AF8, TP10\n0/32 montage channels "
                              "measured\n")
    assert "ignored Right AUX" in tooltip and max(len(line) for line in tooltip.splitlines()) <= 90
    assert "measured" in maps.legend.text and "interpolated" in maps.legend.text and "Hollow" in maps.legend.toolTip()
    w.close()


def test_a_new_headset_relays_the_eeg_rows(qtbot, tmp_path):
    """A 32-channel session, then an 8-channel one in the same window: the EEG panel follows the headset."""
    w = _window(qtbot, tmp_path, channels=CYTON)
    w.session_factory = fake_factory([])  # the first session: the 32-channel montage
    w.start(SourceSpec("EEG", eeg_source_id="fake-cap"))
    qtbot.waitUntil(lambda: w.history.hops.n >= 4 and w.eeg_panel.strip_updates > 0, timeout=10000)
    assert w.eeg_panel.n == 32 and w.topomaps.hollow_labels() == ()
    w.session_factory = fake_factory([], CYTON)
    w.start(SourceSpec("EEG", eeg_source_id="fake-cyton"))
    qtbot.waitUntil(lambda: w.history.hops.n >= 4 and w.eeg_panel.n == 8, timeout=10000)
    ticks = w.eeg_panel.strip_updates
    qtbot.waitUntil(lambda: w.eeg_panel.strip_updates > ticks + 2, timeout=10000)
    _settle(w, qtbot)
    assert w.eeg_panel.labels == CYTON and w.history.eeg.n_channels == 8
    assert w.eeg_panel.plot.getViewBox().viewRange()[1][1] == pytest.approx(7.6)  # eight rows fill the view (each trace
    # stays within half a row of its baseline: eeg_panel.ROW_HALF)
    assert w.topomaps.hollow_labels() == tuple(m for m in MONTAGE_32 if m not in CYTON)
    _check_dots(w.topomaps, w.history)
    w.close()


def test_a_64_channel_cap_names_every_other_row(qtbot):
    from affectstream.app.dashboard import _application
    from affectstream.app.dashboard.eeg_panel import EEGPanel
    from affectstream.core.montage_presets import get_preset

    _application()
    panel = EEGPanel()
    qtbot.addWidget(panel)
    panel.resize(900, 1400)  # rows of 20 px: room for a name in every other row
    panel.show()
    labels = tuple(get_preset("10-10-64").labels)
    panel.set_channels(labels)
    assert panel.n == 64 and panel.offsets[0] == 63 and panel.offsets[-1] == 0
    shown = [item.toPlainText() for item in panel.label_items if item.isVisible()]
    assert shown == list(labels[::2])  # 32 names: any more would print over each other
    panel.resize(900, 500)  # a low panel shows fewer names still, never two closer than a line
    qtbot.waitUntil(lambda: panel.name_step() > 2 and sum(i.isVisible() for i in panel.label_items) <= 64 // 3,
                    timeout=5000)
    panel.set_channels(MUSE[:4])
    assert [item.toPlainText() for item in panel.label_items if item.isVisible()] == list(MUSE[:4])


# --------------------------------------------------------------------------------------------------- real recordings
def test_muse_recording_replays_with_four_traces_and_hollow_montage(qtbot, tmp_path, shared_data):
    path = write_muse_p300_xdf(shared_data, tmp_path / "muse_p300.xdf")
    w = _window(qtbot, tmp_path)
    w.open_recording(path, speed=16.0)
    qtbot.waitUntil(lambda: w.history.hops.n >= 40 and w.topomaps.updates >= 2, timeout=60000)
    _settle(w, qtbot)
    assert w.eeg_panel.labels == ("TP9", "AF7", "AF8", "TP10") and w.history.eeg.n_channels == 4
    assert sum(w.eeg_panel.curves_by_quality().values()) > 0
    _check_dots(w.topomaps, w.history)
    assert len(w.topomaps.hollow_labels()) == 32  # every model channel is interpolated from the four
    assert w.history.snapshot.headset.summary == "4 electrodes, 32/32 interpolated"
    assert "ignored Right AUX" in w.status.eeg.toolTip()
    print("screenshot:", _save(w, "muse_replay.png"))
    w.close()


def test_openbci_8ch_replays_with_eight_traces_and_24_hollow_channels(qtbot, tmp_path, shared_data):
    from affectstream.pipelines.config import MontageConfig, PipelineConfig

    config = PipelineConfig(saliency_every_hops=4, montage=MontageConfig(channels=CYTON))
    w = _window(qtbot, tmp_path, config=config)
    w.open_recording(shared_data / "xdf" / "eeglab_test_obci_8ch_1000Hz.xdf", speed=4.0)
    qtbot.waitUntil(lambda: w.history.hops.n >= 16 and w.topomaps.updates >= 2, timeout=60000)
    _settle(w, qtbot)
    assert w.eeg_panel.labels == CYTON and w.history.eeg.n_channels == 8
    assert sum(w.eeg_panel.curves_by_quality().values()) > 0
    _check_dots(w.topomaps, w.history)
    hollow = set(w.topomaps.hollow_labels())
    assert hollow >= set(MONTAGE_32) - set(CYTON)  # 24 the Cyton lacks (and any of its own that went bad)
    assert w.history.snapshot.headset.summary == "8 electrodes, 24/32 interpolated"
    print("screenshot:", _save(w, "openbci_8ch_replay.png"))
    w.close()
