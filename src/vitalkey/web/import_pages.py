"""Importing a file of health history from the browser: ``POST /account/data/import``, a
multipart upload (the file and a time zone) from the "Import data" section of "Download my data"
(``_data_import.html``, included by that page), answered by a report page in the user's language.

The file is read off the event loop (a worker thread: CSV and ZIP reading is CPU work); then the
devices and goals, and each batch of at most 5,000 items, are each their own unit of work, so a
large file never holds the database or the loop for long. The same steps serve the JSON API
(``web/import_api.py``).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import anyio
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from vitalkey.domain.errors import DomainError
from vitalkey.domain.health import known_timezone
from vitalkey.domain.i18n import N_
from vitalkey.flows.data_import import KINDS, ImportReport, Skipped, UnreadableImport
from vitalkey.web.context import MAX_FORM_FIELDS, in_unit_of_work, language, services
from vitalkey.web.errors import status_of
from vitalkey.web.pages import current_user, see_other
from vitalkey.web.render import page, translate

PATH = "/account/data/import"
FORM_SLACK = 1024 * 1024  # the multipart envelope around the file, beyond ``import_max_bytes``
KIND_LABELS = {
    "measure_groups": N_("Measurements (weight, body composition, blood pressure, …)"),
    "activity": N_("Days of activity"),
    "intraday": N_("Intraday samples"),
    "workouts": N_("Workouts"),
    "sleep": N_("Nights of sleep"),
    "heart": N_("ECG recordings"),
}
NO_FILE = N_("Please choose a file to import.")


class NoFile(UnreadableImport):
    code = "no_file"
    message = NO_FILE


async def default_timezone(request: Request, account_id: int) -> str:
    """The time zone the form offers: the user's first paired device's, else UTC."""
    return await in_unit_of_work(request, services(request).data_import.default_timezone, account_id)


async def import_context(request: Request, account_id: int) -> dict[str, Any]:
    """What ``_data_import.html`` needs from the page that includes it."""
    return {"import_timezone": await default_timezone(request, account_id), "import_limit_mb": limit_mb(request)}


def limit_mb(request: Request) -> int:
    return max(1, services(request).settings.import_max_bytes // (1024 * 1024))


async def run_import(request: Request, account_id: int, filename: str, content: bytes, timezone: str) -> ImportReport:
    """Read the file in a worker thread, then store it a unit of work at a time."""
    importer = services(request).data_import
    plan = await anyio.to_thread.run_sync(partial(importer.read, filename, content, timezone))
    await in_unit_of_work(request, importer.prepare, account_id, plan)
    for chunk in plan.chunks():
        await in_unit_of_work(request, importer.store, account_id, chunk, plan.report)
    return plan.report


def where(lang: str, skipped: Skipped) -> dict[str, Any]:
    """A skipped item as the report shows it: its place, and why, in the user's language."""
    return {
        "file": skipped.file,
        "line": skipped.line,
        "item": skipped.item,
        "reason": skipped.error.code,
        "message": translate(lang, skipped.error),
    }


def report_values(lang: str, report: ImportReport) -> dict[str, Any]:
    return {
        "source": report.source,
        "imported": [(KIND_LABELS[kind], report.imported[kind]) for kind in KINDS if report.imported[kind]],
        "imported_total": report.imported_total,
        "skipped_total": report.skipped_total,
        "reasons": [
            (translate(lang, report.reasons[code]), count)
            for code, count in sorted(report.skipped_counts.items(), key=lambda item: -item[1])
        ],
        "skipped": [where(lang, s) for s in report.skipped],
        "ignored_files": report.ignored_files,
        "devices_paired": report.devices_paired,
        "goals_set": report.goals_set,
    }


async def import_page(request: Request) -> Response:
    auth = await current_user(request)
    if auth is None:
        return see_other(request, "/login")
    lang = language(request)
    account_id = auth.account.id
    timezone = ""
    try:
        async with request.form(max_files=1, max_fields=MAX_FORM_FIELDS) as form:
            upload = form.get("file")
            zone = form.get("timezone")
            timezone = zone.strip() if isinstance(zone, str) else ""
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise NoFile(field="file")
            content = await upload.read()
            if not content:
                raise NoFile(field="file")
            filename = upload.filename
        timezone = timezone or await default_timezone(request, account_id)
        report = await run_import(request, account_id, filename, content, timezone)
    except MultiPartException:
        return await _form_again(request, 400, UnreadableImport(field="file"), timezone, account_id)
    except DomainError as refused:
        if refused.field_name not in ("file", "timezone"):
            refused.field_name = "timezone" if refused.code == "unknown_timezone" else "file"
        return await _form_again(request, status_of(refused), refused, timezone, account_id)
    return page(
        request,
        "data_import.html",
        report=report_values(lang, report),
        import_timezone=timezone,
        import_limit_mb=limit_mb(request),
    )


async def _form_again(request: Request, status: int, error: DomainError, timezone: str, account_id: int) -> Response:
    zone = timezone if known_timezone(timezone) else await default_timezone(request, account_id)
    return page(
        request,
        "data_import.html",
        status=status,
        error=error,
        report=None,
        import_timezone=zone,
        import_limit_mb=limit_mb(request),
    )


def routes() -> list[BaseRoute]:
    return [Route(PATH, import_page, methods=["POST"])]
