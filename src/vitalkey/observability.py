"""Structured JSON logs with a request id, and Prometheus metrics. Secrets never reach a log line."""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import MutableMapping
from functools import cache
from typing import Any

import structlog
from prometheus_client import Counter, Gauge, Histogram
from structlog.processors import ExceptionRenderer
from structlog.tracebacks import ExceptionDictTransformer

REQUESTS = Counter("vitalkey_http_requests_total", "HTTP requests", ["method", "route", "status"])
REQUEST_SECONDS = Histogram("vitalkey_http_request_seconds", "HTTP request duration", ["route"])
MAILS_SENT = Counter("vitalkey_mails_sent_total", "Mails delivered", ["template"])
MAIL_FAILURES = Counter("vitalkey_mail_failures_total", "Mail delivery attempts that failed")
SIGNUPS = Counter("vitalkey_signups_total", "Completed sign-ups")
SIGNINS = Counter("vitalkey_signins_total", "Completed sign-ins", ["method"])
# Upstream sign-ins (Google, Apple, OIDC) that found a linked identity, by the configured provider's
# id only (few values); counted after the transaction that recognised it committed.
FEDERATED_SIGNINS = Counter(
    "vitalkey_federated_signins_total", "Upstream sign-ins that found a linked identity", ["provider"]
)
CODE_FAILURES = Counter("vitalkey_code_failures_total", "Rejected one-time codes", ["reason"])
# Sent vs completed SMS codes: a country whose codes are sent but never entered is being pumped.
SMS_SENT = Counter("vitalkey_sms_codes_sent_total", "SMS codes accepted by a gateway", ["purpose", "country"])
OAUTH_TOKENS = Counter(
    "vitalkey_oauth_token_requests_total", "Token endpoint answers (RFC 6749 and Withings)", ["grant", "outcome"]
)


@cache  # one child per label pair, looked up once: labels() is slow on the token path
def oauth_token_series(grant: str, outcome: str) -> Any:
    return OAUTH_TOKENS.labels(grant=grant, outcome=outcome)


SMS_COMPLETED = Counter("vitalkey_sms_codes_completed_total", "SMS codes entered right", ["purpose"])
SMS_FAILURES = Counter("vitalkey_sms_failures_total", "SMS sending attempts that failed", ["kind"])
SMS_REFUSED = Counter("vitalkey_sms_refused_total", "SMS not sent because a limit was reached", ["limit"])
# Notifications to partners: each cycle of tries by outcome, and how late deliveries are.
NOTIFY_DELIVERIES = Counter(
    "vitalkey_notify_deliveries_total",
    "Partner notification cycles by outcome (delivered, retried, failed: given up)",
    ["client_id", "outcome"],
)
NOTIFY_LATENCY = Histogram(
    "vitalkey_notify_delivery_seconds",
    "From a delivery's due time (its coalescing window's end, or its retry) to its delivery",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 6 * 3600, 24 * 3600),
)
NOTIFY_WAITING = Gauge("vitalkey_notify_waiting", "Notifications queued, neither delivered nor given up")
# Units of work run again after the database aborted their transaction (40001, 40P01), and those
# that still failed when the attempts ran out.
DB_RETRIES = Counter("vitalkey_db_retries_total", "Units of work run again after a transient conflict", ["sqlstate"])
DB_RETRIES_EXHAUSTED = Counter(
    "vitalkey_db_retries_exhausted_total", "Units of work that failed after their last attempt", ["sqlstate"]
)
# Sign-in with upstream providers: answers refused, by the provider's configured id and the
# check that failed (never a user's anything).
UPSTREAM_REFUSALS = Counter(
    "vitalkey_upstream_refusals_total",
    "Upstream (Apple, Google, OpenID Connect) answers refused",
    ["provider", "reason"],
)


def count_upstream_refusal(provider: str, reason: str) -> None:
    UPSTREAM_REFUSALS.labels(provider=provider, reason=reason).inc()


class MetricEvents:
    """The domain events (``ports.Events``) as Prometheus counters."""

    def signed_up(self) -> None:
        SIGNUPS.inc()

    def signed_in(self, method: str) -> None:
        SIGNINS.labels(method=method).inc()

    def code_refused(self, reason: str) -> None:
        CODE_FAILURES.labels(reason=reason).inc()

    def sms_completed(self, purpose: str) -> None:
        SMS_COMPLETED.labels(purpose=purpose).inc()

    def sms_refused(self, limit: str) -> None:
        SMS_REFUSED.labels(limit=limit).inc()


# Keys whose values must never be logged, whatever a caller passes in.
_SECRET_KEYS = re.compile(r"(code|token|password|secret|session|cookie|authorization|csrf)", re.I)


def redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if key != "event" and _SECRET_KEYS.search(key) and key not in {"status_code", "error_code"}:
            event[key] = "[redacted]"
    return event


class _Traceback:
    """An exception as one JSON field: each exception of the chain with its type and frames
    (file, line, function), no local variables and no message — drivers and libraries put
    values in their messages (SQL parameters, a duplicate key), and no value may reach a log."""

    def __init__(self) -> None:
        self._stacks = ExceptionDictTransformer(show_locals=False, use_rich=False)

    def __call__(self, exc_info: Any) -> list[dict[str, Any]]:
        stacks = self._stacks(exc_info)
        for stack in stacks:
            stack.pop("exc_value", None)
            stack.pop("exc_notes", None)
        return stacks


_HANDLER = "vitalkey"


def configure_logging(level: str = "info", json: bool = True) -> None:
    """structlog's JSON lines on stderr, and the standard library's loggers (uvicorn's, asyncio's,
    SQLAlchemy's pool, warnings) rendered the same way: one line per event, a traceback in one
    ``exception`` field, never multi-line text."""
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    # ConsoleRenderer prints tracebacks itself (readable, multi-line: for development only).
    exceptions: list[Any] = [ExceptionRenderer(_Traceback())] if json else []
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    threshold = logging.getLevelName(level.upper())
    structlog.configure(
        processors=[*shared, redact, *exceptions, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, redact, *exceptions, renderer],
        )
    )
    handler.set_name(_HANDLER)
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if h.get_name() != _HANDLER and type(h) is not logging.StreamHandler]
    root.addHandler(handler)
    # Other libraries' loggers from warnings up only (as Python's own last-resort handler did):
    # their debug lines may quote what they handle (an SMTP library logs the mail it sends).
    root.setLevel(max(threshold, logging.WARNING))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
        named = logging.getLogger(name)  # uvicorn's own handlers, if it made any: ours instead
        named.handlers, named.propagate = [], True


def capture_process_errors() -> None:
    """For server processes (not tests, whose runner watches these itself): warnings and the
    exceptions that end a thread go to the log too, as JSON lines."""
    logging.captureWarnings(True)
    threading.excepthook = _log_thread_exception


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    """A thread that dies of an exception: one JSON line, not the default multi-line print."""
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    thread = args.thread.name if args.thread else ""
    logger("vitalkey.thread").error("thread_died", thread=thread, exc_info=args.exc_value)


def logger(name: str) -> Any:
    return structlog.get_logger(name)
