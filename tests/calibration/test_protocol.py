"""The calibration protocol against the simulator (SYNTHETIC): timeline, self-reports, signal check, the recording,
and the refitted heads' own contract (they lower the error they are fitted on; the held-out blocks stay unseen)."""

from __future__ import annotations

import numpy as np
import pytest

from affectstream.calibration.protocol import (CalibrationConfig, sam_to_unit, signal_check, simulate_session,
                                               write_recording)

FAST = CalibrationConfig().fast()


@pytest.fixture(scope="module")
def session():
    return simulate_session("sim01", FAST)


def test_timeline_blocks_and_self_reports(session):
    lead = FAST.check_s + FAST.baseline_s
    total = lead + FAST.rest_s + FAST.n_blocks * (FAST.block_s + FAST.rest_s)
    assert session.synthetic and len(session.eeg) == int(round(total * session.sfreq))
    assert session.baseline == (FAST.check_s, lead)
    assert [b.heldout for b in session.blocks] == [False] * 18 + [True] * 6
    for b in session.blocks:
        assert b.end - b.start == FAST.block_s and 1 <= b.sam_valence <= 9 and 1 <= b.sam_arousal <= 9
        inside = (session.times >= b.start + FAST.block_s / 2) & (session.times < b.end)
        felt = session.truth[inside].mean(axis=0)  # the rating follows the planted state, within rating noise
        assert abs(sam_to_unit(b.sam_valence) - felt[0]) <= 0.6 and abs(sam_to_unit(b.sam_arousal) - felt[1]) <= 0.6
    # the baseline is rest: the planted state stays near neutral there
    rest = (session.times >= session.baseline[0]) & (session.times < session.baseline[1])
    assert np.abs(session.truth[rest]).mean() < 0.2
    assert sum(m.startswith("sam/") for _, m in session.markers) == FAST.n_blocks


def test_signal_check_flags_a_flat_and_a_noisy_channel(session):
    eeg = session.eeg.copy()
    eeg[:, 3] = 0.0
    eeg[:, 7] += np.random.default_rng(0).normal(0, 600, len(eeg)).astype(np.float32)
    fails = signal_check(eeg, session.sfreq, session.ch_names, FAST.check_s)
    assert fails == {session.ch_names[3]: "flat", session.ch_names[7]: "noisy"}
    assert signal_check(session.eeg, session.sfreq, session.ch_names, FAST.check_s) == {}


def test_the_recording_holds_eeg_markers_self_reports_and_truth(session, tmp_path):
    from affectstream.core.xdf_reader import load_recording

    rec = load_recording(write_recording(session, tmp_path / "cal.xdf"))
    assert rec.eeg.n_samples == len(session.eeg) and rec.eeg.synthetic
    labels = next(s for s in rec.streams if s.type == "Labels")
    np.testing.assert_allclose(np.asarray(labels.data)[:, 0], [sam_to_unit(b.sam_valence) for b in session.blocks])
    assert rec.marker_counts()["baseline_end"] == 1 and len(rec.ground_truth) == 1


def test_the_refitted_heads_are_the_student_with_the_ridge_added_and_never_see_the_held_out_ones(session):
    """The ``student_head`` model: its fit predicts what the exported student computes (only the heads moved), it
    fits the training blocks' reports better than the bundled heads, and the held-out ratings do not change it."""
    from affectstream.calibration.features import baseline_norm, block_targets, heldout_scores, session_features
    from affectstream.calibration.finetune import student_outputs, with_heads
    from affectstream.calibration.subject_model import BlockRidge
    from affectstream.core.feature_norm import NORM_MEMORY_FRAMES
    from affectstream.pipelines.eeg.student import load_torch_student

    features = session_features(session)
    z = features.inputs(baseline_norm(features, session, NORM_MEMORY_FRAMES))
    model = load_torch_student()
    bundled, hidden = student_outputs(model, z)
    targets = block_targets(features, session)
    ridge = BlockRidge("student_head", hidden, bundled, targets.block, targets.late & (targets.block >= 0))
    train = tuple(int(b) for b in np.flatnonzero(~targets.heldout))
    fit = ridge.fit(train, targets.ratings, 6)
    tuned = with_heads(model, fit)
    np.testing.assert_allclose(np.clip(student_outputs(tuned, z)[0], -1, 1), ridge.apply(fit), atol=1e-4)
    moved = [n for n, p in tuned.state_dict().items() if not np.array_equal(p.numpy(), model.state_dict()[n].numpy())]
    assert moved and all(n.startswith(("valence_head", "arousal_head")) for n in moved)
    rows = np.isin(targets.block, train) & targets.late
    wanted = targets.per_hop()[rows]
    assert np.mean((ridge.apply(fit)[rows] - wanted) ** 2) < np.mean((np.clip(bundled[rows], -1, 1) - wanted) ** 2)
    scrambled = targets.ratings.copy()
    scrambled[targets.heldout] = -scrambled[targets.heldout]  # other held-out reports: the same fit
    again = ridge.fit(train, scrambled, 6)
    np.testing.assert_array_equal(again.weights, fit.weights)
    assert again.lambdas == fit.lambdas
    scores = heldout_scores(ridge.apply(fit), features, session)
    assert scores["against"] == "truth" and np.isfinite(scores["ccc"]) and scores["n_hops"] > 400
