"""The Self-Assessment Manikin's 9-point scale as nine labelled choices (Bradley & Lang, 1994).

The standard SAM page asks each dimension on nine points, the manikin's five figures over the odd points with a
choice between each; here the nine points are buttons numbered 1-9 with the dimension's poles written at both ends
and the middle named, so the value chosen is always visible. A slider showed no value and no ticks, and a click on
its track jumped between 1 and 9 (issue 22, item 6). The scale is set by mouse (a click on a number) or keyboard
(Tab to the scale, then the digit, or the arrow keys).
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from affectstream.app.dashboard import theme

#: Per dimension: its question and the words at 1, 5 and 9.
DIMENSIONS = {
    "valence": ("Valence: how pleasant did it feel?", ("unpleasant", "neutral", "pleasant")),
    "arousal": ("Arousal: how calm or excited did you feel?", ("calm", "neither", "excited")),
}


class SamScale(QtWidgets.QFrame):
    """Nine exclusive, numbered choices for one SAM dimension; :attr:`value` is 1-9 (5 until changed).

    Signals
    -------
    changed(int)
        The value, whenever the user (or :meth:`set_value`) changes it.
    """

    changed = QtCore.Signal(int)

    def __init__(self, dimension: str, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        question, (low, middle, high) = DIMENSIONS[dimension]
        self.setObjectName(f"sam-{dimension}")
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        self.setToolTip(f"{question} 1 = {low}, 5 = {middle}, 9 = {high}. Click a number, or type 1-9 / use the "
                        "arrow keys")
        self.setStyleSheet(f"QFrame#sam-{dimension}:focus {{ border: 1px solid {theme.EEG}; border-radius: 4px; }}"
                           "QPushButton { min-width: 34px; min-height: 30px; font-weight: bold; }"
                           f"QPushButton:checked {{ background: {theme.EEG}; color: {theme.BG}; "
                           f"border-color: {theme.EEG}; }}")
        self.group = QtWidgets.QButtonGroup(self)
        self.group.setExclusive(True)
        self.buttons: list[QtWidgets.QPushButton] = []
        row = QtWidgets.QHBoxLayout()
        row.setSpacing(6)
        for v in range(1, 10):
            button = QtWidgets.QPushButton(str(v))
            button.setCheckable(True)
            button.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)  # the scale takes the keys, not each number
            button.setAccessibleName(f"{dimension} {v}")
            self.group.addButton(button, v)
            self.buttons.append(button)
            row.addWidget(button)
        self.group.idClicked.connect(self._picked)
        poles = QtWidgets.QHBoxLayout()
        for text, align in ((f"1 {low}", QtCore.Qt.AlignmentFlag.AlignLeft),
                            (f"5 {middle}", QtCore.Qt.AlignmentFlag.AlignHCenter),
                            (f"{high} 9", QtCore.Qt.AlignmentFlag.AlignRight)):
            label = QtWidgets.QLabel(text)
            label.setStyleSheet(f"color: {theme.MUTED}")
            poles.addWidget(label, 1, align)
        self.title = QtWidgets.QLabel("")
        self.title.setTextFormat(QtCore.Qt.TextFormat.RichText)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(self.title)
        layout.addLayout(row)
        layout.addLayout(poles)
        self._question = question
        self.value = 0
        self.set_value(5)
        self.setMinimumHeight(self.sizeHint().height())  # never squeezed under its pole labels

    def set_value(self, value: int) -> None:
        """Choose ``value`` (1-9)."""
        value = min(9, max(1, int(value)))
        self.group.button(value).setChecked(True)
        self._picked(value)

    def _picked(self, value: int) -> None:
        changed = value != self.value
        self.value = value
        self.title.setText(f"{self._question} &nbsp;<b style='color:{theme.EEG}'>{value}</b>")
        if changed:
            self.changed.emit(value)

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:  # noqa: N802 - Qt naming
        keys = QtCore.Qt.Key
        key = int(event.key())
        if keys.Key_1.value <= key <= keys.Key_9.value:
            self.set_value(key - keys.Key_0.value)
        elif key in (keys.Key_Left.value, keys.Key_Down.value):
            self.set_value(self.value - 1)
        elif key in (keys.Key_Right.value, keys.Key_Up.value):
            self.set_value(self.value + 1)
        else:
            super().keyPressEvent(event)
