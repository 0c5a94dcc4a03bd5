"""Files a user names (a recording, a model, a video): one clear message for each way the path can be wrong.

Handed a folder, OpenCV and pyxdf say only "cannot open"; handed ``/dev/zero`` or a pipe, a reader never returns;
and without permission the error surfaces as a traceback deep inside a library. :func:`regular_file` checks the path
first, so that each case ends as one line naming what was expected and what is there.
"""

from __future__ import annotations

import stat
from pathlib import Path

__all__ = ["regular_file"]


def regular_file(path: str | Path, what: str, error: type[Exception] = ValueError) -> int:
    """Check that ``path`` is a regular file this process may read, before a library opens it.

    Parameters
    ----------
    path : str | Path
    what : str
        What the file should be, for the messages (``"XDF file"``, ``"video file"``, ...).
    error : type of Exception
        Raised (with one line naming ``what`` and the path) for everything but a missing file.

    Returns
    -------
    int
        The file's size in bytes.

    Raises
    ------
    FileNotFoundError
        Nothing is at ``path``.
    error
        A folder, a device, pipe or socket, or a file that cannot be read (no permission to reach or open it).
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {path}") from None
    except OSError as exc:  # a folder on the way that may not be searched, a broken network share, ...
        raise error(f"cannot read the {what} {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a device, pipe or socket"
        raise error(f"the {what} {path} is not a regular file ({kind})")
    try:
        path.open("rb").close()
    except OSError as exc:
        raise error(f"cannot read the {what} {path}: {exc.strerror or exc}") from None
    return info.st_size
