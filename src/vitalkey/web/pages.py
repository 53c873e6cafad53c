"""HTML pages: each flow step is a GET that shows the flow's state and a POST that moves it (PRG, 303)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from vitalkey.domain.accounts import Units, feet_inches
from vitalkey.domain.apps import origin_of, redirect_uri_allowed
from vitalkey.domain.authenticators import (
    EMAIL_CODE,
    FEDERATED,
    METHOD_LABELS,
    PASSKEY,
    PASSWORD,
    RECOVERY_CODE,
    SMS,
    TOTP,
)
from vitalkey.domain.errors import (
    DomainError,
    FlowDead,
    FlowExpired,
    FlowNotFound,
    NotAuthenticated,
    WrongState,
)
from vitalkey.domain.flows import Channel, Requester
from vitalkey.domain.i18n import N_
from vitalkey.domain.passwords import STRENGTH_LABELS
from vitalkey.domain.tokens import is_token
from vitalkey.domain.two_factor import phone_hint
from vitalkey.flows import login, signup
from vitalkey.flows.authenticators.base import Answer
from vitalkey.flows.authenticators.federated import offered_names
from vitalkey.flows.authorize import parameters
from vitalkey.flows.email_flow import CodeFlowState, EmailCodeFlow
from vitalkey.flows.login import CODE_PURPOSES, LoginState, OtherWay, SecondFactorNeeded, SignInResult
from vitalkey.flows.sessions import Authenticated, Started
from vitalkey.flows.signup import SignupState
from vitalkey.i18n import supported, translations
from vitalkey.web import schemas
from vitalkey.web.context import (
    cookie_name,
    in_unit_of_work,
    language,
    read_form,
    requester_of,
    rotate_csrf,
    services,
    set_csrf_cookie,
)
from vitalkey.web.csrf import from_our_pages, own_origin
from vitalkey.web.errors import HttpError, status_of
from vitalkey.web.middleware import LANG_COOKIE
from vitalkey.web.passkey_offer import remember_offer, sign_in_offer
from vitalkey.web.presentation import BY_METHOD, GONE, NOT_STORED, REDIRECT, Presentation
from vitalkey.web.render import page
from vitalkey.web.user_agents import describe, label

SESSION = "vk_session"


def see_other(request: Request, url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    set_csrf_cookie(request, response)
    return response


async def current_user(request: Request) -> Authenticated | None:
    token = request.cookies.get(cookie_name(request, SESSION))
    if not token:
        return None
    try:
        auth: Authenticated = await in_unit_of_work(request, services(request).sessions.authenticate, token)
    except NotAuthenticated:
        return None
    if auth.session.kind.value != "web":
        return None
    request.state.account = auth.account
    request.state.auth = auth
    return auth


# Where a sign-in may go back to after re-authenticating for a change (never a free URL).
RETURN_PAGES = frozenset(
    {
        "/account/two-factor",
        "/account/two-factor/recovery-code",
        "/account/app-passwords",
        "/account/delete",
        "/account/two-factor/authenticator-app",
        "/account/passkeys/new",
        "/account/two-factor?notice=linked",  # a sign-in that links an identity (federation_pages)
    }
)
AUTHORIZE_CONTINUE = "/oauth2/authorize/"  # + the id of a kept authorization request
LINK_CONTINUE = "/login/link/"  # + the id of a login flow keeping an identity to link (federation_pages)


def continue_path(flow_id: str) -> str | None:
    """The page an OAuth authorization request waits on, for a sign-in or sign-up that starts from it."""
    return AUTHORIZE_CONTINUE + flow_id if is_token(flow_id) else None


def waiting_request(return_to: str | None) -> str:
    """The id of the kept OAuth request a flow goes back to ("" if none): the links off its pages
    (to sign up, sign in, start again) carry it as ``continue`` so that the app is not lost."""
    if return_to and return_to.startswith(AUTHORIZE_CONTINUE) and may_return_to(return_to):
        return return_to[len(AUTHORIZE_CONTINUE) :]
    return ""


async def allow_partner_redirect(request: Request, return_to: str | None) -> None:
    """On the pages of a sign-in that an OAuth app waits for, let the forms end in the redirect
    to the app (browsers check a form's whole redirect chain against ``form-action``) — only to
    a redirect URI the app registered."""
    if not return_to or not may_return_to(return_to) or not return_to.startswith(AUTHORIZE_CONTINUE):
        return
    container = services(request)
    try:
        kept = await in_unit_of_work(request, container.authorize_requests.get, return_to[len(AUTHORIZE_CONTINUE) :])
        wanted = dict(parameters(kept))
        app = await in_unit_of_work(request, container.apps.get, wanted.get("client_id", ""))
    except DomainError:
        return
    uri = wanted.get("redirect_uri") or (app.redirect_uris[0] if len(app.redirect_uris) == 1 else "")
    if uri and redirect_uri_allowed(app, uri):
        request.state.form_targets = (origin_of(uri),)


def may_return_to(path: str | None) -> bool:
    if not path:
        return False
    if path in RETURN_PAGES:
        return True
    return any(
        path.startswith(prefix) and is_token(path[len(prefix) :]) for prefix in (AUTHORIZE_CONTINUE, LINK_CONTINUE)
    )


async def sign_in(request: Request, started: Started, to: str = "/dashboard") -> Response:
    """Set the new session's cookie. A session this browser already had is ended: signing in
    again (to re-authenticate) replaces it rather than leaving two."""
    previous = await current_user(request)
    if previous is not None and previous.session.id != started.session.id:
        await in_unit_of_work(request, services(request).sessions.end, previous.session, previous.session.id)
    if may_return_to(started.return_to):
        to = started.return_to or to
    response = see_other(request, to)
    settings = services(request).settings
    response.set_cookie(
        cookie_name(request, SESSION),
        started.token,
        httponly=True,
        samesite="lax",
        secure=settings.https,
        path="/",
        max_age=int((started.session.expires_at - started.session.created_at).total_seconds()),
    )
    rotate_csrf(request, response)  # a signed-in browser gets a new CSRF secret too
    return response


async def posted_form_or_empty(request: Request) -> dict[str, str]:
    """The posted form, or nothing if it cannot be read."""
    try:
        return await read_form(request)
    except DomainError:
        return {}


async def posted_form(request: Request) -> dict[str, str]:
    """The posted form: its origin and CSRF token were checked before the page ran (web/csrf.py)."""
    return await read_form(request)


# Start pages --------------------------------------------------------------------------
def _email_flow(request: Request, kind: str) -> EmailCodeFlow:
    email_flow: EmailCodeFlow = getattr(services(request), kind)
    return email_flow


async def start_page(request: Request) -> Response:
    """``continue``: an OAuth authorization request waiting for this sign-in or sign-up (a
    sign-in even by someone already signed in, for ``prompt=login`` or ``max_age``); only the id
    of a kept request, never a free URL."""
    kind = _kind(request)
    values = request.query_params if request.method == "GET" else await posted_form_or_empty(request)
    waiting = continue_path(values.get("continue", ""))
    auth = await current_user(request)
    if auth and not waiting:
        return see_other(request, "/account")
    if auth and kind == "signup":
        return see_other(request, str(waiting))  # already signed in: on to the app's request
    if request.method == "GET":
        # The sign-in page's passkey (a button, and the browser's autofill on the address field).
        offer = await sign_in_offer(request, waiting) if kind == "login" else None
        email = request.query_params.get("email", "") or (auth.account.email if auth else "")
        shown = page(request, f"{kind}_email.html", email=email[:254], waiting=waiting_request(waiting), offer=offer)
        return remember_offer(request, shown, offer)
    form: dict[str, str] = {}
    try:
        form = await posted_form(request)
        context = {"return_to": waiting} if waiting else {}
        view = await in_unit_of_work(
            request,
            _email_flow(request, kind).start,
            form.get("email", ""),
            requester_of(request, Channel.BROWSER),
            **context,
        )
    except DomainError as error:
        offer = await sign_in_offer(request, waiting) if kind == "login" else None
        return page(
            request,
            f"{kind}_email.html",
            status=error_status(error),
            error=error,
            email=form.get("email", "")[:254],
            waiting=waiting_request(waiting),
            offer=offer,
        )
    return see_other(request, f"/{kind}/{view.flow.id}")


def _kind(request: Request) -> str:
    return "signup" if request.url.path.startswith("/signup") else "login"


def error_status(error: DomainError) -> int:
    return error.status if isinstance(error, HttpError) else status_of(error)


# Flow steps ---------------------------------------------------------------------------
LOGIN_CHOICES = MappingProxyType(
    {
        "password_instead": "password_chosen",
        "code_instead": "code_chosen",
        "forgot": "forgot_chosen",
        "recovery_instead": "recovery_chosen",
        "sms_instead": "sms_chosen",
    }
)
# What shows each state: the flow's page (GET /signup/{id}, /login/{id}), and the JSON API's
# answer to the step that moved the flow there (an error's, for a flow that cannot go on).
SIGNUP_PRESENTATION = Presentation(
    signup.MACHINE,
    pages={
        SignupState.NEW: NOT_STORED,
        SignupState.CONFIRM_EMAIL: "flow_suggestion.html",
        SignupState.CODE_SENT: "flow_code.html",
        SignupState.POLICY: "signup_policy.html",
        SignupState.DETAILS: "signup_details.html",
        SignupState.TWO_FACTOR_OFFER: "signup_two_factor.html",
        SignupState.COMPLETE: REDIRECT,
        SignupState.DEAD: GONE,
    },
    api={
        SignupState.NEW: NOT_STORED,
        SignupState.CONFIRM_EMAIL: schemas.FlowOut,
        SignupState.CODE_SENT: schemas.FlowOut,
        SignupState.POLICY: schemas.FlowOut,
        SignupState.DETAILS: schemas.FlowOut,
        SignupState.TWO_FACTOR_OFFER: schemas.FlowOut,
        SignupState.COMPLETE: schemas.SignedIn,
        SignupState.DEAD: schemas.Error,
    },
)
LOGIN_PRESENTATION = Presentation(
    login.MACHINE,
    pages={
        LoginState.NEW: NOT_STORED,
        LoginState.CONFIRM_EMAIL: "flow_suggestion.html",
        LoginState.FIRST_FACTOR: BY_METHOD,
        LoginState.FORGOT: "login_forgot.html",
        LoginState.RESET_SENT: "login_reset_sent.html",
        LoginState.SECOND_FACTOR: BY_METHOD,
        LoginState.COMPLETE: REDIRECT,
        LoginState.DEAD: GONE,
    },
    api={
        LoginState.NEW: NOT_STORED,
        LoginState.CONFIRM_EMAIL: schemas.FlowOut,
        LoginState.FIRST_FACTOR: schemas.FlowOut,
        LoginState.FORGOT: schemas.FlowOut,
        LoginState.RESET_SENT: schemas.FlowOut,
        LoginState.SECOND_FACTOR: schemas.FlowOut,  # with status 202 when a first factor leads there
        LoginState.COMPLETE: schemas.SignedIn,
        LoginState.DEAD: schemas.Error,
    },
    methods={  # a new kind adds its page here
        LoginState.FIRST_FACTOR: {
            EMAIL_CODE: "flow_code.html",
            PASSWORD: "login_password.html",
            PASSKEY: "login_passkey.html",
            FEDERATED: "flow_gone.html",  # at the provider: only its callback goes on (federation_pages)
        },
        LoginState.SECOND_FACTOR: {
            SMS: "login_sms.html",
            RECOVERY_CODE: "login_recovery.html",
            TOTP: "login_totp.html",
            PASSKEY: "login_passkey.html",
        },
    },
)
PRESENTATIONS = MappingProxyType({"signup": SIGNUP_PRESENTATION, "login": LOGIN_PRESENTATION})
# Never written back into a page: codes and passwords are typed again after an error.
SECRET_FIELDS = frozenset(
    {"csrf_token", "code", "password", "current_password", "new_password", "recovery_code", "credential"}
)


async def flow_page(request: Request) -> Response:
    kind = _kind(request)
    flow_id = request.path_params["flow_id"]
    if request.method == "POST":
        return await _flow_post(request, kind, flow_id)
    return await _show(request, kind, flow_id)


async def _show(
    request: Request,
    kind: str,
    flow_id: str,
    error: DomainError | None = None,
    status: int = 200,
    values: dict[str, Any] | None = None,
) -> Response:
    email_flow = _email_flow(request, kind)
    try:
        view = await in_unit_of_work(request, email_flow.view, flow_id, requester_of(request, Channel.BROWSER))
    except (FlowNotFound, FlowExpired) as gone:
        return page(request, "flow_gone.html", status=error_status(gone), error=gone, kind=kind, waiting="")
    flow = view.flow
    template = PRESENTATIONS[kind].page(flow.state, flow.context.get("method"))
    if template == REDIRECT:
        return see_other(request, "/account")
    await allow_partner_redirect(request, flow.context.get("return_to"))
    container = services(request)
    settings = container.settings
    if template == GONE:
        return page(
            request,
            "flow_gone.html",
            status=status if error else 410,
            error=error or FlowDead(),
            kind=kind,
            waiting=waiting_request(flow.context.get("return_to")),
        )
    if template == NOT_STORED:
        raise LookupError(f"a {kind} flow is never stored in the state {flow.state!r}")
    challenge = None
    if kind == "login" and flow.state == LoginState.SECOND_FACTOR:
        try:
            challenge = await in_unit_of_work(request, services(request).login.challenge, flow)
        except WrongState as off:  # 2FA was turned off meanwhile
            return page(
                request,
                "flow_gone.html",
                status=409,
                error=off,
                kind=kind,
                waiting=waiting_request(flow.context.get("return_to")),
            )
    method = flow.context.get("method")
    other_ways: list[OtherWay] = []
    if challenge is not None:  # the second factor's step: "Try another way"
        other_ways = await in_unit_of_work(request, services(request).login.other_ways, flow)
    if kind == "login" and flow.state == LoginState.FIRST_FACTOR and method == PASSKEY:
        challenge = await in_unit_of_work(request, services(request).login.prompt, flow)  # its options
    now = services(request).clock.now()
    resend_at = view.code.get("resend_available_at")
    factor_step = kind == "login" and flow.state in (LoginState.FIRST_FACTOR, LoginState.SECOND_FACTOR)
    waits_for_code = flow.state == CodeFlowState.CODE_SENT or (factor_step and method in CODE_PURPOSES)
    resend_exhausted = waits_for_code and resend_at is None
    resend_wait = max(0, int((resend_at - now).total_seconds())) if resend_at else None
    texted = flow.state == LoginState.SECOND_FACTOR and method == SMS
    if texted and challenge is not None and challenge.refused is not None:
        # No text was sent (a limit): say why, offer a send once it allows, and the recovery code.
        error = error or challenge.refused
        resend_exhausted, resend_wait = False, int(challenge.refused.params.get("seconds", 0))
    return page(
        request,
        template,
        status=status,
        error=error,
        kind=kind,
        flow=flow,
        suggestion=view.suggestion,
        code=view.code,
        resend_wait=resend_wait,
        resend_exhausted=resend_exhausted,
        challenge=challenge,
        other_ways=other_ways,
        method_labels=METHOD_LABELS,
        policy_version=settings.privacy_policy_version,
        policy_text=container.privacy_policy.paragraphs(language(request)),
        values=values or offered_names(flow.context),
        units=[u.value for u in Units],
        waiting=waiting_request(flow.context.get("return_to")),
    )


async def _flow_post(request: Request, kind: str, flow_id: str) -> Response:
    form: dict[str, str] = {}
    try:
        form = await posted_form(request)
        requester = requester_of(request, Channel.BROWSER)
        action = ACTIONS[kind].get(form.get("action", ""))
        if action is None:
            raise HttpError("unknown_action", N_("This action is not available."), 400)
        answer = await action(Step(request, kind, flow_id, form, requester))
    except DomainError as error:
        values = {k: v[:254] for k, v in form.items() if k not in SECRET_FIELDS}
        return await _show(request, kind, flow_id, error=error, status=error_status(error), values=values)
    return answer if answer is not None else see_other(request, f"/{kind}/{flow_id}")


@dataclass(frozen=True, slots=True)
class Step:
    """An action posted on a flow's page."""

    request: Request
    kind: str
    flow_id: str
    form: dict[str, str]
    requester: Requester


Action = Callable[[Step], Awaitable[Response | None]]  # None: back to the flow's page


async def _answer_suggestion(step: Step, *, accept: bool) -> None:
    email_flow = _email_flow(step.request, step.kind)
    await in_unit_of_work(step.request, email_flow.answer_suggestion, step.flow_id, accept, step.requester)


async def _resend(step: Step) -> Response:
    await in_unit_of_work(step.request, _email_flow(step.request, step.kind).resend, step.flow_id, step.requester)
    return see_other(step.request, f"/{step.kind}/{step.flow_id}?resent=1")


async def _login_choose(step: Step, *, event: str) -> None:
    await in_unit_of_work(step.request, services(step.request).login.choose, step.flow_id, event, step.requester)


async def _login_choose_method(step: Step) -> None:
    """ "Try another way": the method named by the button."""
    login_flow = services(step.request).login
    method = step.form.get("method", "")
    await in_unit_of_work(step.request, login_flow.choose_method, step.flow_id, method, step.requester)


async def _login_reset(step: Step) -> None:
    container = services(step.request)
    await in_unit_of_work(step.request, container.login.request_reset, step.flow_id, step.requester)


async def _login_password(step: Step) -> Response:
    container = services(step.request)
    result = await container.login.submit_password(step.flow_id, step.form.get("password", ""), step.requester)
    return await first_factor_done(step.request, step.flow_id, result)


async def _login_code(step: Step) -> Response:
    container = services(step.request)
    code = step.form.get("code", "")
    result = await in_unit_of_work(step.request, container.login.submit_code, step.flow_id, code, step.requester)
    return await first_factor_done(step.request, step.flow_id, result)


async def _login_sms(step: Step) -> Response:
    container = services(step.request)
    code = step.form.get("code", "")
    started = await in_unit_of_work(step.request, container.login.submit_sms, step.flow_id, code, step.requester)
    return await sign_in(step.request, started)


async def _login_sms_resend(step: Step) -> Response:
    container = services(step.request)
    await in_unit_of_work(step.request, container.login.resend_sms, step.flow_id, step.requester)
    return see_other(step.request, f"/login/{step.flow_id}?resent=1")


async def _login_totp(step: Step) -> Response:
    """The code from the authenticator app (flows/authenticators/totp.py)."""
    login_flow = services(step.request).login
    answer = Answer(code=step.form.get("code", ""))
    _, result = await in_unit_of_work(step.request, login_flow.submit, step.flow_id, TOTP, answer, step.requester)
    assert isinstance(result, Started)  # a second factor signs in
    return await sign_in(step.request, result)


async def _login_passkey(step: Step) -> Response:
    """The browser's answer to a passkey request (static/passkey.js): alone, or as the second factor."""
    container = services(step.request)
    answer = Answer(credential=step.form.get("credential", ""))
    _, result = await in_unit_of_work(
        step.request, container.login.submit, step.flow_id, PASSKEY, answer, step.requester
    )
    return await first_factor_done(step.request, step.flow_id, result)


async def _login_recovery(step: Step) -> Response:
    container = services(step.request)
    code = step.form.get("recovery_code", "")
    used = await in_unit_of_work(step.request, container.login.submit_recovery, step.flow_id, code, step.requester)
    return await sign_in(step.request, used.started, "/account/two-factor/recovery-code?used=1")


async def _signup_code(step: Step) -> None:
    container = services(step.request)
    code = step.form.get("code", "")
    await in_unit_of_work(step.request, container.signup.submit_code, step.flow_id, code, step.requester)


async def _signup_policy(step: Step) -> None:
    container = services(step.request)
    accepted = step.form.get("accept") == "yes"
    await in_unit_of_work(step.request, container.signup.accept_policy, step.flow_id, accepted, None, step.requester)


async def _signup_details(step: Step) -> None:
    container = services(step.request)
    await in_unit_of_work(step.request, container.signup.submit_details, step.flow_id, step.form, step.requester)


async def _signup_finish(step: Step, *, set_up_two_factor: bool) -> Response:
    container = services(step.request)
    started = await in_unit_of_work(
        step.request, container.signup.finish, step.flow_id, set_up_two_factor, step.requester
    )
    return await sign_in(
        step.request, started, "/account/two-factor?welcome=1" if set_up_two_factor else "/account?welcome=1"
    )


# The posted ``action`` of each flow's pages, and what it does.
EMAIL_CODE_ACTIONS: Mapping[str, Action] = MappingProxyType(
    {
        "accept_suggestion": partial(_answer_suggestion, accept=True),
        "decline_suggestion": partial(_answer_suggestion, accept=False),
        "resend": _resend,
    }
)
ACTIONS: Mapping[str, Mapping[str, Action]] = MappingProxyType(
    {
        "signup": MappingProxyType(
            {
                **EMAIL_CODE_ACTIONS,
                "code": _signup_code,
                "policy": _signup_policy,
                "details": _signup_details,
                "skip_two_factor": partial(_signup_finish, set_up_two_factor=False),
                "setup_two_factor": partial(_signup_finish, set_up_two_factor=True),
            }
        ),
        "login": MappingProxyType(
            {
                **EMAIL_CODE_ACTIONS,
                **{action: partial(_login_choose, event=event) for action, event in LOGIN_CHOICES.items()},
                "choose_method": _login_choose_method,
                "validate": _login_reset,
                "password": _login_password,
                "code": _login_code,
                "sms": _login_sms,
                "sms_resend": _login_sms_resend,
                "recovery": _login_recovery,
                "totp": _login_totp,
                "passkey": _login_passkey,
            }
        ),
    }
)


async def first_factor_done(request: Request, flow_id: str, result: SignInResult) -> Response:
    """Signed in, or on to the second factor's page."""
    if isinstance(result, SecondFactorNeeded):
        return see_other(request, f"/login/{flow_id}")
    return await sign_in(request, result)


# Account ----------------------------------------------------------------------------
# Account & Security's sections, each with its own link: an anchor on the page, or its own page.
ACCOUNT_SECTIONS: tuple[tuple[str, str], ...] = (
    ("#profile", N_("Profile")),
    ("#password", N_("Password")),
    ("#two-factor", N_("Two-factor authentication and sign-in methods")),
    ("#linked-accounts", N_("Linked accounts")),  # shown with providers configured, or identities linked
    ("#app-passwords", N_("App passwords")),
    ("#connected-apps", N_("Connected apps")),
    ("#sessions", N_("Where you are signed in")),
    ("/account/delete", N_("Delete account")),
)


async def account_page(request: Request) -> Response:
    auth = await current_user(request)
    if auth is None:
        return see_other(request, "/login")
    return await _account(request, auth)


async def _account(
    request: Request,
    auth: Authenticated,
    error: DomainError | None = None,
    status: int = 200,
    values: dict[str, str] | None = None,
    notice: str | None = None,
) -> Response:
    sessions = await in_unit_of_work(request, services(request).sessions.list, auth.account.id)
    factor = await in_unit_of_work(request, services(request).two_factor.status, auth.account.id)
    linked = await in_unit_of_work(request, services(request).federation.linked, auth.account)
    with_linked = bool(linked) or bool(services(request).settings.federation_providers)
    profile = auth.account.profile
    defaults: dict[str, Any] = {}
    if profile:
        ft, inch = feet_inches(profile.height_cm)
        defaults = {
            "first_name": profile.first_name,
            "last_name": profile.last_name,
            "birth_date": profile.birth_date.isoformat(),
            "sex": profile.sex.value,
            "units": profile.units.value,
            "height_cm": f"{profile.height_cm:g}",
            "height_ft": str(ft),
            "height_in": str(inch),
        }
    return page(
        request,
        "account.html",
        status=status,
        error=error,
        auth=auth,
        sessions=sessions,
        devices={s.id: label(describe(s.user_agent), translations(language(request)).gettext) for s in sessions},
        sections=[s for s in ACCOUNT_SECTIONS if with_linked or s[0] != "#linked-accounts"],
        linked=linked,
        factor=factor,
        phone_hint=phone_hint(factor.phone) if factor and factor.phone else "",
        values={**defaults, **(values or {})},
        units=[u.value for u in Units],
        notice=notice or request.query_params.get("notice"),
        welcome=request.query_params.get("welcome") == "1",
        strength=_strength_param(request),
    )


def _strength_param(request: Request) -> dict[str, str] | None:
    """The score carried through the redirect after a password is saved (a digit, nothing secret)."""
    score = request.query_params.get("strength", "")
    return {"label": STRENGTH_LABELS[int(score)]} if score in ("0", "1", "2", "3", "4") else None


async def account_action(request: Request) -> Response:
    auth = await current_user(request)
    if auth is None:
        return see_other(request, "/login")
    container = services(request)
    action = request.path_params["action"]
    form: dict[str, str] = {}
    try:
        form = await posted_form(request)
        if action == "profile":
            account = await in_unit_of_work(request, container.accounts.update_profile, auth.account, form)
            if chosen := supported(form.get("language")):
                await in_unit_of_work(request, container.accounts.set_language, account, chosen)
            return see_other(request, "/account?notice=profile_saved")
        if action == "end-session":
            await in_unit_of_work(request, container.sessions.end, auth.session, form.get("session_id", ""))
            if form.get("session_id") == auth.session.id:
                return signed_out(request)
            return see_other(request, "/account?notice=session_ended")
        if action == "end-others":
            await in_unit_of_work(request, container.sessions.end_others, auth.session)
            return see_other(request, "/account?notice=others_ended")
        if action == "logout":
            await in_unit_of_work(request, container.sessions.end, auth.session, auth.session.id)
            return signed_out(request)
        raise HttpError("unknown_action", N_("This action is not available."), 404)
    except DomainError as error:
        values = {k: v[:254] for k, v in form.items() if k not in SECRET_FIELDS}
        return await _account(request, auth, error=error, status=error_status(error), values=values)


def signed_out(request: Request, to: str = "/login?signed_out=1") -> Response:
    """To ``to``, without the session cookie (the session itself is ended or deleted)."""
    response = see_other(request, to)
    response.delete_cookie(
        cookie_name(request, SESSION),
        path="/",
        secure=services(request).settings.https,
        httponly=True,
        samesite="lax",
    )
    return response


async def choose_language(request: Request) -> Response:
    chosen = supported(request.path_params["lang"]) or "en"
    target = request.query_params.get("next", "/")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        target = "/"  # never an open redirect
    response = see_other(request, quote(target, safe="/?=&#%-_.~"))
    if not from_our_pages(request.headers, own_origin(request)):
        return response  # a link on another site does not choose the language for the user
    response.set_cookie(
        LANG_COOKIE,
        chosen,
        max_age=365 * 86400,
        samesite="lax",
        path="/",
        secure=services(request).settings.https,
        httponly=True,
    )
    return response


async def privacy_page(request: Request) -> Response:
    """The privacy policy the sign-up asks to accept, for anyone to read again."""
    policy = services(request).privacy_policy
    return page(
        request, "privacy.html", policy_version=policy.version, policy_text=policy.paragraphs(language(request))
    )


async def home(request: Request) -> Response:
    return see_other(request, "/dashboard" if await current_user(request) else "/login")


def routes() -> list[BaseRoute]:
    """This module's routes, in the order they are matched."""
    return [
        Route("/", home, methods=["GET"]),
        Route("/signup", start_page, methods=["GET", "POST"]),
        Route("/login", start_page, methods=["GET", "POST"]),
        Route("/signup/{flow_id}", flow_page, methods=["GET", "POST"]),
        Route("/login/{flow_id}", flow_page, methods=["GET", "POST"]),
        Route("/account", account_page, methods=["GET"]),
        Route("/account/{action}", account_action, methods=["POST"]),
        Route("/lang/{lang}", choose_language, methods=["GET"]),
        Route("/privacy", privacy_page, methods=["GET"]),
    ]
