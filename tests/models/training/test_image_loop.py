"""The image loop (models/training/image_loop.py) and what it trains on: fast checks on tiny tensors.

Augmentation shapes/determinism, one optimiser step, exact checkpoint resume (also after a kill in the middle of an
epoch), the fast-dev budget, the flip-TTA wrapper and its ONNX export, and the manifest ``input`` block against the
training preprocessing on real FER+ test images.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from affectstream.models.datasets.ferplus import load_split
from affectstream.models.deploy.export import export_onnx
from affectstream.models.deploy.runtime import make_session
from affectstream.models.training import image_loop
from affectstream.models.training.augment import (augment, random_affine, random_erasing, random_flip, random_pad_crop,
                                                  random_resized_crop)
from affectstream.models.training.checkpoint import restore_checkpoint, save_checkpoint
from affectstream.models.training.fast_dev import FAST_DEV_BATCHES, fast_dev_run
from affectstream.models.training.fer_data import input_spec, preprocess, resize
from affectstream.models.training.fer_scores import classification_metrics, fer_metrics
from affectstream.models.training.image_loop import (FlipTTA, ImageTrainConfig, build_model, config_dict, lr_at,
                                                     make_optimizer, train, train_step)

from fixtures.fer_images import synthetic_fer

# tiny and fast: 8-channel stem, fp32, contiguous
TINY = ImageTrainConfig(width_mult=0.125, embedding_dim=8, amp_bf16=False, channels_last=False, batch_size=16,
                        epochs=2, warmup_epochs=0.5, threads=1, eval_batch_size=64)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _randomise_bn(model: torch.nn.Module, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
            m.weight.data.copy_(0.5 + torch.rand(m.num_features, generator=g))
            m.bias.data.copy_(0.1 * torch.randn(m.num_features, generator=g))


# ------------------------------------------------------------------------------------------------ augmentation


@pytest.mark.parametrize("crop_mode", ["pad", "resized", "none"])
@pytest.mark.parametrize("channels", [1, 3])
def test_augment_shapes_dtype_and_determinism(crop_mode, channels):
    cfg = dataclasses.replace(ImageTrainConfig(), crop_mode=crop_mode, erase_p=0.5, affine_p=0.5)
    x = torch.randn(16, channels, 48, 48)
    a = augment(x, cfg, torch.Generator().manual_seed(3))
    b = augment(x, cfg, torch.Generator().manual_seed(3))
    c = augment(x, cfg, torch.Generator().manual_seed(4))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert torch.isfinite(a).all()


def test_pad_crop_is_a_shift():
    x = torch.arange(2 * 48 * 48, dtype=torch.float32).view(2, 1, 48, 48)
    y = random_pad_crop(x, 4, torch.Generator().manual_seed(0))
    # an integer shift with replicate padding: the centre 40x40 of the output is a contiguous window of the input
    for i in range(2):
        top_left = y[i, 0, 4, 4].item() - i * 48 * 48
        r, c = divmod(int(top_left), 48)
        torch.testing.assert_close(y[i, 0, 4:44, 4:44], x[i, 0, r : r + 40, c : c + 40])
    assert torch.equal(random_pad_crop(x, 0, torch.Generator()), x)


def test_flip_affine_erasing_edge_cases():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 1, 48, 48)
    assert torch.equal(random_flip(x, 1.0, g), x.flip(3))
    assert torch.equal(random_flip(x, 0.0, g), x)
    # identity warp: no rotation, unit scale -> the input (up to bilinear rounding at exact pixel centres)
    torch.testing.assert_close(random_affine(x, 1.0, 0.0, (1.0, 1.0), g), x, atol=1e-4, rtol=0)
    assert torch.equal(random_affine(x, 0.0, 10.0, (0.9, 1.1), g), x)
    e = random_erasing(x, 1.0, (0.1, 0.1), g, value=0.0)
    erased = (e != x).sum(dim=(1, 2, 3))
    assert ((erased > 0.05 * 48 * 48) & (erased < 0.2 * 48 * 48)).all()
    rrc = random_resized_crop(x, (1.0, 1.0), (1.0, 1.0), g)
    torch.testing.assert_close(rrc, x, atol=1e-4, rtol=0)


def test_preprocess_matches_input_spec_formula():
    for cfg in (ImageTrainConfig(), dataclasses.replace(ImageTrainConfig(), in_channels=3)):
        spec = input_spec(cfg)
        img = np.random.default_rng(0).integers(0, 256, (2, 48, 48), dtype=np.uint8)
        ref = (img[:, None].astype(np.float32) * np.float32(spec["scale"]))
        ref = np.repeat(ref, spec["channels"], 1)
        mean, std = (np.array(spec[k], np.float32)[:, None, None] for k in ("mean", "std"))
        ref = (ref - mean) / std
        np.testing.assert_allclose(preprocess(img, cfg).numpy(), ref, rtol=0, atol=1e-6)
        assert spec["layout"] == "NCHW" and spec["size"] == [48, 48] and len(spec["mean"]) == spec["channels"]


# ------------------------------------------------------------------------------------------------ optimisation


def test_lr_schedule():
    assert lr_at(0, 100, 10, 1.0, 0.01) == pytest.approx(0.1)
    assert lr_at(9, 100, 10, 1.0, 0.01) == pytest.approx(1.0)
    assert lr_at(10, 100, 10, 1.0, 0.01) == pytest.approx(1.0)
    assert lr_at(55, 100, 10, 1.0, 0.01) == pytest.approx(0.01 + 0.99 * 0.5)
    assert lr_at(100, 100, 10, 1.0, 0.01) == pytest.approx(0.01)
    lrs = [lr_at(s, 100, 10, 1.0, 0.01) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


@pytest.mark.parametrize("targets", ["soft", "hard"])
@pytest.mark.parametrize("amp", [False, True])
def test_one_step_decreases_loss(targets, amp):
    torch.manual_seed(0)
    cfg = dataclasses.replace(TINY, targets=targets, amp_bf16=amp, lr=3e-3)
    model = build_model(cfg)
    opt = make_optimizer(model, cfg)
    x = torch.randn(16, 1, 48, 48)
    soft = torch.softmax(3 * torch.randn(16, 8), dim=1)
    y = soft if targets == "soft" else soft.argmax(1)
    loss0 = train_step(model, opt, x, y, cfg)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
        logits = model(x).logits  # train mode, like the step (BN batch statistics)
    loss1 = torch.nn.functional.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing).item()
    assert math.isfinite(loss0) and loss1 < loss0


@pytest.mark.parametrize("native", [False, True])
def test_bf16_autocast_only_where_the_cpu_computes_it_natively(monkeypatch, native):
    monkeypatch.setattr(image_loop, "native_bf16", lambda: native)  # emulated bfloat16 is ~13x slower than float32
    cfg = dataclasses.replace(TINY, amp_bf16=True)
    assert cfg.bf16 is native
    assert config_dict(cfg)["precision"] == ("bfloat16" if native else "float32")
    assert not dataclasses.replace(cfg, amp_bf16=False).bf16  # never when switched off
    model = build_model(cfg)
    seen = []
    model.classifier.register_forward_hook(lambda module, inputs, out: seen.append(out.dtype))
    train_step(model, make_optimizer(model, cfg), torch.randn(4, 1, 48, 48), torch.zeros(4, dtype=torch.long), cfg)
    assert seen == [torch.bfloat16 if native else torch.float32]


def test_weight_decay_only_on_weights():
    model = build_model(TINY)
    decay, no_decay = make_optimizer(model, TINY).param_groups
    assert decay["weight_decay"] == TINY.weight_decay and no_decay["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in decay["params"]) and all(p.ndim <= 1 for p in no_decay["params"])


# ------------------------------------------------------------------------------------------------ checkpoints


def test_checkpoint_roundtrip_restores_exact_state(tmp_path):
    torch.manual_seed(0)
    cfg = TINY
    model, gen = build_model(cfg), torch.Generator().manual_seed(5)
    opt = make_optimizer(model, cfg)
    x, y = torch.randn(8, 1, 48, 48), torch.softmax(torch.randn(8, 8), 1)
    train_step(model, opt, x, y, cfg)
    save_checkpoint(tmp_path / "c.pt", model, opt, generator=gen.get_state(), epoch=1, history=[{"epoch": 1}],
                    best={"epoch": 1, "metric": 0.5}, config=config_dict(cfg))

    model2 = build_model(dataclasses.replace(cfg))
    opt2, gen2 = make_optimizer(model2, cfg), torch.Generator()
    state = restore_checkpoint(tmp_path / "c.pt", model2, opt2)  # weights_only=True inside
    gen2.set_state(state["generator"])
    assert state["epoch"] == 1 and state["history"] == [{"epoch": 1}]
    assert state["config"] == config_dict(cfg)
    for k, v in model.state_dict().items():
        assert torch.equal(v, model2.state_dict()[k]), k
    assert torch.equal(gen.get_state(), gen2.get_state())
    # continuing from either copy gives the same next step, bit for bit
    xa = augment(x, cfg, gen)
    xb = augment(x, cfg, gen2)
    assert torch.equal(xa, xb)
    train_step(model, opt, xa, y, cfg)
    train_step(model2, opt2, xb, y, cfg)
    for k, v in model.state_dict().items():
        assert torch.equal(v, model2.state_dict()[k]), k
    assert restore_checkpoint(tmp_path / "none.pt", model2, opt2) is None
    torch.save({"model": model.state_dict()}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="format"):
        restore_checkpoint(tmp_path / "other.pt", model2, opt2)


def _killed_in_epoch(monkeypatch, step: int) -> None:
    """Make the image loop's ``step``-th optimiser step raise, as a run killed there would stop."""
    calls = {"n": 0}
    real = image_loop.train_step

    def counting(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == step:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(image_loop, "train_step", counting)


def test_train_resume_equals_uninterrupted(tmp_path, monkeypatch):
    data = synthetic_fer()
    full = train(TINY, data, 0, tmp_path / "a.ckpt", progress=False)
    steps = len(data.train.images) // TINY.batch_size
    with monkeypatch.context() as m:
        _killed_in_epoch(m, steps + 2)  # in the middle of epoch 2: epoch 1's checkpoint is on disk
        with pytest.raises(KeyboardInterrupt):
            train(TINY, data, 0, tmp_path / "b.ckpt", progress=False)
    assert torch.load(tmp_path / "b.ckpt", weights_only=True)["epoch"] == 1
    resumed = train(TINY, data, 0, tmp_path / "b.ckpt", progress=False)  # picks up after epoch 1
    assert resumed.epochs_run == 2
    a = torch.load(tmp_path / "a.ckpt", weights_only=True)
    b = torch.load(tmp_path / "b.ckpt", weights_only=True)
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    assert [h["train_loss"] for h in a["history"]] == [h["train_loss"] for h in b["history"]]
    assert a["best"] == b["best"]
    for k, v in full.model.state_dict().items():  # the returned model is the best-on-valid one in both runs
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    with pytest.raises(ValueError, match="different settings"):
        train(dataclasses.replace(TINY, lr=1.0), data, 0, tmp_path / "b.ckpt", progress=False)
    with pytest.raises(ValueError, match="different settings"):
        train(TINY, data, 1, tmp_path / "b.ckpt", progress=False)  # another seed


def test_same_seed_same_weights_whatever_ran_before_and_the_callers_random_state_untouched():
    from affectstream.models.training.method import weights_sha256

    data = synthetic_fer(n_train=32, n_valid=16)
    cfg = dataclasses.replace(TINY, epochs=1)
    first = weights_sha256(train(cfg, data, 0, progress=False).model)
    torch.manual_seed(123)
    torch.rand(1000)  # another arm's draws before this one
    state = torch.get_rng_state()
    again = weights_sha256(train(cfg, data, 0, progress=False).model)
    assert again == first
    assert torch.equal(torch.get_rng_state(), state)  # an arm leaves the next arm's stream where it found it
    assert weights_sha256(train(cfg, data, 1, progress=False).model) != first  # the seed does matter


def test_fast_dev_run_trains_one_epoch_of_a_handful_of_batches(tmp_path):
    data = synthetic_fer(n_train=128)
    with fast_dev_run():
        result = train(dataclasses.replace(TINY, epochs=5), data, 0, tmp_path / "f.ckpt", progress=False)
    assert result.epochs_run == 1 and len(result.history) == 1
    state = torch.load(tmp_path / "f.ckpt", weights_only=True)
    assert all(int(s["step"]) == FAST_DEV_BATCHES for s in state["optimizer"]["state"].values())
    # the schedule is the full run's: the learning rate of the last step is that of step FAST_DEV_BATCHES - 1
    steps = 128 // TINY.batch_size
    assert result.history[0]["lr_end"] == pytest.approx(
        image_loop.scheduled_lr(FAST_DEV_BATCHES - 1, 5 * steps, int(round(0.5 * steps)), TINY))


def test_config_refuses_values_outside_their_choices():
    for bad in ({"targets": "fuzzy"}, {"crop_mode": "zoom"}, {"select_metric": "loss"}, {"in_channels": 2},
                {"mean": (0.5, 0.5)}):
        with pytest.raises(ValueError):
            dataclasses.replace(TINY, **bad).check()
    TINY.check()


# ------------------------------------------------------------------------------------------------ TTA + ONNX


def test_flip_tta_wrapper_and_onnx_parity(tmp_path):
    torch.manual_seed(0)
    model = build_model(TINY)
    _randomise_bn(model)
    model.eval()
    tta = FlipTTA(model).eval()
    x = torch.randn(3, 1, 48, 48)
    with torch.no_grad():
        ref = 0.5 * (model(x).logits + model(x.flip(3)).logits)
        torch.testing.assert_close(tta(x), ref, atol=1e-5, rtol=0)
    path = export_onnx(tta, torch.randn(2, 1, 48, 48), tmp_path / "tta.onnx", ["image"], ["logits"])
    assert not tta.training and not model.training
    sess = make_session(path, threads=1)
    for n in (1, 3, 5):  # batch stays symbolic
        xn = torch.randn(n, 1, 48, 48)
        with torch.no_grad():
            want = tta(xn).numpy()
        got = sess.run(None, {"image": xn.numpy()})[0]
        assert got.shape == (n, 8)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)


# ------------------------------------------------------------------------------------------------ metrics


def test_classification_metrics_by_hand():
    y = np.array([0, 0, 1, 1, 2])
    p = np.array([0, 1, 1, 1, 0])
    m = classification_metrics(y, p, n_classes=3)
    assert m["accuracy"] == pytest.approx(3 / 5)
    # F1: class 0 2*1/(2+2)=0.5, class 1 2*2/(2+3)=0.8, class 2 0 -> mean 1.3/3
    assert m["macro_f1"] == pytest.approx(1.3 / 3)
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]


def test_fer_metrics_protocols():
    votes = np.array([
        [8, 2, 0, 0, 0, 0, 0, 0, 0, 0],  # majority neutral
        [0, 6, 4, 0, 0, 0, 0, 0, 0, 0],  # majority happiness
        [4, 3, 3, 0, 0, 0, 0, 0, 0, 0],  # no majority, plain argmax neutral
        [0, 0, 0, 0, 0, 0, 0, 0, 6, 4],  # unknown: dropped by both
    ])
    logits = np.eye(8)[[0, 2, 0, 1]]
    m = fer_metrics(logits, votes, twin=np.array([True, False, False, False]))
    assert m["n_majority"] == 2 and m["accuracy"] == pytest.approx(0.5)
    assert m["n_plain_argmax"] == 3 and m["accuracy_plain_argmax"] == pytest.approx(2 / 3)
    assert m["n_no_train_twin"] == 1 and m["accuracy_no_train_twin"] == 0.0


# ------------------------------------------------------------------------------------------------ manifest input


def _score_with_input_block(sess, raw: np.ndarray, spec: dict) -> np.ndarray:
    """Consumer-side preprocessing written from the manifest ``input`` block only (no trainer code)."""
    import cv2

    h, w = spec["size"]
    x = np.stack([cv2.resize(im, (w, h), interpolation=cv2.INTER_LINEAR) if im.shape != (h, w) else im
                  for im in raw]).astype(np.float32)
    x = np.repeat(x[:, None], spec["channels"], axis=1) * np.float32(spec["scale"])
    mean = np.asarray(spec["mean"], np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(spec["std"], np.float32).reshape(1, -1, 1, 1)
    return sess.run(None, {spec["name"]: ((x - mean) / std).astype(np.float32)})[0]


def _real_test_images(root, n: int = 12) -> np.ndarray:
    import cv2

    names = load_split(root, "test", images=False).names[:n]
    return np.stack([cv2.imread(str(root / "FER2013Test" / name), cv2.IMREAD_GRAYSCALE) for name in names])


@pytest.mark.parametrize(("channels", "size"), [(1, 48), (3, 64)])
def test_manifest_input_block_reproduces_training_preprocessing(tmp_path, shared_data, channels, size):
    raw = _real_test_images(shared_data / "fer")
    cfg = dataclasses.replace(TINY, in_channels=channels, image_size=size)
    torch.manual_seed(0)
    model = build_model(cfg)
    _randomise_bn(model)
    tta = FlipTTA(model.eval()).eval()
    path = export_onnx(tta, preprocess(resize(raw[:2], size), cfg), tmp_path / "m.onnx", ["image"], ["logits"])
    got = _score_with_input_block(make_session(path, threads=1), raw, input_spec(cfg))
    with torch.no_grad():
        want = tta(preprocess(resize(raw, size), cfg)).numpy()  # the trainer's own path
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)


def test_bundled_visual_student_scores_with_its_input_block(shared_data):
    """The shipped model (when present) through its manifest entry only: sane accuracy on real test images."""
    from affectstream.models.datasets.ferplus import majority_labels
    from affectstream.models.deploy.manifest import ModelIntegrityError, verified_path

    try:
        path, entry = verified_path("visual_student")
    except ModelIntegrityError:
        pytest.skip("no bundled visual_student in models/weights/manifest.json")
    split = load_split(shared_data / "fer", "test", images=False)
    raw = _real_test_images(shared_data / "fer", n=200)
    logits = _score_with_input_block(make_session(path, threads=1), raw, entry["input"])
    assert logits.shape == (200, len(entry["classes"]))
    maj = majority_labels(split.votes[:200])
    keep = maj >= 0
    assert (logits.argmax(1)[keep] == maj[keep]).mean() > 0.6
