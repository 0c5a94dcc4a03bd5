"""Where things live: the team's shared data (``../shared/data`` beside the repository, or
``$AFFECTSTREAM_SHARED/data``) and the folder new recordings go to (:func:`recordings_dir`).

Only benchmarks and tests read the shared data (and skip or fall back cleanly when it is absent); nothing from it is
ever copied into the project.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("AFFECTSTREAM_SHARED", REPO.parent / "shared")) / "data"

#: The environment variable that names the recordings folder when no ``--recordings DIR`` is given.
RECORDINGS_ENV = "AFFECTSTREAM_RECORDINGS"


def recordings_dir(chosen: str | os.PathLike | None = None) -> Path:
    """The folder new recordings go to, as an absolute path: ``chosen`` (``--recordings DIR``, or the folder picked
    in the dashboard), else ``$AFFECTSTREAM_RECORDINGS``, else ``recordings/`` of the working directory.

    Why the working directory and never the source checkout: recordings hold a person's data and belong with the
    user's work, wherever the package is installed (issue 22, item 2). The folder is made when the first file is
    written, not here.
    """
    if chosen is None or str(chosen) == "":
        chosen = os.environ.get(RECORDINGS_ENV) or "recordings"
    return Path(os.path.abspath(Path(chosen).expanduser()))
