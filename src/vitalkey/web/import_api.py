"""The JSON API of importing health history (a signed-in user's bearer session):
``POST /api/v1/account/import`` with the file as the body — a VitalKey export (``application/zip``
or its ``vitalkey.json``, ``application/json``) or a Withings data export's ZIP or one of its CSV
files (``text/csv``) — the file's name in ``?filename=`` (or ``X-Filename``), and the time zone
of the times written without an offset in ``?timezone=`` (or ``X-Timezone``; by default the
user's first device's, else UTC). The answer is the import's report."""

from __future__ import annotations

import msgspec
from starlette.requests import Request

from vitalkey.domain.i18n import N_
from vitalkey.web.api import ApiEndpoint, api_endpoint
from vitalkey.web.context import language
from vitalkey.web.errors import HttpError
from vitalkey.web.import_pages import default_timezone, report_values, run_import
from vitalkey.web.openapi import HeaderParameter

PATH = "/api/v1/account/import"
TYPES = {  # Content-Type → the name a file of that type gets when none is given
    "application/zip": "import.zip",
    "application/x-zip-compressed": "import.zip",
    "application/json": "vitalkey.json",
    "text/csv": "import.csv",
}
MAX_NAME = 255


class ImportedKind(msgspec.Struct):
    kind: str
    count: int


class SkipReason(msgspec.Struct):
    message: str
    count: int


class SkippedItem(msgspec.Struct):
    file: str
    reason: str
    message: str
    line: int | None = None
    item: str | None = None


class ImportReportOut(msgspec.Struct):
    source: str  # "vitalkey" | "withings"
    imported: dict[str, int]  # per kind: measure_groups, activity, intraday, workouts, sleep, heart
    imported_total: int
    skipped_total: int
    skipped_counts: dict[str, int]  # per reason code
    reasons: list[SkipReason]  # per reason, in the user's language
    skipped: list[SkippedItem]  # the first 50
    files: list[str]
    ignored_files: list[str]
    devices_paired: int
    goals_set: bool


_NAME = {"type": "string", "maxLength": MAX_NAME}
_ZONE = {"type": "string", "maxLength": 64}
PARAMETERS = (
    HeaderParameter("filename", "The file's name (weight.csv, …)", _NAME, required=False, where="query"),
    HeaderParameter("timezone", "The IANA time zone of times written without an offset", _ZONE, False, "query"),
    HeaderParameter("X-Filename", "The file's name, when not given as ?filename=", _NAME, required=False),
    HeaderParameter("X-Timezone", "The time zone, when not given as ?timezone=", _ZONE, required=False),
)


@api_endpoint(
    "POST",
    PATH,
    "Import a VitalKey export or a Withings data export (its ZIP or one of its CSV files), sent as the body with "
    "Content-Type application/zip, application/json or text/csv: what is already in the account, or cannot be "
    "read or stored, is skipped and reported; 413 for a file (or unpacked archive) over the limits",
    response=ImportReportOut,
    auth=True,
    errors=(413, 415),
    tag="health",
    headers=PARAMETERS,
    raw_body=tuple(TYPES),
)
async def import_file(request: Request, _: None) -> ImportReportOut:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in TYPES:
        raise HttpError(
            "unsupported_media_type",
            N_("Send the file with Content-Type application/zip, application/json or text/csv."),
            415,
        )
    account_id = int(request.state.auth.account.id)
    filename = request.query_params.get("filename") or request.headers.get("x-filename") or TYPES[content_type]
    timezone = request.query_params.get("timezone") or request.headers.get("x-timezone") or ""
    content = await request.body()
    report = await run_import(
        request,
        account_id,
        filename[:MAX_NAME],
        content,
        timezone.strip() or await default_timezone(request, account_id),
    )
    shown = report_values(language(request), report)
    return ImportReportOut(
        source=report.source,
        imported=dict(report.imported),
        imported_total=report.imported_total,
        skipped_total=report.skipped_total,
        skipped_counts=dict(report.skipped_counts),
        reasons=[SkipReason(message, count) for message, count in shown["reasons"]],
        skipped=[SkippedItem(s["file"], s["reason"], s["message"], s["line"], s["item"]) for s in shown["skipped"]],
        files=report.files,
        ignored_files=report.ignored_files,
        devices_paired=report.devices_paired,
        goals_set=report.goals_set,
    )


def endpoints() -> list[ApiEndpoint]:
    return [import_file]
