"""The dashboard's status bar says that its LSL outlets can be reached from the network (issue 20, item 13): liblsl
opens their ports on every interface whatever the configuration (tests/pipelines/sources/test_lsl_exposure.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")
QtWidgets = pytest.importorskip("PySide6.QtWidgets")

from affectstream.app.dashboard.status_bar import StatusPanel  # noqa: E402
from affectstream.pipelines.sources.lsl import LSL_CONFIG  # noqa: E402


@pytest.mark.parametrize("own_config", [False, True])
def test_status_bar_warns_that_the_outlets_are_reachable_from_the_network(qtbot, monkeypatch, tmp_path, own_config):
    from affectstream.app.dashboard import _application

    _application()
    own = tmp_path / "lab.cfg"
    own.write_text("[multicast]\nResolveScope = site\n")
    monkeypatch.setenv("LSLAPICFG", str(own if own_config else LSL_CONFIG))
    window = QtWidgets.QMainWindow()
    qtbot.addWidget(window)
    panel = StatusPanel(window.statusBar())
    window.show()
    assert panel.lsl.isVisible() and panel.lsl.objectName() == "warning"  # the theme's warning colour
    if own_config:
        assert panel.lsl.text() == "⚠ LSL on the network" and f"LSLAPICFG={own}" in panel.lsl.toolTip()
    else:
        assert panel.lsl.text() == "⚠ LSL ports open to the network"
        assert "this machine only" in panel.lsl.toolTip() and "every network interface" in panel.lsl.toolTip()
