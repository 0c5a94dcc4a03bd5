"""Ring buffer and hop scheduler."""

import numpy as np
import pytest

from affectstream.pipelines.ringbuffer import RingBuffer
from affectstream.pipelines.scheduler import HopScheduler


def test_ring_buffer_wraps_and_keeps_order():
    rb = RingBuffer(10, 2)
    for start in range(0, 37, 3):
        n = 3
        data = np.arange(start, start + n, dtype=float)[:, None].repeat(2, axis=1)
        rb.push(data, np.arange(start, start + n) / 10)
    assert rb.total == 39 and len(rb) == 10
    data, times = rb.last(10)
    np.testing.assert_array_equal(data[:, 0], np.arange(29, 39))
    np.testing.assert_allclose(times, np.arange(29, 39) / 10)
    with pytest.raises(IndexError):
        rb.get(39, 11)
    with pytest.raises(IndexError):
        rb.get(20, 5)  # overwritten


def test_ring_buffer_chunk_larger_than_capacity():
    rb = RingBuffer(4, 1)
    rb.push(np.arange(10.0)[:, None], np.arange(10.0))
    assert rb.total == 10
    np.testing.assert_array_equal(rb.last(4)[0][:, 0], [6, 7, 8, 9])


def test_ring_buffer_rejects_wrong_shapes():
    rb = RingBuffer(4, 2)
    with pytest.raises(ValueError):
        rb.push(np.zeros((3, 3)), np.zeros(3))


def test_scheduler_is_independent_of_chunking():
    def stops(chunks):
        s, total, out = HopScheduler(512, 64), 0, []
        for c in chunks:
            total += c
            out += s.due(total)
        return out

    a = stops([1] * 2000)
    b = stops([7, 500, 3, 1000, 490])
    assert a == b == list(range(512, 2001, 64))


def test_scheduler_skips_and_counts_backlog_in_live_mode():
    s = HopScheduler(512, 64, max_backlog=2)
    assert s.due(512 + 64 * 9) == [512 + 64 * 8, 512 + 64 * 9]
    assert s.skipped == 8
    assert s.due(512 + 64 * 10) == [512 + 64 * 10]
