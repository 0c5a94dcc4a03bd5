"""The Subject… dialog: pick a calibration profile (or none), and learn how a profile is made.

A profile is made by ``affectstream calibrate --subject ID`` (the wizard window); the dialog says so, and where it
looks, so a user with no profile yet is not left with an empty list (issue 22, item 7).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from affectstream.app.dashboard import theme

NO_PROFILE = "(no profile: the bundled EEG student)"


@dataclass(frozen=True)
class Choice:
    """What the user chose: a subject with a profile, or None (the bundled student)."""

    subject: str | None


def profile_in_use(root: Path, subject: str) -> tuple[str | None, str | None]:
    """The profile folder a session estimates with for ``subject`` and None, or None (the bundled student) and why:
    calibration kept no model better than chance (:func:`~affectstream.calibration.profiles.default_use`).

    Raises :class:`~affectstream.calibration.profiles.ProfileError` (one line) for a missing or broken profile.
    """
    from affectstream.calibration.profiles import default_use, load_profile

    profile = load_profile(root, subject)
    unused = default_use(profile)
    return (None, unused) if unused else (str(profile.folder), None)


def profile_subjects(root: Path) -> list[str]:
    """The subjects with a profile in ``root``, sorted."""
    return sorted(p.parent.name for p in root.glob("*/profile.json")) if root.is_dir() else []


class SubjectDialog(QtWidgets.QDialog):
    """The list of profiles in ``root`` with the one in use (``current``) selected."""

    def __init__(self, parent: QtWidgets.QWidget | None, root: Path, current: str | None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Subject")
        subjects = profile_subjects(root)
        self.list = QtWidgets.QListWidget()
        self.list.addItems([NO_PROFILE] + subjects)
        self.list.setCurrentRow(subjects.index(current) + 1 if current in subjects else 0)
        self.list.itemDoubleClicked.connect(lambda _: self.accept())
        where = f"Calibration profiles in <code>{root}</code>" + ("" if subjects else ": <b>none yet</b>")
        about = QtWidgets.QLabel(
            f"{where}.<br>A profile fits the EEG student to one person. Make one with "
            "<code>affectstream calibrate --subject ID</code> (a wizard window: a live headset, or a dry run against "
            "the simulator), then pick it here. The session restarts when the choice changes.")
        about.setWordWrap(True)
        about.setTextFormat(QtCore.Qt.TextFormat.RichText)
        about.setStyleSheet(f"color: {theme.MUTED}")
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok
                                             | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(about)
        layout.addWidget(self.list, 1)
        layout.addWidget(buttons)
        self.resize(520, 360)

    def choice(self) -> Choice:
        text = self.list.currentItem().text() if self.list.currentItem() is not None else NO_PROFILE
        return Choice(None if text == NO_PROFILE else text)


def choose_subject(parent: QtWidgets.QWidget, root: Path, current: str | None) -> Choice | None:
    """Ask; None when cancelled."""
    dialog = SubjectDialog(parent, root, current)
    return dialog.choice() if dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted else None
