"""Any headset from the command line (issue 17): ``--channels`` and ``--montage`` on the commands that read EEG, the
``[montage]`` config table, ``affectstream montages``, and the one-line refusals.

The acceptance runs go through the console entry point in a subprocess, as a user types them: the real unlabelled
8-channel OpenBCI recording and the real Muse P300 recording of ``../shared/data``, and a SYNTHETIC Emotiv-EPOC-like
recording made here. "After warm-up" is every hop whose window ends more than 2 s (one analysis window) after the
recording's first EEG sample.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from affectstream.app.cli import main
from affectstream.app.cli.common import UserError, montage_config
from affectstream.core.montage_presets import PRESETS
from affectstream.core.xdf_reader import load_recording
from affectstream.pipelines.config import MontageConfig
from fixtures.headset_files import EMOTIV_AFTER, EMOTIV_BEFORE, write_emotiv_epoc_xdf
from fixtures.lsl_players import private_lsl_env, stop
from fixtures.marker_files import write_muse_p300_xdf

OBCI = "xdf/eeglab_test_obci_8ch_1000Hz.xdf"
CYTON = "Fp1,Fp2,C3,C4,P7,P8,O1,O2"


def _cli(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "affectstream", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def _replay(path, out, *options: str) -> subprocess.CompletedProcess:
    proc = _cli("replay", str(path), "--headless", "--speed", "max", "--out", str(out), *options)
    assert proc.returncode == 0, proc.stderr
    return proc


def _summary(proc: subprocess.CompletedProcess) -> str:
    return next(line for line in proc.stderr.splitlines() if " hops " in line)


def _after_warmup(recording, jsonl) -> list[dict]:
    """The hops of ``jsonl`` whose window ends more than 2 s after the recording's first EEG sample."""
    t0 = float(load_recording(recording).eeg.timestamps[0])
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    return [row for row in rows if row["t"] - t0 > 2.0]


def _with_estimates(rows: list[dict]) -> int:
    return sum(row["valence_eeg"] is not None and row["arousal_eeg"] is not None for row in rows)


def _one_line_refusal(proc_or_err, *named: str) -> str:
    """The refusal's single stderr line, checked to name each of ``named``."""
    err = proc_or_err if isinstance(proc_or_err, str) else proc_or_err.stderr
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    for text in named:
        assert text in lines[0], lines[0]
    return lines[0]


# -- affectstream montages --------------------------------------------------------------------------------------------

def test_montages_lists_every_preset_and_explains_the_labels():
    proc = _cli("montages")
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())  # the listing is wrapped for the terminal
    for preset in PRESETS.values():
        assert f"{preset.name}: {preset.title}" in text and f"{len(preset.labels)} channels:" in text
        assert ", ".join(preset.labels[:3]) in text
    assert "TP10, Right AUX [not EEG]" in text and "measures 0 of the 32 model channels" in text
    assert "10-05 labels" in text and "needs no preset" in text  # labelled streams need nothing
    assert "left out" in text and "interpolated" in text and "--channels" in text


def test_montages_json_is_the_presets_in_stream_order():
    proc = _cli("montages", "--json")
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    assert [p["name"] for p in listing["presets"]] == list(PRESETS)
    for entry in listing["presets"]:
        preset = PRESETS[entry["name"]]
        assert [c["label"] for c in entry["channels"]] == list(preset.labels) and entry["title"] == preset.title
        assert [c["label"] for c in entry["channels"] if c["eeg"]] == list(preset.electrodes)
        assert entry["n_channels"] == len(preset.labels) and entry["note"] == preset.note
    by_name = {p["name"]: p for p in listing["presets"]}
    assert by_name["muse"]["channels"][-1] == {"label": "Right AUX", "eeg": False}
    assert by_name["emotiv-epoc"]["model_channels_measured"] == 14 and len(listing["model_montage"]) == 32
    assert listing["notes"]


# -- the acceptance replays -------------------------------------------------------------------------------------------

def test_unlabelled_openbci_replays_with_channels_or_preset(shared_data, tmp_path):
    recording = shared_data / OBCI
    named = _replay(recording, tmp_path / "channels.jsonl", "--channels", CYTON)
    preset = _replay(recording, tmp_path / "preset.jsonl", "--montage", "openbci-cyton")
    rows = _after_warmup(recording, tmp_path / "channels.jsonl")
    assert rows and _with_estimates(rows) >= 0.9 * len(rows)
    assert "8/32 montage channels measured" in _summary(named) and "8/32 montage channels measured" in _summary(preset)
    assert rows[0]["bad_channels"]["Cz"] == "interpolated" and "C3" not in rows[0]["bad_channels"]
    assert 0 < rows[0]["quality_eeg"] <= 8 / 32
    same = [{k: v for k, v in row.items() if k != "latency_ms"} for row in rows]
    assert same == [{k: v for k, v in row.items() if k != "latency_ms"}
                    for row in _after_warmup(recording, tmp_path / "preset.jsonl")]


def test_unlabelled_openbci_without_an_option_is_one_line_naming_both(shared_data, tmp_path):
    proc = _cli("replay", str(shared_data / OBCI), "--headless", "--speed", "max", "--out", str(tmp_path / "x.jsonl"))
    assert proc.returncode == 2
    _one_line_refusal(proc, "--channels", "--montage", "no channel labels")


def test_muse_replays_without_an_option(shared_data, tmp_path):
    recording = write_muse_p300_xdf(shared_data, tmp_path / "muse.xdf")
    summary = _summary(_replay(recording, tmp_path / "muse.jsonl"))
    assert "other electrodes TP9, AF7, AF8, TP10" in summary and "ignored Right AUX" in summary
    assert "markers: 1 x165, 2 x32" in summary and "SYNTHETIC" not in summary
    rows = _after_warmup(recording, tmp_path / "muse.jsonl")
    assert len(rows) > 400 and _with_estimates(rows) >= 0.9 * len(rows)
    assert set(rows[10]["bad_channels"].values()) == {"interpolated"} and "Right AUX" not in rows[10]["bad_channels"]
    assert rows[10]["quality_eeg"] == pytest.approx(4 / 32)


def test_emotiv_epoc_like_recording_leaves_its_non_eeg_channels_out(tmp_path):
    """Labelled as EmotivPRO sends it (counter, interpolation flag, contact quality, marker, battery around the
    14 electrodes): no option needed. The bare 14 electrodes without labels, named by ``--montage emotiv-epoc``,
    give exactly the same estimates, so nothing of the non-EEG channels reached them."""
    labelled = write_emotiv_epoc_xdf(tmp_path / "epoc.xdf")
    bare = write_emotiv_epoc_xdf(tmp_path / "bare.xdf", labelled=False)
    summary = _summary(_replay(labelled, tmp_path / "epoc.jsonl"))
    _replay(bare, tmp_path / "bare.jsonl", "--montage", "emotiv-epoc")
    assert f"ignored {', '.join(EMOTIV_BEFORE + EMOTIV_AFTER)}" in summary
    assert "14/32 montage channels measured" in summary and "[SYNTHETIC recording]" in summary
    rows = _after_warmup(labelled, tmp_path / "epoc.jsonl")
    assert rows and _with_estimates(rows) >= 0.9 * len(rows)
    assert not set(rows[0]["bad_channels"]) & set(EMOTIV_BEFORE + EMOTIV_AFTER)
    assert [r["valence_eeg"] for r in rows] == [r["valence_eeg"] for r in _after_warmup(bare, tmp_path / "bare.jsonl")]


# -- refusals: one line, exit 2, the option named ---------------------------------------------------------------------

@pytest.mark.parametrize(("options", "named"), [
    (("--channels", CYTON, "--montage", "openbci-cyton"), ("--channels", "--montage", "not both")),
    (("--montage", "cyton"), ("--montage", "unknown montage preset 'cyton'", "openbci-cyton")),
    (("--channels", "T3,T7,C3,C4,P7,P8,O1,O2"), ("--channels", "'T3' and 'T7'", "same position")),
    (("--channels", "Fp1,Fp2,C3,C4,P7,P8,O1,chan8"), ("--channels", "'chan8' (channel 8)", "10-05")),
    (("--channels", "Fp1,,C3,C4,P7,P8,O1,O2"), ("--channels", "channel 2 has no name")),
    (("--channels", "AUX,EOG,skip"), ("--channels", "no EEG electrode")),
    (("--channels", "Fp1,Fp2,C3,C4"), ("--channels", "names 4 channels but the stream has 8")),
    (("--montage", "muse"), ("montage preset 'muse'", "stream has 8", "--channels")),
    (("--montage", "muse", "--publish"), ("--publish", "--montage")),
])
def test_replay_refusals_are_one_line(shared_data, capsys, options, named):
    code = main.main(["replay", str(shared_data / OBCI), "--headless", *options])
    assert code == 2
    assert _one_line_refusal(capsys.readouterr().err, *named).startswith("affectstream replay: ")


@pytest.mark.parametrize("command", [["dashboard"], ["run", "--headless"]])
def test_live_commands_check_the_options_before_any_stream(capsys, command):
    assert main.main([*command, "--montage", "epoc"]) == 2
    _one_line_refusal(capsys.readouterr().err, "--montage", "unknown montage preset 'epoc'")


@pytest.mark.parametrize(("table", "named"), [
    ('preset = "muse"\nchannels = ["Fp1", "Fp2"]', ("[montage] table gives both",)),
    ('preset = "emotive"', ("[montage] preset", "unknown montage preset 'emotive'")),
    ('channels = ["Fp1", "Fpz1"]', ("[montage] channels", "'Fpz1' (channel 2)")),
])
def test_a_bad_montage_table_is_one_line(tmp_path, capsys, table, named):
    config = tmp_path / "bad.toml"
    config.write_text(f"[montage]\n{table}\n")
    assert main.main(["run", "--headless", "--config", str(config)]) == 2
    _one_line_refusal(capsys.readouterr().err, *named)


def test_the_command_line_wins_over_the_montage_table():
    table = MontageConfig(preset="muse")
    options = argparse.Namespace(channels=None, montage=None)
    assert montage_config(options, table) == table
    options.channels = " Fp1, T3 ,AUX"
    assert montage_config(options, table) == MontageConfig(channels=("Fp1", "T3", "AUX"))
    options.channels, options.montage = None, "Emotiv-EPOC"
    assert montage_config(options, MontageConfig(channels=("x",))) == MontageConfig(preset="emotiv-epoc")
    with pytest.raises(UserError, match="--montage"):
        montage_config(argparse.Namespace(channels=None, montage="none"), table)


# -- a live stream ----------------------------------------------------------------------------------------------------

@pytest.mark.lsl
def test_run_names_an_unlabelled_live_stream(shared_data, tmp_path):
    """The real OpenBCI recording re-published without labels (as the OpenBCI GUI sends it): ``run`` reads it with
    the ``[montage]`` table, with ``--channels`` overriding a table that does not fit, and refuses it with neither."""
    env = private_lsl_env(tmp_path)
    fits, wrong = tmp_path / "cyton.toml", tmp_path / "muse.toml"
    fits.write_text('[montage]\npreset = "openbci-cyton"\n')
    wrong.write_text('[montage]\npreset = "muse"\n')
    common = ["-m", "affectstream", "run", "--headless", "--eeg-source-id", "openbcigui", "--duration", "3", "--quiet"]
    # The recording lasts 9.5 s: the runs start first (each waits up to 10 s for the stream once it has loaded), so
    # that their start-up, slow on a loaded machine, does not eat the seconds of EEG they need.
    runs = {name: subprocess.Popen([sys.executable, *common, "--out", str(tmp_path / f"{name}.jsonl"), *extra],
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for name, extra in {"table": ["--config", str(fits)],
                                "option": ["--config", str(wrong), "--channels", CYTON], "none": []}.items()}
    publisher = subprocess.Popen([sys.executable, "-m", "affectstream", "replay", str(shared_data / OBCI), "--publish",
                                  "--speed", "1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        errors = {name: proc.communicate(timeout=60)[1] for name, proc in runs.items()}
    finally:
        stop(publisher, *runs.values())
    for name in ("table", "option"):
        assert runs[name].returncode == 0, errors[name]
        rows = [json.loads(line) for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
        # live: a hop whose EEG comes more than half a second late (a loaded publisher, or the recording ending
        # before the run does) is written without it and marked lost, which is no failure to read the montage
        assert _with_estimates(rows) >= 3, rows
        assert all(r["estimator_eeg"] == "lost" for r in rows if r["valence_eeg"] is None), rows
    assert runs["none"].returncode == 2
    _one_line_refusal(errors["none"], "--channels", "--montage")
