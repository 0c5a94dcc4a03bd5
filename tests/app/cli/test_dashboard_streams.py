"""``affectstream dashboard`` finds its streams as ``run`` does (issue 16, item 1): several matching EEG streams stop
it with the list, unless ``--first-match``; ``--subject`` reaches the session.

Offscreen, on an LSL "machine" of the test's own (:func:`fixtures.lsl_players.private_lsl_env`).
"""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from fixtures.lsl_players import private_lsl_env, start_simulator, stop, wait_for

pytestmark = pytest.mark.lsl


def test_dashboard_stops_on_two_matches_and_takes_the_first_when_asked(tmp_path):
    env = {**private_lsl_env(tmp_path), "QT_QPA_PLATFORM": "offscreen"}
    a, b = f"test-{uuid.uuid4().hex[:8]}", f"test-{uuid.uuid4().hex[:8]}"
    sims = [start_simulator(a, 90, env), start_simulator(b, 90, env)]
    args = [sys.executable, "-m", "affectstream", "dashboard", "--eeg", "EEG", "--duration", "2"]
    try:
        wait_for(env, f"{a}-eeg", f"{b}-eeg")
        ambiguous = subprocess.run([*args, "--screenshot", str(tmp_path / "a.png")], env=env, capture_output=True,
                                   text=True, timeout=120)
        picked = subprocess.run([*args, "--first-match", "--subject", "s07", "--screenshot",
                                 str(tmp_path / "b.png")], env=env, capture_output=True, text=True, timeout=120)
    finally:
        stop(*sims)
    assert ambiguous.returncode == 2 and "Traceback" not in ambiguous.stderr, ambiguous.stderr
    assert f"source_id '{a}-eeg'" in ambiguous.stderr and f"source_id '{b}-eeg'" in ambiguous.stderr
    assert picked.returncode == 0, picked.stderr
    assert "Traceback" not in picked.stderr
    assert (tmp_path / "b.png").stat().st_size > 10_000
    # --subject without a profile says so and goes on with the bundled student
    assert "no calibration profile for subject 's07'" in picked.stderr
