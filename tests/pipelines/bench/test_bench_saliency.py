"""``affectstream bench``'s saliency row: torch's backward pass and onnxruntime's finite differences side by side,
on the same SYNTHETIC inputs, with their agreement (the light install's version of the row is in
tests/test_light_install.py)."""

import math

import numpy as np
import pytest

from affectstream.pipelines.bench.suite import bench_saliency

pytest.importorskip("torch")


def test_saliency_row_times_both_and_reports_their_agreement():
    row = bench_saliency(repeats=5)
    assert row["torch_backward_ms"] > 0 and row["onnx_finite_diff_ms"] > 0 and row["threads"] == 1
    assert "SYNTHETIC" in row["input"] and "torch_note" not in row
    assert 0 < row["max_diff_over_peak"] <= 0.02 and not math.isnan(row["max_diff_over_peak"])


def test_map_correlations_by_hand():
    from affectstream.pipelines.bench.saliency_variation import map_correlations

    a = [np.array([1.0, 2.0, 3.0])]
    b = [np.array([3.0, 2.0, 1.0]), np.array([2.0, 4.0, 6.0]), np.array([5.0, 5.0, 5.0])]  # the constant one is skipped
    np.testing.assert_allclose(map_correlations(a, b), [-1.0, 1.0])
