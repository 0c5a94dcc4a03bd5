"""5x5 valence/arousal prototype bank: construction, empty-bin filling, hashing, .npz I/O, readout.

See docs/methods.md §1.2.
"""

import math

import numpy as np
import pytest
import torch

from affectstream.models.nets.prototypes import DEFAULT_CENTERS, PROTO_KD_TAU, PrototypeBank


def _flat(v_bin: int, a_bin: int) -> int:
    return v_bin * 5 + a_bin


def test_defaults():
    np.testing.assert_allclose(DEFAULT_CENTERS, [-0.8, -0.4, 0.0, 0.4, 0.8], atol=1e-7)
    assert PROTO_KD_TAU == pytest.approx(0.90)


def test_bins_means_and_normalisation():
    # Two samples in bin (v=+0.8, a=-0.8) with different norms: the prototype is the mean of the *normalised*
    # embeddings, re-normalised: norm((1,0,0) + (0,1,0)) = (1,1,0)/sqrt(2), whatever the input scales.
    emb = np.array([[10.0, 0, 0], [0, 0.1, 0], [0, 0, 3.0]])
    va = np.array([[0.95, -0.7], [0.61, -1.0], [0.0, 0.0]])
    bank = PrototypeBank.from_embeddings(emb, va)
    p = bank.prototypes.numpy()
    np.testing.assert_allclose(p[_flat(4, 0)], [1 / math.sqrt(2), 1 / math.sqrt(2), 0], atol=1e-6)
    np.testing.assert_allclose(p[_flat(2, 2)], [0, 0, 1], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-6)
    counts = bank.counts.numpy()
    assert counts[4, 0] == 2 and counts[2, 2] == 1 and counts.sum() == 3


def test_bin_edges():
    # Edges at -0.6, -0.2, 0.2, 0.6; bins are [lo, hi); values beyond +-1 land in the outer bins.
    va = np.array([[-1.5, 0.0], [-0.6, 0.0], [-0.61, 0.0], [0.2, 0.0], [0.19, 0.0], [0.6, 0.0], [1.7, 0.0]])
    bank = PrototypeBank.from_embeddings(np.eye(7), va)
    assert bank.counts[:, 2].tolist() == [2, 1, 1, 1, 2]


def test_empty_bins_filled_from_nearest():
    # Only the corners (0,0) and (4,4) are populated.
    emb = np.array([[1.0, 0.0], [0.0, 1.0]])
    va = np.array([[-0.8, -0.8], [0.8, 0.8]])
    bank = PrototypeBank.from_embeddings(emb, va)
    p, filled = bank.prototypes.numpy(), bank.filled_from.numpy()
    assert filled[_flat(0, 0)] == -1 and filled[_flat(4, 4)] == -1
    assert filled[_flat(1, 0)] == _flat(0, 0)
    np.testing.assert_allclose(p[_flat(1, 0)], [1, 0], atol=1e-6)
    assert filled[_flat(3, 4)] == _flat(4, 4)
    np.testing.assert_allclose(p[_flat(3, 4)], [0, 1], atol=1e-6)
    # (0,4) and (4,0) are equidistant from both corners: average of the two, re-normalised; lowest index noted.
    for k in (_flat(0, 4), _flat(4, 0), _flat(2, 2)):
        np.testing.assert_allclose(p[k], [1 / math.sqrt(2), 1 / math.sqrt(2)], atol=1e-6)
        assert filled[k] == _flat(0, 0)


def test_rejects_bad_input():
    with pytest.raises(ValueError):
        PrototypeBank.from_embeddings(np.zeros((0, 4)), np.zeros((0, 2)))
    with pytest.raises(ValueError):
        PrototypeBank.from_embeddings(np.zeros((3, 4)), np.zeros((3, 3)))
    with pytest.raises(ValueError):
        PrototypeBank(np.zeros((24, 4)))


def test_readout_hand_checked():
    # One-hot prototypes: an embedding equal to prototype k has cosine 1 with it and 0 with the other 24, so
    # q_k = e^(1/tau) / (e^(1/tau) + 24) and, since the 25 centres sum to zero, E[va] = c_k (q_k - (1 - q_k) / 24).
    tau = 0.9
    bank = PrototypeBank(np.eye(25, dtype=np.float32), tau=tau)
    k = _flat(4, 1)  # centre (0.8, -0.4)
    q_k = math.exp(1 / tau) / (math.exp(1 / tau) + 24)
    scale = q_k - (1 - q_k) / 24
    emb = 5.0 * torch.eye(25)[k : k + 1]  # scale is irrelevant (cosine)
    np.testing.assert_allclose(bank.probabilities(emb)[0, k].item(), q_k, rtol=1e-5)
    np.testing.assert_allclose(bank(emb)[0].numpy(), [0.8 * scale, -0.4 * scale], rtol=1e-5)
    sharp = PrototypeBank(np.eye(25, dtype=np.float32), tau=0.01)
    np.testing.assert_allclose(sharp(emb)[0].numpy(), [0.8, -0.4], atol=1e-5)
    # An embedding orthogonal to every prototype reads out the grid mean, (0, 0).
    flat = PrototypeBank(np.eye(25, 26, dtype=np.float32))
    np.testing.assert_allclose(flat(torch.eye(26)[25:]).numpy(), [[0.0, 0.0]], atol=1e-6)


def test_hash_stable_and_npz_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    emb, va = rng.normal(size=(200, 16)), rng.uniform(-1, 1, size=(200, 2))
    bank = PrototypeBank.from_embeddings(emb, va)
    again = PrototypeBank.from_embeddings(emb, va)
    assert bank.sha256() == again.sha256() and len(bank.sha256()) == 64
    other = PrototypeBank.from_embeddings(emb, va[::-1].copy())
    assert other.sha256() != bank.sha256()

    path = tmp_path / "bank.npz"
    bank.save(path)
    with np.load(path, allow_pickle=False) as z:
        assert set(z.files) == {"prototypes", "centers", "counts", "filled_from", "tau", "sha256"}
        assert z["prototypes"].dtype == np.float32 and z["prototypes"].shape == (25, 16)
    loaded = PrototypeBank.load(path)
    assert loaded.sha256() == bank.sha256()
    assert loaded.tau == pytest.approx(bank.tau)
    x = torch.randn(4, 16)
    torch.testing.assert_close(loaded(x), bank(x))
    assert PrototypeBank.load(path, tau=0.1).tau == pytest.approx(0.1)

    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["prototypes"] = arrays["prototypes"] * -1
    np.savez(tmp_path / "tampered.npz", **arrays)
    with pytest.raises(ValueError, match="sha256"):
        PrototypeBank.load(tmp_path / "tampered.npz")


def test_bank_is_frozen_buffers():
    bank = PrototypeBank.from_embeddings(np.eye(4), np.zeros((4, 2)))
    assert list(bank.parameters()) == []
    assert {"prototypes", "centers", "grid", "counts", "filled_from"} <= set(bank.state_dict())
