"""`load`: defaults < TOML file < `OCICACHE_<SECTION>_<KEY>` environment < flags, validated once.

`serve`, `config check` and the other node commands all load through here, so a value the
node would refuse is refused by `config check` too. Every error names the source of the value
it is about: the environment variable (`OCICACHE_CACHE_MAX_BYTES=abc: not a whole number`), the
file (`node.toml: [cache] max_bytes = "abc": ...`) or the flag (`--cache-max-bytes 0: ...`).
"""
from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from typing import Any, Mapping

from .checks import validate
from .coerce import Where, build_section, shown
from .errors import ConfigError
from .model import SECTIONS, Config
from .sections import SECRET_KEYS

_SECTION_AT_START = re.compile(r"\[(\w+)\]")
HIDDEN = "(hidden)"


def env_name(section: str, key: str) -> str:
    return f"OCICACHE_{section.upper()}_{key.upper()}"


def _env_overrides(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for section, factory in SECTIONS.items():
        for f in dataclasses.fields(factory()):
            if env_name(section, f.name) in env:
                out.setdefault(section, {})[f.name] = env[env_name(section, f.name)]
    return out


def _read_file(path: str | os.PathLike) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except PermissionError:
        raise ConfigError(f"config file {path} cannot be read by this user (permission denied); run as "
                          "the node's user (sudo -u ocicache ...) or fix its mode") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory; name the TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    for section, values in data.items():
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: {section} = {shown(values)} is outside any [section]; put it under the "
                              f"section it belongs to ({', '.join(SECTIONS)})")
        if section not in SECTIONS:
            raise ConfigError(f"{path}: unknown section [{section}]; known sections are {', '.join(SECTIONS)}")
    return data


def _file_where(path: str | os.PathLike, section: str) -> Where:
    return lambda key, value: f"{path}: [{section}] {key} = {shown(value)}"


def _env_where(section: str) -> Where:
    return lambda key, value: f"{env_name(section, key)}={value}"


def _flag_where(section: str, flags: Mapping[tuple[str, str], str]) -> Where:
    def where(key: str, value: Any) -> str:
        flag = flags.get((section, key))
        return f"{flag} {shown(value) if not isinstance(value, (str, int)) else value}" if flag \
            else f"[{section}] {key} = {shown(value)} (from the command line)"
    return where


def _hiding_secrets(section: str, where: Where) -> Where:
    """`where`, showing the value of a secret key (sections.SECRET_KEYS) as (hidden)."""
    return lambda key, value: where(key, HIDDEN if (section, key) in SECRET_KEYS else value)


def load(path: str | os.PathLike | None = None, *, env: Mapping[str, str] | None = None,
         overrides: Mapping[str, Mapping[str, Any]] | None = None,
         flags: Mapping[tuple[str, str], str] | None = None) -> Config:
    """Defaults, then the TOML file, then the environment, then explicit overrides (flags).
    `flags` maps (section, key) to the flag that set it, for error messages."""
    layers: list[tuple[Mapping[str, Mapping[str, Any]], Any]] = []
    if path:
        layers.append((_read_file(path), lambda s: _file_where(path, s)))
    layers.append((_env_overrides(os.environ if env is None else env), _env_where))
    if overrides:
        layers.append((overrides, lambda s: _flag_where(s, flags or {})))
    sections = {name: factory() for name, factory in SECTIONS.items()}
    source: dict[tuple[str, str], str] = {}  # (section, key) -> where its value came from
    for layer, where_of in layers:
        for name, values in layer.items():
            if values:
                where = _hiding_secrets(name, where_of(name))
                sections[name] = build_section(type(sections[name]), name, values, sections[name], where)
                source.update({(name, key): where(key, value) for key, value in values.items()})
    cfg = Config(**sections)
    try:
        validate(cfg)
    except ConfigError as exc:
        raise ConfigError(_with_source(str(exc), source, path)) from None
    return cfg


def _with_source(message: str, source: Mapping[tuple[str, str], str], path: Any) -> str:
    """A validation error about keys of `[section]`, prefixed with where those keys were set:
    the environment variable or flag when one set them, else the file."""
    match = _SECTION_AT_START.match(message)
    named = [where for (section, key), where in source.items()
             if match and section == match.group(1) and re.search(rf"\b{key}\b", message)]
    elsewhere = [w for w in named if not (path and w.startswith(f"{path}: "))]
    if elsewhere:
        return f"{'; '.join(dict.fromkeys(elsewhere))}: {message}"
    if path and not message.startswith(str(path)):
        return f"{path}: {message}"
    return message
