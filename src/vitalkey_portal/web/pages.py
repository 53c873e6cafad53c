"""The portal's pages, in the seed's words: sign-in, the Main Dashboard, Link Device (the providers
page and the OAuth callback), Settings → Connected App → Apps → a provider, and the provider's
notification callback."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from vitalkey_portal.accounts import SESSION_LIFETIME, BrowserSession
from vitalkey_portal.ports import Linked, LinkOutcome, NeedsConfirmation, Throttled
from vitalkey_portal.providers import Provider
from vitalkey_portal.records import Link, LinkState, ProviderSection, UnlinkReason
from vitalkey_portal.web import presentation
from vitalkey_portal.web.context import render, services
from vitalkey_portal.web.guard import checked_form, load_session, signed_in
from vitalkey_portal.web.security import LOGIN_CSRF_COOKIE, BadForm, from_our_pages, read_form, safe_return_to

log = logging.getLogger("vitalkey_portal.web")

LINK_DEVICE = "/link-device"
SETTINGS = "/settings"
MAX_NOTIFY_BYTES = 64 * 1024
EXPIRED_LOGIN = "The sign-in form has expired or was sent from another site. Reload the page and try again."
WRONG_SIGN_IN = "The username or password is not right. Check them and try again."


# View models ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SectionView:
    slug: str
    name: str
    logo: str
    linked: bool
    last_sync: str | None  # "Mar 1, 2026, 1:05 PM" in the user's zone
    last_sync_iso: str | None
    note: str | None  # why the section is unlinked, when it was not the user's own "Unlink"


def logo_url(provider: Provider) -> str:
    if provider.logo.startswith("https://") or provider.logo.startswith("/static/"):
        return provider.logo
    return "/static/" + provider.logo.lstrip("/")


def section_view(section: ProviderSection, tz: ZoneInfo) -> SectionView:
    link = section.link
    provider = section.provider
    last_sync = link.last_sync if link is not None and section.linked else None
    note = None
    if link is not None and link.state is LinkState.UNLINKED and link.unlinked_at is not None:
        on = presentation.when(link.unlinked_at, tz)
        if link.unlinked_reason is UnlinkReason.PROVIDER:
            note = (
                f"The {provider.name} account was unlinked at {provider.name} on {on}. Link Device to connect it again."
            )
        elif link.unlinked_reason is UnlinkReason.REPLACED:
            note = f"Replaced by another wearable on {on}."
    return SectionView(
        slug=provider.slug,
        name=provider.name,
        logo=logo_url(provider),
        linked=section.linked,
        last_sync=presentation.when(last_sync, tz) if last_sync else None,
        last_sync_iso=presentation.iso(last_sync) if last_sync else None,
        note=note,
    )


async def sections_of(request: Request, session: BrowserSession) -> list[SectionView]:
    svc = services(request)
    sections = await run_in_threadpool(svc.linking.sections, session.user.id)
    tz = presentation.zone(session.user.timezone, svc.settings.timezone)
    return [section_view(s, tz) for s in sections]


def provider_or_404(request: Request, slug: str) -> Provider:
    provider = services(request).providers.get(slug)
    if provider is None:
        raise HTTPException(404)
    return provider


# Sign-in ---------------------------------------------------------------------------------------------
def login_page(
    request: Request, next_path: str, status_code: int = 200, error: str | None = None, username: str = ""
) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = render(
        request, "login.html", status_code, login_token=token, next_path=next_path, error=error, username=username
    )
    services(request).cookies.set_login_token(response, token)
    return response


async def login(request: Request) -> Response:
    next_path = safe_return_to(request.query_params.get("next"), "/")
    if await load_session(request) is not None:
        return RedirectResponse(next_path, status_code=303)
    return login_page(request, next_path)


async def login_post(request: Request) -> Response:
    svc = services(request)
    if not from_our_pages(request.headers, svc.own_origin):
        return render(request, "error.html", 403, title="Form refused", message=EXPIRED_LOGIN)
    try:
        form = await read_form(request)
    except BadForm:
        return login_page(request, "/", 400, "The form could not be read. Try again.")
    next_path = safe_return_to(form.get("next"), "/")
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected.encode(), form.get("csrf_token", "").encode()):
        return login_page(request, next_path, 403, EXPIRED_LOGIN)
    username, password = form.get("username", "").strip(), form.get("password", "")
    if not username or not password:
        return login_page(request, next_path, 400, "Enter your username and your password.", username)
    client = request.client.host if request.client else "unknown"
    try:
        user = await run_in_threadpool(svc.accounts.sign_in, username, password, client)
    except Throttled as exc:
        minutes = max(1, (exc.retry_after_s + 59) // 60)
        message = f"Too many failed sign-ins. Try again in {minutes} minute{'s' if minutes != 1 else ''}."
        response = login_page(request, next_path, 429, message, username)
        response.headers["retry-after"] = str(exc.retry_after_s)
        return response
    if user is None:
        return login_page(request, next_path, 401, WRONG_SIGN_IN, username)
    cookie, _ = await run_in_threadpool(svc.accounts.open_session, user.id)
    response = RedirectResponse(next_path, status_code=303)
    svc.cookies.set_session(response, cookie, int(SESSION_LIFETIME.total_seconds()))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


async def logout(request: Request) -> Response:
    svc = services(request)
    session = await load_session(request)
    if session is not None:
        checked = await checked_form(request, session.csrf_token)
        if isinstance(checked, Response):
            return checked
        await run_in_threadpool(svc.accounts.close_session, request.cookies.get(svc.cookies.session_name, ""))
    response = RedirectResponse("/login", status_code=303)
    svc.cookies.clear_session(response)
    return response


# Main Dashboard ------------------------------------------------------------------------------------
@signed_in
async def dashboard(request: Request, session: BrowserSession, form: dict[str, str]) -> Response:
    svc = services(request)
    days = svc.settings.first_sync_days
    data = await run_in_threadpool(svc.dashboard.data, session.user.id, days)
    charts = [
        presentation.chart("weight", "Weight", "kg", data.weight_kg, 1, bars=False),
        presentation.chart("steps", "Steps", "steps", data.steps, 0, bars=True),
        presentation.chart("sleep", "Sleep", "h", data.sleep_hours, 1, bars=True),
    ]
    tz = presentation.zone(session.user.timezone, svc.settings.timezone)
    return render(
        request,
        "dashboard.html",
        days=days,
        charts=[c for c in charts if c.svg is not None],
        empty=all(c.svg is None for c in charts),
        last_sync=presentation.when(data.last_sync, tz) if data.last_sync else None,
        last_sync_iso=presentation.iso(data.last_sync) if data.last_sync else None,
    )


# Link Device -----------------------------------------------------------------------------------------
async def providers_page(
    request: Request, session: BrowserSession, message: str | None = None, status_code: int = 200
) -> Response:
    return render(
        request,
        "link_device.html",
        status_code,
        sections=await sections_of(request, session),
        message=message,
        first_sync_days=services(request).settings.first_sync_days,
    )


@signed_in
async def link_device(request: Request, session: BrowserSession, form: dict[str, str]) -> Response:
    return await providers_page(request, session)


@signed_in
async def link_begin(request: Request, session: BrowserSession, form: dict[str, str]) -> Response:
    provider = provider_or_404(request, request.path_params["slug"])
    return_to = safe_return_to(form.get("return_to"), LINK_DEVICE)
    url = await run_in_threadpool(services(request).linking.begin, session.user.id, provider.slug, return_to)
    return RedirectResponse(url, status_code=303)


async def outcome_page(request: Request, session: BrowserSession, outcome: LinkOutcome) -> Response:
    if isinstance(outcome, Linked):
        return RedirectResponse(safe_return_to(outcome.return_to, LINK_DEVICE), status_code=303)
    if isinstance(outcome, NeedsConfirmation):
        return confirm_page(request, outcome)
    return await providers_page(request, session, outcome.message, 400)


def link_label(request: Request, link: Link) -> str:
    provider = services(request).providers.get(link.provider)
    return provider.name if provider is not None else link.provider


def confirm_page(request: Request, outcome: NeedsConfirmation) -> Response:
    return render(
        request,
        "confirm_replace.html",
        new_name=link_label(request, outcome.pending),
        new_account=outcome.pending.provider_userid,
        old_name=link_label(request, outcome.replaces),
        old_account=outcome.replaces.provider_userid,
        pending_id=outcome.pending.id,
        slug=outcome.pending.provider,
        return_to=safe_return_to(outcome.return_to, LINK_DEVICE),
    )


@signed_in
async def link_callback(request: Request, session: BrowserSession, form: dict[str, str]) -> Response:
    provider = provider_or_404(request, request.path_params["slug"])
    query = request.query_params
    code, state, error = query.get("code"), query.get("state", ""), query.get("error")
    if (
        not state
        or len(state) > 200
        or (code is not None and len(code) > 512)
        or (error is not None and len(error) > 200)
    ):
        return await providers_page(
            request, session, f"The answer from {provider.name} could not be read. Try Link Device again.", 400
        )
    outcome = await services(request).linking.complete(session.user.id, provider.slug, code, state, error)
    return await outcome_page(request, session, outcome)


@signed_in
async def link_confirm(request: Request, session: BrowserSession, form: dict[str, str]) -> Response:
    provider_or_404(request, request.path_params["slug"])
    choice = form.get("choice")
    try:
        pending_id = int(form.get("pending_id", ""))
    except ValueError:
        pending_id = 0
    if choice not in ("replace", "keep") or pending_id <= 0:
        return await providers_page(request, session, "Choose Replace or Keep to finish linking.", 400)
    outcome = await services(request).linking.confirm(session.user.id, pending_id, choice == "replace")
    if isinstance(outcome, Linked):  # back where Link Device was pressed (Settings on the mobile path)
        return RedirectResponse(safe_return_to(form.get("return_to"), outcome.return_to), status_code=303)
    return await outcome_page(request, session, outcome)


@signed_in
async def link_unlink(request: Request, session: BrowserSession, form: dict[str, str]) -> Response:
    provider = provider_or_404(request, request.path_params["slug"])
    await services(request).linking.unlink(session.user.id, provider.slug)
    return RedirectResponse(safe_return_to(form.get("return_to"), LINK_DEVICE), status_code=303)


# Settings (the mobile path) ------------------------------------------------------------------------
@signed_in
async def settings_page(request: Request, session: BrowserSession, form: dict[str, str]) -> Response:
    sections = await sections_of(request, session)
    return render(request, "settings.html", connected=[s for s in sections if s.linked], sections=sections)


@signed_in
async def settings_apps(request: Request, session: BrowserSession, form: dict[str, str]) -> Response:
    return render(request, "settings_apps.html", sections=await sections_of(request, session))


@signed_in
async def settings_app(request: Request, session: BrowserSession, form: dict[str, str]) -> Response:
    provider = provider_or_404(request, request.path_params["slug"])
    section = next((s for s in await sections_of(request, session) if s.slug == provider.slug), None)
    if section is None:
        raise HTTPException(404)
    return render(
        request, "settings_app.html", section=section, first_sync_days=services(request).settings.first_sync_days
    )


# The provider's side ---------------------------------------------------------------------------------
async def notify(request: Request) -> Response:
    slug = request.path_params["slug"]
    if request.method in ("GET", "HEAD"):
        # Providers check the callback URL (HEAD, or GET) before they subscribe it.
        known = slug in services(request).providers
        return PlainTextResponse("ok" if known else "unknown provider", status_code=200 if known else 404)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_NOTIFY_BYTES:
            return PlainTextResponse("too large", status_code=413)
    headers = {k.lower(): v for k, v in request.headers.items()}
    status = await run_in_threadpool(services(request).notifications.accept, slug, body, headers)
    return Response(status_code=status)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")
