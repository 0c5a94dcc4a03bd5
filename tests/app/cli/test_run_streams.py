"""``run`` and ``demo`` against real LSL streams (issue 16, items 1 and 2): discovery by name or type, and recordings
that hold every stream of the session, every Markers stream and the named ones, on one clock.

Each test lives on an LSL "machine" of its own (:func:`fixtures.lsl_players.private_lsl_env`): simulators share one
stream name, so a simulator of another test run would otherwise change the answers.
"""

from __future__ import annotations

import subprocess
import sys
import uuid

import numpy as np
import pytest
import pyxdf

from fixtures.lsl_players import private_lsl_env, start_player, start_simulator, stop, wait_for

pytestmark = pytest.mark.lsl


def _affectstream(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "affectstream", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def _summary(proc: subprocess.CompletedProcess) -> str:
    """The closing line of a run ("N hops from ...")."""
    return next(line for line in proc.stderr.splitlines() if " hops from " in line)


def test_two_simulators_stop_run_with_both_listed(tmp_path):
    env = private_lsl_env(tmp_path)
    a, b = f"test-{uuid.uuid4().hex[:8]}", f"test-{uuid.uuid4().hex[:8]}"
    sims = [start_simulator(a, 60, env), start_simulator(b, 60, env)]
    try:
        wait_for(env, f"{a}-eeg", f"{b}-eeg")
        proc = _affectstream(env, "run", "--headless", "--eeg", "EEG", "--duration", "3")
        chosen = _affectstream(env, "run", "--headless", "--eeg", "EEG", "--duration", "1", "--first-match",
                               "--quiet")
    finally:
        stop(*sims)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"source_id '{a}-eeg'" in proc.stderr and f"source_id '{b}-eeg'" in proc.stderr
    assert "--eeg-source-id" in proc.stderr and "--first-match" in proc.stderr
    assert chosen.returncode == 0, chosen.stderr
    first, other = sorted([a, b])  # the first listed is taken, and named in the notice and the summary
    assert f"source_id '{first}-eeg'" in _summary(chosen) and f"{other}-eeg" not in chosen.stderr


def test_one_simulator_found_by_its_name(tmp_path):
    env = private_lsl_env(tmp_path)
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    sim = start_simulator(prefix, 60, env)
    try:
        wait_for(env, f"{prefix}-eeg")
        proc = _affectstream(env, "run", "--headless", "--eeg", "affectstream-sim-EEG", "--duration", "2", "--quiet")
    finally:
        stop(sim)
    assert proc.returncode == 0, proc.stderr
    summary = _summary(proc)
    assert f"source_id '{prefix}-eeg'" in summary and int(summary.split()[0]) >= 4  # 2 s of data: 5 hops of 0.25 s


def _streams(path) -> dict[str, dict]:
    return {s["info"]["source_id"][0]: s for s in pyxdf.load_xdf(str(path))[0]}


def _on_the_eeg_clock(eeg: dict, stamps: np.ndarray, srate: float = 256.0) -> np.ndarray:
    """Where ``stamps`` fall on the simulator's sample grid, in seconds from its first sample (its SampleCounter
    channel gives each EEG sample's index, stamped ``t0 + index / srate``)."""
    counter, times = eeg["time_series"][:, -1], eeg["time_stamps"]
    t0 = np.median(times - counter / srate)
    return stamps - t0


def _check_simulator_markers(streams: dict, prefix: str) -> None:
    """The simulator's markers are in the file, each exactly on a 5 s step of its EEG's clock (its trials start and
    end at multiples of 5 s): EEG and markers were recorded on one clock."""
    eeg, markers = streams[f"{prefix}-eeg"], streams[f"{prefix}-markers"]
    labels = [row[0] for row in markers["time_series"]]
    assert any(label.startswith("trial_start/stim_") for label in labels), labels
    at = _on_the_eeg_clock(eeg, np.asarray(markers["time_stamps"]))
    np.testing.assert_allclose(at, 5.0 * np.round(at / 5.0), atol=0.01)


def test_run_record_writes_every_stream_on_one_clock(tmp_path):
    env = private_lsl_env(tmp_path)
    tag = uuid.uuid4().hex[:8]
    prefix, path = f"test-{tag}", tmp_path / "session.xdf"
    # started with the simulator: the recording then covers its first trial start (5 s in)
    players = [start_simulator(prefix, 60, env),
               start_player(60, f"stim-pc-{tag}:Markers:int32:{tag}-codes", f"aux-{tag}:Aux:float32:{tag}-aux",
                            env=env)]
    try:
        proc = _affectstream(env, "run", "--headless", "--eeg", "affectstream-sim-EEG", "--duration", "8",
                             "--timeout", "30", "--quiet", "--record", str(path), "--record-stream", f"aux-{tag}")
        unknown = _affectstream(env, "run", "--headless", "--eeg-source-id", f"{prefix}-eeg", "--duration", "1",
                                "--timeout", "2", "--record", str(tmp_path / "x.xdf"), "--record-stream", "NoSuchPC")
    finally:
        stop(*players)
    assert proc.returncode == 0, proc.stderr
    streams = _streams(path)
    affect_id = f"affectstream-affect-{prefix}-eeg"
    assert {f"{prefix}-eeg", f"{prefix}-markers", f"{tag}-codes", f"{tag}-aux", affect_id} <= set(streams)
    assert f"{prefix}-truth" not in streams  # ground truth is recorded when the session follows it (demo)
    _check_simulator_markers(streams, prefix)
    codes = streams[f"{tag}-codes"]
    assert codes["info"]["channel_format"][0] == "int32" and codes["time_series"].dtype == np.int32
    assert len(codes["time_series"]) >= 20 and np.all(np.diff(codes["time_series"][:, 0]) == 1)
    eeg_times = streams[f"{prefix}-eeg"]["time_stamps"]
    for sid in (f"{tag}-codes", f"{tag}-aux", affect_id):  # everything inside the EEG's span: one clock
        stamps = streams[sid]["time_stamps"]
        assert eeg_times[0] - 1.0 <= stamps[0] and stamps[-1] <= eeg_times[-1] + 1.0
    desc = streams[affect_id]["info"]["desc"][0]
    assert desc["eeg_model_trained_on"] == ["synthetic"] and desc["eeg_source_id"] == [f"{prefix}-eeg"]
    assert unknown.returncode == 2 and "'NoSuchPC'" in unknown.stderr and f"{tag}-aux" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_demo_record_adds_the_other_markers_streams(tmp_path):
    env = private_lsl_env(tmp_path)
    tag = uuid.uuid4().hex[:8]
    path = tmp_path / "demo.xdf"
    player = start_player(60, f"stim-pc-{tag}:Markers:string:{tag}-text", env=env)
    try:
        proc = _affectstream(env, "demo", "--headless", "--no-video", "--duration", "8", "--quiet",
                             "--record", str(path))
    finally:
        stop(player)
    assert proc.returncode == 0, proc.stderr
    streams = _streams(path)
    by_type = {}
    for sid, s in streams.items():
        by_type.setdefault(s["info"]["type"][0], []).append(sid)
    assert set(by_type) == {"EEG", "Markers", "GroundTruth", "Affect"}
    prefix = by_type["EEG"][0].removesuffix("-eeg")
    assert sorted(by_type["Markers"]) == sorted([f"{prefix}-markers", f"{tag}-text"])
    _check_simulator_markers(streams, prefix)
    text = [row[0] for row in streams[f"{tag}-text"]["time_series"]]
    assert len(text) >= 20 and all(t.startswith("marker-") for t in text)
