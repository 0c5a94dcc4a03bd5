"""Causal per-subject normalisation of band-power features, identical in training and in the live path.

Band power differs between people (skull, electrode impedance, age) by far more than it changes with affect, so the
EEG student sees each feature z-scored against that subject's own running statistics. The statistics are causal
(an expanding mean/variance that becomes an exponential moving one after ``memory`` frames), so training on
recorded sessions and running live apply exactly the same transformation - no look-ahead that the live path could
not reproduce. Features of excluded (bad or missing) channels do not update the statistics and are given 0, the
subject's mean, which is the least informative value the student can see.
"""

from __future__ import annotations

import numpy as np

from affectstream.core.feature_layout import N_FEATURES

#: Memory of the running statistics in frames: 5 min at the 4 Hz hop. The live student and its training share it.
NORM_MEMORY_FRAMES = 1200.0


class RunningFeatureNorm:
    """Running z-score of a feature vector.

    Parameters
    ----------
    n_features : int
        Length of the feature vector (one frame, :mod:`affectstream.core.feature_layout`).
    memory : float
        Frames after which old statistics are forgotten exponentially (:data:`NORM_MEMORY_FRAMES` = 5 min at 4 Hz).
    min_count : int
        Frames a feature needs before its z-score is trusted; until then the output is 0.
    clip : float
        Output is clipped to +/- ``clip`` so one artefact cannot dominate the student's input.
    """

    def __init__(self, n_features: int = N_FEATURES, memory: float = NORM_MEMORY_FRAMES, min_count: int = 8,
                 clip: float = 5.0) -> None:
        self.memory = max(float(memory), 1.0)
        self.min_count = min_count
        self.clip = clip
        self.count = np.zeros(n_features)
        self.mean = np.zeros(n_features)
        self.var = np.zeros(n_features)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """z-score ``x`` (n_features,) against the statistics so far, then absorb it. NaN entries give 0."""
        return self.transform_sequence(np.asarray(x, dtype=np.float64).reshape(1, -1))[0]

    def transform_sequence(self, frames: np.ndarray) -> np.ndarray:
        """Apply frame by frame to (T, n_features) -> (T, n_features) float32.

        Each frame is z-scored against the statistics of the frames before it, to the last bit as one frame at a
        time. Only the counts, the mean and the variance carry over from frame to frame, so only their updates run
        frame by frame, in place on whole vectors (masked, not gathered); rates and z-scores are computed for all
        frames at once. A replay's batch of hops, or a training session, costs a few array operations per frame
        (measured: under half of what a call per frame costs).
        """
        x = np.asarray(frames, dtype=np.float64).reshape(len(frames), len(self.mean))
        ok = np.isfinite(x)
        count, delta, std, step = np.empty_like(x), np.empty_like(x), np.empty_like(x), np.empty(x.shape[1])
        before, mean, var = self.count, self.mean, self.var
        for t in range(len(x)):  # the counts too: np.cumsum down the frames took longer than this loop
            before = np.add(before, ok[t], out=count[t])
        rate = np.maximum(1.0 / np.maximum(count, 1.0), 1.0 / self.memory)
        keep = 1 - rate
        # A mask costs more than the update it guards; frames without a non-finite value (the rule) go unmasked.
        masks = [True if every else row for every, row in zip(ok.all(axis=1).tolist(), ok)]
        for t, update in enumerate(masks):
            np.sqrt(var, out=std[t])
            d = np.subtract(x[t], mean, out=delta[t])
            np.multiply(rate[t], d, out=step)
            np.add(mean, step, out=mean, where=update)
            np.multiply(step, d, out=step)  # rate * delta * delta
            np.add(var, step, out=step)
            np.multiply(keep[t], step, out=var, where=update)
        trusted = ok & (count - ok >= self.min_count) & (std > 0)
        z = np.zeros(x.shape)
        np.divide(delta, std, out=z, where=trusted)
        np.minimum(np.maximum(z, -self.clip, out=z), self.clip, out=z)  # np.clip, without its wrapper's cost
        self.count = before.copy()
        return z.astype(np.float32)

    def state(self) -> dict[str, np.ndarray]:
        """Arrays that restore this normaliser (saved in calibration profiles)."""
        return {"count": self.count.copy(), "mean": self.mean.copy(), "var": self.var.copy()}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        for key in ("count", "mean", "var"):
            value = np.asarray(state[key], dtype=np.float64)
            if value.shape != self.mean.shape:
                raise ValueError(f"normaliser state {key!r} has shape {value.shape}, expected {self.mean.shape}")
            setattr(self, key, value.copy())


def zscore_by_train(train: np.ndarray, *others: np.ndarray, separate: bool = False) -> list[np.ndarray]:
    """Z-score ``(N, D)`` arrays per feature with the training partition's mean and standard deviation.

    ``separate=True`` fits every partition on itself instead, as CMCRD's released code does with sklearn's
    ``StandardScaler`` (docs/methods.md §8 #27): it lets the test set's statistics in, so it is a switch, never the
    default. Returns ``[train, *others]`` normalised, in that order.
    """
    mu, sd = train.mean(0), train.std(0) + 1e-6
    out = [(train - mu) / sd]
    for x in others:
        m, s = (x.mean(0), x.std(0) + 1e-6) if separate else (mu, sd)
        out.append((x - m) / s)
    return out
