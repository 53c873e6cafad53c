"""Entry point for ASGI servers: ``granian --interface asgi --factory vitalkey.web.asgi:create``."""

from __future__ import annotations

from starlette.applications import Starlette

from vitalkey.container import build
from vitalkey.observability import configure_logging
from vitalkey.settings import load_settings
from vitalkey.web.app import create_app


def create() -> Starlette:
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json)
    return create_app(build(settings))
