"""Reading a request: client address, language, cookies, CSRF, forms, JSON."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, ParamSpec, TypeVar
from urllib.parse import parse_qsl

import anyio
import msgspec
from starlette.requests import Request
from starlette.responses import Response

from vitalkey.domain.accounts import Account
from vitalkey.domain.flows import Channel, Requester
from vitalkey.domain.i18n import N_
from vitalkey.domain.passwords import Strength
from vitalkey.domain.tokens import keyed_digest, new_token, same
from vitalkey.flows.password import Typist, strength_of
from vitalkey.i18n import LANGUAGES, negotiate, supported
from vitalkey.web.errors import HttpError
from vitalkey.web.middleware import LANG_COOKIE

if TYPE_CHECKING:
    from vitalkey.container import Container

T = TypeVar("T")

P = ParamSpec("P")
R = TypeVar("R")


def services(request: Request) -> Container:
    """The app's Container (``create_app`` keeps it in ``app.state``), typed: the web layer's one way in."""
    container: Container = request.app.state.container
    return container


async def in_unit_of_work(request: Request, function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a flow's step (blocking database work) in a unit of work, the way the database wants
    it: inline in a group commit on SQLite, in the thread pool on PostgreSQL (see ``SqlUnitOfWork.run``)."""
    return await services(request).uow.run(function, *args, **kwargs)


async def password_strength(request: Request, password: str, who: Account | Typist) -> Strength:
    """The meter's estimate, in a worker thread: zxcvbn takes 10-30 ms of CPU per password."""
    deps = services(request).deps
    return await anyio.to_thread.run_sync(partial(strength_of, deps, password, who))


MAX_FORM_FIELDS = 50


def cookie_name(request: Request, base: str) -> str:
    """``__Host-`` names need Secure, so they are used only when served over HTTPS."""
    return f"__Host-{base}" if services(request).settings.https else base


def client_ip(request: Request) -> str:
    settings = services(request).settings
    peer = request.client.host if request.client else "unknown"
    if peer in settings.trusted_proxies:
        forwarded = request.headers.get("x-forwarded-for", "")
        candidate = forwarded.split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            return peer
    return peer


def language(request: Request) -> str:
    account = getattr(request.state, "account", None)
    chosen = supported(request.cookies.get(LANG_COOKIE))
    if chosen:
        return chosen
    if account is not None and account.language in LANGUAGES:
        return str(account.language)
    return negotiate(request.headers.get("accept-language"))


# CSRF: a random secret in an HttpOnly cookie; forms carry a token derived from it with the
# server key, and browser flows are bound to a digest of it (so a flow started in one browser
# cannot be continued in another, and a forged cross-site form has no valid token).
def csrf_secret(request: Request) -> str:
    secret = getattr(request.state, "csrf_secret", None)
    if secret is None:
        secret = request.cookies.get(cookie_name(request, "vk_csrf"), "")
        if len(secret) < 32 or len(secret) > 64:
            secret = new_token(32)
            request.state.csrf_new = True
        request.state.csrf_secret = secret
    return str(secret)


def csrf_token(request: Request) -> str:
    return keyed_digest(services(request).web_key, "csrf:" + csrf_secret(request))


def check_csrf(request: Request, form: dict[str, str]) -> bool:
    return not getattr(request.state, "csrf_new", False) and same(form.get("csrf_token", ""), csrf_token(request))


def browser_binding(request: Request) -> str:
    return keyed_digest(services(request).web_key, "flow:" + csrf_secret(request))


def set_csrf_cookie(request: Request, response: Response) -> None:
    """A new secret goes out with the answer to a GET only. A POST without one is refused (see
    web/csrf.py), and another site can send such POSTs at will (SameSite=Lax keeps the cookie
    home): answering them with a new secret would replace the browser's and expire its forms."""
    if getattr(request.state, "csrf_new", False) and request.method in ("GET", "HEAD"):
        _write_csrf_cookie(request, response, csrf_secret(request))


def rotate_csrf(request: Request, response: Response) -> None:
    _write_csrf_cookie(request, response, new_token(32))


def _write_csrf_cookie(request: Request, response: Response, secret: str) -> None:
    response.set_cookie(
        cookie_name(request, "vk_csrf"),
        secret,
        httponly=True,
        samesite="lax",
        secure=services(request).settings.https,
        path="/",
    )


def requester_of(request: Request, channel: Channel) -> Requester:
    return Requester(
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent", "")[:300],
        language=language(request),
        channel=channel,
        browser_binding=browser_binding(request) if channel is Channel.BROWSER else "",
    )


UNREADABLE_FORM = N_("The form contains characters that could not be read.")


def form_pairs(body: bytes) -> list[tuple[str, str]]:
    """A urlencoded body's fields in order, repeats kept: strict UTF-8, at most MAX_FORM_FIELDS.
    Raises ValueError (UnicodeDecodeError is one) for a body that is not such a form."""
    text = body.decode("utf-8")
    if "%" in text or "+" in text:
        return parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=MAX_FORM_FIELDS)
    # Nothing escaped (token requests: URL-safe tokens and ids): what parse_qsl gives, 5x sooner.
    if text and text.count("&") >= MAX_FORM_FIELDS:
        raise ValueError("Max number of fields exceeded")
    return [(name, value) for name, _, value in (field.partition("=") for field in text.split("&") if field)]


def form_of(body: bytes) -> dict[str, str]:
    """A urlencoded body's fields, the first of repeated ones. Raises ValueError as form_pairs."""
    form: dict[str, str] = {}
    for key, value in form_pairs(body):
        form.setdefault(key, value)
    return form


async def read_form(request: Request) -> dict[str, str]:
    try:
        return form_of(await request.body())
    except ValueError as exc:
        raise HttpError("invalid_encoding", UNREADABLE_FORM, 400) from exc


async def read_json(request: Request, kind: type[T]) -> T:
    content_type = request.headers.get("content-type", "")
    if not content_type.split(";")[0].strip().endswith(("/json", "+json")):
        raise HttpError("unsupported_media_type", N_("Send a JSON body with Content-Type: application/json."), 415)
    body = await request.body()
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        raise HttpError(
            "invalid_request", N_("The request body does not match the schema: %(detail)s"), 400, detail=str(exc)[:200]
        ) from exc
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise HttpError("invalid_json", N_("The request body is not valid JSON."), 400) from exc
