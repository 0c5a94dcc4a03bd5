"""Fast-dev runs (``affectstream train CONFIG --fast-dev-run``): every step of a method, at a size that only shows it
runs -- one fold, one epoch, a handful of batches.

The runner switches it on for the whole run (:func:`fast_dev_run`) and records it in the run folder; the training
loops read it here, so a method needs no code of its own for it:

- :func:`epochs` caps the epochs of the loops that own their epoch count (:func:`affectstream.models.training.loop.fit`,
  :func:`affectstream.models.training.image_loop.train`);
- :func:`limit_batches` is applied by the batch sources (:func:`affectstream.models.training.loop.batches`,
  :func:`~affectstream.models.training.loop.index_batches`, the image loop's shuffled order): epoch 0 yields its first
  :data:`FAST_DEV_BATCHES` batches and every later epoch none, so a method that runs its own epoch loop over those
  sources also trains one epoch of a handful of batches.

The switch is a context variable, not an argument, because the loops are called by every method with arguments of
their own; it is off outside :func:`fast_dev_run`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

__all__ = ["FAST_DEV_BATCHES", "active", "epochs", "fast_dev_run", "limit_batches"]

#: Batches trained in a fast-dev run (in its one epoch).
FAST_DEV_BATCHES = 3

_ACTIVE: ContextVar[bool] = ContextVar("fast_dev_run", default=False)
T = TypeVar("T")


@contextmanager
def fast_dev_run(on: bool = True) -> Iterator[None]:
    """Within this block the loops train one epoch of :data:`FAST_DEV_BATCHES` batches (when ``on``)."""
    token = _ACTIVE.set(on)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def active() -> bool:
    """Whether a fast-dev run is in progress."""
    return _ACTIVE.get()


def epochs(n: int) -> int:
    """The number of epochs a loop runs: ``n``, or one in a fast-dev run."""
    return min(n, 1) if _ACTIVE.get() else n


def limit_batches(batches: Iterable[T], epoch: int) -> Iterator[T]:
    """``batches`` of ``epoch``, or in a fast-dev run the first :data:`FAST_DEV_BATCHES` of epoch 0 and none after."""
    if not _ACTIVE.get():
        return iter(batches)
    return itertools.islice(batches, FAST_DEV_BATCHES if epoch == 0 else 0)
