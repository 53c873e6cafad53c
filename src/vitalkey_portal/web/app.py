"""The portal's Starlette app: routes, error pages, security headers, and the composition root."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path

import anyio
import httpx
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vitalkey_portal.accounts import Accounts
from vitalkey_portal.core import build_core
from vitalkey_portal.db import migrate
from vitalkey_portal.db.engine import make_engine
from vitalkey_portal.settings import PortalSettings
from vitalkey_portal.web import pages
from vitalkey_portal.web.context import Services, render

WORKER_STOP_S = 10.0  # a job cut short is leased, so it runs again after the lease
STATIC = Path(__file__).parent / "static"
log = logging.getLogger("vitalkey_portal.web")

TITLES = {404: "Page not found", 405: "Not allowed here", 413: "Too large", 400: "Bad request"}
MESSAGES = {
    404: "There is no page at this address. Use the links above to find your way.",
    405: "This page cannot be used that way. Go back and try again.",
}


class SecurityHeaders:
    """Adds the same security headers to every answer (the notification callback's too)."""

    def __init__(self, app: ASGIApp, csp: str) -> None:
        self.app = app
        self.csp = csp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("content-security-policy", self.csp)
                headers.setdefault("x-content-type-options", "nosniff")
                headers.setdefault("referrer-policy", "same-origin")  # the callback's URL holds a code
                headers.setdefault("x-frame-options", "DENY")
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    title = TITLES.get(status, "Something went wrong")
    message = MESSAGES.get(status, "The page could not be shown. Go back and try again.")
    return render(request, "error.html", status, title=title, message=message)


async def server_error(request: Request, exc: Exception) -> Response:
    log.error("page failed: %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return render(request, "error.html", 500, title="Something went wrong", message="Try again in a moment.")


def build_app(svc: Services) -> Starlette:
    """The app around services built elsewhere (create_app, or a test's)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop = anyio.Event()
        task: asyncio.Task[None] | None = None
        if svc.run_worker is not None:
            task = asyncio.create_task(svc.run_worker(stop), name="portal-sync-worker")
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                try:
                    await asyncio.wait_for(task, WORKER_STOP_S)
                except TimeoutError:
                    log.warning("the sync worker did not stop in %s s; its leased jobs run again later", WORKER_STOP_S)
            for close in svc.on_close:
                await close()

    slug = "{slug:str}"
    routes = [
        Route("/", pages.dashboard, methods=["GET"]),
        Route("/login", pages.login, methods=["GET"]),
        Route("/login", pages.login_post, methods=["POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/link-device", pages.link_device, methods=["GET"]),
        Route(f"/link-device/{slug}", pages.link_begin, methods=["POST"]),
        Route(f"/link-device/{slug}/callback", pages.link_callback, methods=["GET"]),
        Route(f"/link-device/{slug}/confirm", pages.link_confirm, methods=["POST"]),
        Route(f"/link-device/{slug}/unlink", pages.link_unlink, methods=["POST"]),
        Route("/settings", pages.settings_page, methods=["GET"]),
        Route("/settings/apps", pages.settings_apps, methods=["GET"]),
        Route(f"/settings/apps/{slug}", pages.settings_app, methods=["GET"]),
        Route(f"/notify/{slug}", pages.notify, methods=["GET", "HEAD", "POST"]),
        Route("/healthz", pages.healthz, methods=["GET", "HEAD"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
    app.state.services = svc
    app.add_middleware(SecurityHeaders, csp=svc.csp)
    return app


def create_app(
    settings: PortalSettings,
    *,
    now: Callable[[], datetime] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    """The composition root: the engine (migrated at start), the core services, the accounts,
    and the sync worker in the app's lifespan when ``settings.run_worker``. ``now`` and
    ``transport`` are for tests (a fixed clock; the provider's HTTP)."""
    engine = make_engine(settings)
    migrate.upgrade(engine)
    core = build_core(settings, engine, now=now, transport=transport)

    async def dispose() -> None:
        await core.aclose()
        engine.dispose()

    svc = Services(
        settings,
        Accounts(engine, settings.login_failures, now=now),
        core.linking,
        core.notifications,
        core.dashboard,
        run_worker=core.worker.run if settings.run_worker else None,
        on_close=[dispose],
    )
    app = build_app(svc)
    app.state.core = core  # for the CLI's and the tests' hands on the worker and the store
    return app
