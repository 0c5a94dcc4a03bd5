"""What a replay writes and says: processing-time latency, the JSONL schema it shares with a live run (and that the
README documents), numeric markers in its summary, and the warning about a simulator-trained model on real EEG."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid

import pytest

from affectstream.core.paths import REPO
from affectstream.pipelines.config import PipelineConfig
from affectstream.pipelines.sessions.replay import replay
from affectstream.pipelines.synthetic.recording import write_simulated_recording
from fixtures.marker_files import write_numeric_marker_recording

#: Keys whose children are data (channel labels), not part of the schema.
DATA_KEYS = ("bad_channels",)


def _records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _schema(record: dict, prefix: str = "") -> set[str]:
    """Every key of a record, nested ones as ``parent.child`` (null objects contribute only their own key)."""
    keys = set()
    for key, value in record.items():
        keys.add(prefix + key)
        if isinstance(value, dict) and key not in DATA_KEYS:
            keys |= _schema(value, f"{prefix}{key}.")
    return keys


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "affectstream", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


@pytest.fixture(scope="module")
def sim_xdf(tmp_path_factory):
    """20 s of SYNTHETIC session with the rendered face video (so the records carry an ``emotion`` object)."""
    return write_simulated_recording(tmp_path_factory.mktemp("sim") / "sim_video.xdf", 20.0, video=True)


def test_replay_latency_is_each_hops_processing_time(sim_xdf, tmp_path):
    """A chunk's processing time is shared by its hops: the latencies add up to no more than the replay's own
    computing time (timing the whole chunk for each of its hops, they added up to about 30 times it)."""
    out = tmp_path / "eeg_only.jsonl"
    summary = replay(sim_xdf, with_video=False, out_jsonl=out, config=PipelineConfig(eeg_estimator="baseline"))
    latencies = [r["latency_ms"] for r in _records(out)]
    assert len(latencies) == summary.hops == 73  # (20 s - 2 s window) / 0.25 s + 1, in chunks of up to 64 hops
    assert len(set(latencies[:64])) == 1 and len(set(latencies[64:])) == 1  # one figure per chunk
    assert 0 < sum(latencies) <= (summary.wall_s - summary.load_s) * 1e3


def test_replay_records_carry_the_recorded_streams_status(sim_xdf, tmp_path):
    out = tmp_path / "with_video.jsonl"
    replay(sim_xdf, out_jsonl=out, config=PipelineConfig(eeg_estimator="baseline"))
    records = _records(out)
    assert {json.dumps(r["eeg_stream"], sort_keys=True) for r in records[-5:]} == {json.dumps(
        {"connection": "recorded", "outages": None, "last_gap_s": None, "duplicate_stamps": 0, "reordered_stamps": 0,
         "clock_jumps": 0, "invalid_stamps": 0, "burst_pulls": None, "late_hops": None, "effective_rate": 256.0,
         "rate_mismatch": False},
        sort_keys=True)}
    assert all(r["eeg_model_trained_on"] is None for r in records)  # the baseline is a formula, not a model


@pytest.mark.lsl
@pytest.mark.slow
def test_live_and_replay_records_share_one_documented_schema(sim_xdf, tmp_path):
    from affectstream.pipelines.sessions.live import run_headless
    from affectstream.pipelines.synthetic.publisher import start_simulator_process, stop_process

    prefix = f"schema-{uuid.uuid4().hex[:8]}"
    sim = start_simulator_process(0, "sim01", 60.0, video=False, prefix=prefix)
    try:
        run_headless("EEG", source_id=f"{prefix}-eeg", duration=2.0, out=tmp_path / "live.jsonl", publish=False,
                     resolve_timeout=30.0)
    finally:
        stop_process(sim)
    replay(sim_xdf, out_jsonl=tmp_path / "replay.jsonl")
    live, replayed = _records(tmp_path / "live.jsonl")[-1], _records(tmp_path / "replay.jsonl")[-1]
    assert live["emotion"] is None and replayed["emotion"] is not None  # no face live here: compare the rest
    assert _schema(live) == _schema(replayed) - {k for k in _schema(replayed) if k.startswith("emotion.")}
    assert live["eeg_stream"]["connection"] == "connected" and replayed["eeg_stream"]["connection"] == "recorded"
    assert live["eeg_model_trained_on"] == replayed["eeg_model_trained_on"] == "synthetic"


def test_readme_explains_every_key_of_a_record(sim_xdf, tmp_path):
    """Every key of a record (the schema live and replay share, above), nested ones included, is in the README."""
    replay(sim_xdf, out_jsonl=tmp_path / "replay.jsonl", config=PipelineConfig(eeg_estimator="baseline"))
    record = _records(tmp_path / "replay.jsonl")[-1]
    assert record["emotion"] is not None  # so that its keys are checked too
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("### The JSONL record"):]
    section = section[:section.index("\n### ", 1)]
    documented = set(re.findall(r"`([A-Za-z_0-9.]+)`", section))  # `eeg_stream.outages`; the emotion classes
    missing = sorted(k for k in _schema(record) if k not in documented and k.rsplit(".", 1)[-1] not in documented)
    assert not missing, f"README's JSONL section does not explain {missing}"


def test_replay_summary_counts_numeric_markers(tmp_path):
    path = write_numeric_marker_recording(tmp_path / "codes.xdf")
    proc = _cli("replay", str(path), "--headless", "--out", str(tmp_path / "codes.jsonl"))
    assert proc.returncode == 0, proc.stderr
    summary = proc.stderr.strip().splitlines()[-1]
    assert "markers: 1 x3, 2 x1" in summary and "[SYNTHETIC recording]" in summary
    assert "warning" not in proc.stderr.lower()  # the simulator's EEG: the student's own training domain
    assert all(r["eeg_model_trained_on"] == "synthetic" for r in _records(tmp_path / "codes.jsonl"))


def test_replay_of_real_eeg_warns_once_that_the_model_saw_only_simulated_eeg(shared_data, tmp_path):
    path = shared_data / "xdf" / "eeglab_eeg32_128Hz_markers_videoidx.xdf"
    out = tmp_path / "eeglab.jsonl"
    proc = _cli("replay", str(path), "--headless", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    warnings = [i for i, line in enumerate(lines) if line.startswith("affectstream replay: warning: ")]
    assert len(warnings) == 1 and "simulated EEG" in lines[warnings[0]] and "calibrate" in lines[warnings[0]]
    assert warnings[0] < len(lines) - 1 and "[WARNING: EEG model not validated" in lines[-1]
    assert "(trained on synthetic EEG)" in lines[-1]
    records = _records(out)
    assert len(records) == 946 and all(r["eeg_model_trained_on"] == "synthetic" for r in records)


@pytest.mark.lsl
def test_two_published_replays_announce_two_affect_ids(sim_xdf):
    """A replay's Affect outlet is named after the recorded EEG stream and never takes an id already announced."""
    from affectstream.core.xdf_reader import load_recording
    from affectstream.pipelines.sessions.replay import HeadlessReplay

    rec = load_recording(sim_xdf)
    with HeadlessReplay(rec, PipelineConfig(), with_video=False, publish=True) as one, \
            HeadlessReplay(rec, PipelineConfig(), with_video=False, publish=True) as two:
        ids = [one.outputs.outlet.source_id, two.outputs.outlet.source_id]
    assert ids[0] != ids[1]
    assert all(i.startswith(f"affectstream-affect-replay-{rec.eeg.source_id}") for i in ids), ids
