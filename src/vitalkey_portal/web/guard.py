"""Wraps every page: the browser session from the cookie, and on a POST the CSRF checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from vitalkey_portal.accounts import BrowserSession
from vitalkey_portal.web.context import render, services
from vitalkey_portal.web.security import BadForm, from_our_pages, read_form, same_token

Handler = Callable[[Request, BrowserSession, dict[str, str]], Awaitable[Response]]

EXPIRED = "This form has expired or was sent from another site. Go back, reload the page and try again."
UNREADABLE = "The form could not be read. Go back, reload the page and try again."


async def load_session(request: Request) -> BrowserSession | None:
    svc = services(request)
    cookie = request.cookies.get(svc.cookies.session_name, "")
    session = await run_in_threadpool(svc.accounts.session, cookie) if cookie else None
    request.scope["portal_session"] = session
    return session


def to_login(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = "/login" if here == "/" or len(here) > 200 else f"/login?next={quote(here, safe='/')}"
    return RedirectResponse(target, status_code=303)


def refused(request: Request, message: str, status_code: int = 403) -> Response:
    return render(request, "error.html", status_code=status_code, title="Form refused", message=message)


async def checked_form(request: Request, expected_token: str) -> dict[str, str] | Response:
    """The POSTed form when it comes from our pages with the right token, else the refusal."""
    if not from_our_pages(request.headers, services(request).own_origin):
        return refused(request, EXPIRED)
    try:
        form = await read_form(request)
    except BadForm:
        return refused(request, UNREADABLE, 400)
    if not same_token(expected_token, form.get("csrf_token")):
        return refused(request, EXPIRED)
    return form


def signed_in(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A page for a signed-in user; a POST must pass the CSRF checks before the handler runs."""

    @wraps(handler)
    async def page(request: Request) -> Response:
        session = await load_session(request)
        if session is None:
            if request.method == "POST":
                return RedirectResponse("/login", status_code=303)
            return to_login(request)
        form: dict[str, str] = {}
        if request.method == "POST":
            checked = await checked_form(request, session.csrf_token)
            if isinstance(checked, Response):
                return checked
            form = checked
        return await handler(request, session, form)

    return page
