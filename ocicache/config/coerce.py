"""Turning TOML values, environment strings and flags into the typed keys of a section.

Every error names where the value came from (`where`): `OCICACHE_CACHE_MAX_BYTES=abc: not a
whole number`, `node.toml: [cache] max_bytes = "abc": not a whole number`,
`--cache-max-bytes abc: ...`; config.load says which source set which key.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable, Mapping

from .errors import ConfigError

Where = Callable[[str, Any], str]
"""(key, value) -> the words naming where the value came from."""

_KINDS = {int: "a whole number", float: "a number", bool: "true or false", str: "a string (in quotes)",
          list: "a list", tuple: "a list", dict: "a table"}


def shown(value: Any) -> str:
    """A value as the operator wrote it (TOML-like: strings in double quotes, no Python repr)."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def kind(value: Any) -> str:
    return _KINDS.get(type(value), "a " + type(value).__name__.lower())


def in_section(section: str) -> Where:
    """Where a key of `section` came from when nothing more is known: `[cache] max_bytes = 0`."""
    return lambda key, value: f"[{section}] {key} = {shown(value)}"


def _coerce_container(where: str, typ: str, value: Any) -> Any:
    """tuple[...] keys take a TOML array (or a comma-separated string from the environment);
    dict[...] keys take a TOML table. Their contents are checked by whoever compiles them."""
    if typ.startswith("tuple"):
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        if isinstance(value, (list, tuple)):
            return tuple(value)
        raise ConfigError(f"{where}: expected a list, got {kind(value)}")
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, str):  # from the environment: name=value,name=value (in order)
        pairs = [part.partition("=") for part in value.split(",") if part.strip()]
        if all(sep and key.strip() for key, sep, _ in pairs):
            return {key.strip(): item.strip() for key, _, item in pairs}
        raise ConfigError(f"{where}: expected a table, written name=value,name=value")
    raise ConfigError(f"{where}: expected a table, got {kind(value)}")


def _from_text(where: str, typ: Any, text: str) -> Any:
    """An environment string (or a quoted TOML string) for a bool, float or int key."""
    if typ in ("bool", bool):
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{where}: not true or false")
    if typ in ("float", float):
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{where}: not a number") from None
    try:
        return int(text.replace("_", ""))
    except ValueError:
        raise ConfigError(f"{where}: not a whole number") from None


def _coerce(where: str, typ: Any, value: Any) -> Any:
    if isinstance(typ, str) and typ.startswith(("tuple", "dict")):
        return _coerce_container(where, typ, value)
    if isinstance(value, str) and typ in ("bool", bool, "float", float, "int", int):
        return _from_text(where, typ, value.strip())
    expected = {"int": int, "bool": bool, "str": str, "float": float}.get(typ, typ) if isinstance(typ, str) else typ
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected in (int, float) and isinstance(value, bool) or not isinstance(value, expected):
        raise ConfigError(f"{where}: expected {_KINDS.get(expected, expected)}, got {kind(value)}")
    return value


def build_section(cls: type, section: str, values: Mapping[str, Any], base: Any = None,
                  where: Where | None = None) -> Any:
    """`cls` (or `base`) with `values` applied; `where(key, value)` names their source in errors."""
    where = where or in_section(section)
    known = {f.name: f.type for f in dataclasses.fields(cls)}
    out = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"{where(key, value)}: [{section}] has no key {key}; known keys are "
                              f"{', '.join(sorted(known))}")
        out[key] = _coerce(where(key, value), known[key], value)
    return dataclasses.replace(base, **out) if base is not None else cls(**out)
