"""Pure ASGI middleware: request id, body size limit, security headers, access log and metrics."""

from __future__ import annotations

import html
import re
import secrets
import time
from typing import Any

import msgspec
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vitalkey.domain.i18n import N_
from vitalkey.i18n import negotiate, supported, translations
from vitalkey.observability import REQUEST_SECONDS, REQUESTS, logger

log = logger("vitalkey.http")
LANG_COOKIE = "vk_lang"
TOO_LARGE = N_("The request is too large (more than 64 KiB).")
SERVER_ERROR = N_("Something went wrong on our side. Please try again.")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def content_security_policy(form_targets: tuple[str, ...] = (), images: tuple[str, ...] = ()) -> str:
    """Forms post to this site only, images come from it only — except on the pages of an OAuth
    authorization: their forms end in a redirect to the app (which Chromium checks against
    ``form-action``), and the consent page shows the app's logo."""
    image_sources = " ".join(("'self'", "data:", *images))
    form_sources = " ".join(("'self'", *form_targets))
    return (
        f"default-src 'self'; img-src {image_sources}; style-src 'self'; script-src 'self'; "
        f"frame-ancestors 'none'; form-action {form_sources}; base-uri 'none'; object-src 'none'"
    )


CSP = content_security_policy()


class BodyTooLarge(Exception):
    pass


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, max_body: int, https: bool) -> None:
        self.app, self.max_body, self.https = app, max_body, https
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else secrets.token_hex(8)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status_holder = {"status": 500}
        is_api = scope["path"].startswith("/api/")

        length = headers.get(b"content-length")
        too_large = length is not None and (not length.isdigit() or int(length) > self.max_body)

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge()
            return message

        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                status_holder["status"] = message["status"]
                message["headers"] = self._with_security_headers(list(message.get("headers", [])), request_id)
            await send(message)

        try:
            if too_large:
                raise BodyTooLarge()
            await self.app(scope, limited_receive, send_with_headers)
        except BodyTooLarge:
            status_holder["status"] = 413
            await self._answer(send_with_headers, 413, is_api, "body_too_large", TOO_LARGE, headers)
        except Exception as exc:  # a bug: answer 500 ourselves, so it too has our headers
            status_holder["status"] = 500
            log.error("unhandled", error=type(exc).__name__, route=_route_of(scope))
            if not response_started:
                await self._answer(send_with_headers, 500, is_api, "server_error", SERVER_ERROR, headers)
        finally:
            self._finish(scope, status_holder["status"], started)
            structlog.contextvars.unbind_contextvars("request_id")

    def _with_security_headers(self, headers: list[tuple[bytes, bytes]], request_id: str) -> list[tuple[bytes, bytes]]:
        existing = {name.lower() for name, _ in headers}
        extra = [
            (b"x-request-id", request_id.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
        ]
        if b"content-security-policy" not in existing:
            extra.append((b"content-security-policy", CSP.encode()))
        if b"referrer-policy" not in existing:
            extra.append((b"referrer-policy", b"same-origin"))
        if self.https:
            extra.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
        return headers + extra

    def _finish(self, scope: Scope, status: int, started: float) -> None:
        route = _route_of(scope)
        elapsed = time.perf_counter() - started
        key = (scope["method"], route, status)
        counted = self._series.get(key)
        if counted is None:  # labelled series are looked up once, not on every request
            counted = (
                REQUESTS.labels(method=key[0], route=route, status=str(status)),
                REQUEST_SECONDS.labels(route=route),
            )
            self._series[key] = counted
        counted[0].inc()
        counted[1].observe(elapsed)
        log.info("request", method=scope["method"], route=route, status=status, ms=round(elapsed * 1000, 2))

    async def _answer(
        self, send: Send, status: int, is_api: bool, code: str, message_id: str, headers: dict[bytes, bytes]
    ) -> None:
        """A short answer made here, before or instead of the app's (body too large, server error)."""
        message = translations(_language(headers)).gettext(message_id)
        if is_api:
            body = msgspec.json.encode({"error": code, "message": message})
            content_type = b"application/json"
        else:
            body = f"<!doctype html><title>{status}</title><p>{html.escape(message)}</p>".encode()
            content_type = b"text/html; charset=utf-8"
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _language(headers: dict[bytes, bytes]) -> str:
    chosen = None
    for part in headers.get(b"cookie", b"").decode("latin-1").split(";"):
        name, _, value = part.strip().partition("=")
        if name == LANG_COOKIE:
            chosen = supported(value)
    return chosen or negotiate(headers.get(b"accept-language", b"").decode("latin-1"))


def _route_of(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"
