"""Typed access to what `make_app` puts on the application."""
from __future__ import annotations

from aiohttp import web

from ..config import Config
from ..registry import Registry
from .mirror_choice import chosen

REGISTRY = web.AppKey("registry", Registry)
CONFIG = web.AppKey("config", Config)


def registry_of(request: web.Request) -> Registry:
    """The node's own registry, or the mirrored upstream's that `routes.dispatch` chose."""
    return chosen(request) or request.app[REGISTRY]


def settings_of(request: web.Request) -> Config:
    return request.app[CONFIG]
