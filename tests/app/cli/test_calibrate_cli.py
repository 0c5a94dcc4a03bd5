"""``affectstream calibrate`` and ``simulate``'s command lines: which mode simulates, and ``--sim-subject``."""

from __future__ import annotations

import pytest

from affectstream.app.cli.main import main


def test_the_help_says_which_modes_simulate(capsys):
    """The wizard records a live headset unless its first page picks the dry run; --headless always simulates."""
    with pytest.raises(SystemExit):
        main(["calibrate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "it records a live headset (an LSL EEG stream picked from those on this machine)" in text
    assert "chosen on its first page, runs a SYNTHETIC dry run against the simulator" in text
    assert "--headless runs the protocol against the simulator without a window (a SYNTHETIC dry run" in text
    assert "--sim-subject" in text and "atypical" in text


@pytest.mark.parametrize("argv, words", [
    (["calibrate", "--subject", "s1", "--headless", "--sim-subject", "odd"], "typical or atypical"),
    (["calibrate", "--subject", "s1", "--sim-subject", "atypical"], "--headless"),
    (["simulate", "--sim-subject", "odd", "--duration", "1"], "typical or atypical"),
])
def test_a_wrong_sim_subject_is_refused_in_one_line(argv, words, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
