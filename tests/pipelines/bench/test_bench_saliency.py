"""``affectstream bench``'s saliency row: torch's backward pass and onnxruntime's finite differences side by side,
on the same SYNTHETIC inputs, with their agreement (the light install's version of the row is in
tests/test_light_install.py)."""

import math

import pytest

from affectstream.pipelines.bench.suite import bench_saliency

pytest.importorskip("torch")


def test_saliency_row_times_both_and_reports_their_agreement():
    row = bench_saliency(repeats=5)
    assert row["torch_backward_ms"] > 0 and row["onnx_finite_diff_ms"] > 0 and row["threads"] == 1
    assert "SYNTHETIC" in row["input"] and "torch_note" not in row
    assert 0 < row["max_diff_over_peak"] <= 0.02 and not math.isnan(row["max_diff_over_peak"])
