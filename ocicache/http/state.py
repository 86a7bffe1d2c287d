"""Typed access to what `make_app` puts on the application."""
from __future__ import annotations

from aiohttp import web

from ..config import Config
from ..registry import Registry

REGISTRY = web.AppKey("registry", Registry)
CONFIG = web.AppKey("config", Config)


def registry_of(request: web.Request) -> Registry:
    return request.app[REGISTRY]


def settings_of(request: web.Request) -> Config:
    return request.app[CONFIG]
