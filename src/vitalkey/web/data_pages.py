""" "Download my data": the page (``/account/data``), the download link (``/account/data/export/{id}``)
and the JSON API of the companion app.

The page's button prepares a download: a small account's ZIP is built at once and is the answer
to the POST (the browser saves it and stays on the page); a large one's is queued and the page
says it is being prepared (a mail brings the link). The link works for one day and only for its
signed-in owner: signed out, it leads to the sign-in; anyone else gets a 404; once expired, a
page saying so. Plain forms, no script.
"""

from __future__ import annotations

from datetime import UTC, datetime

from babel.dates import format_date, format_time, get_datetime_format
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from vitalkey.domain.data_exports import DataExport, ExportNotFound, ExportStatus
from vitalkey.domain.errors import DomainError
from vitalkey.domain.i18n import N_
from vitalkey.flows.data_export import Download
from vitalkey.i18n import LANGUAGES
from vitalkey.web import schemas
from vitalkey.web.api import ApiEndpoint, api_endpoint, json_response
from vitalkey.web.context import in_unit_of_work, language, services
from vitalkey.web.errors import HttpError
from vitalkey.web.import_pages import import_context
from vitalkey.web.pages import current_user, error_status, posted_form, see_other
from vitalkey.web.render import page, translate

PAGE = "/account/data"
LINK = "/account/data/export/{export_id}"
API = "/api/v1/account/export"
API_FILE = "/api/v1/account/export/{export_id}"
EXPORT_ID_MAX = 32


async def fetch(request: Request, account_id: int, export_id: str) -> Download:
    """The owner's ZIP, read off the event loop: it may be megabytes (on SQLite a unit of work
    would read it on the loop's own thread)."""
    container = services(request)
    return await container.uow.read_long(container.data_exports.download, account_id, export_id[:EXPORT_ID_MAX])


def zip_response(download: Download) -> Response:
    return Response(
        download.content,
        media_type="application/zip",
        headers={
            "content-disposition": f'attachment; filename="{download.filename}"',
            "cache-control": "no-store",
        },
    )


def when(request: Request, moment: datetime) -> str:
    """A moment in the visitor's language (Babel: the locale's date and short time, joined as
    it joins them), in UTC and saying so (the account keeps no time zone)."""
    locale = LANGUAGES[language(request)][0]
    joined = str(get_datetime_format("medium", locale=locale))
    day = format_date(moment, "medium", locale=locale)
    clock = format_time(moment, "short", tzinfo=UTC, locale=locale)
    return joined.replace("{1}", day).replace("{0}", clock) + " UTC"


async def data_page(request: Request) -> Response:
    auth = await current_user(request)
    if auth is None:
        return see_other(request, "/login")
    container = services(request)
    error: DomainError | None = None
    if request.method == "POST":
        try:
            form = await posted_form(request)
            if form.get("action") != "prepare":
                raise HttpError("unknown_action", N_("This action is not available."), 400)
            requested = await container.data_exports.request(auth.account.id)
            if requested.content is not None:
                return zip_response(Download(requested.export, requested.content))
            return see_other(request, PAGE)
        except DomainError as refused:
            error = refused
    export = await in_unit_of_work(request, container.data_exports.latest, auth.account.id)
    now = container.clock.now()
    return page(
        request,
        "account_data.html",
        status=error_status(error) if error else 200,
        error=error,
        auth=auth,
        export=export,
        expired=export is not None and export.expired(now),
        until=when(request, export.expires) if export is not None and export.expires else "",
        link=LINK.format(export_id=export.id) if export is not None else "",
        **await import_context(request, auth.account.id),
    )


async def download_page(request: Request) -> Response:
    auth = await current_user(request)
    if auth is None:
        return see_other(request, "/login")
    try:
        download = await fetch(request, auth.account.id, request.path_params["export_id"])
    except ExportNotFound:
        return page(request, "not_found.html", status=404)
    except DomainError as refused:  # expired, still being prepared, failed
        message = translate(language(request), refused)
        return page(request, "account_data_gone.html", status=error_status(refused), message=message, auth=auth)
    return zip_response(download)


def export_out(export: DataExport) -> schemas.ExportOut:
    ready = export.status is ExportStatus.READY
    return schemas.ExportOut(
        id=export.id,
        status=export.status.value,
        created_at=export.created,
        ready_at=export.ready_at,
        expires_at=export.expires,
        records=export.records,
        size=export.size,
        download_url=API_FILE.format(export_id=export.id) if ready else None,
    )


@api_endpoint(
    "POST",
    API,
    'Prepare "Download my data": a small account\'s ZIP is ready at once (201, download_url set); a large '
    "one's is built in the background (202, status pending; a mail says when it is ready). One at a time.",
    response=schemas.ExportOut,
    status=201,
    auth=True,
    errors=(409,),
    also=((202, schemas.ExportOut, "Queued: built in the background"),),
)
async def request_export(request: Request, body: None) -> Response:
    requested = await services(request).data_exports.request(request.state.auth.account.id)
    export = requested.export
    return json_response(export_out(export), 201 if export.status is ExportStatus.READY else 202)


@api_endpoint(
    "GET",
    API,
    "The newest data export: pending, ready (until expires_at) or failed",
    response=schemas.ExportOut,
    auth=True,
    errors=(404,),
)
async def latest_export(request: Request, body: None) -> schemas.ExportOut:
    container = services(request)
    export = await in_unit_of_work(request, container.data_exports.latest, request.state.auth.account.id)
    if export is None:
        raise ExportNotFound()
    return export_out(export)


@api_endpoint(
    "GET",
    API_FILE,
    "The ZIP of a ready data export (application/zip); 404 for another user's, 410 once expired",
    auth=True,
    errors=(404, 409, 410),
)
async def export_file(request: Request, body: None) -> Response:
    download = await fetch(request, request.state.auth.account.id, request.path_params["export_id"])
    return zip_response(download)


def endpoints() -> list[ApiEndpoint]:
    return [request_export, latest_export, export_file]


def routes() -> list[BaseRoute]:
    """This module's routes (before ``/account/{action}``)."""
    return [
        Route(PAGE, data_page, methods=["GET", "POST"]),
        Route(LINK, download_page, methods=["GET"]),
    ]
