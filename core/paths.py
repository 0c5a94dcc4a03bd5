"""Where the team's shared data lives: ``../shared/data`` beside the repository, or ``$AFFECTSTREAM_SHARED/data``.

Only benchmarks and tests read it (and skip or fall back cleanly when it is absent); nothing from it is ever copied
into the project.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("AFFECTSTREAM_SHARED", REPO.parent / "shared")) / "data"
