"""Typed configuration files: TOML read with bounded cost, then checked field by field into frozen dataclasses.

One loader for every configuration of the project (the pipeline's, the trainer's): a misspelt key, a wrong type or
an out-of-range value is refused with a message naming the key, because an option that is silently ignored is how a
lab ends up running a day of sessions with the wrong window length; and a hostile file cannot make the reader
allocate or compute without bound (the size cap and the dotted-key check below).
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

__all__ = ["MAX_CONFIG_BYTES", "MAX_KEY_PARTS", "ConfigError", "from_dict", "load_toml", "read_toml"]


class ConfigError(ValueError):
    """A configuration file or value that cannot be used; the message names the key."""


#: Largest config file read. A config is a few hundred bytes to a few kB, and tomllib's time grows quickly on odd
#: input (a 400 kB array takes seconds), so a hostile or mistaken file cannot stall the start.
MAX_CONFIG_BYTES = 64 * 1024

#: Dotted keys with more parts than this are refused before parsing: tomllib keeps every prefix of a dotted key, so
#: its memory grows with the square of the key's length (a 20 kB key ``a.a.a...`` takes 400 MB), while the deepest
#: key of any config here has three parts (``v2e_kd.teacher.max_epochs``).
MAX_KEY_PARTS = 8

_KEY_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\\n]|\\.)*"|'[^'\n]*')"""
# A key starts a line (or a [table] header) or follows "{" or "," in an inline table; anchoring there keeps dotted
# values and comments out, and keeps the search linear (it cannot restart inside a run of key characters).
_DEEP_KEY = re.compile(rf"(?:^[ \t]*\[{{0,2}}|[{{,])[ \t]*{_KEY_PART}(?:[ \t]*\.[ \t]*{_KEY_PART}){{{MAX_KEY_PARTS},}}",
                       re.MULTILINE)

def _show(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, so that a message stays one short line whatever the file held."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _in_range(name: str, value: float, ranges: Mapping[str, tuple[float, float]]) -> float:
    low, high = ranges.get(name, (-math.inf, math.inf))
    if not low <= value <= high:
        bounds = f">= {low:g}" if high == math.inf else f"in [{low:g}, {high:g}]"
        raise ConfigError(f"{name}: expected a number {bounds}, got {_show(value)}")
    return value


def _check_value(name: str, value: Any, annotation: Any, ranges: Mapping[str, tuple[float, float]]) -> Any:
    """Validate ``value`` against a dataclass field annotation; returns the (possibly converted) value."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise ConfigError(f"{name}: expected a table, got {type(value).__name__}")
        return from_dict(annotation, value, prefix=f"{name}.", ranges=ranges)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{name}: expected one of {', '.join(map(repr, args))}, got {_show(value)}")
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arg in args:
            if arg is type(None):
                if value is None:
                    return None
                continue
            try:
                return _check_value(name, value, arg, ranges)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{name}: invalid value {_show(value)}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or (args and args[-1] is not Ellipsis and len(value) != len(args)):
            raise ConfigError(f"{name}: expected a list of {len(args)} values, got {_show(value)}")
        item_types = [args[0]] * len(value) if args and args[-1] is Ellipsis else list(args)
        return tuple(_check_value(f"{name}[{i}]", v, t, ranges) for i, (v, t) in enumerate(zip(value, item_types)))
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name}: expected a number, got {_show(value)}")
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any float
            number = math.inf
        if not math.isfinite(number):
            raise ConfigError(f"{name}: expected a finite number, got {_show(value)}")
        return _in_range(name, number, ranges)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name}: expected an integer, got {_show(value)}")
        return _in_range(name, value, ranges)
    if annotation in (str, bool):
        if not isinstance(value, annotation):
            raise ConfigError(f"{name}: expected {annotation.__name__}, got {_show(value)}")
        return value
    return value


def _default_of(field: dataclasses.Field, base: Any) -> Any:
    """The value a field has when the file does not set it: the enclosing default's, else the field's own."""
    if base is not None:
        return getattr(base, field.name)
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None if field.default is dataclasses.MISSING else field.default


def from_dict(cls: type, data: dict[str, Any], prefix: str = "",
              ranges: Mapping[str, tuple[float, float]] | None = None, base: Any = None) -> Any:
    """Build the dataclass ``cls`` from ``data``, refusing unknown keys, wrong types and values outside ``ranges``
    (inclusive bounds by dotted key name, e.g. ``"quality.rail_fraction"``).

    Keys the file leaves out keep their defaults -- for a nested table, the defaults of the *enclosing* field (its
    ``default_factory`` may differ from the nested class's own, e.g. a method's teacher with its own learning rate),
    so a sub-table that names one key changes that key only. ``base`` is that enclosing default.
    """
    ranges = {} if ranges is None else ranges
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    names = set(fields)
    unknown = sorted(set(data) - names)
    if unknown:
        # A TOML key can hold any text (newlines, megabytes): show odd ones quoted and cut, and at most five.
        shown = [key if key.isprintable() and len(key) <= 60 else _show(key) for key in (prefix + k for k in unknown)]
        listed = ", ".join(shown[:5]) + (", ..." if len(shown) > 5 else "")
        raise ConfigError(
            f"unknown key{'s' if len(unknown) > 1 else ''} {listed}; valid keys here: {', '.join(sorted(names))}"
        )
    kwargs = {}
    for k, v in data.items():
        default = _default_of(fields[k], base)
        if dataclasses.is_dataclass(hints[k]) and isinstance(v, dict) and isinstance(default, hints[k]):
            kwargs[k] = from_dict(hints[k], v, prefix=f"{prefix}{k}.", ranges=ranges, base=default)
        else:
            kwargs[k] = _check_value(prefix + k, v, hints[k], ranges)
    return dataclasses.replace(base, **kwargs) if base is not None else cls(**kwargs)


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file into plain values; a clear :class:`ConfigError` on anything malformed.

    Raises
    ------
    ConfigError
        The file is missing, unreadable, larger than :data:`MAX_CONFIG_BYTES`, not UTF-8 TOML, or nests keys or
        values absurdly deep.
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:  # a directory, no permission, ...: a user mistake, not a bug
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path} is over {MAX_CONFIG_BYTES // 1024} KiB; a config is a few hundred "
                          "bytes")
    try:
        text = raw.decode("utf-8")
        deep = _DEEP_KEY.search(text)
        if deep is not None:
            line = text.count("\n", 0, deep.start()) + 1
            raise ConfigError(f"{path} line {line}: a dotted key of more than {MAX_KEY_PARTS} parts; no key here "
                              "has more than three")
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    except RecursionError:  # tomllib recurses into nested arrays and inline tables
        raise ConfigError(f"{path} is not a usable config: arrays or tables nested too deeply") from None
    return data


def load_toml(cls: type, path: str | Path, ranges: Mapping[str, tuple[float, float]] | None = None) -> Any:
    """Read the TOML file ``path`` into the dataclass ``cls``: :func:`read_toml`, then :func:`from_dict`.

    Raises
    ------
    ConfigError
        The file is missing, unreadable, larger than :data:`MAX_CONFIG_BYTES`, not UTF-8 TOML, nests keys or
        values absurdly deep, or holds an unknown key, a wrong type or an out-of-range value (the message names
        the key).
    """
    return from_dict(cls, read_toml(path), ranges=ranges)
