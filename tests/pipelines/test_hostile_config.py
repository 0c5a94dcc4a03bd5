"""Hostile configuration files: random TOML and random key/value tables, and the known bombs (issue 10, item 4).

Each file loads or gives one ``ConfigError`` line that names the offending key, in bounded memory. How fast the
bombs are refused is a figure of ``affectstream bench`` (``hostile``); docs/THREAT_MODEL.md says what these tests
prove and what they do not.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from affectstream.pipelines.bench.hostile import allowed_peak, config_cases
from affectstream.pipelines.config import ConfigError, PipelineConfig, load_config
from fixtures.hostile import one_line, traced_peak, write

#: No example database (it would write .hypothesis/ into the checkout). The deadline only turns a hang into a
#: failure; an example takes milliseconds.
_SETTINGS = settings(max_examples=150, deadline=20_000, database=None)


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hostile")


_TEXT = st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=16)
_BARE_KEY = st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True)
_SCALARS = st.one_of(st.booleans(), st.integers(-2 ** 63, 2 ** 63 - 1), st.floats(), _TEXT)
_JUNK = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(_BARE_KEY, inner, max_size=3)), max_leaves=6)
_ANY_OF = {"reference": ["average", "none"],
           "eeg_estimator": ["auto", "student", "baseline"], "device": ["cpu", "cuda", "auto"],
           "visual_precision": ["int8", "fp32"]}
#: What the loader must accept, key by key (the documented ranges).
_VALID: dict[str, st.SearchStrategy] = {
    "window_s": st.floats(1.0, 60.0),
    "hop_s": st.one_of(st.floats(0.01, 60.0), st.integers(1, 60)),
    "bandpass": st.tuples(st.floats(0.1, 10.0), st.floats(11.0, 100.0)).map(list),
    "max_backlog_hops": st.integers(1, 1000),
    # face_model is absent: it must name a YuNet file the detector runs (tests/pipelines/test_config_values.py)
    "saliency_every_hops": st.integers(0, 100),
    "quality": st.fixed_dictionaries({}, optional={
        "flat_std_uv": st.floats(0.0, 1e6), "noisy_std_uv": st.floats(0.0, 1e6), "rail_uv": st.floats(0.0, 1e6),
        "rail_fraction": st.floats(0.0, 1.0)}),
    "baseline": st.fixed_dictionaries({}, optional={
        "warmup_s": st.floats(0.0, 1e6), "memory_s": st.floats(0.0, 1e6), "smoothing_s": st.floats(0.0, 1e6),
        "squash": st.floats(0.1, 100.0)}),
    **{k: st.sampled_from(v) for k, v in _ANY_OF.items()},
}
_NEAR_MISSES = ["hop", "window", "Window_s", "hop-s", "bandpass_hz", "qualities", "flat_std_uv", "squash"]


def _toml(value: Any) -> str:
    """``value`` as a TOML value (inline tables and arrays; floats by repr, which TOML reads back exactly)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON's escapes are TOML's (no control characters drawn)
    if isinstance(value, list):
        return "[" + ", ".join(map(_toml, value)) + "]"
    return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"


@st.composite
def _config_tables(draw) -> tuple[dict[str, Any], set[str]]:
    """A config table whose keys are each absent, valid, or junk, plus unknown keys; and the offending keys."""
    data: dict[str, Any] = {}
    offending: set[str] = set()
    for key, valid in _VALID.items():
        kind = draw(st.sampled_from(["absent", "valid", "valid", "junk"]))
        if kind == "valid":
            data[key] = draw(valid)
        elif kind == "junk":
            data[key] = draw(_JUNK)
            offending.add(key)
    for key in draw(st.lists(st.one_of(st.sampled_from(_NEAR_MISSES), _BARE_KEY), max_size=2)):
        if key not in _VALID:
            data[key] = draw(_JUNK)
            offending.add(key)
    return data, offending


def _named_keys(message: str) -> set[str]:
    """The top-level keys a ConfigError message blames (``unknown key a, b; ...`` or ``a.b[0]: expected ...``)."""
    head = message.split("; valid keys here")[0]
    if head.startswith("unknown key"):
        names = head.split(" ", 2)[2].split(", ")
    else:
        names = [head.split(":")[0]]
    return {re.split(r"[.\[]", n)[0] for n in names if n != "..."}


@_SETTINGS
@given(table=_config_tables())
def test_config_loader_names_the_offending_key(work_dir, table):
    data, offending = table
    valid_only = {k: v for k, v in data.items() if k not in offending}
    assert isinstance(load_config(write(work_dir / "valid.toml", "\n".join(
        f"{k} = {_toml(v)}" for k, v in valid_only.items()).encode())), PipelineConfig)
    path = write(work_dir / "fuzz.toml", "\n".join(f"{k} = {_toml(v)}" for k, v in data.items()).encode())
    try:
        config = load_config(path)
    except ConfigError as exc:
        named = _named_keys(one_line(exc))
        assert named and named <= offending, (str(exc), offending)
        return
    assert not (offending - _VALID.keys()), "an unknown key was accepted"
    for key, value in data.items():  # junk that happens to be valid (e.g. 3 for hop_s) is taken as given
        got = getattr(config, key)
        if isinstance(value, dict):
            assert all(getattr(got, k) == v for k, v in value.items())
        else:
            assert got == (tuple(value) if isinstance(value, list) else value)


@_SETTINGS
@given(raw=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(lambda t: t.encode()),
                     st.lists(st.sampled_from(["[quality]", "[baseline]", "hop_s = 0.5", "window_s=", "a.b.c = 1",
                                               "= 1", "[[x]]", "x = {", "\"k\" = 'v'", "hop_s = nan", "#", "\\"]),
                              max_size=6).map(lambda lines: "\n".join(lines).encode())))
def test_config_loader_refuses_random_text_in_one_line(work_dir, raw):
    path = write(work_dir / "random.toml", raw)
    try:
        assert isinstance(load_config(path), PipelineConfig)
    except ConfigError as exc:
        one_line(exc)


@pytest.mark.parametrize("name", sorted(config_cases()))
def test_pathological_configs_are_refused_in_bounded_memory(tmp_path, name):
    """The cases of :func:`affectstream.pipelines.bench.hostile.config_cases` (bombs, non-finite and absurd values)."""
    data, expect = config_cases()[name]
    path = write(tmp_path / f"{name}.toml", data)
    outcome, peak = traced_peak(lambda: load_config(path))
    assert type(outcome) is ConfigError, outcome
    msg = one_line(outcome)
    assert expect in msg and len(msg) < 400, msg
    assert peak <= allowed_peak(path.stat().st_size), peak


def test_config_that_is_a_directory_is_a_user_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path)
