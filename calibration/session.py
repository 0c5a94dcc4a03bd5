"""``affectstream calibrate``: the whole calibration of one subject, from a calibration session to the saved profile.

:func:`calibrate_session` takes the session -- recorded from a live headset by the wizard (:mod:`.live`), read from
a recorded real session (``--recording``, :mod:`.recording`), or simulated by :func:`calibrate` (``--headless``, the
SYNTHETIC dry run of :func:`.protocol.simulate_session`) -- writes it into the profile folder as XDF, starts the
normaliser on the resting baseline, fits the per-subject models on the training blocks (:mod:`.subject_model`),
keeps the best of them, the uncalibrated student and the baseline estimator by a choice on the training blocks
alone, tests the kept model against chance by block permutation (:mod:`.selection`), scores every candidate on the
held-out blocks, and saves the profile (:mod:`.profiles`) with a report (JSON, markdown, PNG: :mod:`.report`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from affectstream.calibration.features import (baseline_norm, block_targets, frame_means, heldout_scores,
                                               session_features)
from affectstream.calibration.finetune import student_outputs, with_heads
from affectstream.calibration.profiles import default_use, load_profile, profile_dir, save_profile
from affectstream.calibration.protocol import CalibrationConfig, CalibrationSession, simulate_session, write_recording
from affectstream.calibration.report import chance_line, kept_line, write_report
from affectstream.calibration.selection import Candidates, SelectionConfig, permutation_test, select
from affectstream.calibration.subject_model import BlockRidge

__all__ = ["calibrate", "calibrate_session"]


def calibrate(subject: str, profiles: str | Path, config: CalibrationConfig = CalibrationConfig(), *,
              seed: int = 1, subject_kind: str = "typical", selection: SelectionConfig = SelectionConfig()
              ) -> tuple[Path, dict]:
    """The headless dry run against the simulator (SYNTHETIC subject ``subject`` of ``subject_kind``, typical or
    atypical); returns (profile, report)."""
    session = simulate_session(subject, config, seed=seed, subject_kind=subject_kind)
    folder, report = calibrate_session(session, profiles, selection=selection, config=config)
    return folder, report


def _candidates(session: CalibrationSession, features, model, memory: float):
    """The candidates over the session's hops, and the normaliser started on the baseline (the profile's)."""
    from affectstream.core.feature_layout import N_FEATURES
    from affectstream.core.feature_norm import RunningFeatureNorm
    from affectstream.pipelines.config import PipelineConfig
    from affectstream.pipelines.eeg.baseline_estimator import BaselineEstimator

    uncalibrated, _ = student_outputs(model, features.inputs(RunningFeatureNorm(N_FEATURES, memory=memory)))
    norm = baseline_norm(features, session, memory)
    profile_norm = RunningFeatureNorm(N_FEATURES, memory=memory)
    profile_norm.load_state(norm.state())  # what the live path starts from
    z = features.inputs(norm)
    bundled_heads, hidden = student_outputs(model, z)
    baseline = BaselineEstimator(PipelineConfig().hop_s).step_many(features.power, features.good)
    targets = block_targets(features, session)
    fit = targets.late & (targets.block >= 0)
    fitted = {"student_head": BlockRidge("student_head", hidden, bundled_heads, targets.block, fit),
              "band_power_ridge": BlockRidge("band_power_ridge", frame_means(z, model.receptive_field),
                                             np.zeros((len(z), 2)), targets.block, fit)}
    fixed = {"uncalibrated": np.clip(uncalibrated, -1.0, 1.0),
             "baseline": np.array([(e.valence, e.arousal) for e in baseline], dtype=np.float64)}
    return Candidates(fixed, fitted, targets), profile_norm


def calibrate_session(session: CalibrationSession, profiles: str | Path, *,
                      selection: SelectionConfig = SelectionConfig(), config: CalibrationConfig | None = None
                      ) -> tuple[Path, dict]:
    """Calibrate from a recorded session; returns the profile folder and the report."""
    from affectstream.core.montage import MONTAGE_32
    from affectstream.models.deploy.manifest import EEG_STUDENT, EEG_STUDENT_TORCH, load_manifest
    from affectstream.pipelines.eeg.student import load_torch_student

    start = time.perf_counter()
    folder = profile_dir(profiles, session.subject)
    folder.mkdir(parents=True, exist_ok=True)
    write_recording(session, folder / "calibration.xdf")  # the session as calibrated (ratings edited in the wizard)
    features = session_features(session)
    memory = float(load_manifest()["models"][EEG_STUDENT]["input"]["norm_memory"])
    model = load_torch_student()
    candidates, norm = _candidates(session, features, model, memory)
    chosen = select(candidates, candidates.targets.ratings, selection)
    chance = permutation_test(candidates, chosen, selection)
    scores = {name: heldout_scores(pred, features, session) for name, pred in chosen.predictions.items()}
    kept = {"kept": chosen.kept, "model": chosen.calibrated_model or "student_head", "chance_p": chance["p"],
            "better_than_chance": chance["better_than_chance"]}
    common = {"norm": norm, "bad_channels": session.bad_channels, "synthetic": session.synthetic,
              "montage": MONTAGE_32, "selection": kept}
    if chosen.calibrated_model == "band_power_ridge":
        save_profile(profiles, session.subject, linear=chosen.fit, **common)
    else:  # the refitted heads, or the bundled ones when too few blocks left nothing to fit
        save_profile(profiles, session.subject, model=with_heads(model, chosen.fit) if chosen.fit else model,
                     architecture=load_manifest()["models"][EEG_STUDENT_TORCH]["architecture"], **common)
    report = _report(session, chosen, chance, scores, selection, config)
    report["used_by_default"] = (notice := default_use(load_profile(profiles, session.subject))) is None
    report["default_use_notice"] = notice
    report["kept_line"], report["chance_line"] = kept_line(report), chance_line(report)
    report["seconds"] = round(time.perf_counter() - start, 1)
    write_report(folder, report, session, features, scores)
    return folder, report


def _report(session: CalibrationSession, chosen, chance: dict, scores: dict, selection: SelectionConfig,
            config: CalibrationConfig | None) -> dict:
    """``report.json``'s content (without the run time and the profile's default use)."""
    public = {name: {k: v for k, v in s.items() if k != "prediction"} for name, s in scores.items()}
    before, after = public["uncalibrated"], public[chosen.kept]
    return {"data": "synthetic" if session.synthetic else "real", "subject": session.subject,
            "against": after["against"], "heldout_blocks": sum(b.heldout for b in session.blocks),
            "blocks": len(session.blocks), "bad_channels": session.bad_channels,
            "before": before, "after": after, "kept": chosen.kept, "calibrated_model": chosen.calibrated_model,
            "gain_ccc": after["ccc"] - before["ccc"], "gain_rmse": after["rmse"] - before["rmse"],
            "chance_p": chance["p"], "better_than_chance": chance["better_than_chance"], "chance": chance,
            "candidates": public,
            "selection": {"by": "CCC against the self-reports on the training blocks (out-of-fold for the fitted "
                                "models, nested cross-validation over contiguous blocks); held-out blocks unused",
                          "training_ccc": {k: v if np.isfinite(v) else None for k, v in chosen.training_ccc.items()},
                          "penalties": None if chosen.fit is None else list(chosen.fit.lambdas),
                          "config": selection.__dict__},
            "protocol": (config or CalibrationConfig()).__dict__}

