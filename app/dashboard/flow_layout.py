"""A layout that places its widgets left to right and starts a new line when the next one does not fit.

The status bar's texts (streams, counters, estimator, badges) fill one line on a wide window; on a narrow one a
single line cut them off at the right (issue 22, item 5). In a :class:`FlowBox` they wrap onto a second line and the
box asks for the height that needs.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets


class FlowLayout(QtWidgets.QLayout):
    """Widgets in reading order, wrapped at the layout's width (Qt's flow-layout example, without the styles'
    spacing lookups: ``spacing`` between items, ``line_spacing`` between lines)."""

    def __init__(self, parent: QtWidgets.QWidget | None = None, spacing: int = 10, line_spacing: int = 2) -> None:
        super().__init__(parent)
        self._items: list[QtWidgets.QLayoutItem] = []
        self._spacing = spacing
        self._line_spacing = line_spacing
        self.setContentsMargins(0, 0, 0, 0)

    def addItem(self, item: QtWidgets.QLayoutItem) -> None:  # noqa: N802 - Qt naming
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int):  # noqa: N802 - Qt naming
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int):  # noqa: N802 - Qt naming
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> QtCore.Qt.Orientation:  # noqa: N802 - Qt naming
        return QtCore.Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt naming
        # False on purpose: a status bar asks for the height at a width of its own choosing (two pixels: one item a
        # line); :class:`FlowBox` sets its minimum height for its real width instead
        return False

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt naming
        return self._arrange(QtCore.QRect(0, 0, width, 0), apply=False)

    def setGeometry(self, rect: QtCore.QRect) -> None:  # noqa: N802 - Qt naming
        super().setGeometry(rect)
        self._arrange(rect, apply=True)

    def sizeHint(self) -> QtCore.QSize:  # noqa: N802 - Qt naming
        width = self.geometry().width()
        return QtCore.QSize(max(width, self.minimumSize().width()),
                            self.heightForWidth(width) if width > 0 else self.minimumSize().height())

    def minimumSize(self) -> QtCore.QSize:  # noqa: N802 - Qt naming
        size = QtCore.QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        return size

    def _arrange(self, rect: QtCore.QRect, apply: bool) -> int:
        """Place the visible items in ``rect`` (when ``apply``); returns the height they take."""
        x, y, line_height = rect.x(), rect.y(), 0
        for item in self._items:
            if item.widget() is not None and item.widget().isHidden():
                continue
            hint = item.sizeHint()
            width = min(hint.width(), rect.width())
            if x > rect.x() and x + width > rect.right() + 1:
                x, y = rect.x(), y + line_height + self._line_spacing
                line_height = 0
            if apply:
                item.setGeometry(QtCore.QRect(QtCore.QPoint(x, y), QtCore.QSize(width, hint.height())))
            x += width + self._spacing
            line_height = max(line_height, hint.height())
        return y + line_height - rect.y()


class FlowBox(QtWidgets.QWidget):
    """A widget with a :class:`FlowLayout` that keeps its minimum height at what its width needs (a status bar
    does not ask its items for height-for-width)."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.flow = FlowLayout(self)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)

    def add(self, widget: QtWidgets.QWidget) -> None:
        self.flow.addWidget(widget)

    def lines(self) -> int:
        """How many lines the items take at the current width (tests)."""
        tops = {item.geometry().top() for item in self.flow._items
                if item.widget() is not None and not item.widget().isHidden()}
        return len(tops)

    def refit(self) -> None:
        """Ask for the height the items need at the current width (after a resize or a text change)."""
        height = self.flow.heightForWidth(max(1, self.width()))
        if height != self.minimumHeight():
            self.setMinimumHeight(height)
        self.flow.setGeometry(self.rect())

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self.refit()
