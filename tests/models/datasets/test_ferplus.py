"""FER+ loader: label protocols on a format-faithful synthetic fixture, and (if present) on the shipped data."""

import zipfile

import cv2
import numpy as np
import pytest

from affectstream.models.datasets import ferplus as fp
from affectstream.core.paths import SHARED_DATA

SHARED_FER = SHARED_DATA / "fer"

# Hand-computed expectations; columns: neutral happiness surprise sadness anger disgust fear contempt unknown NF.
CASES = [
    # votes,                          majority, argmax
    ([6, 1, 1, 0, 0, 0, 0, 0, 2, 0], 0, 0),    # 1-votes dropped: 6 of remaining 8 > 4 -> neutral
    ([0, 4, 0, 3, 0, 0, 0, 0, 3, 0], -1, 1),   # 4 of 10 is no majority (unknown counts); emotions only: 4 > 3.5
    ([1, 1, 1, 1, 1, 1, 1, 1, 1, 1], -1, 0),   # every vote is an outlier; argmax tie -> first column
    ([0, 0, 0, 0, 0, 0, 0, 0, 6, 4], -1, -1),  # unknown wins
    ([0, 0, 0, 0, 0, 0, 0, 0, 3, 7], -1, -1),  # NF wins
    ([0, 0, 0, 0, 0, 2, 0, 8, 0, 0], 7, 7),    # contempt
    ([0, 0, 0, 0, 5, 0, 0, 0, 5, 0], -1, 4),   # 5 of 10 is not > half; argmax tie with unknown -> anger
    ([1, 0, 0, 0, 0, 0, 5, 0, 1, 3], 6, 6),    # 1-votes dropped: fear 5 of 8 > 4
]


def _image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(48, 48), dtype=np.uint8)


def _png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def _label_csv(names, votes) -> str:
    return "".join(f'{n},"(0, 0, 48, 48)",{",".join(map(str, v))}\n' for n, v in zip(names, votes))


@pytest.fixture
def fer_root(tmp_path):
    """Test split as a folder, train split as a stored zip, like shared/data/fer (no header, 10 votes)."""
    votes = [c[0] for c in CASES]
    test_names = [f"fer{32220 + i:07d}.png" for i in range(len(CASES))]
    test_imgs = [_image(i) for i in range(len(CASES))]
    folder = tmp_path / "FER2013Test"
    folder.mkdir()
    (folder / "label.csv").write_text(_label_csv(test_names, votes))
    for n, img in zip(test_names, test_imgs):
        (folder / n).write_bytes(_png(img))
    # Train: 3 images, the first a pixel twin of test image 1, the last a twin of test image 5.
    train_imgs = [test_imgs[1], _image(100), test_imgs[5]]
    train_names = [f"fer{i:07d}.png" for i in range(3)]
    train_votes = [[10, 0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 10, 0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 0, 10]]
    with zipfile.ZipFile(tmp_path / "FER2013Train.zip", "w", zipfile.ZIP_STORED) as z:
        z.writestr("FER2013Train/label.csv", _label_csv(train_names, train_votes))
        for n, img in zip(train_names, train_imgs):
            z.writestr(f"FER2013Train/{n}", _png(img))
    return tmp_path, test_names, np.stack(test_imgs), np.stack(train_imgs)


def test_protocols_hand_computed():
    votes = np.array([c[0] for c in CASES])
    assert fp.majority_labels(votes).tolist() == [c[1] for c in CASES]
    assert fp.argmax_labels(votes).tolist() == [c[2] for c in CASES]
    probs = fp.vote_probabilities(votes)
    assert probs.shape == (len(CASES), 8) and probs.dtype == np.float32
    np.testing.assert_allclose(probs[0], np.array([6, 1, 1, 0, 0, 0, 0, 0]) / 8)
    np.testing.assert_allclose(probs[1], np.array([0, 4, 0, 3, 0, 0, 0, 0]) / 7)
    np.testing.assert_allclose(probs[7], np.array([1, 0, 0, 0, 0, 0, 5, 0]) / 6)
    assert not probs[3].any() and not probs[4].any()  # dropped rows are zero
    with pytest.raises(ValueError, match="10"):
        fp.majority_labels(votes[:, :8])


def test_load_folder_split(fer_root):
    root, names, test_imgs, _ = fer_root
    split = fp.load_split(root, "test")
    assert len(split) == len(CASES)
    assert split.names.tolist() == names
    assert split.images.dtype == np.uint8 and split.images.shape == (len(CASES), 48, 48)
    np.testing.assert_array_equal(split.images, test_imgs)
    np.testing.assert_array_equal(split.votes, [c[0] for c in CASES])
    assert split.boxes.tolist() == [[0, 0, 48, 48]] * len(CASES)
    assert fp.load_split(root, "test", images=False).images is None


def test_load_zip_split_and_twins(fer_root):
    root, _, test_imgs, train_imgs = fer_root
    train = fp.load_split(root, "train")
    np.testing.assert_array_equal(train.images, train_imgs)
    test = fp.load_split(root, "test")
    pairs = fp.find_pixel_twins(test.images, train.images)
    assert pairs.tolist() == [[1, 0], [5, 2]]
    # Restricted to images the majority protocol keeps: test 1 has no majority, train 2 is NF.
    kept = fp.find_pixel_twins(
        test.images, train.images, fp.majority_labels(test.votes) >= 0, fp.majority_labels(train.votes) >= 0
    )
    assert kept.shape == (0, 2)


def test_cache_roundtrip(fer_root, tmp_path):
    root = fer_root[0]
    cache = tmp_path / "cache"
    first = fp.load_split(root, "train", cache_dir=cache)
    files = list(cache.glob("ferplus-train-*.npz"))
    assert len(files) == 1
    with np.load(files[0], allow_pickle=False) as z:
        assert set(z.files) == {"names", "images"}
    np.testing.assert_array_equal(fp.load_split(root, "train", cache_dir=cache).images, first.images)
    fp.load_split(root, "test", cache_dir=cache)
    assert len(list(cache.glob("ferplus-test-*.npz"))) == 1


def test_layout_errors(fer_root, tmp_path):
    root, names, _, _ = fer_root
    with pytest.raises(FileNotFoundError, match="FER2013Valid"):
        fp.load_split(root, "valid")
    with pytest.raises(ValueError, match="split"):
        fp.load_split(root, "dev")
    (root / "FER2013Test" / names[2]).unlink()
    with pytest.raises(FileNotFoundError, match=names[2]):
        fp.load_split(root, "test")
    bad = tmp_path / "bad" / "FER2013Valid"
    bad.mkdir(parents=True)
    (bad / "label.csv").write_text("Image name,box,neutral,happiness\n")
    with pytest.raises(ValueError, match="columns"):
        fp.load_split(bad.parent, "valid")
    (bad / "label.csv").write_text(_label_csv(["a.png"], [[10] + [0] * 9]))
    (bad / "a.png").write_bytes(_png(np.zeros((64, 64), np.uint8)))
    with pytest.raises(ValueError, match="48x48"):
        fp.load_split(bad.parent, "valid")


def test_read_fer2013new(tmp_path):
    path = tmp_path / "fer2013new.csv"
    path.write_text(
        "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF\n"
        "Training,fer0000000.png,4,0,0,1,3,2,0,0,0,0\n"
        "Training,,0,0,0,0,0,0,0,0,0,10\n"
        "PrivateTest,fer0000002.png,0,10,0,0,0,0,0,0,0,0\n"
    )
    table = fp.read_fer2013new(path)
    assert table.usage.tolist() == ["Training", "Training", "PrivateTest"]
    assert table.names.tolist() == ["fer0000000.png", "", "fer0000002.png"]
    assert table.votes.shape == (3, 10) and table.votes[0].tolist() == [4, 0, 0, 1, 3, 2, 0, 0, 0, 0]
    assert fp.majority_labels(table.votes).tolist() == [-1, -1, 1]  # row 0: 4 of the remaining 9 votes
    path.write_text("emotion,pixels,Usage\n")
    with pytest.raises(ValueError, match="header"):
        fp.read_fer2013new(path)
    with pytest.raises(FileNotFoundError):
        fp.read_fer2013new(tmp_path / "missing.csv")


needs_real = pytest.mark.skipif(not (SHARED_FER / "FER2013Test").is_dir(), reason="shared/data/fer not present")


@needs_real
def test_real_protocol_counts():
    test = fp.load_split(SHARED_FER, "test", images=False)
    assert len(test) == 3573
    assert int((fp.majority_labels(test.votes) >= 0).sum()) == 3137
    assert int((fp.argmax_labels(test.votes) >= 0).sum()) == 3545
    valid = fp.load_split(SHARED_FER, "valid", images=False)
    assert int((fp.majority_labels(valid.votes) >= 0).sum()) == 3191
    assert int((fp.argmax_labels(valid.votes) >= 0).sum()) == 3555


@needs_real
def test_real_test_train_pixel_twins():
    test = fp.load_split(SHARED_FER, "test")
    train = fp.load_split(SHARED_FER, "train")
    assert len(train) == 28558
    assert np.unique(fp.find_pixel_twins(test.images, train.images)[:, 0]).size == 288
    kept = fp.find_pixel_twins(
        test.images, train.images, fp.majority_labels(test.votes) >= 0, fp.majority_labels(train.votes) >= 0
    )
    assert np.unique(kept[:, 0]).size == 232  # the target spec's number: both sides kept by the majority protocol
