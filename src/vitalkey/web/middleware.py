"""Pure ASGI middleware: request id, body size limit, security headers, access log and metrics."""

from __future__ import annotations

import html
import re
import secrets
import time
from http.cookies import SimpleCookie
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
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)


class BodyTooLarge(Exception):
    pass


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, max_body: int, https: bool) -> None:
        self.app, self.max_body, self.https = app, max_body, https

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
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await self._too_large(send, is_api, request_id, headers)
            self._finish(scope, 413, started)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge()
            return message

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                extra = [
                    (b"x-request-id", request_id.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                ]
                existing = {name.lower() for name, _ in message.get("headers", [])}
                if b"content-security-policy" not in existing:
                    extra.append((b"content-security-policy", CSP.encode()))
                if b"referrer-policy" not in existing:
                    extra.append((b"referrer-policy", b"same-origin"))
                if self.https:
                    extra.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except BodyTooLarge:
            await self._too_large(send, is_api, request_id, headers)
            status_holder["status"] = 413
        finally:
            self._finish(scope, status_holder["status"], started)
            structlog.contextvars.unbind_contextvars("request_id")

    def _finish(self, scope: Scope, status: int, started: float) -> None:
        route = _route_of(scope)
        elapsed = time.perf_counter() - started
        REQUESTS.labels(method=scope["method"], route=route, status=str(status)).inc()
        REQUEST_SECONDS.labels(route=route).observe(elapsed)
        log.info("request", method=scope["method"], route=route, status=status, ms=round(elapsed * 1000, 2))

    async def _too_large(self, send: Send, is_api: bool, request_id: str, headers: dict[bytes, bytes]) -> None:
        message = translations(_language(headers)).gettext(TOO_LARGE)
        if is_api:
            body = msgspec.json.encode({"error": "body_too_large", "message": message})
            content_type = b"application/json"
        else:
            body = f"<!doctype html><title>413</title><p>{html.escape(message)}</p>".encode()
            content_type = b"text/html; charset=utf-8"
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-request-id", request_id.encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _language(headers: dict[bytes, bytes]) -> str:
    cookies = SimpleCookie(headers.get(b"cookie", b"").decode("latin-1"))
    chosen = supported(cookies[LANG_COOKIE].value) if LANG_COOKIE in cookies else None
    return chosen or negotiate(headers.get(b"accept-language", b"").decode("latin-1"))


def _route_of(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"
