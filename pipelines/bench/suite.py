"""``affectstream bench``: measured figures, side by side in one run.

Every comparison runs the contenders on the same inputs in the same process, one after the other, and reports
medians over many repetitions, because these 2-core machines are noisy: a ratio measured in one run means more
than two absolute numbers measured on different days. Timed unit tests would be flaky; the budgets are checked
here instead, each printed beside its figure (``…_budget_…`` keys).
"""

from __future__ import annotations

import math
import os
import sys
import uuid

import numpy as np

from affectstream.core.bandpower import WelchBandPower, WelchConfig, reference_band_power
from affectstream.core.paths import SHARED_DATA
from affectstream.pipelines.bench.student_inputs import student_inputs
from affectstream.pipelines.bench.timing import median_ms


def _mne_band_power(x: np.ndarray, config: WelchConfig) -> np.ndarray:
    """The same features through ``mne.time_frequency.psd_array_welch`` + Simpson integration."""
    import scipy.integrate
    from mne.time_frequency import psd_array_welch

    psd, freqs = psd_array_welch(x, config.sfreq, n_fft=config.n_segment, n_per_seg=config.n_segment,
                                 n_overlap=config.n_segment - config.n_step, window="hann", verbose=False)
    out = [scipy.integrate.simpson(psd[..., (freqs >= lo) & (freqs <= hi)], x=freqs[(freqs >= lo) & (freqs <= hi)],
                                   axis=-1) for lo, hi in config.bands]
    return np.log10(np.stack(out, axis=-2))


def bench_bandpower(repeats: int = 2000, seed: int = 0) -> dict[str, float]:
    """Ours vs scipy vs mne on one 32 ch x 2 s window at 256 Hz (log band power), plus accuracy over 200 windows."""
    rng = np.random.default_rng(seed)
    config = WelchConfig(sfreq=256.0, window_s=2.0, kind="log")
    ours = WelchBandPower(config)
    x = (rng.standard_normal((32, config.n_window)) * 20).astype(np.float32)
    result = {
        "ours_ms": median_ms(lambda: ours(x), repeats),
        "scipy_ms": median_ms(lambda: reference_band_power(x, config), repeats),
        "mne_ms": median_ms(lambda: _mne_band_power(x, config), max(50, repeats // 10)),
    }
    batch = (rng.standard_normal((100, 32, config.n_window)) * 20).astype(np.float32)
    result["batch100_ours_ms_per_window"] = median_ms(lambda: ours(batch), 20, warmup=2) / 100
    result["batch100_per_window_over_single"] = result["batch100_ours_ms_per_window"] / result["ours_ms"]
    result["speedup_vs_scipy"] = result["scipy_ms"] / result["ours_ms"]
    result["speedup_vs_mne"] = result["mne_ms"] / result["ours_ms"]
    # Accuracy on realistic windows (random-walk spectra with DC offsets of up to 1e4 µV), in the power domain:
    # the log output is log10 of the absolute one, and a relative error of log values near 0 would be meaningless.
    worst = 0.0
    windows = (np.cumsum(rng.standard_normal((200, 32, config.n_window)), axis=-1) * 2
               + rng.uniform(-1e4, 1e4, (200, 32, 1))).astype(np.float32)
    for kind in ("absolute", "relative"):
        cfg = WelchConfig(sfreq=256.0, window_s=2.0, kind=kind)
        ref = reference_band_power(windows.astype(np.float64), cfg)
        got = WelchBandPower(cfg)(windows)
        worst = max(worst, float(np.max(np.abs(got - ref) / np.abs(ref))))
    result["max_rel_err"] = worst
    return result


def bench_hop(seconds: float = 30.0, video: bool = True) -> dict[str, float]:
    """End-to-end headless path on live simulated input: simulator child process -> LSL -> pipeline -> outlet.

    With ``video`` the simulator also publishes its face video and the face path runs beside the EEG path, as in
    a real session with both modalities.
    """
    from affectstream.pipelines.sessions.live import open_video_source, run_headless
    from affectstream.pipelines.synthetic.publisher import start_simulator_process, stop_process

    prefix = f"affectstream-bench-{uuid.uuid4().hex[:8]}"
    sim = start_simulator_process(0, "sim01", seconds + 30, video=video, prefix=prefix)
    try:
        source = open_video_source(video_source_id=f"{prefix}-video", timeout=20.0) if video else None
        summary = run_headless("EEG", source_id=f"{prefix}-eeg", duration=seconds, resolve_timeout=20.0,
                               video_source=source)
    finally:
        stop_process(sim)
    # The first hops include connection set-up and the initial backlog; skip the first two seconds of hops.
    lat = np.asarray(summary.latencies_ms[8:])
    return {
        "p50_ms": float(np.percentile(lat, 50)) if lat.size else math.nan,
        "p99_ms": float(np.percentile(lat, 99)) if lat.size else math.nan,
        "n": int(lat.size),
        "skipped_hops": summary.stats.skipped_hops,
        "counter_gaps": summary.stats.counter_gaps,
        "modalities": "eeg+face" if video else "eeg",
        "face_found_ratio": summary.face_found_ratio,
        "input": "SYNTHETIC simulated EEG (32 ch at 256 Hz)" + (" and 320x240 face video at 15 fps" if video else "")
                 + " over LSL",
    }


#: What the torch figures say when PyTorch is not installed (the light install).
NO_TORCH = "not measured: PyTorch is not installed (pip install 'affectstream[train]')"


def _torch_or_none():
    """``torch`` with one intra-op thread (the live path gives the student one), or None in the light install."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    return torch


def bench_eeg_student(repeats: int = 2000) -> dict[str, float | str]:
    """The bundled EEG student, one live step (1, N_FEATURES, 13): torch eager vs onnxruntime fp32, side by side."""
    from affectstream.core.feature_layout import N_FEATURES
    from affectstream.models.deploy.runtime import make_session
    from affectstream.models.deploy.manifest import verified_path

    from affectstream.pipelines.eeg.student import EEG_STUDENT

    path, entry = verified_path(EEG_STUDENT)
    x = np.random.default_rng(0).standard_normal((1, N_FEATURES, entry["input"]["frames"])).astype(np.float32)
    session = make_session(path, threads=1)
    result: dict[str, float | str] = {"onnx_ms": median_ms(lambda: session.run(None, {entry["input"]["name"]: x}),
                                                           repeats), "threads": 1}
    torch = _torch_or_none()
    if torch is None:
        return {"torch_ms": math.nan, **result, "torch_note": NO_TORCH}
    from affectstream.models.nets.eeg_tcn import EEGTCNStreaming

    from affectstream.pipelines.eeg.student import load_torch_student

    streaming = EEGTCNStreaming(load_torch_student()).eval()
    xt = torch.from_numpy(x)

    def torch_step() -> None:
        with torch.inference_mode():
            streaming(xt)

    return {"torch_ms": median_ms(torch_step, repeats), **result}


def bench_saliency(repeats: int = 200) -> dict[str, float | str]:
    """One saliency map (the dashboard computes one a second): torch autograd (one backward pass, as before the
    light install) vs onnxruntime central differences (2 x N_FEATURES inputs in one batched call), side by side on
    the same inputs, with their agreement (largest difference over the map's peak, the worst input)."""
    from affectstream.core.feature_layout import N_BANDS
    from affectstream.core.montage import MONTAGE_32
    from affectstream.pipelines.engine import EEGStreamSpec
    from affectstream.pipelines.eeg.saliency import valence_gradient
    from affectstream.pipelines.synthetic.sim_config import SimulatorConfig
    from affectstream.pipelines.synthetic.simulator import simulate

    sim = simulate(SimulatorConfig(seed=0, subject="sim13"), 60.0)  # a subject the student never saw
    spec = EEGStreamSpec(sfreq=sim.srate, n_channels=len(MONTAGE_32), labels=MONTAGE_32, synthetic=True)
    frames, student = student_inputs(spec, sim.eeg, sim.times)
    ort_ms = median_ms(lambda: valence_gradient(student.session, frames[0]), repeats, warmup=3, max_s=20.0)
    result: dict[str, float | str] = {"onnx_finite_diff_ms": ort_ms, "threads": 1,
                                      "input": f"{len(frames)} student inputs of a SYNTHETIC held-out subject"}
    torch = _torch_or_none()
    if torch is None:
        return {"torch_backward_ms": math.nan, **result, "torch_note": NO_TORCH}
    from affectstream.pipelines.eeg.student import load_torch_student

    model = load_torch_student()

    def backward(x: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(np.ascontiguousarray(x))[None].requires_grad_(True)
        model(t).valence[0, -1].backward()
        return t.grad[0].mean(dim=-1).numpy().reshape(N_BANDS, -1)

    worst = max(float(np.abs(valence_gradient(student.session, x) - g).max() / np.abs(g).max())
                for x, g in ((x, backward(x)) for x in frames))
    return {"torch_backward_ms": median_ms(lambda: backward(frames[0]), repeats, warmup=3), **result,
            "max_diff_over_peak": worst}


#: The real clip the face figures are measured on when ../shared/data is present.
PEXELS_CLIP = SHARED_DATA / "video" / "WolfgangLanger_Pexels.mp4"


def _bench_frames(size: tuple[int, int] = (480, 640)) -> tuple[list[np.ndarray], str]:
    """Frames at (h, w): the Pexels clip letterboxed to 640x480 when it exists, else rendered synthetic faces."""
    import cv2

    h, w = size
    if PEXELS_CLIP.is_file():
        cap = cv2.VideoCapture(str(PEXELS_CLIP))
        frames = []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            scale = min(w / frame.shape[1], h / frame.shape[0])
            resized = cv2.resize(frame, (round(frame.shape[1] * scale), round(frame.shape[0] * scale)))
            top, left = (h - resized.shape[0]) // 2, (w - resized.shape[1]) // 2
            frames.append(cv2.copyMakeBorder(resized, top, h - resized.shape[0] - top, left,
                                             w - resized.shape[1] - left, cv2.BORDER_CONSTANT))
        cap.release()
        return frames, f"real: {PEXELS_CLIP.name} ({len(frames)} frames) letterboxed to {w}x{h}"
    from affectstream.pipelines.synthetic.sim_config import SimulatorConfig
    from affectstream.pipelines.synthetic.simulator import SessionSimulator

    sim = SessionSimulator(SimulatorConfig(video_size=size))
    frames = [sim.frame_at(i / 15.0) for i in range(300)]
    return frames, f"SYNTHETIC rendered faces ({len(frames)} frames, {w}x{h}); the real clip was not found"


def bench_face(passes: int = 2) -> dict[str, float | str]:
    """Face path throughput on 640x480 frames: track + crop + visual student, frame after frame."""
    import time as _time

    from affectstream.pipelines.face.detect import crop_face
    from affectstream.pipelines.face.path import FacePath

    frames, source = _bench_frames()
    face = FacePath()
    detect, student, total = [], [], []
    for k in range(passes):
        face.tracker.reset()
        for i, frame in enumerate(frames):
            t0 = _time.perf_counter()
            tracked = face.tracker.update(frame)
            t1 = _time.perf_counter()
            if tracked.found and face.student is not None:
                face.student(crop_face(frame, tracked.box, size=face.student.size[0], gray=True))
            t2 = _time.perf_counter()
            detect.append(t1 - t0)
            student.append(t2 - t1)
            total.append(t2 - t0)
            face.frames += 1
            face.frames_with_face += int(tracked.found)
    return {
        "fps": float(len(total) / np.sum(total)),
        "detect_ms": float(np.median(detect) * 1e3),
        "student_ms": float(np.median(student) * 1e3) if face.student is not None else math.nan,
        "frame_ms_p95": float(np.percentile(total, 95) * 1e3),
        "face_found_ratio": face.found_ratio,
        "student": "bundled visual student" if face.student is not None else "none bundled (detection only)",
        "input": source,
    }


def run_bench(hop_seconds: float = 30.0, repeats: int = 2000, replay_minutes: float = 10.0,
              soak_minutes: float | None = None, progress: bool = False) -> dict[str, dict]:
    """All headless benchmarks (the dashboard's is added by the CLI); the keys follow the issue contracts.

    ``replay.efficiency`` and ``features.efficiency`` set the EEG-only replay and the offline feature extraction
    against the bound of this run's band-power kernel (:func:`.features.kernel_efficiency`).

    ``hostile`` (:func:`.hostile.bench_hostile`) times the refusal of pathological inputs and ``stream_faults``
    (:func:`.stream_faults.bench_stream_faults`) a lost stream's pulls and its re-attachment; both print each
    budget beside its figure. ``soak_minutes`` adds the long live run of :func:`.soak.soak` under ``"soak"``
    (``progress``: its progress bar).
    """
    from affectstream.pipelines.bench.features import EFFICIENCY_BUDGET, bench_features, kernel_efficiency
    from affectstream.pipelines.bench.hostile import bench_hostile
    from affectstream.pipelines.bench.stream_faults import bench_stream_faults
    from affectstream.pipelines.bench.replay import REPLAY_CONFIG, bench_replay
    from affectstream.pipelines.bench.saliency_variation import bench_saliency_variation

    replay, bandpower = bench_replay(replay_minutes), bench_bandpower(repeats)
    # Replay's fraction of the speed of a path that would do nothing but one band-power window per hop.
    replay["efficiency"] = kernel_efficiency(replay["eeg_only_x_realtime"], bandpower["ours_ms"], REPLAY_CONFIG.hop_s)
    replay["efficiency_budget"] = EFFICIENCY_BUDGET
    results = {
        "replay": replay,
        "bandpower": bandpower,
        "features": bench_features(bandpower["ours_ms"]),
        "eeg_student": bench_eeg_student(repeats),
        "saliency": bench_saliency(),
        "saliency_variation": bench_saliency_variation(),
        "face": bench_face(),
        "hop": bench_hop(hop_seconds),
        "hostile": bench_hostile(repeats),
        "stream_faults": bench_stream_faults(repeats),
    }
    if soak_minutes is not None:
        from affectstream.pipelines.bench.soak import soak

        results["soak"] = soak(soak_minutes, progress=progress)
    results["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    return results


def format_table(results: dict[str, dict]) -> str:
    """Human-readable table of :func:`run_bench` output."""
    lines = []
    for section, values in results.items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            lines.append(f"  {key:<30} {shown}")
    return "\n".join(lines)
