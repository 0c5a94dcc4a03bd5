"""The per-hop steps computed for many hops at once (a replay's batches) give, to the bit, what one hop at a time
gives: the quality checks (against numpy's own per-window standard deviation, at the thresholds), the student's
running normaliser (against a scalar transcription of its update) and the baseline estimator.

All signals here are SYNTHETIC (random numbers shaped to hit the edge cases).
"""

import math

import numpy as np
import pytest

from affectstream.core.bandpower import BAND_NAMES
from affectstream.core.feature_norm import RunningFeatureNorm
from affectstream.pipelines.config import BaselineConfig, QualityConfig
from affectstream.pipelines.eeg.baseline_estimator import BaselineEstimator
from affectstream.pipelines.eeg.batches import window_view
from affectstream.pipelines.eeg.quality import FLAGS, assess_many, assess_span, reasons

N, STEP = 512, 64
ROWS = 64


def _reference_codes(windows: np.ndarray, present: np.ndarray, config: QualityConfig) -> np.ndarray:
    """The checks window by window, as the quality module defines them (numpy's std of each window)."""
    codes = np.zeros(windows.shape[:2], dtype=int)
    for i, window in enumerate(windows):
        for c, x in enumerate(window):
            safe = np.where(np.isfinite(x), x, 0.0)
            std = np.std(safe)
            failed = [not present[c], present[c] and not np.isfinite(x).all(), std < config.flat_std_uv,
                      np.mean(np.abs(safe) >= config.rail_uv) >= config.rail_fraction, std > config.noisy_std_uv]
            codes[i, c] = failed.index(True) + 1 if any(failed) else 0
    return codes


@pytest.mark.parametrize("step, k", [(STEP, 9), (STEP, 1), (63, 4), (N, 3)])
def test_quality_of_overlapping_windows_decides_as_numpy_std_at_the_thresholds(step, k):
    """Rows repeating every ``step`` samples, scaled to within a few ulps of a threshold, many on it exactly, on
    DC offsets up to 0.1 V: the block sums must hand every close call to np.std."""
    rng = np.random.default_rng(step + k)
    config = QualityConfig()
    n_times = (k - 1) * step + N
    ties = 0
    for limit in (config.flat_std_uv, config.noisy_std_uv):
        x = np.tile(rng.standard_normal((ROWS, step)), n_times // step + 1)[:, :n_times]
        x *= limit / x[:, :N].std(axis=1, keepdims=True) * (1 + rng.integers(-3, 4, (ROWS, 1)) * 2.0 ** -52)
        x += rng.choice([0.0, 3.0, 1e4, -1e5], (ROWS, 1))
        x[0, 5:9] = np.nan  # a non-finite burst, and a railed row, in the same batch
        x[1, : N // 2] = 5000.0
        present = np.ones(ROWS, dtype=bool)
        present[2] = False
        windows = window_view(x, N, step, k)
        expected = _reference_codes(windows, present, config)
        assert np.array_equal(assess_span(x, N, step, k, present, config), expected)
        ties += int((np.ascontiguousarray(windows).std(axis=-1) == limit).sum())
    assert ties > 0  # some windows sit exactly on a threshold


def test_assess_many_gives_each_window_its_reasons():
    rng = np.random.default_rng(3)
    windows = rng.standard_normal((5, 6, 256)) * 20
    windows[1, 0] = 0.0
    windows[2, 3, :40] = 4000.0
    windows[3, 4, 7] = np.inf
    windows[4, 2] *= 40
    present = np.array([True] * 5 + [False])
    expected = _reference_codes(windows, present, QualityConfig())
    results = assess_many(windows, present)
    assert [q.reason for q in results] == [reasons(row) for row in expected]
    assert np.array_equal([q.good for q in results], expected == 0)
    assert {r for q in results for r in q.reason} == {""} | set(FLAGS)  # every check fired somewhere


def _scalar_norm(frames: np.ndarray, memory: float, min_count: int = 8, clip: float = 5.0) -> np.ndarray:
    """RunningFeatureNorm's update written out one feature and one frame at a time, in Python floats."""
    count, mean, var = [0.0] * frames.shape[1], [0.0] * frames.shape[1], [0.0] * frames.shape[1]
    out = np.zeros(frames.shape, dtype=np.float32)
    for t, frame in enumerate(frames.tolist()):
        for f, x in enumerate(frame):
            if not math.isfinite(x):
                continue
            std = math.sqrt(var[f])
            if count[f] >= min_count and std > 0:
                out[t, f] = min(max((x - mean[f]) / std, -clip), clip)
            count[f] += 1
            rate = max(1.0 / max(count[f], 1.0), 1.0 / memory)
            delta = x - mean[f]
            mean[f] += rate * delta
            var[f] = (1 - rate) * (var[f] + rate * delta * delta)
    return out


@pytest.mark.parametrize("memory", [1200.0, 20.0])
def test_student_normaliser_in_batches_equals_its_update_frame_by_frame(memory):
    rng = np.random.default_rng(1)
    frames = rng.standard_normal((150, 7)) * 3 + 10
    frames[rng.random(frames.shape) < 0.1] = np.nan  # excluded channels
    frames[40:60, :3] = np.nan
    frames[70:90, 4] = 2.0  # a constant stretch: zero variance
    expected = _scalar_norm(frames, memory)
    norm = RunningFeatureNorm(7, memory=memory)
    got = np.concatenate([norm.transform_sequence(frames[i:i + 33]) for i in range(0, 150, 33)])
    assert np.array_equal(got, expected)
    one = RunningFeatureNorm(7, memory=memory)
    assert np.array_equal(np.stack([one(f) for f in frames]), expected)
    assert np.array_equal(one.count, norm.count) and np.array_equal(one.mean, norm.mean)


def test_baseline_in_batches_equals_one_hop_at_a_time():
    rng = np.random.default_rng(2)
    k = 90
    log_power = rng.standard_normal((k, 6, 32)) * 0.3 + 1.0
    good = rng.random((k, 32)) > 0.02
    good[20:30] = good[20]  # a run with one mask
    good[40:44, :8] = False  # no frontal pair
    good[50:53] = False  # nothing usable: NaN, state untouched
    log_power[~good[:, None, :].repeat(6, axis=1)] = np.nan  # as the engine hands them over
    one, many = BaselineEstimator(0.25, BaselineConfig()), BaselineEstimator(0.25, BaselineConfig())
    singles = [one.step_many(log_power[i:i + 1], good[i:i + 1])[0] for i in range(k)]
    batched = [e for i in range(0, k, 37) for e in many.step_many(log_power[i:i + 37], good[i:i + 37])]
    assert np.array_equal([(e.valence, e.arousal, e.confidence) for e in batched],
                          [(e.valence, e.arousal, e.confidence) for e in singles], equal_nan=True)
    assert all(math.isnan(e.valence) for e in batched[50:53]) and math.isfinite(batched[60].valence)
    faa, ratio, _ = many.raw_indices(log_power[:1], good[:1])  # the documented indices, for one window
    pairs = many._pairs[good[0][many._pairs].all(axis=1)]
    alpha = log_power[0, BAND_NAMES.index("alpha")]
    beta1, beta2 = (log_power[0, BAND_NAMES.index(b), good[0]] for b in ("beta1", "beta2"))
    assert faa[0] == np.mean(alpha[pairs[:, 0]] - alpha[pairs[:, 1]]) * math.log(10)
    assert ratio[0] == np.mean(np.log10(10 ** beta1 + 10 ** beta2) - alpha[good[0]]) * math.log(10)
