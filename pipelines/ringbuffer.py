"""A bounded, timestamped sample buffer.

LSL inlets hand over chunks of arbitrary size; the hop scheduler wants "the last N samples and their timestamps".
The buffer keeps a fixed capacity (a few windows), so memory never grows with session length, and counts every
sample ever pushed so the scheduler can address samples by their absolute index in the stream.
"""

from __future__ import annotations

import numpy as np


class RingBuffer:
    """Fixed-capacity buffer of (samples, channels) with one timestamp per sample.

    Parameters
    ----------
    capacity : int
        Number of samples kept; older samples are overwritten.
    n_channels : int
        Channels per sample.
    dtype : numpy dtype
        Sample type (float32 for EEG).
    """

    def __init__(self, capacity: int, n_channels: int, dtype: np.dtype | type = np.float32) -> None:
        if capacity <= 0 or n_channels <= 0:
            raise ValueError(f"capacity and n_channels must be positive, got {capacity} and {n_channels}")
        self.capacity = int(capacity)
        self._data = np.zeros((self.capacity, n_channels), dtype=dtype)
        self._times = np.zeros(self.capacity, dtype=np.float64)
        self.total = 0  #: samples pushed since creation (the absolute index of the next sample)

    @property
    def n_channels(self) -> int:
        return self._data.shape[1]

    def __len__(self) -> int:
        return min(self.total, self.capacity)

    def push(self, data: np.ndarray, times: np.ndarray) -> None:
        """Append ``data`` (n, n_channels) with ``times`` (n,); only the newest ``capacity`` samples are kept."""
        data = np.asarray(data)
        n = data.shape[0]
        if data.ndim != 2 or data.shape[1] != self.n_channels or len(times) != n:
            raise ValueError(f"expected ({n}, {self.n_channels}) samples with {n} timestamps, got {data.shape} "
                             f"and {len(times)}")
        if n == 0:
            return
        if n > self.capacity:  # only the tail can survive
            skip = n - self.capacity
            data, times, n = data[skip:], times[skip:], self.capacity
            self.total += skip
        start = self.total % self.capacity
        first = min(n, self.capacity - start)
        self._data[start:start + first] = data[:first]
        self._times[start:start + first] = times[:first]
        if first < n:
            self._data[: n - first] = data[first:]
            self._times[: n - first] = times[first:]
        self.total += n

    def get(self, stop: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Copy of the ``n`` samples ending before absolute index ``stop``: data (n, C) and times (n,).

        Raises
        ------
        IndexError
            When the requested span has been overwritten or not yet received.
        """
        if stop > self.total or stop - n < self.total - len(self) or n > self.capacity or n <= 0:
            raise IndexError(f"samples [{stop - n}, {stop}) are not in the buffer "
                             f"(holds [{self.total - len(self)}, {self.total}))")
        idx = np.arange(stop - n, stop) % self.capacity
        return self._data[idx], self._times[idx]

    def last(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The newest ``n`` samples (see :meth:`get`)."""
        return self.get(self.total, n)
