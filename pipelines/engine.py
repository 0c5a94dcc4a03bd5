"""The one pipeline behind live runs, replay and offline evaluation.

Sources (an LSL inlet, an XDF file, the simulator) push timestamped chunks; the pipeline returns one
:class:`HopResult` per hop that became due. Nothing here reads a clock to decide *what* to compute: hops are
driven by sample counts (:mod:`.scheduler`), so the numbers depend only on the data and its timestamps, and a
replay at any speed reproduces the live run. The wall clock is read only to report latency.

Per hop (docs/architecture.md, data flow): last 2 s window -> the headset's electrodes -> per-electrode quality ->
the 32 montage channels (measured, or interpolated from the good electrodes) -> average re-reference -> optional
band-pass -> Welch band power (6 bands x 32 channels) -> EEG estimator -> fusion.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from affectstream.core.bandpower import WelchBandPower, WelchConfig
from affectstream.pipelines.eeg.baseline_estimator import BaselineEstimator
from affectstream.pipelines.config import PipelineConfig
from affectstream.pipelines.face.path import FacePath, FaceResult
from affectstream.pipelines.fusion import FusedEstimate, ModalityEstimate, fuse
from affectstream.core.montage import ChannelMapping, canonical_label
from affectstream.pipelines.eeg.montage_input import MontageProjector, stream_mapping
from affectstream.pipelines.eeg.preprocess import average_reference, bandpass
from affectstream.pipelines.eeg.batches import runs, window_view
from affectstream.pipelines.eeg.quality import assess_span, reasons
from affectstream.pipelines.ringbuffer import RingBuffer
from affectstream.pipelines.scheduler import HopScheduler

log = logging.getLogger(__name__)

#: Largest counter step read as lost samples (float32 counts exactly up to 2**24; see ``_check_counter``).
_MAX_COUNTER_STEP = float(2 ** 24)

#: A modality with nothing to say (immutable, so every hop without a face shares it).
_NO_ESTIMATE = ModalityEstimate()

#: Label of the test/simulator channel that carries the running sample index (proves nothing was dropped).
COUNTER_LABEL = "SampleCounter"


#: Highest nominal EEG rate accepted. The band-power set-up grows with the square of the samples in a Welch
#: segment (~100 MB at 5 kHz, 1.6 GB at 20 kHz, 18 GiB at 100 kHz), so a stream header that merely *declares* an
#: absurd rate would otherwise make the pipeline allocate without bound. 5 kHz covers the usual EEG amplifier
#: settings; faster recordings need resampling first (the features stop at 45 Hz).
MAX_EEG_RATE = 5000.0


class StreamFormatError(ValueError):
    """The stream's shape or metadata cannot be processed (wrong channel count, bad rate, ...)."""


@dataclass(frozen=True)
class EEGStreamSpec:
    """What the pipeline needs to know about an EEG stream, whatever its source.

    Attributes
    ----------
    sfreq : float
        Nominal sampling rate in Hz.
    n_channels : int
        Channels per sample, counter and auxiliary channels included.
    labels : tuple of str | None
        Channel labels as declared by the stream, or None.
    name, source_id, hostname : str
        Identity of the stream, shown in the status and written to the output.
    synthetic : bool
        True when the stream declares itself simulated; every output then says so.
    """

    sfreq: float
    n_channels: int
    labels: tuple[str, ...] | None = None
    name: str = ""
    source_id: str = ""
    hostname: str = ""
    synthetic: bool = False


@dataclass
class HopResult:
    """One hop's estimates, qualities and bookkeeping.

    ``features`` (6, 32), ``good`` (32,: the channels with values, measured or interpolated) and ``measured`` (32,:
    the good channels the headset measures itself) stay in memory for the dashboard and saliency; :meth:`to_json`
    gives the JSONL/outlet record (NaN written as null), with ``face_age_s``: how old the frame paired with the hop
    was (null when none was, within the face path's ``max_age_s``), which tells a fresh face from a stalled video.
    """

    t: float
    valence: float
    arousal: float
    confidence: float
    status: str
    eeg: ModalityEstimate
    quality_eeg: float
    bad_channels: dict[str, str]
    features: np.ndarray
    good: np.ndarray
    synthetic: bool
    received_at: float | None = None
    latency_ms: float = math.nan
    face: ModalityEstimate = field(default_factory=ModalityEstimate)
    face_result: FaceResult | None = None  #: the frame paired with this hop, when a face path runs
    saliency: np.ndarray | None = None  #: (6, 32) jointly normalised, on the hops where it was computed
    eeg_model_trained_on: str | None = None  #: see :attr:`AffectPipeline.eeg_model_trained_on`
    measured: np.ndarray | None = None  #: (32,) good channels the headset measures (None: same as ``good``)

    def to_json(self) -> dict[str, Any]:
        def num(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        return {
            "t": self.t,
            "valence": num(self.valence),
            "arousal": num(self.arousal),
            "valence_eeg": num(self.eeg.valence),
            "arousal_eeg": num(self.eeg.arousal),
            "valence_face": num(self.face.valence),
            "arousal_face": num(self.face.arousal),
            "confidence": num(self.confidence),
            "quality_eeg": num(self.quality_eeg),
            "estimator_eeg": self.eeg.source,
            "eeg_model_trained_on": self.eeg_model_trained_on,
            "status": self.status,
            "bad_channels": self.bad_channels,
            "latency_ms": num(self.latency_ms),
            "synthetic": self.synthetic,
            **(self.face_result.to_json() if self.face_result is not None
               else {"face_found": False, "face_score": 0.0, "emotion": None}),
            "face_age_s": round(self.t - self.face_result.t, 4) if self.face_result is not None else None,
        }


@dataclass
class StreamStats:
    """Counters the status bar and the tests read."""

    samples: int = 0
    hops: int = 0
    skipped_hops: int = 0
    counter_gaps: int = 0  #: samples missing according to the counter channel
    counter_reorders: int = 0  #: times the counter went backwards or repeated
    nonfinite_samples: int = 0


class AffectPipeline:
    """Turns timestamped EEG chunks into per-hop affect estimates.

    Parameters
    ----------
    eeg : EEGStreamSpec
        The EEG stream (rate, channel count, labels).
    config : PipelineConfig
        Window, hop, preprocessing, quality and estimator settings.
    live : bool
        Live runs skip hops when they fall behind (bounded latency); replay and evaluation process every hop.
    face : FacePath | None
        The face path, when a video source is attached; frames go in through :meth:`push_video`.
    student : EEGStudentEstimator | None
        A student loaded elsewhere (another manifest's, for comparisons), instead of the one ``config`` names.

    Raises
    ------
    StreamFormatError
        When the stream's rate or channels cannot be used (the message says why).
    """

    def __init__(self, eeg: EEGStreamSpec, config: PipelineConfig = PipelineConfig(), *, live: bool = False,
                 face: FacePath | None = None, student=None) -> None:
        if not (math.isfinite(eeg.sfreq) and eeg.sfreq > 0):
            raise StreamFormatError(f"EEG stream {eeg.name!r} declares a sampling rate of {eeg.sfreq} Hz; "
                                    "a regular, positive rate is needed")
        if eeg.sfreq > MAX_EEG_RATE:
            raise StreamFormatError(f"EEG stream {eeg.name!r} declares a sampling rate of {eeg.sfreq:g} Hz, above the "
                                    f"{MAX_EEG_RATE:g} Hz this pipeline accepts; resample the recording first")
        if config.bandpass is not None and not 0 < config.bandpass[0] < config.bandpass[1] < eeg.sfreq / 2:
            # Checked here, where the rate is known: the filter would otherwise fail inside the first hop.
            raise StreamFormatError(f"EEG stream {eeg.name!r} at {eeg.sfreq:g} Hz: the configured bandpass "
                                    f"{config.bandpass[0]:g}-{config.bandpass[1]:g} Hz is not inside "
                                    f"(0, {eeg.sfreq / 2:g}) Hz")
        try:
            self.mapping: ChannelMapping = stream_mapping(eeg.labels, eeg.n_channels, config.montage)
            self.projector = MontageProjector(self.mapping)
        except ValueError as exc:
            raise StreamFormatError(f"EEG stream {eeg.name!r}: {exc}") from None
        self.spec = eeg
        self.config = config
        try:
            self.welch = WelchBandPower(WelchConfig(sfreq=eeg.sfreq, window_s=config.window_s, kind="log"))
        except ValueError as exc:
            raise StreamFormatError(f"EEG stream {eeg.name!r}: {exc}") from None
        self.n_window = self.welch.config.n_window
        self.n_hop = max(1, int(round(config.hop_s * eeg.sfreq)))
        self.hop_s = self.n_hop / eeg.sfreq
        backlog = config.max_backlog_hops if live else None
        self.scheduler = HopScheduler(self.n_window, self.n_hop, backlog)
        # Live: a few hops of slack. Replay: room for the 64 hops a replay feeds at a time, computed in one batch
        # (32 per batch cost 5 % more time per hop).
        capacity = self.n_window + self.n_hop * (config.max_backlog_hops + 4 if live else 64)
        self.buffer = RingBuffer(capacity, eeg.n_channels)
        self.face = face
        self.baseline = BaselineEstimator(self.hop_s, config.baseline)
        self.student = student if student is not None else self._load_student(config)
        self.saliency = self._saliency_tracker(config) if self.student is not None else None
        labels = eeg.labels or ()
        keys = [canonical_label(lab) for lab in labels]
        self._counter_col = keys.index(canonical_label(COUNTER_LABEL)) if canonical_label(COUNTER_LABEL) in keys \
            else None
        self._last_counter: float | None = None
        self._flags: dict[bytes, dict[str, str]] = {}
        self.stats = StreamStats()

    @staticmethod
    def _load_student(config: PipelineConfig):
        if config.eeg_estimator == "baseline":
            return None
        from affectstream.models.deploy.manifest import ModelIntegrityError

        from affectstream.pipelines.eeg.student import EEGStudentEstimator

        try:
            if config.profile is not None:
                return EEGStudentEstimator.from_profile(config.profile, config.device)
            return EEGStudentEstimator.from_manifest(config.device)
        except ModelIntegrityError as exc:
            if config.eeg_estimator == "student":
                raise StreamFormatError(f"the EEG student cannot be used: {exc}") from None
            log.warning("EEG student unavailable (%s); using the baseline estimator", exc)
            return None

    def _saliency_tracker(self, config: PipelineConfig):
        """Saliency on the student's own onnxruntime session: a subject's profile is explained by its own weights."""
        if config.saliency_every_hops <= 0:
            return None
        from affectstream.pipelines.eeg.saliency import SaliencyTracker

        return SaliencyTracker(self.student.session, every=config.saliency_every_hops, kind=config.saliency_kind)

    @property
    def estimator_name(self) -> str:
        """The EEG estimator in use: ``student`` or ``baseline``."""
        return "student" if self.student is not None else "baseline"

    @property
    def eeg_model_trained_on(self) -> str | None:
        """What the EEG student was trained on (``synthetic``, ``real`` or ``subject``); None for the baseline,
        which is a fixed formula, not a trained model."""
        return self.student.trained_on if self.student is not None else None

    @property
    def model_warning(self) -> str | None:
        """Why the EEG numbers must not be read as a validated measure, or None.

        A student trained on the simulator alone has never seen real EEG; on a stream that is not the simulator its
        output is a demonstration, and only a calibration on this subject makes it meaningful.
        """
        if self.eeg_model_trained_on != "synthetic" or self.spec.synthetic:
            return None
        return (f"the EEG student was trained on simulated EEG only; its estimates on {self.spec.name!r} (not the "
                "simulator) are not validated: calibrate it on this subject (`affectstream calibrate --subject ID`)")

    def push_eeg(self, data: np.ndarray, timestamps: np.ndarray, received_at: float | None = None) -> list[HopResult]:
        """Feed a chunk (n_samples, n_channels) with its timestamps; returns the hops it completed.

        ``received_at`` is the ``time.perf_counter()`` at which the chunk was received (for latency).
        """
        data = np.asarray(data, dtype=np.float32)
        timestamps = np.asarray(timestamps, dtype=np.float64)
        if data.ndim != 2 or data.shape[1] != self.spec.n_channels:
            raise StreamFormatError(
                f"EEG stream {self.spec.name!r} declared {self.spec.n_channels} channels but a chunk of shape "
                f"{data.shape} arrived"
            )
        if data.shape[0] == 0:
            return []
        self._check_counter(data)
        self.stats.samples += data.shape[0]
        self.stats.nonfinite_samples += int((~np.isfinite(data)).any(axis=1).sum())
        results = []
        # Push in slices the buffer can hold beyond one window, so a large chunk (replay, a burst after a stall)
        # never overwrites a window before its hop has been computed.
        step = self.buffer.capacity - self.n_window
        for start in range(0, data.shape[0], step):
            self.buffer.push(data[start:start + step], timestamps[start:start + step])
            results += self._hops(self.scheduler.due(self.buffer.total), received_at)
        self.stats.skipped_hops = self.scheduler.skipped
        return results

    def restart_window(self, *, new_stream: bool = False) -> None:
        """Start a fresh window at the next sample, so that no hop spans a discontinuity.

        Called after a clock jump or when a lost stream is re-attached. The estimators keep their per-subject
        normalisation (same person, same headset); only the window restarts, and the first hop after it comes one
        full window later. ``new_stream``: the samples that follow come from a new connection whose counter channel
        starts afresh, so counter continuity is not checked across the restart.
        """
        self.scheduler.restart(self.buffer.total)
        if new_stream:
            self._last_counter = None

    def push_video(self, frame: np.ndarray, timestamp: float) -> FaceResult:
        """Feed one video frame (uint8 BGR) with its stream timestamp; push frames in timestamp order, and before
        the EEG chunk whose hops they belong to."""
        if self.face is None:
            raise RuntimeError("this pipeline has no face path; create it with face=FacePath()")
        return self.face.process(frame, timestamp)

    def _check_counter(self, data: np.ndarray) -> None:
        """Missing and reordered samples by the counter channel. Non-finite values are no count and are skipped; a step
        beyond float32's exact integers (2**24) is not a number of lost samples but a counter that was reset or
        corrupted, and counts as a reorder (a hostile 1e300 would otherwise report 1e300 missing samples)."""
        if self._counter_col is None:
            return
        counter = data[:, self._counter_col].astype(np.float64)
        counter = counter[np.isfinite(counter)]
        if self._last_counter is not None:
            counter = np.concatenate([[self._last_counter], counter])
        if counter.size == 0:
            return
        step = np.diff(counter)
        plausible = np.abs(step) <= _MAX_COUNTER_STEP
        self.stats.counter_gaps += int(np.sum(np.where(plausible & (step > 1), step - 1, 0)))
        self.stats.counter_reorders += int(np.sum((step < 1) | ~plausible))
        self._last_counter = float(counter[-1])

    def _hops(self, stops: list[int], received_at: float | None) -> list[HopResult]:
        """The hops ending at ``stops``, computed together: one batched band-power call and one student call.

        Batching changes nothing in the numbers (every per-hop state advances in order); it removes the per-call
        overheads that dominate when replay processes thousands of hops. The stops of one call are one hop apart
        (:meth:`HopScheduler.due`), so their windows overlap: each step that works sample by sample (electrode
        selection, the quality checks' sums, the montage projection, the re-reference) runs once over the span the
        windows cover (the last two for each run of hops that share one set of good electrodes), instead of once per
        window on eight copies of every sample.
        """
        if not stops:
            return []
        n, k = self.n_window, len(stops)
        assert stops[-1] - stops[0] == (k - 1) * self.n_hop, "the hops of one call must be one hop apart"
        data, stamps = self.buffer.get(stops[-1], stops[-1] - stops[0] + n)
        starts = np.arange(k) * self.n_hop  # window i is span[starts[i]:starts[i] + n]
        times = stamps[starts + n - 1].tolist()
        # (E, span): the headset's electrodes; picked before the cast, which then reads them in order (6 x faster)
        electrodes = self.mapping.measure(data.T).astype(np.float64)
        present = np.ones(electrodes.shape[0], dtype=bool)
        codes = assess_span(electrodes, n, self.n_hop, k, present, self.config.quality)  # (k, E): 0 where good
        good_electrodes = codes == 0
        measured = self.projector.measured(good_electrodes)
        features = np.empty((k, len(self.welch.config.bands), len(self.mapping.model_labels)))
        good = np.empty(features[:, 0].shape, dtype=bool)
        for i, j in runs(good_electrodes):
            lo = starts[i]
            span, valued = self.projector.project(electrodes[None, :, lo:starts[j - 1] + n], good_electrodes[i:i + 1])
            good[i:j] = valued
            features[i:j] = self._band_power(span[0], valued[0], j - i)
        np.copyto(features, np.nan, where=~good[:, None, :])  # excluded channels carry no value
        estimates, inputs = self._estimate_many(features, good)
        trained_on = self.eeg_model_trained_on  # after the call: a student that failed in it is gone
        results = []
        # How much of the montage is measured: good electrodes per montage channel (at most 1). Interpolated channels
        # are estimates, not measurements, so the estimators' confidence (which counts the channels they were given)
        # is scaled from the channels with values down to this.
        coverage = np.minimum(1.0, good_electrodes.sum(axis=1) / good.shape[1]).tolist()
        valued = good.mean(axis=1).tolist()
        for i, t in enumerate(times):
            saliency = self.saliency.update(inputs[i]) if self.saliency is not None else None
            face_result = self.face.at(t) if self.face is not None else None
            face = face_result.estimate() if face_result is not None else _NO_ESTIMATE
            eeg = _scaled(estimates[i], coverage[i] / valued[i] if valued[i] > 0 else 0.0)
            fused: FusedEstimate = fuse({"eeg": eeg, "face": face} if self.face is not None else {"eeg": eeg})
            self.stats.hops += 1
            results.append(HopResult(
                t=t, valence=fused.valence, arousal=fused.arousal, confidence=fused.confidence,
                status=fused.status, eeg=eeg, face=face, face_result=face_result,
                quality_eeg=coverage[i], bad_channels=self._bad_channels(codes[i], good[i]),
                features=features[i], good=good[i], measured=measured[i], synthetic=self.spec.synthetic,
                received_at=received_at,
                latency_ms=(time.perf_counter() - received_at) * 1e3 if received_at is not None else math.nan,
                saliency=saliency, eeg_model_trained_on=trained_on,
            ))
        return results

    def _bad_channels(self, codes: np.ndarray, valued: np.ndarray) -> dict[str, str]:
        """The projector's flags for one hop (its reason codes, its model channels with values), kept per distinct
        pair: a stream repeats a few, and rebuilding them for every hop showed in a replay's time."""
        key = codes.tobytes() + valued.tobytes()
        found = self._flags.get(key)
        if found is None:
            if len(self._flags) >= 256:  # a stream whose electrodes keep changing must not grow this without bound
                self._flags.clear()
            found = self._flags[key] = self.projector.bad_channels(reasons(codes), valued)
        return dict(found)  # each hop owns its dict

    def _band_power(self, span: np.ndarray, valued: np.ndarray, k: int) -> np.ndarray:
        """Band power (k, 6, 32) of the ``k`` hops of one run: ``span`` (32, samples) holds their windows, one hop
        apart, in model channels; ``valued`` (32,) the channels with values (the others enter as zeros)."""
        if self.config.reference == "average":
            span = average_reference(span, valued)
        windows = window_view(np.where(valued[:, None], span, 0.0), self.n_window, self.n_hop, k)
        if self.config.bandpass is not None:  # filters each window on its own, as live
            good = np.broadcast_to(valued, windows.shape[:2])
            windows = np.where(good[..., None], bandpass(windows, good, self.config.bandpass, self.spec.sfreq), 0.0)
        return self.welch(windows)

    def _estimate_many(self, features: np.ndarray, good: np.ndarray) -> tuple[list[ModalityEstimate], np.ndarray]:
        """The student's estimates (and its inputs), or the baseline's when there is no student or it failed.

        The baseline always runs (it costs microseconds) so that a fallback starts warmed up instead of from zero.
        """
        baseline = self.baseline.step_many(features, good)
        if self.student is None:
            return baseline, np.empty((len(baseline), 0))
        try:
            return self.student.step_many(features, good)
        except Exception as exc:  # noqa: BLE001 - any runtime failure of the model must not stop the session
            log.error("the EEG student failed (%s); falling back to the baseline estimator", exc)
            self.student = self.saliency = None
            return baseline, np.empty((len(baseline), 0))


def _scaled(estimate: ModalityEstimate, factor: float) -> ModalityEstimate:
    """``estimate`` with its confidence multiplied by ``factor`` (at most 1)."""
    if factor >= 1.0:
        return estimate
    return dataclasses.replace(estimate, confidence=estimate.confidence * factor)
