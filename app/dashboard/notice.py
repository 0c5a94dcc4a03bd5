"""The window's notice line: what the user just did and what went wrong, without hiding the stream health.

``QStatusBar.showMessage`` hides the status bar's stream labels while its message shows, and a two-second message
is easily missed (issue 22, item 2). The notice is a line of its own under the toolbar: information fades after a
while, warnings and errors stay until the user closes them (✕) or a newer notice replaces them.
"""

from __future__ import annotations

import math

from PySide6 import QtCore, QtWidgets

from affectstream.app.dashboard import theme

#: Colours per level: text, background, border.
LEVELS = {"info": (theme.FG, "#16202c", "#2d3b4d"), "warn": ("#fde68a", "#3a2a06", "#92400e"),
          "error": ("#fecaca", "#3b1212", theme.BAD)}


class NoticeBar(QtWidgets.QFrame):
    """One notice at a time, on one line (shortened in the middle, so a long path keeps its file name; the tooltip
    has it whole), and a close button. It does not show or hide itself: :attr:`visibility_changed` tells its
    container (a toolbar row, which Qt shows and hides as a whole)."""

    visibility_changed = QtCore.Signal(bool)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("notice")
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding, QtWidgets.QSizePolicy.Policy.Fixed)
        self.level = "info"
        self.label = theme.ElidedLabel(mode=QtCore.Qt.TextElideMode.ElideMiddle)
        self.label.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        self.close_button = QtWidgets.QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("Close this notice")
        self.close_button.clicked.connect(self.clear)
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(10, 3, 6, 3)
        row.setSpacing(8)
        row.addWidget(self.label, 1)
        row.addWidget(self.close_button)
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.clear)
        self.shown = False

    def show_notice(self, text: str, level: str = "info", timeout_s: float | None = None) -> None:
        """Show ``text``; after ``timeout_s`` it goes (default: 12 s for information; warnings, errors and an infinite
        ``timeout_s`` stay until closed or replaced)."""
        fg, bg, border = LEVELS[level]
        self.level = level
        self.setStyleSheet(f"QFrame#notice {{ background: {bg}; border-bottom: 1px solid {border}; }} "
                           f"QFrame#notice QLabel {{ color: {fg}; background: transparent; }}")
        self.label.setText(text)
        self.label.setToolTip(text)
        self._set_shown(True)
        if timeout_s is None and level == "info":
            timeout_s = 12.0
        if timeout_s is not None and math.isfinite(timeout_s):
            self._timer.start(int(timeout_s * 1000))
        else:
            self._timer.stop()

    def text(self) -> str:
        """The notice shown ("" when none)."""
        return self.label.text() if self.shown else ""

    def clear(self) -> None:
        self._timer.stop()
        self.label.setText("")
        self._set_shown(False)

    def _set_shown(self, shown: bool) -> None:
        if shown != self.shown:
            self.shown = shown
            self.visibility_changed.emit(shown)
