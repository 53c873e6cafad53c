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
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from vitalkey.container import Container
from vitalkey.i18n import translations, warm
from vitalkey.observability import logger
from vitalkey.ports import StorageUnavailable
from vitalkey.web import (
    account_deletion,
    admin_api,
    api,
    authenticators_api,
    dashboard_pages,
    data_pages,
    devices_pages,
    federation_api,
    federation_pages,
    health_api,
    import_api,
    import_pages,
    oauth,
    ops,
    pages,
    passkey_api,
    passkey_pages,
    password_pages,
    totp_api,
    totp_pages,
    two_factor_api,
    two_factor_pages,
    withings_data,
    withings_notify,
)
from vitalkey.web.api import ApiEndpoint, error_response
from vitalkey.web.context import language
from vitalkey.web.csrf import guard_pages
from vitalkey.web.errors import (
    BATCH_BYTES_TOO_LARGE,
    HTTP_ERROR,
    IMPORT_TOO_LARGE,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    RETRY_AFTER_S,
    UNAVAILABLE,
    Family,
    HttpError,
    family_of,
    json_problem,
)
from vitalkey.web.middleware import EdgeMiddleware, route_of
from vitalkey.web.render import make_environment, page
from vitalkey.web.routing import IndexedRouter

log = logger("vitalkey.http")
STATIC = __file__.rsplit("/", 1)[0] + "/static"


async def http_error(request: Request, exc: Exception) -> Response:
    """404, 405 and Starlette's other HTTP errors: a page, or JSON on the API, OAuth and Withings paths."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    problem = {404: NOT_FOUND, 405: METHOD_NOT_ALLOWED}.get(status, HTTP_ERROR)
    family = family_of(request.url.path)
    error = HttpError(problem.code, problem.message, status)
    if family is Family.PAGE:
        return page(request, "not_found.html", status=status, error=error)
    if family is Family.API:
        return error_response(request, error)
    answer = json_problem(problem, family, "", status)
    headers = dict(answer.headers)
    if status == 405 and isinstance(exc, HTTPException) and exc.headers:
        headers.update(exc.headers)  # Allow
    return Response(answer.body, answer.status, headers=headers, media_type="application/json")


async def storage_unavailable(request: Request, exc: Exception) -> Response:
    """The database cannot be reached (``ports.StorageUnavailable``): 503 with Retry-After, a
    page saying to try again in a moment, or the family's JSON (``unavailable``, RFC 6749's
    ``temporarily_unavailable``, Withings' 601)."""
    log.error("storage_unavailable", route=route_of(request.scope), reason=str(exc), exc_info=exc)
    family = family_of(request.url.path)
    if family is Family.PAGE:
        answer = page(request, "unavailable.html", status=503)
        answer.headers["retry-after"] = str(RETRY_AFTER_S)
        return answer
    problem = json_problem(UNAVAILABLE, family, translations(language(request)).gettext(UNAVAILABLE.message))
    return Response(problem.body, problem.status, headers=dict(problem.headers), media_type="application/json")


def api_endpoints() -> list[ApiEndpoint]:
    """The JSON endpoints, module by module: matched first, and described in the OpenAPI document."""
    return [
        *federation_api.endpoints(),  # before /api/v1/login/{flow_id}: "providers" is no flow id
        *api.endpoints(),
        *admin_api.endpoints(),
        *oauth.endpoints(),
        *two_factor_api.endpoints(),
        *totp_api.endpoints(),
        *passkey_api.endpoints(),
        *authenticators_api.endpoints(),
        *health_api.endpoints(),
        *account_deletion.endpoints(),
        *data_pages.endpoints(),
        *import_api.endpoints(),
    ]


def routes() -> list[BaseRoute]:
    """The app's routes, module by module, in the order they are matched: a feature is a module
    and a line here."""
    endpoints = api_endpoints()
    return [
        *(endpoint.route() for endpoint in endpoints),
        *password_pages.routes(),  # before /account/{action}
        *account_deletion.routes(),
        *data_pages.routes(),  # before /account/{action}
        *totp_pages.routes(),  # before /account/two-factor/{flow_id}
        *two_factor_pages.routes(),
        *passkey_pages.routes(),  # before /account/{action}
        *oauth.routes(),
        *withings_data.routes(),
        *withings_notify.routes(),
        *dashboard_pages.routes(),
        *devices_pages.routes(),
        *import_pages.routes(),
        *federation_pages.routes(),  # before /login/{flow_id}
        *pages.routes(),
        *ops.routes([endpoint.described for endpoint in endpoints]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]


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
        tasks = (
            [asyncio.create_task(container.relay.run_forever(stop)),
             asyncio.create_task(container.delivery_worker.run_forever(stop)),
             asyncio.create_task(container.export_worker.run_forever(stop))]
            if relay_inside else []
        )  # fmt: skip
        try:
            yield
        finally:
            stop.set()
            container.relay.wake()
            container.delivery_worker.wake()
            container.export_worker.wake()
            await asyncio.gather(*tasks)
            await container.callbacks.aclose()

    app = VitalKeyApp(
        middleware=[
            Middleware(
                EdgeMiddleware,
                max_body=settings.max_body_bytes,
                https=settings.https,
                larger_bodies={
                    health_api.BATCHES_PATH: (settings.max_batch_bytes, BATCH_BYTES_TOO_LARGE),
                    # an import: the file, and room for the multipart envelope (the flow says the limit)
                    import_api.PATH: (settings.import_max_bytes + import_pages.FORM_SLACK, IMPORT_TOO_LARGE),
                    import_pages.PATH: (settings.import_max_bytes + import_pages.FORM_SLACK, IMPORT_TOO_LARGE),
                },
            )
        ],
        # unexpected errors: EdgeMiddleware
        exception_handlers={HTTPException: http_error, StorageUnavailable: storage_unavailable},
        lifespan=lifespan,
    )
    app.router = IndexedRouter(guard_pages(routes()), lifespan=lifespan)  # guard: the CSRF check of every page POST
    app.state.container = container
    app.state.templates = make_environment()
    warm()
    return app
