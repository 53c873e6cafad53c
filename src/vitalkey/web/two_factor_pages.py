"""Account & Security → Two-factor authentication (set-up, number, turning it off), Account
Recovery → Recovery code, and App passwords: the pages. Changes need a fresh sign-in with the
current second factor; when the session is older, the page offers to sign in again."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import phonenumbers
from babel import Locale
from babel.dates import format_date
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from vitalkey.container import Container
from vitalkey.domain.authenticators import FEDERATED, METHOD_LABELS, PASSKEY, SMS, TOTP
from vitalkey.domain.errors import (
    AuthenticatorNotFound,
    DomainError,
    FlowDead,
    FlowExpired,
    FlowNotFound,
    ReauthenticationRequired,
    TwoFactorOff,
    WrongState,
)
from vitalkey.domain.flows import Channel
from vitalkey.domain.i18n import N_
from vitalkey.domain.two_factor import TwoFactor, is_fresh
from vitalkey.flows import two_factor
from vitalkey.flows.methods import Method, turns_two_factor_off
from vitalkey.flows.sessions import Authenticated
from vitalkey.flows.two_factor import TwoFactorState
from vitalkey.i18n import LANGUAGES
from vitalkey.web.context import in_unit_of_work, language, requester_of, services
from vitalkey.web.data_pages import when
from vitalkey.web.errors import HttpError
from vitalkey.web.pages import RETURN_PAGES, SECRET_FIELDS, current_user, error_status, posted_form, see_other
from vitalkey.web.presentation import BY_METHOD, GONE, NOT_STORED, REDIRECT, Presentation
from vitalkey.web.render import page
from vitalkey.web.schemas import Error, SetupOut

# The page that adds each kind ("Add" in the list of methods); a new kind adds its own here.
ADD_PAGES = MappingProxyType(
    {SMS: "#add-sms", TOTP: "/account/two-factor/authenticator-app", PASSKEY: "/account/passkeys/new"}
)
# The country a number without "+code" most likely belongs to, by page language.
LIKELY_COUNTRY = MappingProxyType({"en": "US", "de": "DE", "fr": "FR", "ja": "JP", "zh-Hans": "CN"})
SETUP = "/account/two-factor"
# What shows each state of the set-up: its page (GET /account/two-factor/{id}), and the JSON API's
# answer to the step that moved the flow there (an error's, for a flow that cannot go on).
TWO_FACTOR_PRESENTATION = Presentation(
    two_factor.MACHINE,
    pages={
        TwoFactorState.NEW: REDIRECT,  # (never stored so: the set-up page)
        TwoFactorState.ENROLLING: BY_METHOD,
        TwoFactorState.RECOVERY_SHOWN: BY_METHOD,
        TwoFactorState.COMPLETE: REDIRECT,
        TwoFactorState.DEAD: GONE,
    },
    api={
        TwoFactorState.NEW: NOT_STORED,
        TwoFactorState.ENROLLING: SetupOut,
        TwoFactorState.RECOVERY_SHOWN: SetupOut,
        TwoFactorState.COMPLETE: SetupOut,
        TwoFactorState.DEAD: Error,
    },
    methods={  # the set-up of each method (an authenticator app's: web/totp_pages.py)
        TwoFactorState.ENROLLING: {SMS: "two_factor_code.html", TOTP: "totp_enrol.html"},
        TwoFactorState.RECOVERY_SHOWN: {SMS: "two_factor_recovery.html", TOTP: "totp_recovery.html"},
    },
)


def countries(request: Request) -> list[dict[str, str]]:
    """The allowed countries for the phone form, named in the page's language, with their code."""
    lang = language(request)
    names = Locale.parse(lang.replace("-", "_")).territories
    regions = services(request).deps.two_factor.regions
    listed = [
        {"code": code, "name": names.get(code, code), "dial": f"+{phonenumbers.country_code_for_region(code)}"}
        for code in regions
    ]
    return sorted(listed, key=lambda c: c["name"])


def fresh(request: Request, auth: Authenticated, factor: TwoFactor | None) -> bool:
    container = services(request)
    now = container.clock.now()
    return is_fresh(auth.session, factor is not None, now, container.deps.two_factor.reauth_window)


async def reauthenticate(request: Request, auth: Authenticated, return_to: str) -> Response:
    """Sign in again (every factor) and come back to ``return_to``."""
    if return_to not in RETURN_PAGES:
        return_to = SETUP
    container = services(request)
    view = await in_unit_of_work(
        request,
        container.login.begin,
        auth.account.email,
        requester_of(request, Channel.BROWSER),
        return_to=return_to,
    )
    return see_other(request, f"/login/{view.flow.id}")


# Account & Security → Two-factor authentication -------------------------------------------
async def two_factor_page(request: Request) -> Response:
    auth = await current_user(request)
    if auth is None:
        return see_other(request, "/login")
    if request.method == "POST":
        return await _two_factor_post(request, auth)
    return await _two_factor_show(request, auth)


@dataclass(frozen=True, slots=True)
class ShownDates:
    added: str
    last_used: str


def method_dates(request: Request, methods: list[Method]) -> dict[int, ShownDates]:
    """When each method was added (a date) and last used (date and time), in the page's language."""
    locale = LANGUAGES[language(request)][0]
    return {
        m.row.id: ShownDates(
            str(format_date(m.row.created_at, "medium", locale=locale)),
            when(request, m.row.last_used_at) if m.row.last_used_at else "",
        )
        for m in methods
    }


def add_pages(container: Container, methods: list[Method], fresh: bool) -> list[tuple[str, str]]:
    """The "Add" entries: the registered kinds with an add page, but one the account has already
    (all kinds but passkeys are one per account); a text message once the page shows its form."""
    present = {m.row.kind for m in methods}
    shown = []
    for kind in container.sign_in_methods.addable():
        href = ADD_PAGES.get(kind)
        if href is None or (kind in present and kind != PASSKEY) or (kind == SMS and not fresh):
            continue
        shown.append((kind, href))
    return shown


async def _two_factor_show(
    request: Request,
    auth: Authenticated,
    error: DomainError | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    container = services(request)
    listed = await in_unit_of_work(request, container.sign_in_methods.for_account, auth.account)
    factor = listed.two_factor
    is_fresh = fresh(request, auth, factor)
    chosen = (values or {}).get("country") or LIKELY_COUNTRY.get(language(request), "")
    return page(
        request,
        "two_factor.html",
        status=error_status(error) if error else 200,
        error=error,
        auth=auth,
        factor=factor,
        methods=listed.methods,
        dates=method_dates(request, listed.methods),
        method_labels=METHOD_LABELS,
        add_pages=add_pages(container, listed.methods, is_fresh),
        has_sms=any(m.row.kind == SMS for m in listed.methods),
        sms_available=SMS in container.sign_in_methods.addable(),
        fresh=is_fresh,
        countries=countries(request),
        chosen_country=chosen,
        values=values or {},
        notice=request.query_params.get("notice"),
        welcome=request.query_params.get("welcome") == "1",
    )


async def _two_factor_post(request: Request, auth: Authenticated) -> Response:
    container = services(request)
    form: dict[str, str] = {}
    try:
        form = await posted_form(request)
        action = form.get("action", "")
        requester = requester_of(request, Channel.BROWSER)
        if action == "reauth":
            return await reauthenticate(request, auth, form.get("return_to", SETUP))
        if action == "phone":
            view = await in_unit_of_work(
                request, container.two_factor.begin, auth, form.get("phone", ""), form.get("country", ""), requester
            )
            return see_other(request, f"{SETUP}/{view.flow.id}")
        if action == "disable":
            await in_unit_of_work(request, container.two_factor.disable, auth, requester)
            return see_other(request, f"{SETUP}?notice=disabled")
        if action == "make_default":
            chosen = method_id(form.get("id", ""))
            await in_unit_of_work(request, container.sign_in_methods.make_default, auth, chosen, requester)
            return see_other(request, f"{SETUP}?notice=default_changed")
        raise HttpError("unknown_action", N_("This action is not available."), 400)
    except DomainError as error:
        values = {k: v[:64] for k, v in form.items() if k not in SECRET_FIELDS}
        return await _two_factor_show(request, auth, error, values)


# One method: rename, remove (each after a confirmation page) ---------------------------------
def method_id(raw: str) -> int:
    """An authenticator id from a path or a form; anything else is no method of the account's."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise AuthenticatorNotFound()
    return int(raw)


async def method_page(request: Request) -> Response:
    """GET: the rename form, or the removal's confirmation; POST: the change, then back to the
    list. Both need the fresh sign-in: without it, the list offers to sign in again."""
    auth = await current_user(request)
    if auth is None:
        return see_other(request, "/login")
    container = services(request)
    action = request.path_params["action"]
    error: DomainError | None = None
    values: dict[str, str] = {}
    try:
        chosen = method_id(request.path_params["authenticator_id"])
        listed = await in_unit_of_work(request, container.sign_in_methods.for_account, auth.account)
        method = next((m for m in listed.methods if m.row.id == chosen), None)
        if method is None:
            raise AuthenticatorNotFound()
        if action == "rename" and not method.can_rename:
            raise AuthenticatorNotFound()
        if not fresh(request, auth, listed.two_factor):
            return see_other(request, SETUP)
        if request.method == "POST":
            form = await posted_form(request)
            values = {k: v[:200] for k, v in form.items() if k not in SECRET_FIELDS}
            requester = requester_of(request, Channel.BROWSER)
            if action == "rename" and form.get("action") == "rename":
                methods = container.sign_in_methods
                await in_unit_of_work(request, methods.rename, auth, chosen, form.get("name", ""), requester)
                return see_other(request, f"{SETUP}?notice=renamed")
            if action == "remove" and form.get("action") == "remove":
                removed = await in_unit_of_work(request, container.sign_in_methods.remove, auth, chosen, requester)
                notice = "removed_off" if removed.two_factor_off else "removed"
                return see_other(request, f"{SETUP}?notice={'unlinked' if method.row.kind == FEDERATED else notice}")
            raise HttpError("unknown_action", N_("This action is not available."), 400)
    except (AuthenticatorNotFound, ReauthenticationRequired) as gone:
        return await _two_factor_show(request, auth, gone)
    except DomainError as refused:
        error = refused
    return page(
        request,
        f"method_{action}.html",
        status=error_status(error) if error else 200,
        error=error,
        method=method,
        values=values,
        turns_off=turns_two_factor_off(listed, method) if method else False,
    )


# The set-up flow: code → recovery code → done ---------------------------------------------
async def setup_flow_page(request: Request) -> Response:
    auth = await current_user(request)
    if auth is None:
        return see_other(request, "/login")
    flow_id = request.path_params["flow_id"]
    if request.method == "POST":
        return await _setup_post(request, auth, flow_id)
    return await _setup_show(request, auth, flow_id)


async def _setup_show(
    request: Request, auth: Authenticated, flow_id: str, error: DomainError | None = None
) -> Response:
    container = services(request)
    try:
        view = await in_unit_of_work(
            request, container.two_factor.view, auth, flow_id, requester_of(request, Channel.BROWSER)
        )
    except (FlowNotFound, FlowExpired) as gone:
        return await _two_factor_show(request, auth, gone)
    template = TWO_FACTOR_PRESENTATION.page(view.flow.state, view.flow.context.get("method", SMS))
    if template == GONE:
        return await _two_factor_show(request, auth, error or FlowDead())
    if template == REDIRECT:
        return see_other(request, SETUP)
    now = container.clock.now()
    resend_at: Any = view.code.get("resend_available_at")
    return page(
        request,
        template,
        status=error_status(error) if error else 200,
        error=error,
        view=view,
        code=view.code,
        resend_wait=max(0, int((resend_at - now).total_seconds())) if resend_at else None,
        resend_exhausted=view.flow.state == TwoFactorState.ENROLLING and resend_at is None,
    )


async def _setup_post(request: Request, auth: Authenticated, flow_id: str) -> Response:
    container = services(request)
    try:
        form = await posted_form(request)
        action = form.get("action", "")
        requester = requester_of(request, Channel.BROWSER)
        if action == "code":
            view = await in_unit_of_work(
                request, container.two_factor.confirm, auth, flow_id, form.get("code", ""), requester
            )
            if view.recovery_code is None:  # a number beside another second factor, or a new number
                notice = "added" if view.flow.context.get("mode") == "add" else "phone_changed"
                return see_other(request, f"{SETUP}?notice={notice}")
            return see_other(request, f"{SETUP}/{flow_id}")
        if action == "resend":
            await in_unit_of_work(request, container.two_factor.resend, auth, flow_id, requester)
            return see_other(request, f"{SETUP}/{flow_id}?resent=1")
        if action == "done":
            await in_unit_of_work(request, container.two_factor.finish, auth, flow_id, requester)
            return see_other(request, f"{SETUP}?notice=enabled")
        raise HttpError("unknown_action", N_("This action is not available."), 400)
    except (FlowNotFound, FlowExpired, WrongState) as gone:
        return await _two_factor_show(request, auth, gone)
    except DomainError as error:
        return await _setup_show(request, auth, flow_id, error)


# Account Recovery → Recovery code --------------------------------------------------------
async def recovery_code_page(request: Request) -> Response:
    auth = await current_user(request)
    if auth is None:
        return see_other(request, "/login")
    container = services(request)
    error: DomainError | None = None
    notice = request.query_params.get("notice") or ("used" if request.query_params.get("used") else None)
    if request.method == "POST":
        try:
            form = await posted_form(request)
            if form.get("action") == "reauth":
                return await reauthenticate(request, auth, "/account/two-factor/recovery-code")
            if form.get("action") != "renew":
                raise HttpError("unknown_action", N_("This action is not available."), 400)
            await in_unit_of_work(
                request, container.two_factor.renew_recovery, auth, requester_of(request, Channel.BROWSER)
            )
            return see_other(request, "/account/two-factor/recovery-code?notice=renewed")
        except DomainError as refused:
            error = refused
    code = factor = None
    try:
        code, factor = await in_unit_of_work(request, container.two_factor.recovery_code, auth)
    except TwoFactorOff:
        return see_other(request, SETUP)
    except ReauthenticationRequired:
        pass  # the page offers to sign in again
    return page(
        request,
        "recovery_code.html",
        status=error_status(error) if error else 200,
        error=error,
        recovery_code=code,
        factor=factor,
        notice=notice,
    )


# App passwords ------------------------------------------------------------------------------
async def app_passwords_page(request: Request) -> Response:
    auth = await current_user(request)
    if auth is None:
        return see_other(request, "/login")
    container = services(request)
    error: DomainError | None = None
    created = None
    values: dict[str, str] = {}
    if request.method == "POST":
        try:
            form = await posted_form(request)
            values = {k: v[:100] for k, v in form.items() if k not in SECRET_FIELDS}
            action = form.get("action", "")
            if action == "reauth":
                return await reauthenticate(request, auth, "/account/app-passwords")
            if action == "revoke":
                await in_unit_of_work(request, container.app_passwords.revoke, auth.account, form.get("id", ""))
                return see_other(request, "/account/app-passwords?notice=revoked")
            if action != "create":
                raise HttpError("unknown_action", N_("This action is not available."), 400)
            # Shown on this answer only (no redirect): the password is never stored in the clear.
            created = await in_unit_of_work(
                request,
                container.app_passwords.create,
                auth,
                form.get("app", ""),
                form.get("name", ""),
                requester_of(request, Channel.BROWSER),
            )
        except DomainError as refused:
            error = refused
    factor = await in_unit_of_work(request, container.two_factor.status, auth.account.id)
    passwords = await in_unit_of_work(request, container.app_passwords.for_account, auth.account.id)
    apps = await in_unit_of_work(request, container.app_passwords.apps_needing_one)
    return page(
        request,
        "app_passwords.html",
        status=error_status(error) if error else 200,
        error=error,
        factor=factor,
        fresh=fresh(request, auth, factor),
        passwords=passwords,
        apps=apps,
        app_names={app.client_id: app.name for app in apps},
        created=created,
        values=values,
        notice=request.query_params.get("notice"),
    )


def routes() -> list[BaseRoute]:
    """This module's routes, in the order they are matched."""
    return [
        Route(SETUP, two_factor_page, methods=["GET", "POST"]),
        Route("/account/two-factor/recovery-code", recovery_code_page, methods=["GET", "POST"]),
        Route(
            "/account/two-factor/methods/{authenticator_id}/{action:str}",
            method_page,
            methods=["GET", "POST"],
        ),
        Route("/account/two-factor/{flow_id}", setup_flow_page, methods=["GET", "POST"]),
        Route("/account/app-passwords", app_passwords_page, methods=["GET", "POST"]),
    ]
