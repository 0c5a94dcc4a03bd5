"""The bench's own figures: the timing helper, the hostile-input refusals and the pulls on a lost stream.

What is asserted is that each figure measures what it says (every input was refused, the budget is beside it), never
how fast anything was: that is the bench's job, and a timed test would fail on a loaded machine.
"""

from __future__ import annotations

import math

import pytest

from affectstream.pipelines.bench.hostile import (
    ABSURD_RATES,
    FILE_REFUSAL_BUDGET_MS,
    RATE_REFUSAL_BUDGET_MS,
    bench_hostile,
    config_cases,
    misread_xdf_cases,
)
from affectstream.pipelines.bench.timing import median_ms


def test_median_ms_stops_after_three_calls_once_its_time_is_up():
    calls = []
    assert median_ms(lambda: calls.append(1), 100, warmup=2, max_s=0.0) >= 0.0
    assert len(calls) == 2 + 3
    calls.clear()
    median_ms(lambda: calls.append(1), 7, warmup=0)
    assert len(calls) == 7


def test_hostile_figures_time_refusals_beside_their_budgets():
    r = bench_hostile(repeats=30)
    assert r["xdf_refused"] == f"{len(misread_xdf_cases())}/{len(misread_xdf_cases())}"
    assert r["config_refused"] == f"{len(config_cases())}/{len(config_cases())}"
    assert r["rate_refused"] == f"{len(ABSURD_RATES)}/{len(ABSURD_RATES)}"
    assert r["xdf_refusal_budget_ms"] == r["config_refusal_budget_ms"] == FILE_REFUSAL_BUDGET_MS
    assert r["rate_refusal_budget_ms"] == RATE_REFUSAL_BUDGET_MS
    for group in ("xdf", "config", "rate"):
        assert 0 < r[f"{group}_refusal_ms_median"] <= r[f"{group}_refusal_ms_worst"]
        assert 0 < r[f"{group}_peak_share_of_bound_max"] <= 1.0  # the bound the hostile tests assert
    assert r["xdf_refusal_worst_input"] in misread_xdf_cases()


@pytest.mark.lsl
def test_lost_pull_figures():
    from affectstream.pipelines.bench.stream_faults import LOST_PULL_BUDGET_MS, bench_lost_pull

    r = bench_lost_pull(repeats=20)
    assert r["lost_pull_budget_ms"] == LOST_PULL_BUDGET_MS
    assert all(math.isfinite(r[k]) and r[k] >= 0 for k in ("lost_detect_pull_ms", "lost_pull_ms_median"))
    assert r["lost_pull_ms_median"] <= r["lost_pull_ms_max"]
