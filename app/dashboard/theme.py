"""Colours, fonts and the dark palette: one place, so every panel speaks the same visual language.

Modalities keep one colour everywhere: fused = white, EEG = cyan, face = orange, ground truth = dashed grey.
Channel quality uses the same colours in the EEG traces, the topomap electrodes and the status text.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

BG = "#0d1117"
PANEL = "#12171e"
PANEL_ALT = "#171d26"
BORDER = "#2a313c"
FG = "#d5dbe3"
MUTED = "#8892a0"
GRID_ALPHA = 0.12
GRID = "#1f2630"  #: own grid lines (opaque: cheaper than alpha-blended ones)

FUSED = "#f4f4f5"
EEG = "#22d3ee"
FACE = "#fb923c"
TRUTH = "#9ca3af"
BAND = (244, 244, 245, 38)  #: the confidence band around the fused trace
MARKER = "#a78bfa"  #: markers from the Markers stream
MANUAL = "#facc15"  #: markers added with the hotkey

OK = "#4ade80"
WARN = "#fbbf24"
BAD = "#f87171"
SIMULATED = "#b45309"

#: Trace colour per channel-quality reason ("" = good); see affectstream.pipelines.eeg.quality.FLAGS.
QUALITY = {"": "#7fb8cc", "noisy": "#fbbf24", "railed": "#f472b6", "flat": "#f87171", "nonfinite": "#f87171",
           "missing": "#5b6370"}

#: Stream states -> colour of their dot in the status bar.
STATE = {"live": OK, "running": OK, "stalled": WARN, "waiting": WARN, "connecting": MUTED, "lost": BAD, "error": BAD,
         "stopped": MUTED, "idle": MUTED, "playing": OK, "paused": MARKER, "ended": MUTED,
         "reconnecting": WARN}

SALIENCY_CMAP = "inferno"
BANDPOWER_CMAP = "CET-D1"

FONT_FAMILY = "DejaVu Sans"
FONT_SIZE = 10

STYLESHEET = f"""
QMainWindow, QWidget {{ background: {BG}; color: {FG}; }}
QDockWidget {{ color: {MUTED}; font-weight: bold; }}
QDockWidget::title {{ background: {PANEL_ALT}; padding: 4px 8px; border-bottom: 1px solid {BORDER}; }}
QToolBar {{ background: {PANEL_ALT}; border-bottom: 1px solid {BORDER}; spacing: 6px; padding: 3px; }}
QToolBar QLabel {{ color: {MUTED}; }}
QStatusBar {{ background: {PANEL_ALT}; border-top: 1px solid {BORDER}; }}
QStatusBar QLabel {{ color: {FG}; padding: 0 6px; }}
QStatusBar::item {{ border: none; }}
QPushButton, QToolButton, QComboBox {{ background: #1f2631; border: 1px solid {BORDER}; border-radius: 4px;
    padding: 3px 9px; color: {FG}; }}
QPushButton:hover, QToolButton:hover, QComboBox:hover {{ border-color: #46505e; }}
QPushButton:checked {{ background: #3b1d1d; border-color: {BAD}; color: #fecaca; }}
QPushButton:disabled, QToolButton:disabled, QComboBox:disabled {{ color: #5b6370; background: #161b22;
    border-style: dashed; }}
QComboBox QAbstractItemView {{ background: #1f2631; selection-background-color: #2d3745; }}
QLabel#panelTitle {{ color: {MUTED}; font-weight: bold; }}
QLabel#badge {{ background: {SIMULATED}; color: white; font-weight: bold; border-radius: 3px; padding: 1px 8px; }}
QLabel#rec {{ background: #7f1d1d; color: #fee2e2; font-weight: bold; border-radius: 3px; padding: 1px 8px; }}
QLabel#replay {{ background: #4c1d95; color: #ede9fe; font-weight: bold; border-radius: 3px; padding: 1px 8px; }}
QLabel#overlay {{ color: {MUTED}; background: transparent; }}
QLabel#warning {{ color: {WARN}; background: transparent; }}
QLabel#modelWarning {{ background: #3a2a06; color: #fde68a; border-bottom: 1px solid #92400e; padding: 3px 8px; }}
QSpinBox, QDoubleSpinBox {{ background: #1f2631; border: 1px solid {BORDER}; border-radius: 4px; padding: 2px 4px; }}
QToolTip {{ background: #1f2631; color: {FG}; border: 1px solid {BORDER}; }}
QCheckBox::indicator, QRadioButton::indicator {{ width: 14px; height: 14px; background: #1f2631;
    border: 1px solid {MUTED}; }}
QCheckBox::indicator {{ border-radius: 3px; }}
QRadioButton::indicator {{ border-radius: 8px; }}
QCheckBox::indicator:checked, QRadioButton::indicator:checked {{ background: {EEG}; border-color: {EEG}; }}
QCheckBox::indicator:hover, QRadioButton::indicator:hover {{ border-color: {FG}; }}
"""


def apply(app: QtWidgets.QApplication) -> None:
    """Dark Fusion palette, readable font and pyqtgraph defaults for the whole application, once per application.

    Once: setting the style and the style sheet again replaces the style object under every widget still alive, and
    Qt 6.11's style-sheet style has crashed (a call through a freed pointer) repolishing a closed window's widgets
    when it was done a second time in one process (the dashboard, then the wizard, then a window made later).
    """
    if app.property("affectstream_theme"):
        return
    app.setProperty("affectstream_theme", True)
    app.setStyle("Fusion")
    pal = QtGui.QPalette()
    for role, colour in ((QtGui.QPalette.ColorRole.Window, BG), (QtGui.QPalette.ColorRole.WindowText, FG),
                         (QtGui.QPalette.ColorRole.Base, PANEL), (QtGui.QPalette.ColorRole.AlternateBase, PANEL_ALT),
                         (QtGui.QPalette.ColorRole.Text, FG), (QtGui.QPalette.ColorRole.Button, "#1f2631"),
                         (QtGui.QPalette.ColorRole.ButtonText, FG), (QtGui.QPalette.ColorRole.ToolTipBase, "#1f2631"),
                         (QtGui.QPalette.ColorRole.ToolTipText, FG), (QtGui.QPalette.ColorRole.Highlight, "#2d3745"),
                         (QtGui.QPalette.ColorRole.HighlightedText, "#ffffff")):
        pal.setColor(role, QtGui.QColor(colour))
    app.setPalette(pal)
    font = QtGui.QFont(FONT_FAMILY, FONT_SIZE)
    app.setFont(font)
    app.setStyleSheet(STYLESHEET)
    pg.setConfigOptions(background=PANEL, foreground=FG, antialias=False)


def pen(colour, width: float = 1.0, style=None, alpha: int | None = None) -> QtGui.QPen:
    """A cosmetic pen (width in pixels whatever the zoom)."""
    c = pg.mkColor(colour)
    if alpha is not None:
        c.setAlpha(alpha)
    p = pg.mkPen(c, width=width)
    if style is not None:
        p.setStyle(style)
    p.setCosmetic(True)
    return p


def dashed(colour, width: float = 1.5) -> QtGui.QPen:
    p = pen(colour, width, QtCore.Qt.PenStyle.CustomDashLine)
    p.setDashPattern([4, 3])
    return p


def axis_font(size: int = 9) -> QtGui.QFont:
    return QtGui.QFont(FONT_FAMILY, size)


def style_plot(plot: pg.PlotItem, left: str | None = None, bottom: str | None = None, grid: bool = True) -> None:
    """Muted axes, faint grid (pyqtgraph's; panels that scroll draw their own), readable tick labels."""
    if grid:
        plot.showGrid(x=True, y=True, alpha=GRID_ALPHA)
    for name in ("left", "bottom", "right", "top"):
        ax = plot.getAxis(name)
        ax.setPen(pen(BORDER))
        ax.setTextPen(pen(MUTED))
        ax.setStyle(tickFont=axis_font(9), tickLength=4)  # outside: never overlaps (and repaints with) the data
    if left:
        plot.setLabel("left", left, color=MUTED, size="9pt")
    if bottom:
        plot.setLabel("bottom", bottom, color=MUTED, size="9pt")
    plot.hideButtons()


def clock(seconds: float) -> str:
    """Session time as m:ss (h:mm:ss past an hour)."""
    sign = "-" if seconds < 0 else ""
    s = abs(int(round(seconds)))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{sign}{h}:{m:02d}:{sec:02d}" if h else f"{sign}{m}:{sec:02d}"


class TimeAxis(pg.AxisItem):
    """Session time as m:ss (h:mm:ss past an hour)."""

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - Qt naming
        return [clock(v) for v in values]


def panel_title(text: str) -> QtWidgets.QLabel:
    label = QtWidgets.QLabel(text)
    label.setObjectName("panelTitle")
    return label


#: Pixels between the items of a panel header, so two texts side by side never read as one.
HEADER_SPACING = 10


def panel_header(title: str) -> QtWidgets.QHBoxLayout:
    """A panel's header row, starting with its title; the panel appends its own controls."""
    header = QtWidgets.QHBoxLayout()
    header.setContentsMargins(8, 2, 8, 0)
    header.setSpacing(HEADER_SPACING)
    header.addWidget(panel_title(title))
    return header


class ElidedLabel(QtWidgets.QLabel):
    """One line of plain text that is shortened with "…" when its room is narrower than the text.

    A QLabel claims its whole text as its minimum width, so a long status text widens its panel (and the window's
    minimum with it) or, where the room is fixed, is cut off under its neighbour. This label asks for its text's
    width but accepts any width down to a few characters (:meth:`text` keeps the full text; callers put the detail
    in the tooltip).
    """

    def __init__(self, text: str = "", parent: QtWidgets.QWidget | None = None, min_text: str = "MMM…",
                 mode: QtCore.Qt.TextElideMode = QtCore.Qt.TextElideMode.ElideRight) -> None:
        super().__init__(text, parent)
        self.setTextFormat(QtCore.Qt.TextFormat.PlainText)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Preferred, QtWidgets.QSizePolicy.Policy.Preferred)
        self._min_text = min_text  #: the narrowest the label gets is this text's width (or its own, if shorter)
        self._mode = mode  #: where the text is shortened (the middle keeps both ends of a path)

    def minimumSizeHint(self) -> QtCore.QSize:  # noqa: N802 - Qt naming
        # The same whatever the text, so a new text never changes the panel's (and the window's) minimum.
        margins = self.contentsMargins()
        width = self.fontMetrics().horizontalAdvance(self._min_text) + margins.left() + margins.right()
        return QtCore.QSize(width, super().minimumSizeHint().height())

    def shown_text(self) -> str:
        """The text as drawn at the current width (elided when it does not fit)."""
        return self.fontMetrics().elidedText(self.text(), self._mode, self.contentsRect().width())

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802 - Qt naming
        painter = QtGui.QPainter(self)
        self.style().drawItemText(painter, self.contentsRect(), int(self.alignment()), self.palette(),
                                  self.isEnabled(), self.shown_text(), self.foregroundRole())


def panel_layout(panel: QtWidgets.QWidget, header: QtWidgets.QLayout) -> QtWidgets.QVBoxLayout:
    """The panel's edge-to-edge vertical layout with ``header`` on top; the panel adds its plots below."""
    layout = QtWidgets.QVBoxLayout(panel)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(0)
    layout.addLayout(header)
    return layout


class FitLabel(QtWidgets.QLabel):
    """A label (rich text allowed) drawn whole or not at all: where its row has no room for it, it is left out
    instead of pushing its neighbours or being cut in the middle of a word. For texts that help but are not
    needed, such as a legend (its tooltip still says it)."""

    def minimumSizeHint(self) -> QtCore.QSize:  # noqa: N802 - Qt naming
        return QtCore.QSize(0, super().minimumSizeHint().height())

    @property
    def fits(self) -> bool:
        """Whether the whole text is drawn at the current width."""
        return self.width() >= super().sizeHint().width()

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802 - Qt naming
        if self.fits:
            super().paintEvent(event)


class ElidedComboBox(QtWidgets.QComboBox):
    """A combo box as wide as its shortest sensible text (``min_chars`` characters), whatever its items say: the
    current text is shortened with "…" when the box is narrower, and the list that opens shows every item whole
    (the box's tooltip is its current item's full text)."""

    def __init__(self, min_chars: int = 12, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(min_chars)
        self.currentTextChanged.connect(self.setToolTip)

    def showPopup(self) -> None:  # noqa: N802 - Qt naming
        view = self.view()
        view.setMinimumWidth(max(self.width(), view.sizeHintForColumn(0) + 24))
        super().showPopup()

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:  # noqa: N802 - Qt naming
        painter = QtWidgets.QStylePainter(self)
        opt = QtWidgets.QStyleOptionComboBox()
        self.initStyleOption(opt)
        painter.drawComplexControl(QtWidgets.QStyle.ComplexControl.CC_ComboBox, opt)
        rect = self.style().subControlRect(QtWidgets.QStyle.ComplexControl.CC_ComboBox, opt,
                                           QtWidgets.QStyle.SubControl.SC_ComboBoxEditField, self)
        opt.currentText = self.fontMetrics().elidedText(opt.currentText, QtCore.Qt.TextElideMode.ElideRight,
                                                        rect.width() - 4)
        painter.drawControl(QtWidgets.QStyle.ControlElement.CE_ComboBoxLabel, opt)
