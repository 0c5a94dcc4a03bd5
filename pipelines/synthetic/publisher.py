"""Publish the simulator (SYNTHETIC data) as LSL streams in real time.

Outlets, each with its own ``source_id`` (``<prefix>-eeg``, ``-markers``, ``-truth``, ``-video``; the default prefix
is stable from subject and seed, so a restarted simulator is recognised as the same device):

* ``affectstream-sim-EEG`` (type ``EEG``): 32 channels in µV with labels, types and units in ``desc``, plus a
  ``SampleCounter`` channel holding each sample's index, which lets any consumer prove nothing was dropped or
  reordered;
* ``affectstream-sim-Markers`` (type ``Markers``): ``rest_start``, ``trial_start/stim_XX``, ``trial_end/stim_XX``,
  each stamped at its exact stream time;
* ``affectstream-sim-GroundTruth`` (type ``GroundTruth``): the hidden ``valence`` and ``arousal``;
* ``affectstream-sim-Video`` (type ``Video``, optional): rendered faces whose expression follows the same hidden
  state, per the project's video contract (int8 channels carrying uint8 BGR pixels, one frame per sample).

Every stream says ``synthetic=true`` in its ``desc``. Sample ``i`` is stamped ``t0 + i / srate`` on the LSL clock,
exactly, so the stream has no jitter or drift of its own; the loop pushes what is due and sleeps in between.
"""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
import threading
import time

import numpy as np

from affectstream.core.montage import MONTAGE_32
from affectstream.pipelines.synthetic.sim_config import SimulatorConfig
from affectstream.pipelines.synthetic.simulator import SessionSimulator
from affectstream.pipelines.sources.webcam_publisher import OUTLET_BUFFER_S, push_frame, video_stream_info

log = logging.getLogger(__name__)

#: Pushes per second of each regular stream (EEG chunks of ~8 samples at 256 Hz).
PUSH_RATE = 32.0


def _label_synthetic(info, config: SimulatorConfig):
    for key, value in (("synthetic", "true"), ("generator", "affectstream simulator"),
                       ("subject", config.subject_name), ("seed", str(config.seed))):
        info.desc.append_child_value(key, value)
    return info


def _info(name: str, stype: str, n_channels: int, sfreq: float, dtype: str, source_id: str, config: SimulatorConfig):
    from mne_lsl.lsl import StreamInfo

    return _label_synthetic(StreamInfo(name, stype, n_channels, sfreq, dtype, source_id), config)


def _outlets(config: SimulatorConfig, prefix: str, video: bool, counter: bool) -> dict:
    from mne_lsl.lsl import StreamOutlet

    labels = list(MONTAGE_32) + (["SampleCounter"] if counter else [])
    eeg = _info("affectstream-sim-EEG", "EEG", len(labels), config.srate, "float32", f"{prefix}-eeg", config)
    eeg.set_channel_names(labels)
    eeg.set_channel_types(["eeg"] * 32 + (["misc"] * counter))
    eeg.set_channel_units(["microvolts"] * 32 + (["none"] * counter))
    markers = _info("affectstream-sim-Markers", "Markers", 1, 0.0, "string", f"{prefix}-markers", config)
    truth = _info("affectstream-sim-GroundTruth", "GroundTruth", 2, config.truth_rate, "float32",
                  f"{prefix}-truth", config)
    truth.set_channel_names(["valence", "arousal"])
    outlets = {"eeg": StreamOutlet(eeg, chunk_size=8), "markers": StreamOutlet(markers),
               "truth": StreamOutlet(truth)}
    if video:
        h, w = config.video_size
        vinfo = video_stream_info("affectstream-sim-Video", f"{prefix}-video", w, h, config.video_fps, "simulator")
        outlets["video"] = StreamOutlet(_label_synthetic(vinfo, config), chunk_size=1, max_buffered=OUTLET_BUFFER_S)
    return outlets


def _push(outlet, data: np.ndarray, stamps: np.ndarray) -> None:
    """Push rows with their own timestamps (mne-lsl wants push_sample for a single row)."""
    if len(data) == 1:
        outlet.push_sample(data[0], timestamp=float(stamps[0]))
    else:
        outlet.push_chunk(np.ascontiguousarray(data), timestamp=stamps)


def run_simulator(config: SimulatorConfig = SimulatorConfig(), duration: float | None = None, *, video: bool = True,
                  source_prefix: str | None = None, counter: bool = True,
                  stop: threading.Event | None = None) -> None:
    """Publish the simulated session in real time until ``duration`` seconds, ``stop`` or Ctrl-C.

    Parameters
    ----------
    config : SimulatorConfig
        The session (seed, subject, rate, video size...).
    duration : float | None
        Seconds to publish; None runs until stopped.
    video : bool
        Also publish the rendered face video.
    source_prefix : str | None
        Prefix of every ``source_id`` (tests pass a unique one); default ``affectstream-sim-<subject>-s<seed>``.
    counter : bool
        Append the ``SampleCounter`` channel to the EEG stream.
    stop : threading.Event | None
        Set it to stop publishing.
    """
    from mne_lsl.lsl import local_clock

    prefix = source_prefix or f"affectstream-sim-{config.subject_name}-s{config.seed}"
    sim = SessionSimulator(config)
    outlets = _outlets(config, prefix, video, counter)
    t0 = local_clock()
    sent = {"eeg": 0, "truth": 0, "video": 0}
    marker_t = 0.0
    rates = {"eeg": config.srate, "truth": config.truth_rate, "video": config.video_fps}
    log.info("simulator publishing with source_id prefix %s", prefix)
    try:
        while not (stop is not None and stop.is_set()):
            elapsed = local_clock() - t0
            if duration is not None and elapsed >= duration:
                break
            due = {k: int(math.floor(elapsed * rate)) + 1 for k, rate in rates.items()}
            n = due["eeg"] - sent["eeg"]
            if n > 0:
                eeg, index = sim.read_eeg(n)
                if counter:
                    eeg = np.column_stack([eeg, index.astype(np.float32)])
                _push(outlets["eeg"], eeg.astype(np.float32), t0 + index / config.srate)
                sent["eeg"] = due["eeg"]
            for t_marker, text in sim.markers_between(marker_t, elapsed):
                outlets["markers"].push_sample([text], timestamp=t0 + t_marker)
            marker_t = elapsed
            k = np.arange(sent["truth"], due["truth"])
            if k.size:
                valence, arousal = sim.truth_at(k / config.truth_rate)
                _push(outlets["truth"], np.column_stack([valence, arousal]).astype(np.float32),
                      t0 + k / config.truth_rate)
                sent["truth"] = due["truth"]
            if "video" in outlets:
                # Only the newest due frame is rendered: a late frame is skipped, like a camera's would be.
                if due["video"] > sent["video"]:
                    k_frame = due["video"] - 1
                    push_frame(outlets["video"], sim.frame_at(k_frame / config.video_fps),
                               t0 + k_frame / config.video_fps)
                    sent["video"] = due["video"]
            next_push = t0 + (math.floor(elapsed * PUSH_RATE) + 1) / PUSH_RATE
            time.sleep(max(0.0, next_push - local_clock()))
    except KeyboardInterrupt:
        pass
    finally:
        outlets.clear()  # releasing the outlets closes them


def start_simulator_process(seed: int, subject: str, duration: float | None, video: bool,
                            prefix: str) -> subprocess.Popen:
    """Start ``affectstream simulate`` in a child process (its own interpreter, so it never competes for the GIL);
    its streams' ``source_id`` are ``<prefix>-eeg``, ``-markers``, ``-truth`` and ``-video``."""
    cmd = [sys.executable, "-m", "affectstream", "simulate", "--seed", str(seed), "--subject", subject,
           "--source-prefix", prefix]
    if duration is not None:
        cmd += ["--duration", str(duration)]
    if not video:
        cmd.append("--no-video")
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=os.environ.copy())


def stop_process(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """Terminate a child process, killing it if it does not exit within ``timeout``."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
