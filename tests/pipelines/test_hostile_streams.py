"""Hostile EEG and video streams: corrupted values, absurd rates and channel counts, wrong-size video, LSL discovery.

EEG with NaN, inf, railed, huge or flat values is flagged channel by channel and never stops the pipeline; absurd
rates and channel counts are refused in one line before anything large is allocated; a video stream of the wrong
size is skipped with a note. How fast an absurd rate is refused is a figure of ``affectstream bench``
(``hostile``); docs/THREAT_MODEL.md says what these tests prove and what they do not.
"""

from __future__ import annotations

import configparser
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from affectstream.core.montage import MONTAGE_32
from affectstream.core.xdf_reader import XDFFormatError
from affectstream.pipelines.bench.hostile import (
    ABSURD_RATES,
    RATE_REFUSAL_PEAK_BYTES,
    allowed_peak,
    numeric_samples,
    stream_header,
)
from affectstream.pipelines.config import PipelineConfig
from affectstream.pipelines.engine import AffectPipeline, EEGStreamSpec, StreamFormatError
from affectstream.pipelines.sessions.replay import replay
from fixtures.hostile import BASELINE, eeg_file, one_line, traced_peak

# --------------------------------------------------------------------------------------------------------------
# EEG values: NaN, inf, railed, huge, flat
# --------------------------------------------------------------------------------------------------------------

_SFREQ = 128.0


@st.composite
def _corrupted_eeg(draw) -> tuple[np.ndarray, int]:
    """Six seconds of 32-channel EEG with 1-4 corrupted patches, and a chunk size to push it in."""
    n = int(6 * _SFREQ)
    x = (np.random.default_rng(draw(st.integers(0, 2 ** 16))).standard_normal((n, 32)) * 10).astype(np.float32)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["nan", "inf", "-inf", "railed", "huge", "flat", "tiny", "spike"]))
        channels = draw(st.one_of(st.lists(st.integers(0, 31), min_size=1, max_size=8, unique=True),
                                  st.just(list(range(32)))))
        start = draw(st.integers(0, n - 1))
        stop = min(n, start + draw(st.integers(1, n)))
        patch = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf, "huge": 3e38, "flat": 7.0, "tiny": 1e-40,
                 "spike": 1e6}.get(kind)
        if kind == "railed":  # amplifier clipping: full scale, alternating sign
            patch = np.where(np.arange(start, stop) % 2, 5000.0, -5000.0)[:, None]
        if kind == "spike":
            stop = start + 1
        x[start:stop, channels] = patch
    return x, draw(st.integers(1, 400))


def _check_hops(x: np.ndarray, results: list, n_window: int) -> None:
    """Every hop: estimates finite in [-1, 1] or NaN with status 'no estimate'; corrupted channels flagged."""
    finite = np.isfinite(x)
    extreme = finite & (np.abs(x) >= 1e5)
    for r in results:
        end = round(r.t * _SFREQ) + 1
        window = slice(end - n_window, end)
        if math.isfinite(r.valence) or math.isfinite(r.arousal):
            assert -1 <= r.valence <= 1 and -1 <= r.arousal <= 1 and 0 <= r.confidence <= 1
        else:
            assert r.status == "no estimate" and r.confidence == 0
        assert np.isfinite(r.features[:, r.good]).all()
        for c in np.flatnonzero(~finite[window].all(axis=0)):
            assert r.bad_channels.get(MONTAGE_32[c]) == "nonfinite", (r.t, MONTAGE_32[c], r.bad_channels)
        for c in np.flatnonzero(extreme[window].any(axis=0)):
            assert MONTAGE_32[c] in r.bad_channels, (r.t, MONTAGE_32[c], r.bad_channels)
        json.dumps(r.to_json(), allow_nan=False)  # the JSONL output stays valid JSON


# The deadline only turns a hang into a failure; an example takes a fraction of a second.
@settings(max_examples=40, deadline=20_000, database=None)
@given(case=_corrupted_eeg())
def test_nonfinite_railed_and_huge_eeg_is_flagged_never_fatal(case):
    x, chunk_size = case
    spec = EEGStreamSpec(sfreq=_SFREQ, n_channels=32, labels=MONTAGE_32, name="hostile")
    pipe = AffectPipeline(spec, BASELINE)
    ts = np.arange(len(x)) / _SFREQ
    results = [r for i in range(0, len(x), chunk_size) for r in pipe.push_eeg(x[i:i + chunk_size],
                                                                             ts[i:i + chunk_size])]
    assert len(results) == 1 + (len(x) - pipe.n_window) // pipe.n_hop
    _check_hops(x, results, pipe.n_window)
    assert pipe.stats.nonfinite_samples == int((~np.isfinite(x)).any(axis=1).sum())


def test_hostile_eeg_through_the_default_estimator():
    """The same checks with the default estimator (the bundled student when it verifies)."""
    n = int(20 * _SFREQ)
    x = (np.random.default_rng(1).standard_normal((n, 32)) * 10).astype(np.float32)
    x[300:900, :5] = np.nan
    x[1000:1100, 5:9] = np.inf
    x[:, 10] = np.where(np.arange(n) % 2, 5000.0, -5000.0)
    x[1500:, :] = 3e38
    pipe = AffectPipeline(EEGStreamSpec(sfreq=_SFREQ, n_channels=32, labels=MONTAGE_32, name="hostile"))
    results = pipe.push_eeg(x, np.arange(n) / _SFREQ)
    _check_hops(x, results, pipe.n_window)
    assert any(math.isfinite(r.valence) for r in results) and results[-1].status == "no estimate"


# --------------------------------------------------------------------------------------------------------------
# EEG streams: absurd rates and channel counts, wrong-size video
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("srate, why", [
    ("0", "irregular"), ("-256", "irregular"), ("nan", "irregular"), ("inf", "irregular"), ("0.001", "too low"),
    ("60", "gamma band"),
])
def test_replay_refuses_unusable_rates_in_one_line(tmp_path, srate, why):
    path = eeg_file(tmp_path / "rate.xdf", srate)
    with pytest.raises(StreamFormatError) as info:
        replay(path, config=BASELINE)
    assert "'eeg'" in one_line(info.value) and why in str(info.value)


def test_replay_refuses_an_absurdly_high_rate(tmp_path):
    with pytest.raises(StreamFormatError, match="Hz"):
        replay(eeg_file(tmp_path / "fast.xdf", "1e308"), config=BASELINE)


@pytest.mark.parametrize("sfreq", ABSURD_RATES)
def test_pipeline_refuses_absurd_rates_before_allocating(sfreq):
    """Found here: a header declaring 1e5 Hz made the band-power set-up ask for 18.6 GiB (20 kHz: 1.6 GB, 5 s)."""
    spec = EEGStreamSpec(sfreq=sfreq, n_channels=32, labels=MONTAGE_32, name="fast")
    outcome, peak = traced_peak(lambda: AffectPipeline(spec, BASELINE))
    assert type(outcome) is StreamFormatError and "resample" in one_line(outcome)
    assert peak < RATE_REFUSAL_PEAK_BYTES


def test_bandpass_above_nyquist_is_refused_at_start():
    """Found here: a configured band-pass above the stream's Nyquist frequency raised ValueError in the first hop."""
    spec = EEGStreamSpec(sfreq=128.0, n_channels=32, labels=MONTAGE_32, name="eeg")
    with pytest.raises(StreamFormatError, match="bandpass 1-70 Hz is not inside"):
        AffectPipeline(spec, PipelineConfig(eeg_estimator="baseline", bandpass=(1.0, 70.0)))


def test_zero_and_a_thousand_channels(tmp_path):
    with pytest.raises(XDFFormatError, match="declares 0 channels"):  # refused by the reader already
        replay(eeg_file(tmp_path / "zero.xdf", n_ch=0, labels=None, seconds=0), config=BASELINE)
    with pytest.raises(StreamFormatError, match="1000 channels and no channel labels") as info:
        replay(eeg_file(tmp_path / "unlabeled.xdf", n_ch=1000, labels=None), config=BASELINE)
    one_line(info.value)
    labels = MONTAGE_32 + tuple(f"AUX{i}" for i in range(968))  # a legitimate high-density recording
    path = eeg_file(tmp_path / "wide.xdf", n_ch=1000, labels=labels, seconds=4.0)
    replay(path, config=BASELINE)  # warm-up: imports outside the trace
    summary, peak = traced_peak(lambda: replay(path, config=BASELINE))
    assert summary.hops == 9 and len(summary.unused_channels) == 968 and not summary.missing_channels
    assert peak <= allowed_peak(path.stat().st_size)


@pytest.mark.parametrize("desc, n_ch", [
    ("<width>32</width><height>24</height><channels>3</channels>", 32 * 24 * 3 - 5),
    ("<width>0</width><height>24</height><channels>3</channels>", 0 * 24 * 3 + 1),
    ("<width>-4</width><height>-3</height><channels>3</channels>", 36),
    ("<width>4.5</width><height>2</height><channels>3</channels>", 27),
    ("<width>4</width><height>3</height><channels>4</channels>", 48),
    ("<width>4</width><height>3</height><channels>3</channels><color_order>CMYK</color_order>", 36),
    ("<width>4</width><height>3</height>", 36),
])
def test_wrong_size_video_is_skipped_with_a_note(tmp_path, desc, n_ch):
    video = (stream_header(2, "cam", "Video", n_ch, "15", "int8", desc=desc)
             + numeric_samples(2, np.zeros((3, n_ch), np.int8), 100.0 + np.arange(3) / 15))
    path = eeg_file(tmp_path / "video.xdf", extra=video)
    summary = replay(path, config=BASELINE)
    assert summary.video is None and summary.frames == 0 and summary.hops > 0
    assert sum("'cam'" in note and "not a usable Video stream" in note for note in summary.notes) == 1


# --------------------------------------------------------------------------------------------------------------
# LSL discovery
# --------------------------------------------------------------------------------------------------------------


def test_lsl_discovery_stays_on_this_machine_unless_asked(monkeypatch):
    from affectstream.pipelines.sources import lsl as lsl_source

    cfg = configparser.ConfigParser(inline_comment_prefixes=(";",))
    cfg.read(lsl_source.LSL_CONFIG)
    assert cfg["multicast"]["ResolveScope"].strip() == "machine"
    monkeypatch.delenv("LSLAPICFG", raising=False)
    lsl_source.use_local_lsl_config()
    assert Path(os.environ["LSLAPICFG"]) == lsl_source.LSL_CONFIG
    monkeypatch.setenv("LSLAPICFG", "/etc/my-lab-lsl.cfg")  # the user asked for the network: respected
    lsl_source.use_local_lsl_config()
    assert os.environ["LSLAPICFG"] == "/etc/my-lab-lsl.cfg"

    class Info:
        name, stype, n_channels, sfreq, source_id, hostname = "EEG", "EEG", 32, 256.0, "amp-7", "lab-pc-3"

    assert "host 'lab-pc-3'" in lsl_source.describe(Info) and "source_id 'amp-7'" in lsl_source.describe(Info)
