"""The one CSRF check of every state-changing page request: it comes from our own pages and
carries the form's token. Page routes are wrapped by ``guard_pages`` when the app is built, so no
page can forget it; the JSON API (bearer tokens) and the client-authenticated OAuth endpoints are
not cookie-authenticated and are left alone.

Where a request comes from (OWASP's CSRF cheat sheet: Fetch Metadata, then standard headers):
``Sec-Fetch-Site`` when the browser sends it, else ``Origin``, else the ``Referer``'s origin,
compared with the origin of ``public_url`` (never the Host header, which a proxy or a client
writes). A request with none of them (an old client) is judged by its token alone.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from functools import lru_cache
from urllib.parse import quote, urlsplit

from starlette.datastructures import Headers
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vitalkey.domain.errors import CsrfFailed, DomainError
from vitalkey.observability import logger
from vitalkey.web.context import MAX_FORM_FIELDS, UNREADABLE_FORM, check_csrf, form_of, services
from vitalkey.web.errors import Family, HttpError, family_of
from vitalkey.web.render import page

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Not cookie-authenticated, cross-origin by design: client authentication or a bearer token.
API_PREFIX = "/api/"
EXEMPT_PATHS = frozenset(
    {
        "/oauth2/token",
        "/oauth2/revoke",
        "/oauth2/introspect",
        "/oauth2/userinfo",
        "/v2/oauth2",
        "/v2/signature",
        # Apple's form_post answer, posted from Apple's site: only sent on as a GET of the same
        # callback, where the sign-in is checked against this browser's flow (web/federation_pages.py).
        "/login/callback/{provider}",
    }
)
# "none": a navigation the user started in the browser itself (address bar, bookmark, reload of
# a posted page); no other site can cause it, so it is as trustworthy as "same-origin".
OWN_SITES = frozenset({"same-origin", "none"})
NO_REFERRER = "no-referrer"
log = logger("vitalkey.csrf")


@lru_cache(maxsize=16)
def origin_of_url(url: str) -> str | None:
    """``scheme://host[:port]`` as a browser writes an Origin (lower case, no default port), or
    None for what is not an http(s) URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


def own_origin(request: Request) -> str | None:
    return origin_of_url(services(request).settings.public_url)


def from_our_pages(headers: Mapping[str, str], origin: str | None) -> bool:
    """Whether the browser says the request was made by one of our pages (see the module's doc)."""
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site in OWN_SITES
    sent = headers.get("origin")
    if sent is not None:
        return sent != "null" and origin_of_url(sent) == origin  # "null": sandboxed or opaque senders
    referer = headers.get("referer")
    if referer is not None:
        return origin_of_url(referer) == origin
    return True


class CsrfGuard:
    """Wraps a page route: a POST (PUT, PATCH, DELETE) from another origin or without the
    browser's token is answered 403 with the "form expired" page, before the page runs."""

    def __init__(self, app: ASGIApp, retry_here: bool) -> None:
        self.app, self.retry_here = app, retry_here

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        if not from_our_pages(request.headers, own_origin(request)):
            await self._refuse(request, CsrfFailed(), 403, "origin")(scope, receive, send)
            return
        body = await request.body()
        try:
            form = await _fields(scope, body, receive)
        except ValueError:
            unreadable = HttpError("invalid_encoding", UNREADABLE_FORM, 400)
            await self._refuse(request, unreadable, 400, "unreadable")(scope, receive, send)
            return
        if not check_csrf(request, form):
            await self._refuse(request, CsrfFailed(), 403, "token")(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    def _refuse(self, request: Request, error: DomainError, status: int, reason: str) -> ASGIApp:
        """A dead end that sets no cookie (``set_csrf_cookie`` answers GETs only): another site
        must not replace the browser's secret. No referrer: the address may be a reset link."""
        log.info("form_refused", reason=reason, route=getattr(request.scope.get("route"), "path", "unmatched"))
        retry = quote(request.url.path) if self.retry_here else "/"
        response = page(
            request, "form_expired.html", status=status, error=error, retry=retry, referrer_policy=NO_REFERRER
        )
        response.headers["Referrer-Policy"] = NO_REFERRER
        return response


async def _fields(scope: Scope, body: bytes, receive: Receive) -> dict[str, str]:
    """The posted form's text fields: urlencoded, or multipart (a file upload: its file is
    parsed, spooled to disk past 1 MB, and left for the page). ValueError when unreadable."""
    content_type = Headers(scope=scope).get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        return form_of(body)
    request = Request(scope, _replay(body, receive))
    try:
        async with request.form(max_files=1, max_fields=MAX_FORM_FIELDS) as form:
            return {name: value for name, value in form.items() if isinstance(value, str)}
    except MultiPartException as exc:
        raise ValueError(str(exc)) from exc


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read by the guard, again, for the page."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()  # the disconnect, when the page waits for it
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def is_exempt(path: str) -> bool:
    """The JSON API, the OAuth endpoints, and the Withings paths (a token, never a cookie)."""
    return path.startswith(API_PREFIX) or path in EXEMPT_PATHS or family_of(path) is Family.WITHINGS


def guard_pages(routes: Iterable[BaseRoute]) -> list[BaseRoute]:
    """The routes, with every page route that takes a state-changing method behind the guard:
    a guarded copy (the routes given are left as they are, so no route is ever wrapped twice)."""
    return [_guarded(route) for route in routes]


def _guarded(route: BaseRoute) -> BaseRoute:
    if not isinstance(route, Route) or (route.methods is not None and route.methods <= SAFE_METHODS):
        return route  # (no methods named: it takes them all)
    if is_exempt(route.path):
        return route
    guarded = copy.copy(route)
    guarded.app = CsrfGuard(route.app, retry_here=route.methods is None or "GET" in route.methods)
    return guarded
