"""``affectstream bench``'s kernel-bound figures: what the efficiency means and that the feature row measures the
dataset path on a labelled SYNTHETIC trial (how fast it was is the bench's job, never a test's)."""

import math

import pytest

from affectstream.pipelines.bench.features import EFFICIENCY_BUDGET, bench_features, kernel_efficiency


def test_efficiency_is_the_fraction_of_one_kernel_call_per_hop():
    # a 0.1 ms kernel bounds a 0.25 s hop at 2500 x real time; 500 x is a fifth of that
    assert kernel_efficiency(500.0, 0.1, 0.25) == pytest.approx(0.2)
    assert kernel_efficiency(2500.0, 0.1, 0.25) == pytest.approx(1.0)


def test_feature_row_times_compute_trial_features_on_a_synthetic_trial():
    row = bench_features(kernel_ms=0.1, seconds=12.0, repeats=1)
    assert row["frames"] == 1 + (12 - 2) * 4  # 2 s windows every 0.25 s from the start
    assert row["x_realtime"] >= row["x_realtime_median"] > 0
    assert row["efficiency"] == pytest.approx(kernel_efficiency(row["x_realtime"], 0.1, 0.25))
    assert row["bound_x_realtime"] == pytest.approx(2500.0) and row["efficiency_budget"] == EFFICIENCY_BUDGET
    assert 0 < row["preprocess_share"] and math.isfinite(row["ms_per_frame"])
    assert "SYNTHETIC" in row["input"] and "32 ch at 256 Hz" in row["input"]
