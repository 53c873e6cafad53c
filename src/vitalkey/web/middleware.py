"""Pure ASGI middleware: request id, body size limit, security headers, access log and metrics."""

from __future__ import annotations

import html
import re
import secrets
import time
from collections.abc import Mapping
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vitalkey.i18n import negotiate, supported, translations
from vitalkey.observability import REQUEST_SECONDS, REQUESTS, logger
from vitalkey.web.errors import SERVER_ERROR, TOO_LARGE, Family, Problem, family_of, json_problem

log = logger("vitalkey.http")
LANG_COOKIE = "vk_lang"
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
CSP_BYTES = CSP.encode()


class BodyTooLarge(Exception):
    pass


class EdgeMiddleware:
    """Runs for every request, so it does little per request: the headers it adds are made once,
    metric series are looked up once, and the access log is the logger configured at start-up."""

    def __init__(
        self, app: ASGIApp, max_body: int, https: bool, larger_bodies: Mapping[str, tuple[int, Problem]] | None = None
    ) -> None:
        self.app, self.max_body, self.https = app, max_body, https
        # paths that take more than ``max_body`` (the health batches): their limit and their 413
        self.larger_bodies = dict(larger_bodies or {})
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._always = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY")]
        if https:
            self._always.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
        self._log = log.bind()  # resolved now, not on every request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = length = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
            elif name == b"content-length":
                length = value
        request_id = incoming if incoming and _REQUEST_ID.match(incoming) else secrets.token_hex(8)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        max_body, too_large_problem = self.larger_bodies.get(scope["path"], (self.max_body, TOO_LARGE))
        too_large = length is not None and (not length.isdigit() or int(length) > max_body)
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_body:
                    raise BodyTooLarge()
            return message

        responded = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status, responded = message["status"], True
                message["headers"] = self._with_security_headers(list(message.get("headers", ())), request_id)
            await send(message)

        try:
            if too_large:
                raise BodyTooLarge()
            await self.app(scope, limited_receive, send_with_headers)
        except BodyTooLarge:
            status = 413
            await self._answer(send_with_headers, too_large_problem, scope)
        except Exception as exc:  # a bug: answer 500 ourselves, so it too has our headers
            status = 500
            log.error("unhandled", error=type(exc).__name__, route=route_of(scope), exc_info=exc)
            if not responded:
                await self._answer(send_with_headers, SERVER_ERROR, scope)
        finally:
            self._finish(scope, status, started)
            structlog.contextvars.unbind_contextvars("request_id")

    def _with_security_headers(self, headers: list[tuple[bytes, bytes]], request_id: str) -> list[tuple[bytes, bytes]]:
        has_csp = has_referrer = False
        for name, _ in headers:
            lowered = name.lower()
            has_csp = has_csp or lowered == b"content-security-policy"
            has_referrer = has_referrer or lowered == b"referrer-policy"
        headers.append((b"x-request-id", request_id.encode()))
        headers += self._always
        if not has_csp:
            headers.append((b"content-security-policy", CSP_BYTES))
        if not has_referrer:
            headers.append((b"referrer-policy", b"same-origin"))
        return headers

    def _finish(self, scope: Scope, status: int, started: float) -> None:
        route = route_of(scope)
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
        self._log.info("request", method=scope["method"], route=route, status=status, ms=round(elapsed * 1000, 2))

    async def _answer(self, send: Send, problem: Problem, scope: Scope) -> None:
        """A short answer made here, before or instead of the app's (body too large, server
        error), in the shape the path's clients parse: JSON on the API, OAuth and Withings paths."""
        family = family_of(scope["path"])
        message = translations(_language(dict(scope["headers"]))).gettext(problem.message)
        if family is Family.PAGE:
            status, content_type = problem.status, b"text/html; charset=utf-8"
            body = f"<!doctype html><title>{status}</title><p>{html.escape(message)}</p>".encode()
            extra: list[tuple[str, str]] = [("cache-control", "no-store")]
        else:
            answer = json_problem(problem, family, message)
            status, content_type, body, extra = answer.status, b"application/json", answer.body, answer.headers
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
        headers += [(name.encode(), value.encode()) for name, value in extra]
        headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _language(headers: dict[bytes, bytes]) -> str:
    chosen = None
    for part in headers.get(b"cookie", b"").decode("latin-1").split(";"):
        name, _, value = part.strip().partition("=")
        if name == LANG_COOKIE:
            chosen = supported(value)
    return chosen or negotiate(headers.get(b"accept-language", b"").decode("latin-1"))


def route_of(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"
