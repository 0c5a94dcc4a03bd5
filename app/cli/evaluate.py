"""``affectstream evaluate``: re-score a training run from its saved weights."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from affectstream.app.cli.extras import require_training


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="re-score a training run from its saved weights",
                       description="Load every fold's saved weights of a run folder, score them again on the "
                                   "fold's test trials and compare with the numbers the run recorded.")
    p.add_argument("run_dir", type=Path, help="a run folder written by `affectstream train`")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    require_training("affectstream evaluate")
    from affectstream.models.training.runner import rescore_run
    from affectstream.pipelines.eeg_student_training import training_methods

    from affectstream.pipelines.face.video_crops import face_crops_at

    diffs = rescore_run(args.run_dir, training_methods(), progress=not args.quiet, face_frames=face_crops_at)
    worst = max((abs(d) for d in diffs.values()), default=0.0)
    for name, d in sorted(diffs.items()):
        print(f"{name}: re-scored minus recorded = {d:+.2e}")
    print(f"{len(diffs)} scores re-computed from the saved weights; largest difference {worst:.2e}", file=sys.stderr)
    return 0 if worst <= 1e-5 else 1
