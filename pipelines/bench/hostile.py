"""Pathological inputs, and what refusing them costs: ``affectstream bench``'s ``hostile`` figures.

The inputs are the ones the tests check for the right refusal (``tests/core/test_hostile_xdf.py``,
``tests/pipelines/test_hostile_config.py``, ``tests/pipelines/test_hostile_streams.py``): XDF files that pyxdf would
misread or whose XML blows up, configuration files that blow tomllib up, and EEG streams declaring absurd rates.
The tests assert *what* happens: the error type, its one-line message, and Python's peak traced allocation
(``tracemalloc`` counts allocations, so that bound is deterministic). How *fast* the refusal is depends on the
machine and its load, so :func:`bench_hostile` measures it here, median over repetitions, beside the budget
docs/THREAT_MODEL.md promises.
"""

from __future__ import annotations

import struct
import tempfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

from affectstream.core.xdf_format import chunk, varlen
from affectstream.pipelines.config import MAX_CONFIG_BYTES
from affectstream.pipelines.engine import MAX_EEG_RATE

#: Longest a refusal of one pathological XDF or configuration file may take (docs/THREAT_MODEL.md).
FILE_REFUSAL_BUDGET_MS = 2000.0
#: Longest refusing an EEG stream with an absurd rate may take: it must happen before anything is allocated.
RATE_REFUSAL_BUDGET_MS = 500.0
#: Most Python memory refusing an absurd rate may allocate (a 100 kHz header once asked for 18.6 GiB).
RATE_REFUSAL_PEAK_BYTES = 2 ** 20
#: Declared EEG rates above :data:`~affectstream.pipelines.engine.MAX_EEG_RATE` (5 kHz) that must be refused.
ABSURD_RATES = (MAX_EEG_RATE * 1.01, 1e5, 1e7, 1e308)


def allowed_peak(size: int) -> int:
    """Most Python memory a file of ``size`` bytes may make the program allocate: 20x its size plus 16 MiB."""
    return 20 * size + 16 * 2 ** 20


# ----------------------------------------------------------------------------------------------- XDF builders
def xdf_file(*chunks: bytes) -> bytes:
    """The magic, a minimal FileHeader, then ``chunks`` as given (no check: they may be as broken as wanted)."""
    return b"XDF:" + chunk(1, b'<?xml version="1.0"?><info><version>1.0</version></info>') + b"".join(chunks)


def stream_header(sid: int, name: str, stype: str, n_ch: int | str, srate: str, fmt: str,
                  labels: tuple[str, ...] | None = None, desc: str = "") -> bytes:
    """A StreamHeader chunk with any field text (the writer refuses the absurd ones, which is the point here)."""
    channels = "<channels>" + "".join(f"<channel><label>{lab}</label></channel>" for lab in labels) + \
        "</channels>" if labels else ""
    xml = (f'<?xml version="1.0"?><info><name>{name}</name><type>{stype}</type><channel_count>{n_ch}'
           f"</channel_count><nominal_srate>{srate}</nominal_srate><channel_format>{fmt}</channel_format>"
           f"<source_id>{name}-1</source_id><hostname>lab-pc</hostname><desc>{desc}{channels}</desc></info>")
    return chunk(2, struct.pack("<I", sid) + xml.encode())


def numeric_samples(sid: int, values: np.ndarray, stamps: np.ndarray) -> bytes:
    """One Samples chunk of numeric ``values`` (n, channels), every timestamp explicit."""
    rec = np.empty(len(stamps), [("flag", "u1"), ("ts", "<f8"), ("v", values.dtype.newbyteorder("<"),
                                                                    (values.shape[1],))])
    rec["flag"], rec["ts"], rec["v"] = 8, stamps, values
    return chunk(3, struct.pack("<I", sid) + varlen(len(stamps)) + rec.tobytes())


def string_samples(sid: int, n_declared: int, texts: list[str]) -> bytes:
    """One Samples chunk of one-channel strings that declares ``n_declared`` samples, however many it holds."""
    body = b"".join(b"\x08" + struct.pack("<d", float(i)) + varlen(len(t.encode())) + t.encode()
                    for i, t in enumerate(texts))
    return chunk(3, struct.pack("<I", sid) + varlen(n_declared) + body)


def misread_xdf_cases() -> dict[str, tuple[bytes, str]]:
    """XDF files the reader must refuse, with what its message must say: ``{name: (file bytes, fragment)}``.

    Found by fuzzing the reader: a string Samples chunk whose count covers fewer samples than it holds sent pyxdf
    reading sample bytes as the next chunk's length, and a 1.5 kB file raised MemoryError (a count covering more
    samples loaded silently wrong data). Also DTD entities and XML that parses into ~100x its size.
    """
    marker_header = stream_header(1, "mrk", "Markers", 1, "0", "string")
    entities = '<!DOCTYPE info [<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {c} "' + f"&{p};" * 10 + '">' for p, c in zip("abcdefg", "bcdefgh")) + "]>"
    overlong_string = chunk(3, struct.pack("<I", 1) + varlen(1) + b"\x08" + struct.pack("<d", 0.0) + b"\x08"
                            + struct.pack("<Q", 2 ** 60) + b"abc")
    implicit_stamps = chunk(3, struct.pack("<I", 1) + varlen(2) + b"\x00" + b"\0" * 4 + b"\x00" + b"\0" * 4
                            + b"\0" * 8)
    dtd = chunk(2, struct.pack("<I", 1) + (
        entities + "<info><name>&h;</name><channel_count>1</channel_count><nominal_srate>1</nominal_srate>"
                   "<channel_format>float32</channel_format></info>").encode())
    return {
        "fewer_strings_declared": (xdf_file(marker_header, string_samples(1, 1, ["a", "b"])), "occupy"),
        "more_strings_declared": (xdf_file(marker_header, string_samples(1, 3, ["a", "b"]),
                                           string_samples(1, 1, ["c"])), "occupy more than"),
        "none_declared": (xdf_file(marker_header, string_samples(1, 0, ["x" * 40])), "occupy"),
        "string_longer_than_chunk": (xdf_file(marker_header, overlong_string), "occupy more than"),
        "implicit_stamps_leave_bytes_over": (xdf_file(stream_header(1, "x", "EEG", 1, "100", "float32"),
                                                      implicit_stamps), "occupy 12 of its 20 bytes"),
        "dtd_entities": (xdf_file(dtd), "declares a DTD"),
        "too_many_xml_tags": (xdf_file(stream_header(1, "x", "EEG", 1, "100", "float32", desc="<a/>" * 200_001)),
                              "tags in all"),
        "deep_xml": (xdf_file(stream_header(1, "x", "EEG", 1, "100", "float32", desc="<a>" * 3000 + "</a>" * 3000)),
                     "RecursionError"),
    }


def config_cases() -> dict[str, tuple[bytes, str]]:
    """Configuration files the loader must refuse, with what its message must say: ``{name: (bytes, fragment)}``.

    The bombs are why: tomllib's memory grows with the square of a dotted key's length (a 20 kB key took 400 MB),
    and arrays or tables nested deeper than it can recurse raise RecursionError.
    """
    texts: dict[str, tuple[str | bytes, str]] = {
        "dotted_key_bomb": ("a." * 30_000 + "b = 1", "dotted key"),
        "quoted_dotted_key_bomb": ('"a".' * 15_000 + "b = 1", "dotted key"),
        "table_header_bomb": ("[" + "a." * 30_000 + "b]", "dotted key"),
        "inline_table_bomb": ("x = {" + "a." * 30_000 + "b = 1}", "dotted key"),
        "nested_arrays": ("x = " + "[" * 5000 + "]" * 5000, "nested too deeply"),
        "nested_inline_tables": ("x = " + "{a = " * 3000 + "1" + "}" * 3000, "nested too deeply"),
        "oversized": ("# " + "x" * MAX_CONFIG_BYTES, "KiB"),
        "long_array": ("x = [" + "1," * 30_000 + "]", "unknown key x"),
        "nan": ("hop_s = nan", "hop_s: expected a finite number"),
        "inf_window": ("window_s = inf", "window_s: expected a finite number"),
        "huge_int": ("max_backlog_hops = 99999999999999999999", "max_backlog_hops: expected a number in"),
        "absurd_window": ("window_s = 1e9", "window_s: expected a number in"),
        "zero_backlog": ("max_backlog_hops = 0", "max_backlog_hops"),
        "zero_squash": ("[baseline]\nsquash = 0", "baseline.squash"),
        "negative_threshold": ("quality = {noisy_std_uv = -1}", "quality.noisy_std_uv"),
        "fraction": ("[quality]\nrail_fraction = 2", "quality.rail_fraction"),
        "newline_key": ('"a\\nb" = 1', "unknown key 'a\\nb'"),
        "huge_value": ('reference = "' + "x" * 50_000 + '"', "reference: expected one of"),
        "wrong_table": ("quality = 3", "quality: expected a table"),
        "not_utf8": (b"hop_s = 0.5 # \xff\xfe", "not valid TOML"),
    }
    return {name: (text if isinstance(text, bytes) else text.encode(), expect)
            for name, (text, expect) in texts.items()}


# ----------------------------------------------------------------------------------------------- the figures
def _refusals(prefix: str, calls: dict[str, Callable[[], object]], refusal: type[Exception],
              bounds: dict[str, int], repeats: int, budget_ms: float) -> dict[str, float | str]:
    """Time and trace each call, which should raise ``refusal``; the figures of the group, keys ``prefix_…``.

    Each call runs once under ``tracemalloc`` (its peak, against its bound in ``bounds``) and then untraced,
    ``repeats`` times at most and for about a second at most (its median). The group reports the median and the
    worst of those medians, the largest peak, and how many calls raised ``refusal`` (the figures of an input
    that was accepted would time something else).
    """
    from affectstream.pipelines.bench.timing import median_ms

    def quietly(fn: Callable[[], object]) -> Callable[[], None]:
        def call() -> None:
            try:
                fn()
            except Exception:  # noqa: BLE001 - the refusal is what is timed
                pass
        return call

    quietly(next(iter(calls.values())))()  # imports and caches, outside the traces
    refused, ms, share, peak_mib = 0, {}, {}, {}
    for name, fn in calls.items():
        tracemalloc.start()
        try:
            fn()
        except refusal:
            refused += 1
        except Exception:  # noqa: BLE001 - a wrong error is counted as not refused
            pass
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        peak_mib[name], share[name] = peak / 2 ** 20, peak / bounds[name]
        ms[name] = median_ms(quietly(fn), repeats, warmup=1, max_s=1.0)
    worst = max(ms, key=ms.get)
    return {
        f"{prefix}_refused": f"{refused}/{len(calls)}",
        f"{prefix}_refusal_ms_median": float(np.median(list(ms.values()))),
        f"{prefix}_refusal_ms_worst": ms[worst],
        f"{prefix}_refusal_worst_input": worst,
        f"{prefix}_refusal_budget_ms": budget_ms,
        f"{prefix}_peak_mib_max": max(peak_mib.values()),
        f"{prefix}_peak_share_of_bound_max": max(share.values()),
    }


def bench_hostile(repeats: int = 2000) -> dict[str, float | str]:
    """How long refusing each pathological input takes, and its peak memory, beside the budgets.

    ``xdf_…``: :func:`misread_xdf_cases` through :func:`affectstream.core.xdf_reader.load_recording`;
    ``config_…``: :func:`config_cases` through :func:`affectstream.pipelines.config.load_config`; ``rate_…``:
    :data:`ABSURD_RATES` declared by a 32-channel stream given to :class:`affectstream.pipelines.engine.AffectPipeline`.
    Times are medians over at most ``repeats / 10`` repetitions (and about a second) per input; the peak is
    Python's traced allocation, whose bound (:func:`allowed_peak` for files, :data:`RATE_REFUSAL_PEAK_BYTES` for
    rates) the tests assert: ``…_peak_share_of_bound_max`` at or below 1 keeps it.
    """
    from affectstream.core.montage import MONTAGE_32
    from affectstream.core.xdf_reader import XDFFormatError, load_recording
    from affectstream.pipelines.config import ConfigError, PipelineConfig, load_config
    from affectstream.pipelines.engine import AffectPipeline, EEGStreamSpec, StreamFormatError

    n = max(3, repeats // 10)
    baseline = PipelineConfig(eeg_estimator="baseline")
    result: dict[str, float | str] = {}
    with tempfile.TemporaryDirectory(prefix="affectstream-hostile-") as tmp:
        for prefix, cases, suffix, load, refusal in (
                ("xdf", misread_xdf_cases(), "xdf", load_recording, XDFFormatError),
                ("config", config_cases(), "toml", load_config, ConfigError)):
            paths = {name: Path(tmp) / f"{name}.{suffix}" for name in cases}
            for name, (data, _) in cases.items():
                paths[name].write_bytes(data)
            calls = {name: (lambda p=path: load(p)) for name, path in paths.items()}
            bounds = {name: allowed_peak(len(data)) for name, (data, _) in cases.items()}
            result.update(_refusals(prefix, calls, refusal, bounds, n, FILE_REFUSAL_BUDGET_MS))
    specs = {f"{rate:g} Hz": EEGStreamSpec(sfreq=rate, n_channels=32, labels=MONTAGE_32, name="fast")
             for rate in ABSURD_RATES}
    calls = {name: (lambda s=spec: AffectPipeline(s, baseline)) for name, spec in specs.items()}
    result.update(_refusals("rate", calls, StreamFormatError, dict.fromkeys(specs, RATE_REFUSAL_PEAK_BYTES), n,
                            RATE_REFUSAL_BUDGET_MS))
    result["input"] = (f"{len(misread_xdf_cases())} XDF files, {len(config_cases())} config files, "
                       f"{len(ABSURD_RATES)} absurd EEG rates (the tests' corpus)")
    return result
