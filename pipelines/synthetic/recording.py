"""A simulated session written as an XDF recording, offline (SYNTHETIC data).

The streams are those the simulator publishes over LSL (:mod:`affectstream.pipelines.synthetic.publisher`), written
with :class:`~affectstream.core.xdf_writer.XDFWriter` as a live recorder would write them: the replay, calibration
and training tests and the benchmarks read such files exactly as they read a real session.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from affectstream.core.montage import MONTAGE_32
from affectstream.core.video import VIDEO_CHANNEL_FORMAT, VIDEO_TYPE, bgr_format, encode_frame
from affectstream.core.xdf_writer import XDFWriter
from affectstream.pipelines.engine import COUNTER_LABEL
from affectstream.pipelines.synthetic.sim_config import SimulatorConfig
from affectstream.pipelines.synthetic.simulator import SessionSimulator


def write_simulated_recording(path: str | Path, duration_s: float, *, config: SimulatorConfig | None = None,
                              video: bool = False, counter: bool = True, t0: float = 1000.0, flush_s: float = 1.0,
                              face_crop: int | None = None) -> Path:
    """Write a SYNTHETIC session from :class:`~.simulator.SessionSimulator` to XDF with :class:`XDFWriter`.

    Streams as the simulator publishes them: 32-ch EEG (µV, labels) + ``SampleCounter`` at ``srate``, ``Markers``,
    ``GroundTruth`` (valence, arousal at ``truth_rate``) and optionally ``Video`` (the rendered face at
    ``video_fps``, BGR, project contract); every stream says ``synthetic=true``. Sample ``i`` is stamped
    ``t0 + i / srate``; one flush per ``flush_s`` of stream time, as a live recorder would.
    ``face_crop`` keeps only the centre square of that many pixels of each frame: the renderer centres the face,
    so this is an aligned face crop, as a dataset of preprocessed face crops stores them.
    """
    config = config or SimulatorConfig()
    sim = SessionSimulator(config)
    meta = {"synthetic": "true", "generator": "affectstream simulator", "subject": config.subject_name,
            "seed": str(config.seed)}
    labels = list(MONTAGE_32) + ([COUNTER_LABEL] if counter else [])
    n_total = int(round(duration_s * config.srate))
    with XDFWriter(path, flush_interval_s=None, header={"synthetic": "true"}) as w:
        eeg = w.add_stream("affectstream-sim-EEG", "EEG", len(labels), config.srate, "float32", "sim-eeg",
                           labels=labels, units=["microvolts"] * 32 + ["none"] * counter,
                           types=["EEG"] * 32 + ["misc"] * counter, desc=meta)
        mrk = w.add_stream("affectstream-sim-Markers", "Markers", 1, 0.0, "string", "sim-markers", desc=meta)
        truth = w.add_stream("affectstream-sim-GroundTruth", "GroundTruth", 2, config.truth_rate, "float32",
                             "sim-truth", labels=["valence", "arousal"], desc=meta)
        frames = _FaceVideo(w, sim, meta, face_crop) if video else None
        block = max(1, int(round(flush_s * config.srate)))
        done = k_truth = 0
        while done < n_total:
            n = min(block, n_total - done)
            x, idx = sim.read_eeg(n)
            t_a, t_b = done / config.srate, (done + n) / config.srate
            if counter:
                x = np.column_stack([x, idx.astype(np.float32)])
            w.write(eeg, x, t0 + idx / config.srate)
            events = sim.markers_between(t_a, t_b)
            if events:
                w.write(mrk, [text for _, text in events], [t0 + t for t, _ in events])
            k_end = int(math.ceil(t_b * config.truth_rate - 1e-9))
            if k_end > k_truth:
                k = np.arange(k_truth, k_end)
                v, a = sim.truth_at(k / config.truth_rate)
                w.write(truth, np.column_stack([v, a]).astype(np.float32), t0 + k / config.truth_rate)
                k_truth = k_end
            if frames is not None:
                frames.write_until(t_b, t0)
            w.flush()
            done += n
    return Path(path)


class _FaceVideo:
    """The ``Video`` stream of a simulated recording: the rendered face, cropped to its centre when asked."""

    def __init__(self, writer: XDFWriter, sim: SessionSimulator, meta: dict[str, str],
                 face_crop: int | None) -> None:
        config = sim.config
        h, w = config.video_size if face_crop is None else (face_crop, face_crop)
        if h > config.video_size[0] or w > config.video_size[1]:
            raise ValueError(f"face_crop {face_crop} is larger than the frames {config.video_size}")
        self.rows = slice((config.video_size[0] - h) // 2, (config.video_size[0] - h) // 2 + h)
        self.cols = slice((config.video_size[1] - w) // 2, (config.video_size[1] - w) // 2 + w)
        fmt = bgr_format(w, h)
        self.writer, self.sim, self.fps = writer, sim, config.video_fps
        self.sid = writer.add_stream("affectstream-sim-Video", VIDEO_TYPE, fmt.channel_count, self.fps,
                                     VIDEO_CHANNEL_FORMAT, "sim-video", desc={**meta, **fmt.desc()})
        self.next = 0  #: index of the next frame to write

    def write_until(self, t: float, t0: float) -> None:
        """Write the frames due before stream time ``t`` (seconds from the start), stamped ``t0 + k / fps``."""
        end = int(math.ceil(t * self.fps - 1e-9))
        for k in range(self.next, end):
            frame = self.sim.frame_at(k / self.fps)[self.rows, self.cols]
            self.writer.write(self.sid, encode_frame(frame), [t0 + k / self.fps])
        self.next = max(self.next, end)
