"""The Starlette application, built around a Container."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from vitalkey.container import Container
from vitalkey.domain.i18n import N_
from vitalkey.i18n import warm
from vitalkey.web import admin_api, oauth, ops, pages, password_pages, two_factor_api, two_factor_pages  # noqa: F401
from vitalkey.web.api import api, error_response
from vitalkey.web.csrf import guard_pages
from vitalkey.web.errors import HttpError
from vitalkey.web.middleware import EdgeMiddleware
from vitalkey.web.render import make_environment, page
from vitalkey.web.routing import IndexedRouter

STATIC = __file__.rsplit("/", 1)[0] + "/static"


async def http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 404:
        error = HttpError("not_found", N_("This page does not exist."), 404)
    elif status == 405:
        error = HttpError("method_not_allowed", N_("This method is not allowed here."), 405)
    else:
        error = HttpError("http_error", N_("The request could not be processed."), status)
    if request.url.path.startswith("/api/"):
        return error_response(request, error)
    return page(request, "not_found.html", status=status, error=error)


class VitalKeyApp(Starlette):
    def build_middleware_stack(self) -> ASGIApp:
        """Starlette's stack without its ServerErrorMiddleware: EdgeMiddleware, outermost, answers
        unexpected errors itself (with the security headers, in the user's language)."""
        app: ASGIApp = ExceptionMiddleware(self.router, handlers=dict(self.exception_handlers))
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        return app


def create_app(container: Container, *, run_relay: bool | None = None) -> VitalKeyApp:
    settings = container.settings
    relay_inside = settings.relay_in_process if run_relay is None else run_relay

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(container.relay.run_forever(stop)) if relay_inside else None
        try:
            yield
        finally:
            stop.set()
            container.relay.wake()
            if task is not None:
                await task

    app = VitalKeyApp(
        middleware=[Middleware(EdgeMiddleware, max_body=settings.max_body_bytes, https=settings.https)],
        exception_handlers={HTTPException: http_error},  # unexpected errors: EdgeMiddleware
        lifespan=lifespan,
    )
    app.router = IndexedRouter(
        [
            *api.routes,
            *password_pages.routes,  # before /account/{action}
            *two_factor_pages.routes,
            *oauth.routes,
            *pages.routes,
            *ops.routes,
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        lifespan=lifespan,
    )
    guard_pages(app.router.routes)  # the CSRF check of every page that takes a POST
    app.state.container = container
    app.state.templates = make_environment()
    warm()
    return app
