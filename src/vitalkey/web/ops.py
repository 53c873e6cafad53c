"""Operations and developer endpoints: health, readiness, metrics, API docs, the dev mail and SMS outboxes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from vitalkey.adapters.mail.senders import DevMailbox
from vitalkey.adapters.sms import DevSmsOutbox
from vitalkey.web.api import json_response
from vitalkey.web.context import in_unit_of_work, services
from vitalkey.web.openapi import ApiRoute, document
from vitalkey.web.render import page
from vitalkey.web.schemas import Health


async def healthz(request: Request) -> Response:
    return json_response(Health(status="ok"))


async def readyz(request: Request) -> Response:
    try:
        await in_unit_of_work(request, services(request).uow.ping)
    except Exception:
        return json_response({"error": "not_ready", "message": "The database cannot be reached."}, 503)
    return json_response(Health(status="ready"))


async def metrics(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class ApiDocs:
    """The OpenAPI document of one app's JSON endpoints (built on first use), and its page."""

    def __init__(self, described: Sequence[ApiRoute]) -> None:
        self.described = list(described)
        self._document: dict[str, object] | None = None

    def document(self, request: Request) -> dict[str, object]:
        if self._document is None:
            settings = services(request).settings
            self._document = document(self.described, f"{settings.brand} API", "1.0.0", settings.public_url.rstrip("/"))
        return dict(self._document)

    async def as_json(self, request: Request) -> Response:
        return json_response(self.document(request))

    async def as_page(self, request: Request) -> Response:
        return page(request, "api_docs.html", doc=self.document(request))


DEV_PAGE_DELIVERIES = 50


def _dev_mailbox(request: Request) -> DevMailbox | None:
    mailbox: DevMailbox | None = services(request).dev_mailbox
    return mailbox


async def dev_mail(request: Request) -> Response:
    mailbox = _dev_mailbox(request)
    if mailbox is None:
        return page(request, "not_found.html", status=404)
    to = request.query_params.get("to", "")[:254]
    mails = await asyncio.to_thread(mailbox.newest, to)  # not the flows' unit of work
    if "application/json" in request.headers.get("accept", ""):
        return json_response({"mails": [{k: v for k, v in m.items() if k != "created_at"} for m in mails]})
    return page(request, "dev_mail.html", mails=mails, to=to)


async def dev_sms(request: Request) -> Response:
    outbox: DevSmsOutbox | None = services(request).dev_sms
    if outbox is None:
        return page(request, "not_found.html", status=404)
    to = request.query_params.get("to", "")[:20]
    texts = await asyncio.to_thread(outbox.newest, to)
    if "application/json" in request.headers.get("accept", ""):
        return json_response({"texts": [{k: v for k, v in m.items() if k != "created_at"} for m in texts]})
    return page(request, "dev_sms.html", texts=texts, to=to)


async def dev_notifications(request: Request) -> Response:
    container = services(request)
    if not container.settings.dev_mode:
        return page(request, "not_found.html", status=404)
    deliveries = await container.uow.run_optimistic(container.notify.recent_deliveries, DEV_PAGE_DELIVERIES)
    return page(request, "dev_notifications.html", deliveries=deliveries)


async def dev_mail_html(request: Request) -> Response:
    mailbox = _dev_mailbox(request)
    mail_id = request.path_params["mail_id"]
    valid = mail_id.isdigit() and len(mail_id) <= 18  # beyond that it is no row id (and overflows SQLite)
    html = await asyncio.to_thread(mailbox.html, int(mail_id)) if mailbox and valid else None
    if html is None:
        return page(request, "not_found.html", status=404)
    # Shown in a sandboxed frame: the mail's HTML runs no script and reaches nothing.
    return Response(
        html,
        media_type="text/html",
        headers={
            "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; sandbox",
        },
    )


def routes(described: Sequence[ApiRoute]) -> list[BaseRoute]:
    """These routes, in the order they are matched; ``described``: the app's JSON endpoints, for the docs."""
    docs = ApiDocs(described)
    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/api/openapi.json", docs.as_json, methods=["GET"]),
        Route("/api/docs", docs.as_page, methods=["GET"]),
        Route("/dev/mail", dev_mail, methods=["GET"]),
        Route("/dev/mail/{mail_id}", dev_mail_html, methods=["GET"]),
        Route("/dev/sms", dev_sms, methods=["GET"]),
        Route("/dev/notifications", dev_notifications, methods=["GET"]),
    ]
