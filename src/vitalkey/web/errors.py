"""Domain errors → HTTP statuses, at the edge (Authlib rfc6749/errors.py style)."""

from __future__ import annotations

from typing import Any

from vitalkey.domain.errors import DomainError

STATUS: dict[str, int] = {
    "flow_not_found": 404,
    "session_not_found": 404,
    "flow_expired": 410,
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
    "app_supports_2fa": 409,
    "app_exists": 409,
    "connected_app_not_found": 404,
    "not_authenticated": 401,
    "csrf_failed": 403,
    "account_exists": 409,
    "wrong_state": 409,
    "body_too_large": 413,
    "unsupported_media_type": 415,
    "not_found": 404,
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
