"""The portal's own cookie and CSRF handling.

A state-changing request must come from our pages — ``Sec-Fetch-Site`` when the browser sends it,
else ``Origin``, else the ``Referer``'s origin, compared with the origin of the configured public
URL (never the Host header) — and carry the session's CSRF token in its form. The session cookie
is HttpOnly and SameSite=Lax: the provider's redirect back to the callback is a cross-site
top-level GET and must still carry it.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from vitalkey_portal.settings import PortalSettings

MAX_FORM_BYTES = 16 * 1024
OWN_SITES = frozenset({"same-origin", "none"})  # "none": typed, bookmarked or reloaded by the user
LOGIN_CSRF_COOKIE = "portal_login_csrf"


class BadForm(ValueError):
    """A body that is not a small urlencoded form."""


def public_url(settings: PortalSettings) -> str:
    return (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` as a browser writes an Origin, or None for a non-http(s) URL."""
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


def from_our_pages(headers: Mapping[str, str], own_origin: str | None) -> bool:
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site in OWN_SITES
    sent = headers.get("origin")
    if sent is not None:
        return sent != "null" and origin_of(sent) == own_origin
    referer = headers.get("referer")
    if referer is not None:
        return origin_of(referer) == own_origin
    return True  # an old client that sends none of them: judged by the token alone


def same_token(expected: str, given: str | None) -> bool:
    return bool(expected) and given is not None and hmac.compare_digest(expected.encode(), given.encode())


async def read_form(request: Request) -> dict[str, str]:
    """A urlencoded body's fields (the first of repeated ones); BadForm for anything else."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/x-www-form-urlencoded", ""):
        raise BadForm("not a form")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise BadForm("too large")
    try:
        pairs = parse_qsl(body.decode("utf-8", errors="strict"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadForm("unreadable") from exc
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form


class Cookies:
    """The session cookie's name and attributes, from the public URL's scheme."""

    def __init__(self, settings: PortalSettings) -> None:
        self.secure = public_url(settings).startswith("https://")
        # __Host-: the browser keeps it to this exact host and path, sent only over https.
        self.session_name = "__Host-portal_session" if self.secure else "portal_session"

    def set_session(self, response: Response, value: str, max_age: int) -> None:
        response.set_cookie(
            self.session_name, value, max_age=max_age, path="/", httponly=True, samesite="lax", secure=self.secure
        )

    def clear_session(self, response: Response) -> None:
        response.delete_cookie(self.session_name, path="/", httponly=True, samesite="lax", secure=self.secure)

    def set_login_token(self, response: Response, value: str) -> None:
        # Double-submit token for the sign-in form, which comes before any session.
        response.set_cookie(
            LOGIN_CSRF_COOKIE, value, max_age=3600, path="/login", httponly=True, samesite="strict", secure=self.secure
        )


def safe_return_to(value: str | None, default: str) -> str:
    """A local path to go back to; anything else (another site, ``//host``, a scheme) → default."""
    if not value or len(value) > 200 or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in value):
        return default
    return value
