"""Domain errors → HTTP statuses, at the edge (Authlib rfc6749/errors.py style)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

import msgspec

from vitalkey.domain.errors import DomainError
from vitalkey.domain.i18n import N_

STATUS: dict[str, int] = {
    "flow_not_found": 404,
    "session_not_found": 404,
    "flow_expired": 410,
    "link_gone": 410,
    "rate_limited": 429,
    "too_many_code_failures": 429,
    "resend_too_soon": 429,
    "resend_limit": 409,  # no wait helps: a new sign-in does
    "password_throttled": 429,
    "password_locked": 409,  # no wait helps: an emailed code or a reset does
    "reset_link_invalid": 410,
    "no_password": 409,
    "password_already_set": 409,
    "reauthentication_required": 403,
    "two_factor_off": 409,
    "sms_limited": 429,
    "sms_unavailable": 429,
    "too_many_recovery_failures": 429,
    "app_does_not_support_2fa": 403,
    "app_password_not_found": 404,
    "authenticator_not_found": 404,
    "identity_linked_elsewhere": 409,  # never moved: unlink it from the other account first
    "unlink_refused": 409,  # the last confirmed way to sign in
    "unknown_provider": 404,
    "link_address_mismatch": 409,
    "app_supports_2fa": 409,
    "app_exists": 409,
    "connected_app_not_found": 404,
    "unknown_device": 404,  # in a path; an item's unknown device is one of its batch's problems (400)
    "idempotency_conflict": 409,
    "batch_too_large": 413,
    "import_too_large": 413,
    "archive_too_large": 413,
    "not_authenticated": 401,
    "csrf_failed": 403,
    "account_exists": 409,
    "wrong_state": 409,
    "body_too_large": 413,
    "unsupported_media_type": 415,
    "not_found": 404,
    "export_in_progress": 409,
    "export_not_found": 404,
    "export_expired": 410,
    "export_not_ready": 409,
    "export_failed": 410,
    "method_not_allowed": 405,
}


def status_of(error: DomainError) -> int:
    return STATUS.get(error.code, 400)


def retry_after(error: DomainError) -> str | None:
    """A 429's Retry-After: the whole seconds after which the next attempt can succeed."""
    seconds = error.params.get("seconds")
    return str(seconds) if seconds is not None and status_of(error) == 429 else None


class HttpError(DomainError):
    """An edge-only error (bad JSON, body too large …) in the same shape as domain errors."""

    def __init__(self, code: str, message: str, status: int, **params: Any) -> None:
        super().__init__(message, **params)
        self.status = status
        self.http_code = code

    def __str__(self) -> str:
        return self.http_code


# Answers the edge makes itself (no route answered, or it failed), shaped for the path's kind ---
class Family(Enum):
    """What a path's clients parse: the JSON API, RFC 6749 JSON, the Withings envelope, or pages."""

    API = "api"
    OAUTH = "oauth"
    WITHINGS = "withings"
    PAGE = "page"


WITHINGS_PATHS = ("/measure", "/notify")  # besides everything under /v2/


def family_of(path: str) -> Family:
    if path.startswith("/api/"):
        return Family.PAGE if path == "/api/docs" else Family.API
    if path.startswith("/v2/") or path in WITHINGS_PATHS:
        return Family.WITHINGS
    if path.startswith("/.well-known/") or (path.startswith("/oauth2/") and not path.startswith("/oauth2/authorize")):
        return Family.OAUTH  # the authorize and consent pages are pages
    return Family.PAGE


@dataclass(frozen=True, slots=True)
class Problem:
    """One kind of edge answer: the HTTP status, and its code in each family's vocabulary."""

    status: int
    code: str  # the JSON API's ``error``
    oauth_code: str  # RFC 6749's ``error``
    withings_status: int  # the Withings envelope's ``status``
    message: str  # a message id (translated for the API and pages; as is in OAuth and Withings)


RETRY_AFTER_S = 5  # an unreachable database: a restart or a fail-over takes seconds
# Withings: 601 ("too many requests") is the documented status real clients retry (withings-sync
# retries it, honouring body.wait_seconds; withings-api raises TooManyRequestsException); 5000
# is in the "error occurred" family (not "unauthorized", which would ask the user to relink);
# 2554 is what an unknown action gets; 503 is "invalid params".
UNAVAILABLE = Problem(
    503,
    "unavailable",
    "temporarily_unavailable",
    601,
    N_("The service is temporarily unavailable. Please try again in a moment."),
)
SERVER_ERROR = Problem(
    500, "server_error", "server_error", 5000, N_("Something went wrong on our side. Please try again.")
)
TOO_LARGE = Problem(413, "body_too_large", "invalid_request", 503, N_("The request is too large (more than 64 KiB)."))
BATCH_BYTES_TOO_LARGE = Problem(
    413,
    "body_too_large",
    "invalid_request",
    503,
    N_("This batch is too large: send its items in several smaller batches."),
)
IMPORT_TOO_LARGE = Problem(413, "import_too_large", "invalid_request", 503, N_("This file is too large to import."))
NOT_FOUND = Problem(404, "not_found", "not_found", 2554, N_("This page does not exist."))
METHOD_NOT_ALLOWED = Problem(405, "method_not_allowed", "invalid_request", 2554, N_("This method is not allowed here."))
HTTP_ERROR = Problem(400, "http_error", "invalid_request", 503, N_("The request could not be processed."))


def json_problem(problem: Problem, family: Family, translated: str, status: int | None = None) -> JsonProblem:
    """The JSON answer to ``problem`` in ``family`` (not PAGE): its status, body and headers.
    ``translated`` is the message in the visitor's language (the API's only: OAuth descriptions are
    ASCII by RFC 6749, and Withings clients read English)."""
    status = status or problem.status
    body: dict[str, Any]
    if family is Family.API:
        body = {"error": problem.code, "message": translated}
    elif family is Family.OAUTH:
        body = {"error": problem.oauth_code, "error_description": problem.message}
    else:
        body = {"status": problem.withings_status, "body": {}, "error": problem.message}
        if problem.status == 503:
            body["body"] = {"wait_seconds": RETRY_AFTER_S}
    headers = [("cache-control", "no-store")]
    if problem.status == 503:
        headers.append(("retry-after", str(RETRY_AFTER_S)))
    return JsonProblem(status, _encoder.encode(body), headers)


@dataclass(frozen=True, slots=True)
class JsonProblem:
    status: int
    body: bytes
    headers: list[tuple[str, str]]


_encoder = msgspec.json.Encoder()
