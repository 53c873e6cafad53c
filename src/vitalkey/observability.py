"""Structured JSON logs with a request id, and Prometheus metrics. Secrets never reach a log line."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from prometheus_client import Counter, Histogram

REQUESTS = Counter("vitalkey_http_requests_total", "HTTP requests", ["method", "route", "status"])
REQUEST_SECONDS = Histogram("vitalkey_http_request_seconds", "HTTP request duration", ["route"])
MAILS_SENT = Counter("vitalkey_mails_sent_total", "Mails delivered", ["template"])
MAIL_FAILURES = Counter("vitalkey_mail_failures_total", "Mail delivery attempts that failed")
SIGNUPS = Counter("vitalkey_signups_total", "Completed sign-ups")
SIGNINS = Counter("vitalkey_signins_total", "Completed sign-ins", ["method"])
CODE_FAILURES = Counter("vitalkey_code_failures_total", "Rejected one-time codes", ["reason"])
# Sent vs completed SMS codes: a country whose codes are sent but never entered is being pumped.
SMS_SENT = Counter("vitalkey_sms_codes_sent_total", "SMS codes accepted by a gateway", ["purpose", "country"])
OAUTH_TOKENS = Counter(
    "vitalkey_oauth_token_requests_total", "Token endpoint answers (RFC 6749 and Withings)", ["grant", "outcome"]
)
SMS_COMPLETED = Counter("vitalkey_sms_codes_completed_total", "SMS codes entered right", ["purpose"])
SMS_FAILURES = Counter("vitalkey_sms_failures_total", "SMS sending attempts that failed", ["kind"])
SMS_REFUSED = Counter("vitalkey_sms_refused_total", "SMS not sent because a limit was reached", ["limit"])
# Units of work run again after the database aborted their transaction (40001, 40P01), and those
# that still failed when the attempts ran out.
DB_RETRIES = Counter("vitalkey_db_retries_total", "Units of work run again after a transient conflict", ["sqlstate"])
DB_RETRIES_EXHAUSTED = Counter(
    "vitalkey_db_retries_exhausted_total", "Units of work that failed after their last attempt", ["sqlstate"]
)

# Keys whose values must never be logged, whatever a caller passes in.
_SECRET_KEYS = re.compile(r"(code|token|password|secret|session|cookie|authorization|csrf)", re.I)


def redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if key != "event" and _SECRET_KEYS.search(key) and key not in {"status_code", "error_code"}:
            event[key] = "[redacted]"
    return event


def configure_logging(level: str = "info", json: bool = True) -> None:
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )


def logger(name: str) -> Any:
    return structlog.get_logger(name)
