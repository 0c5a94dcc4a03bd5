"""The visual student as the app deploys it: exported to ONNX (flip TTA inside the graph), checked against torch,
scored once on FER+ test through the exported file, optionally quantised to static int8, and recorded in a
manifest (:mod:`affectstream.models.deploy.manifest`) with its provenance.

The folder is the caller's choice (the run folder unless the config names one): a training run never writes the
bundled ``models/weights`` by itself.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from affectstream.models.datasets.ferplus import find_pixel_twins
from affectstream.models.nets.visual_student import FERPLUS_CLASSES, count_parameters
from affectstream.models.training.fer_data import FerData, input_spec, preprocess
from affectstream.models.training.fer_scores import fer_metrics
from affectstream.models.training.image_loop import FlipTTA, ImageTrainConfig, LogitsOnly

__all__ = ["PARITY_TOLERANCE", "export_student", "median_latency_ms", "onnx_logits"]

#: Per-class recalls are in the report's confusion matrix; the manifest keeps the headline metrics.
_DROP = ("per_class_recall",)
#: Largest |ONNX - torch| logit difference accepted on real valid images.
PARITY_TOLERANCE = 1e-3


def onnx_logits(session, images: np.ndarray, cfg: ImageTrainConfig, batch: int = 256) -> np.ndarray:
    """Logits of uint8 ``(N, S, S)`` images through an onnxruntime session (input ``image``)."""
    name = session.get_inputs()[0].name
    out = [session.run(None, {name: preprocess(images[i : i + batch], cfg).numpy()})[0]
           for i in range(0, len(images), batch)]
    return np.concatenate(out)


def median_latency_ms(session, x: np.ndarray, runs: int = 300, warmup: int = 30) -> float:
    """Median wall time of ``session.run`` on one input, in ms."""
    name = session.get_inputs()[0].name
    for _ in range(warmup):
        session.run(None, {name: x})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        session.run(None, {name: x})
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e3)


def _export_fp32(net: torch.nn.Module, cfg: ImageTrainConfig, data: FerData, path: Path) -> float:
    """Export ``net`` to ``path``; returns the parity of the graph against torch fp32 on real valid images."""
    from affectstream.models.deploy.export import export_onnx
    from affectstream.models.deploy.runtime import make_session

    export_onnx(net, preprocess(data.valid.images[:2], cfg), path, ["image"], ["logits"])
    xs = preprocess(data.valid.images[:64], cfg)
    with torch.no_grad():
        ref = net(xs).numpy()
    parity = float(np.abs(make_session(path, threads=cfg.threads).run(None, {"image": xs.numpy()})[0] - ref).max())
    if parity > PARITY_TOLERANCE:
        raise RuntimeError(f"ONNX/torch parity {parity:.2e} > {PARITY_TOLERANCE:g}")
    return parity


def _twins(raw: np.ndarray, data: FerData) -> np.ndarray:
    """``(N,)`` bool: the images with a pixel-identical FER+ training image."""
    mask = np.zeros(len(raw), bool)
    if data.train_raw_all is not None:
        mask[np.unique(find_pixel_twins(raw, data.train_raw_all)[:, 0])] = True
    return mask


def _try_int8(fp32_path: Path, cfg: ImageTrainConfig, data: FerData, seed: int, test_fp32: dict,
              lat_fp32: float, latency_threads: int) -> tuple[dict[str, Any], dict | None]:
    """Static int8 (QDQ) calibrated on a seeded sample of 500 valid images, kept only if its test accuracy is within
    0.5 pp of fp32 and its batch-1 latency below 0.9x; returns the quantisation record and its test metrics."""
    from affectstream.models.deploy.export import quantize_static_int8
    from affectstream.models.deploy.runtime import make_session

    int8_path = fp32_path.with_name("visual_student_int8.onnx")
    calib_idx = np.random.default_rng(seed).permutation(len(data.valid.images))[:500]
    calib = [preprocess(data.valid.images[calib_idx[i : i + 50]], cfg).numpy() for i in range(0, 500, 50)]
    quantize_static_int8(fp32_path, int8_path, calib)
    q_test = fer_metrics(onnx_logits(make_session(int8_path, threads=cfg.threads), data.test.images, cfg),
                         data.test.votes, _twins(data.test.raw, data))
    one = preprocess(data.test.images[:1], cfg).numpy()
    lat_int8 = median_latency_ms(make_session(int8_path, threads=latency_threads), one)
    keep = (q_test["accuracy"] >= test_fp32["accuracy"] - 0.005) and (lat_int8 < 0.9 * lat_fp32)
    if not keep:
        int8_path.unlink(missing_ok=True)
    return {"tried": True,
            "calibration": "500 FER+ valid images (seeded sample), static QDQ, MinMax, per-channel int8 weights",
            "test_accuracy_int8": q_test["accuracy"], "test_accuracy_fp32": test_fp32["accuracy"],
            "test_macro_f1_int8": q_test["macro_f1"], "latency_ms_batch1_int8": lat_int8,
            "latency_ms_batch1_fp32": lat_fp32,
            "rule": "kept only if test accuracy within 0.5 pp of fp32 and median batch-1 latency < 0.9x fp32",
            "kept": bool(keep)}, (q_test if keep else None)


def export_student(cfg: ImageTrainConfig, model: torch.nn.Module, data: FerData, out_dir: Path,
                   record: dict[str, Any], try_int8: bool = True, latency_threads: int = 1) -> dict[str, Any]:
    """Export the trained ``model``, score valid and -- once -- test through the ONNX file, optionally quantise to
    int8, and write the manifest entries (``visual_student``, and ``visual_student_int8`` when kept) into
    ``out_dir/manifest.json``. ``record`` is the provenance the entry carries (``command``, ``training`` with its
    ``config`` and seed). Returns the ``visual_student`` entry."""
    from affectstream.models.deploy.manifest import save_entry
    from affectstream.models.deploy.runtime import make_session

    if data.test is None:
        raise ValueError("the export scores the test split: load FER+ with with_test=True")
    model = model.to(memory_format=torch.contiguous_format).float().eval()
    net = (FlipTTA(model) if cfg.tta_flip else LogitsOnly(model)).eval()  # export restores the mode it finds
    fp32_path = out_dir / "visual_student.onnx"
    parity = _export_fp32(net, cfg, data, fp32_path)
    sess = make_session(fp32_path, threads=cfg.threads)
    valid_m = fer_metrics(onnx_logits(sess, data.valid.images, cfg), data.valid.votes, _twins(data.valid.raw, data))
    test_m = fer_metrics(onnx_logits(sess, data.test.images, cfg), data.test.votes, _twins(data.test.raw, data))
    latency = {"onnxruntime_fp32": median_latency_ms(make_session(fp32_path, threads=latency_threads),
                                                     preprocess(data.test.images[:1], cfg).numpy()),
               "threads": latency_threads}
    quant, q_test = ({"tried": False}, None)
    if try_int8:
        seed = record["training"]["config"]["seed"]
        quant, q_test = _try_int8(fp32_path, cfg, data, seed, test_m, latency["onnxruntime_fp32"], latency_threads)
    entry = {**_description(cfg, model), "file": fp32_path.name,
             "metrics": {"fer_plus_test": {k: v for k, v in test_m.items() if k not in _DROP},
                         "fer_plus_valid": {**{k: v for k, v in valid_m.items() if k not in _DROP},
                                            "note": "valid selected the checkpoint (optimistic)"},
                         "latency_ms_batch1_median": latency, "onnx_torch_max_abs_diff": parity},
             "quantization": quant, **record, "short_run": True}
    manifest_path = out_dir / "manifest.json"
    save_entry("visual_student", entry, path=manifest_path)
    if q_test is not None:
        int8_metrics = {"fer_plus_test": {k: v for k, v in q_test.items() if k not in _DROP},
                        "latency_ms_batch1_median": {"onnxruntime_int8": quant["latency_ms_batch1_int8"],
                                                     "threads": latency_threads}}
        save_entry("visual_student_int8", {**entry, "file": "visual_student_int8.onnx", "metrics": int8_metrics,
                                           "quantized_from": fp32_path.name}, path=manifest_path)
    return entry


def _description(cfg: ImageTrainConfig, model: torch.nn.Module) -> dict[str, Any]:
    """What the exported graph is and how to feed it (the manifest entry's fixed part)."""
    return {
        "task": "fer_plus_8class",
        "classes": list(FERPLUS_CLASSES),
        "params": count_parameters(model),
        "architecture": (f"VisualStudent(in_channels={cfg.in_channels}, width_mult={cfg.width_mult}, "
                         f"stem_pool={cfg.stem_pool}) wrapped in "
                         + ("FlipTTA (logits averaged over x and its left-right mirror, inside the graph)"
                            if cfg.tta_flip else "a logits-only wrapper")),
        "input": input_spec(cfg),
        "outputs": {"logits": "logits"},
        "outputs_note": ("only the FER+ classifier is trained by this supervised run; the embedding and "
                         "valence/arousal heads are untrained and not exported. Class probabilities = "
                         "softmax(logits)."),
        "trained_on": "FER+ train split (real data, ../shared/data/fer)",
        "data": "real",
    }
