"""The EEG panel's drawing helpers: peak decimation, the sweep's time axis, and stacking strips into one curve.

Kept apart from :mod:`.eeg_panel` (the panel's layout and refresh) so that each stays a readable size.
"""

from __future__ import annotations

import numpy as np

from affectstream.app.dashboard import theme


def peak_decimate(t: np.ndarray, x: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Reduce (C, n) samples to about ``2 * bins`` points per channel (min and max of each bin, in time order)."""
    n = len(t)
    factor = n // max(1, bins)
    if factor < 2:
        return t, x
    nb = n // factor
    start = n - nb * factor  # keep the newest samples aligned on bin edges
    xb = x[:, start:].reshape(x.shape[0], nb, factor)
    lo, hi = xb.min(axis=2), xb.max(axis=2)  # a non-finite sample makes its bin non-finite (drawn as a break)
    y = np.empty((x.shape[0], 2 * nb), dtype=x.dtype)
    y[:, 0::2], y[:, 1::2] = lo, hi
    tb = t[start::factor][:nb]
    return np.repeat(tb, 2), y


class EEGTimeAxis(theme.TimeAxis):
    """Session time (m:ss) when reviewing; seconds into the page while sweeping.

    The sweep's tick labels never change: relabelling the axis every second would add its strip to the frame's
    dirty region, and Qt repaints every item inside the bounding box of that region, i.e. the whole page. The
    page's session time is shown in the panel header instead.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sweeping = False

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - Qt naming
        if self.sweeping:
            return [f"{v:g} s" for v in values]
        return super().tickStrings(values, scale, spacing)

    def set_sweeping(self, sweeping: bool) -> None:
        if sweeping != self.sweeping:
            self.sweeping = sweeping
            self.picture = None  # pyqtgraph's cached tick drawing
            self.update()


def stack_segments(segments: list[tuple[np.ndarray, np.ndarray]]
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Join (x (L,), y (C, L)) segments side by side; ``connect`` (L,) is False at each segment's last point."""
    xs = np.concatenate([x for x, _ in segments])
    ys = np.concatenate([y for _, y in segments], axis=1)
    connect = np.ones(len(xs), dtype=bool)
    connect[np.cumsum([len(x) for x, _ in segments]) - 1] = False
    return xs, ys, connect
