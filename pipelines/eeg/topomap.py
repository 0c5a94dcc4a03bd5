"""Scalp maps from 32 electrode values, at the cost of one small matrix product per frame.

Thin-plate-spline interpolation is linear in the electrode values, so the interpolation onto a head grid is a
fixed matrix ``W`` (grid points x electrodes) that depends only on the electrode positions. It is computed once
(``scipy.interpolate.RBFInterpolator`` applied to the identity); six band maps are then one product
``values @ W.T`` instead of an interpolator or a matplotlib contour per map and frame.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import RBFInterpolator

from affectstream.core.montage import MONTAGE_32, electrode_positions_2d

#: Radius of the drawn head circle; the grid covers [-HEAD_RADIUS, HEAD_RADIUS]^2.
HEAD_RADIUS = 1.1


class TopomapInterpolator:
    """Interpolates (n_maps, n_electrodes) values onto an (size x size) head grid.

    Parameters
    ----------
    labels : tuple of str
        Electrodes, in the order of the values.
    size : int
        Grid points per side.

    Attributes
    ----------
    positions : ndarray (n_electrodes, 2)
        Electrode positions in head units (nose up, left on the left; radius 1 at the Fp1/T7/O1 level).
    extent : tuple of float
        (x_min, x_max, y_min, y_max) of the grid, for placing the image.
    """

    def __init__(self, labels: tuple[str, ...] = MONTAGE_32, size: int = 64) -> None:
        self.labels = labels
        self.size = size
        self.positions = electrode_positions_2d(labels)
        axis = np.linspace(-HEAD_RADIUS, HEAD_RADIUS, size)
        gx, gy = np.meshgrid(axis, axis)  # row 0 = bottom (y = -R)
        points = np.column_stack([gx.ravel(), gy.ravel()])
        self.inside = (np.hypot(gx, gy) <= HEAD_RADIUS).ravel()
        interp = RBFInterpolator(self.positions, np.eye(len(labels)), kernel="thin_plate_spline")
        self.weights = interp(points[self.inside])  # (n_inside, n_electrodes)
        self.extent = (-HEAD_RADIUS, HEAD_RADIUS, -HEAD_RADIUS, HEAD_RADIUS)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """Maps for ``values`` (n_maps, n_electrodes) -> (n_maps, size, size), NaN outside the head.

        Row 0 of each map is the back of the head (y = -R); flip vertically to draw with the nose at the top in
        image (row-0-at-top) coordinates.
        """
        values = np.atleast_2d(np.asarray(values, dtype=np.float64))
        out = np.full((values.shape[0], self.size * self.size), np.nan)
        out[:, self.inside] = values @ self.weights.T
        return out.reshape(values.shape[0], self.size, self.size)
