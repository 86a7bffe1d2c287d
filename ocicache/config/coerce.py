"""Turning TOML values, environment strings and flags into the typed keys of a section."""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from .errors import ConfigError


def _coerce_container(where: str, typ: str, value: Any) -> Any:
    """tuple[...] keys take a TOML array (or a comma-separated string from the environment);
    dict[...] keys take a TOML table. Their contents are checked by whoever compiles them."""
    if typ.startswith("tuple"):
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        if isinstance(value, (list, tuple)):
            return tuple(value)
        raise ConfigError(f"{where}: expected a list, got {value!r}")
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, str):  # from the environment: name=value,name=value (in order)
        pairs = [part.partition("=") for part in value.split(",") if part.strip()]
        if all(sep and key.strip() for key, sep, _ in pairs):
            return {key.strip(): item.strip() for key, _, item in pairs}
    raise ConfigError(f"{where}: expected a table, got {value!r}")


def _coerce(section: str, key: str, typ: Any, value: Any) -> Any:
    where = f"[{section}] {key}"
    if isinstance(typ, str) and typ.startswith(("tuple", "dict")):
        return _coerce_container(where, typ, value)
    if isinstance(value, str) and typ is not str:
        text = value.strip()
        if typ == "bool" or typ is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{where}: {value!r} is not a boolean (use true or false)")
        if typ == "float" or typ is float:
            try:
                return float(text)
            except ValueError:
                raise ConfigError(f"{where}: {value!r} is not a number") from None
        if typ == "int" or typ is int:
            try:
                return int(text.replace("_", ""))
            except ValueError:
                raise ConfigError(f"{where}: {value!r} is not a whole number") from None
    expected = {"int": int, "bool": bool, "str": str, "float": float}.get(typ, typ) if isinstance(typ, str) else typ
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected in (int, float) and isinstance(value, bool) or not isinstance(value, expected):
        raise ConfigError(f"{where}: expected {getattr(expected, '__name__', expected)}, got {value!r}")
    return value


def build_section(cls: type, section: str, values: Mapping[str, Any], base: Any = None) -> Any:
    known = {f.name: f.type for f in dataclasses.fields(cls)}
    out = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"[{section}] {key}: unknown key; known keys are {', '.join(sorted(known))}")
        out[key] = _coerce(section, key, known[key], value)
    return dataclasses.replace(base, **out) if base is not None else cls(**out)
