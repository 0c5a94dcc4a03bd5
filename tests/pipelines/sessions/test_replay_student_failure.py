"""A student that fails half-way through a replay: the later hops come from the baseline and the summary says so,
instead of claiming the student gave them all."""

from __future__ import annotations

from affectstream.pipelines.eeg.student import EEGStudentEstimator
from affectstream.pipelines.sessions.replay import replay
from affectstream.pipelines.synthetic.recording import write_simulated_recording


def test_the_summary_names_the_estimator_that_finished(tmp_path, monkeypatch):
    path = write_simulated_recording(tmp_path / "sim.xdf", 20.0, video=False)
    calls = {"n": 0}
    real = EEGStudentEstimator.step_many

    def failing(self, features, good):
        calls["n"] += 1
        if calls["n"] > 2:
            raise RuntimeError("onnxruntime: simulated failure")
        return real(self, features, good)

    monkeypatch.setattr(EEGStudentEstimator, "step_many", failing)
    estimators = []
    summary = replay(path, speed=None, on_result=lambda r: estimators.append(r.eeg.source))
    assert calls["n"] > 2 and summary.estimator == "baseline"
    assert any("failed during the replay" in note for note in summary.notes)
    assert "student" in estimators and estimators[-1] == "baseline"
