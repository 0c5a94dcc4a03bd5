"""Static 5x5 valence/arousal prototype bank of NeuroGaze-Distill (docs/methods.md §1.2) and its readout.

Construction (§1.2, [S] + [I] items exposed as arguments):

- grid: bin centres ``linspace(-0.8, 0.8, 5)`` on each axis, i.e. edges -1, -0.6, -0.2, 0.2, 0.6, 1;
- each sample is binned by its (valence, arousal) target (ground truth by default; binning by teacher
  prediction is the caller's choice of what to pass as ``va``);
- prototype = mean of the L2-normalised embeddings in the bin, re-normalised;
- an empty bin takes the prototype of the nearest non-empty bin (Euclidean distance on (row, col) bin
  indices); on a tie the tied prototypes are averaged and re-normalised.

Readout: ``s_k = cos(e, p_k)``, ``q = softmax(s / tau)`` over the 25 prototypes, and the expected (v, a) over the
grid centres ``sum_k q_k c_k``.  ``q`` is exactly the student distribution ``q_stu`` of Proto-KD (§1.4), so the
readout uses Proto-KD's temperature, ``tau = 0.90`` ([S][R], README ``proto_kd.tau``), not the README's KD
``temperature: 5.0`` nor the logit "eval temperature 1.0" of §1.5.  With cosines in [-1, 1] and tau = 0.9 the
distribution is soft, so the readout is shrunk towards the grid centre; lower ``tau`` for a sharper readout.

Layout of the ``.npz`` file (§1.2 suggestion): ``prototypes`` float32 (25, D) row-major over
(valence_bin, arousal_bin), ``centers`` float32 (5,), ``counts`` int64 (5, 5), ``filled_from`` int64 (25,)
(-1 if not filled), plus ``tau`` float32 () and ``sha256`` str (); no pickled objects.
"""

from __future__ import annotations

import hashlib
from os import PathLike

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DEFAULT_CENTERS", "PROTO_KD_TAU", "PrototypeBank"]

DEFAULT_CENTERS: np.ndarray = np.linspace(-0.8, 0.8, 5).astype(np.float32)
PROTO_KD_TAU: float = 0.90


def _l2_normalise(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def _bin_index(values: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Nearest-centre bin of each value; bins are half-open ``[lo, hi)`` between centre midpoints."""
    # Rounding removes float32 noise of the centres, so a value on a nominal edge (e.g. 0.2) always goes up.
    edges = np.round((centers[:-1].astype(np.float64) + centers[1:]) / 2.0, 6)
    return np.digitize(values, edges)


class PrototypeBank(nn.Module):
    """Frozen valence/arousal prototype bank with a cosine-softmax readout.

    Build it with :meth:`from_embeddings` or :meth:`load`; the constructor takes finished arrays.

    Parameters
    ----------
    prototypes : array_like
        ``(G * G, D)`` prototypes (unit norm from :meth:`from_embeddings`), row-major over
        (valence_bin, arousal_bin).
    centers : array_like
        ``(G,)`` bin centres shared by both axes.
    counts : array_like, optional
        ``(G, G)`` samples per bin (zeros if unknown).
    filled_from : array_like, optional
        ``(G * G,)`` flat index of the bin an empty bin was filled from (lowest index on a tie), -1 otherwise.
    tau : float
        Readout temperature (default 0.90, Proto-KD's tau; see the module docstring).

    Shapes
    ------
    - ``forward`` input: ``(B, D)`` embeddings (any norm); output ``(B, 2)`` expected ``[valence, arousal]``.
    - ``probabilities`` output: ``(B, G * G)``.

    All arrays are buffers (no parameters), so the bank stays frozen inside a trained model and is saved in
    its ``state_dict`` and ONNX graph.
    """

    prototypes: torch.Tensor
    centers: torch.Tensor
    grid: torch.Tensor
    counts: torch.Tensor
    filled_from: torch.Tensor

    def __init__(
        self,
        prototypes: np.ndarray | torch.Tensor,
        centers: np.ndarray | torch.Tensor = DEFAULT_CENTERS,
        counts: np.ndarray | torch.Tensor | None = None,
        filled_from: np.ndarray | torch.Tensor | None = None,
        tau: float = PROTO_KD_TAU,
    ):
        super().__init__()
        centers_t = torch.as_tensor(np.asarray(centers, dtype=np.float32))
        g = centers_t.numel()
        protos = torch.as_tensor(np.asarray(prototypes, dtype=np.float32))
        if protos.dim() != 2 or protos.shape[0] != g * g:
            raise ValueError(f"prototypes must be ({g * g}, D) for {g} centres, got {tuple(protos.shape)}")
        if tau <= 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        counts_t = (
            torch.zeros(g, g, dtype=torch.int64)
            if counts is None
            else torch.as_tensor(np.asarray(counts, dtype=np.int64))
        )
        filled_t = (
            torch.full((g * g,), -1, dtype=torch.int64)
            if filled_from is None
            else torch.as_tensor(np.asarray(filled_from, dtype=np.int64))
        )
        if counts_t.shape != (g, g) or filled_t.shape != (g * g,):
            raise ValueError(f"counts must be ({g}, {g}) and filled_from ({g * g},)")
        # Stored as given (normally unit-norm already) so that sha256() is stable across save/load; the readout
        # normalises, which also keeps it a true cosine if a caller passes unnormalised prototypes.
        self.register_buffer("prototypes", protos)
        self.register_buffer("centers", centers_t)
        # (G*G, 2) centre of every prototype: row-major over (valence_bin, arousal_bin).
        v, a = torch.meshgrid(centers_t, centers_t, indexing="ij")
        self.register_buffer("grid", torch.stack([v.reshape(-1), a.reshape(-1)], dim=1))
        self.register_buffer("counts", counts_t)
        self.register_buffer("filled_from", filled_t)
        self.tau = float(tau)

    @property
    def dim(self) -> int:
        """Embedding dimension D."""
        return int(self.prototypes.shape[1])

    @classmethod
    def from_embeddings(
        cls,
        embeddings: np.ndarray | torch.Tensor,
        va: np.ndarray | torch.Tensor,
        centers: np.ndarray = DEFAULT_CENTERS,
        tau: float = PROTO_KD_TAU,
    ) -> "PrototypeBank":
        """Build the bank from teacher embeddings and their (valence, arousal) in [-1, 1].

        Parameters
        ----------
        embeddings : array_like
            ``(N, D)`` teacher penultimate features (normalised here, per sample).
        va : array_like
            ``(N, 2)`` targets ``[valence, arousal]`` on the normalised scale (e.g. DREAMER ``(r - 3) / 2``);
            values beyond the outer edges fall into the outer bins.
        centers : array_like
            ``(G,)`` increasing bin centres; bins are split at the midpoints between centres.
        tau : float
            Readout temperature.

        Returns
        -------
        PrototypeBank
        """
        emb = np.asarray(torch.as_tensor(embeddings).detach().cpu(), dtype=np.float64)
        va_np = np.asarray(torch.as_tensor(va).detach().cpu(), dtype=np.float64)
        centers = np.asarray(centers, dtype=np.float32)
        if emb.ndim != 2 or va_np.shape != (emb.shape[0], 2):
            raise ValueError(f"need embeddings (N, D) and va (N, 2), got {emb.shape} and {va_np.shape}")
        if emb.shape[0] == 0:
            raise ValueError("cannot build a prototype bank from zero samples")
        g = centers.size
        flat = _bin_index(va_np[:, 0], centers) * g + _bin_index(va_np[:, 1], centers)
        sums = np.zeros((g * g, emb.shape[1]))
        np.add.at(sums, flat, _l2_normalise(emb))
        counts = np.bincount(flat, minlength=g * g)
        protos = _l2_normalise(sums)
        filled_from = np.full(g * g, -1, dtype=np.int64)
        rows, cols = np.divmod(np.arange(g * g), g)
        filled = np.flatnonzero(counts > 0)
        for k in np.flatnonzero(counts == 0):
            dist = (rows[filled] - rows[k]) ** 2 + (cols[filled] - cols[k]) ** 2
            nearest = filled[dist == dist.min()]
            protos[k] = _l2_normalise(protos[nearest].mean(axis=0))
            filled_from[k] = nearest.min()
        return cls(protos.astype(np.float32), centers, counts.reshape(g, g), filled_from, tau)

    def probabilities(self, embedding: torch.Tensor) -> torch.Tensor:
        """``softmax(cos(e, p_k) / tau)`` over the prototypes: ``(B, D) -> (B, G * G)``."""
        sims = F.normalize(embedding, dim=-1) @ F.normalize(self.prototypes, dim=-1).T
        return torch.softmax(sims / self.tau, dim=-1)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        """Expected ``[valence, arousal]`` over the grid centres: ``(B, D) -> (B, 2)``."""
        return self.probabilities(embedding) @ self.grid

    def sha256(self) -> str:
        """Hex sha256 of the bank's contents (prototypes, centres, counts, filled_from; not tau).

        Arrays are hashed as little-endian float32/int64 bytes with their shapes, so the digest is stable across
        platforms and across save/load.
        """
        h = hashlib.sha256()
        for name, dtype in (("prototypes", "<f4"), ("centers", "<f4"), ("counts", "<i8"), ("filled_from", "<i8")):
            arr = np.ascontiguousarray(getattr(self, name).detach().cpu().numpy().astype(dtype))
            h.update(f"{name}{arr.shape}".encode())
            h.update(arr.tobytes())
        return h.hexdigest()

    def save(self, path: str | PathLike[str]) -> None:
        """Write the bank as ``.npz`` (layout in the module docstring), including its ``sha256``."""
        np.savez(
            path,
            prototypes=self.prototypes.cpu().numpy(),
            centers=self.centers.cpu().numpy(),
            counts=self.counts.cpu().numpy(),
            filled_from=self.filled_from.cpu().numpy(),
            tau=np.float32(self.tau),
            sha256=np.str_(self.sha256()),
        )

    @classmethod
    def load(cls, path: str | PathLike[str], tau: float | None = None) -> "PrototypeBank":
        """Read a bank written by :meth:`save` (``allow_pickle=False``).

        Parameters
        ----------
        path : path-like
            ``.npz`` file.
        tau : float, optional
            Override the stored readout temperature.

        Raises
        ------
        ValueError
            If a stored ``sha256`` does not match the contents.
        """
        with np.load(path, allow_pickle=False) as z:
            bank = cls(
                z["prototypes"],
                z["centers"],
                z["counts"] if "counts" in z else None,
                z["filled_from"] if "filled_from" in z else None,
                float(z["tau"]) if tau is None and "tau" in z else (PROTO_KD_TAU if tau is None else tau),
            )
            stored = str(z["sha256"]) if "sha256" in z else None
        if stored is not None and stored != bank.sha256():
            raise ValueError(f"prototype bank {path}: stored sha256 {stored} != sha256 of its contents {bank.sha256()}")
        return bank
