"""One Affect outlet per instance (issue 16, items 3 and 4): its ``source_id`` comes from the input stream (and the
subject), stays the same across a restart, differs between instances, and its desc says what the EEG model was
trained on."""

from __future__ import annotations

import uuid

import pytest

from affectstream.pipelines.config import PipelineConfig
from affectstream.pipelines.sinks.outputs import affect_source_id

BASELINE = PipelineConfig(eeg_estimator="baseline")


def test_the_id_comes_from_the_input_and_skips_ids_taken():
    assert affect_source_id("amp-7") == "affectstream-affect-amp-7"
    assert affect_source_id("amp-7", "S03") == "affectstream-affect-amp-7-sub-S03"
    taken = {"affectstream-affect-amp-7", "affectstream-affect-amp-7-2"}
    assert affect_source_id("amp-7", taken=taken) == "affectstream-affect-amp-7-3"


def _announced(prefix: str) -> dict[str, object]:
    """The Affect streams announced for the simulator ``prefix``, by source_id, with their full info (desc)."""
    from mne_lsl.lsl import StreamInlet

    from affectstream.pipelines.sources.discovery import find_streams

    infos = {}
    for sinfo in find_streams(None, stype="Affect", timeout=10):
        if sinfo.source_id.startswith(f"affectstream-affect-{prefix}-eeg"):
            inlet = StreamInlet(sinfo)
            inlet.open_stream(timeout=5)
            infos[sinfo.source_id] = inlet.get_sinfo(timeout=5)
            inlet.close_stream()
    return infos


@pytest.mark.lsl
def test_two_sessions_on_one_headset_publish_two_streams_and_a_restart_keeps_its_id():
    from affectstream.pipelines.sessions.live import LiveSession
    from affectstream.pipelines.synthetic.publisher import start_simulator_process, stop_process

    prefix = f"test-{uuid.uuid4().hex[:10]}"
    sim = start_simulator_process(0, "sim01", 60.0, video=False, prefix=prefix)
    base = f"affectstream-affect-{prefix}-eeg"
    first = None
    try:
        first = LiveSession("EEG", source_id=f"{prefix}-eeg", config=BASELINE, resolve_timeout=20.0)
        with LiveSession("EEG", source_id=f"{prefix}-eeg", config=BASELINE, subject="S03") as subject, \
                LiveSession("EEG", source_id=f"{prefix}-eeg", config=BASELINE) as second:
            announced = _announced(prefix)
            first.close()
            with LiveSession("EEG", source_id=f"{prefix}-eeg", config=BASELINE) as restarted:
                assert restarted.affect_source_id == base  # the id the first one had: free again
    finally:
        if first is not None:
            first.close()
        stop_process(sim)
    assert (first.affect_source_id, second.affect_source_id) == (base, f"{base}-2")
    assert subject.affect_source_id == f"{base}-sub-S03"
    assert set(announced) == {base, f"{base}-2", f"{base}-sub-S03"}
    desc = announced[f"{base}-sub-S03"].desc
    # the baseline estimator is a formula, not a trained model
    assert desc.child_value("eeg_model_trained_on") == "none"
    assert desc.child_value("eeg_source_id") == f"{prefix}-eeg" and desc.child_value("subject") == "S03"
    assert announced[base].desc.child_value("subject") == ""


@pytest.mark.lsl
def test_the_run_summary_says_what_the_eeg_model_was_trained_on():
    from affectstream.pipelines.sessions.live import run_headless
    from affectstream.pipelines.synthetic.publisher import start_simulator_process, stop_process

    prefix = f"test-{uuid.uuid4().hex[:10]}"
    sim = start_simulator_process(0, "sim01", 60.0, video=False, prefix=prefix)
    try:
        student = run_headless("EEG", source_id=f"{prefix}-eeg", duration=0.5, resolve_timeout=20, publish=False)
        baseline = run_headless("EEG", source_id=f"{prefix}-eeg", duration=0.5, resolve_timeout=20, publish=False,
                                config=BASELINE)
    finally:
        stop_process(sim)
    assert student.eeg_model_trained_on == "synthetic" and student.model_warning is None  # the simulator's input
    assert baseline.eeg_model_trained_on is None and baseline.model_warning is None
