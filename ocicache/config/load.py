"""`load`: defaults < TOML file < `OCICACHE_<SECTION>_<KEY>` environment < flags, validated once."""
from __future__ import annotations

import dataclasses
import os
import tomllib
from typing import Any, Mapping

from .checks import validate
from .coerce import build_section
from .errors import ConfigError
from .model import SECTIONS, Config


def _env_overrides(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for section, factory in SECTIONS.items():
        for f in dataclasses.fields(factory()):
            name = f"OCICACHE_{section.upper()}_{f.name.upper()}"
            if name in env:
                out.setdefault(section, {})[f.name] = env[name]
    return out


def load(path: str | os.PathLike | None = None, *, env: Mapping[str, str] | None = None,
         overrides: Mapping[str, Mapping[str, Any]] | None = None) -> Config:
    """Defaults, then the TOML file, then the environment, then explicit overrides (flags)."""
    layers: list[Mapping[str, Mapping[str, Any]]] = []
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        for section, values in data.items():
            if section not in SECTIONS or not isinstance(values, dict):
                raise ConfigError(f"{path}: unknown section [{section}]; known sections are "
                                  f"{', '.join(SECTIONS)}")
        layers.append(data)
    layers.append(_env_overrides(os.environ if env is None else env))
    if overrides:
        layers.append(overrides)
    sections = {name: factory() for name, factory in SECTIONS.items()}
    for layer in layers:
        for name, values in layer.items():
            if values:
                sections[name] = build_section(type(sections[name]), name, values, sections[name])
    cfg = Config(**sections)
    validate(cfg)
    return cfg
