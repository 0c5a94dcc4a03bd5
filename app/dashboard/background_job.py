"""One function on a worker thread, its result or error delivered on the GUI thread.

The calibration pages start long computations (simulating a session, connecting to a headset, fitting the subject's
models) with a :class:`BackgroundJob`, so the window keeps painting and answering while they run.
"""

from __future__ import annotations

import threading

from PySide6 import QtCore

__all__ = ["BackgroundJob"]


class BackgroundJob(QtCore.QObject):
    """Runs one function on a thread and reports back through queued signals.

    Signals
    -------
    finished(object)
        The function's return value.
    failed(str)
        The exception's message (shown on the page: the user can go back and change what caused it).
    """

    finished = QtCore.Signal(object)
    failed = QtCore.Signal(str)

    def start(self, fn, *args) -> None:
        def work() -> None:
            try:
                result = fn(*args)
            except Exception as exc:  # noqa: BLE001 - shown on the page; the user can go back
                self.failed.emit(str(exc))
            else:
                self.finished.emit(result)

        threading.Thread(target=work, daemon=True, name="affectstream-calibration").start()
