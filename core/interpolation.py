"""Spherical-spline interpolation weights between electrode sets (Perrin et al., 1989), computed by mne.

A headset rarely measures every channel of the model montage. The channels it lacks, and those that go bad during a
session, are estimated from the measured ones as ``x_target = W @ x_source``; ``W`` depends only on the positions,
so it is computed once per electrode set (and cached) and applying it costs one small matrix product per window.

Why mne's :meth:`~mne.io.Raw.interpolate_bads` and not our own spline code: it is the reference implementation the
field uses (regularised Legendre series on the unit sphere). Its public API interpolates data, not weights, but the
interpolation is linear, so feeding it one unit impulse per source electrode returns the weight matrix column by
column, exactly.
"""

from __future__ import annotations

import functools

import numpy as np

from affectstream.core.electrodes import head_origin, template_montage, template_name


class InterpolationError(ValueError):
    """A label has no standard position, or there are too few sources to interpolate from."""


def spline_weights(sources: tuple[str, ...] | list[str], targets: tuple[str, ...] | list[str]) -> np.ndarray:
    """Weights (n_targets, n_sources) that estimate the ``targets`` from the ``sources``.

    A target that is also a source gets that source's value (an identity row). Every label must be a standard 10-05
    position (:func:`affectstream.core.electrodes.position`). The result is cached per pair of label tuples and
    read-only.

    Raises
    ------
    InterpolationError
        When a label has no standard position or ``sources`` is empty or repeats a position.
    """
    return _spline_weights(tuple(sources), tuple(targets))


@functools.lru_cache(maxsize=128)
def _spline_weights(sources: tuple[str, ...], targets: tuple[str, ...]) -> np.ndarray:
    src = [_named(label) for label in sources]
    dst = [_named(label) for label in targets]
    if not src:
        raise InterpolationError("no measured electrode to interpolate from")
    if len(set(src)) != len(src):
        raise InterpolationError(f"two sources name the same position: {', '.join(sources)}")
    weights = np.zeros((len(dst), len(src)))
    column = {name: j for j, name in enumerate(src)}
    estimated = sorted({name for name in dst if name not in column})
    if estimated:
        rows = _impulse_responses(src, estimated)
        for i, name in enumerate(dst):
            if name not in column:
                weights[i] = rows[estimated.index(name)]
    for i, name in enumerate(dst):
        if name in column:
            weights[i, column[name]] = 1.0
    weights.setflags(write=False)
    return weights


def _named(label: str) -> str:
    name = template_name(label)
    if name is None:
        raise InterpolationError(f"{label!r} is not a standard 10-05 electrode position")
    return name


def _impulse_responses(sources: list[str], targets: list[str]) -> np.ndarray:
    """(n_targets, n_sources): mne's interpolation of one unit impulse per source."""
    import mne

    names = sources + targets
    info = mne.create_info(names, 100.0, "eeg")
    info.set_montage(template_montage(), verbose="error")
    impulses = np.zeros((len(names), len(sources)))
    impulses[: len(sources)] = np.eye(len(sources))
    raw = mne.io.RawArray(impulses, info, verbose="error")
    raw.info["bads"] = list(targets)
    raw.interpolate_bads(reset_bads=True, origin=head_origin(), verbose="error")
    return raw.get_data()[len(sources):]
