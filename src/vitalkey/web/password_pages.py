"""Password pages outside the sign-in flow: Account & Security → Password, and the page the
"Update password" link opens."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from vitalkey.domain.errors import DomainError, FlowDead, FlowExpired, FlowNotFound, ResetLinkInvalid, WrongState
from vitalkey.domain.flows import Channel
from vitalkey.domain.i18n import N_
from vitalkey.domain.passwords import Strength
from vitalkey.flows import password_settings
from vitalkey.flows.email_flow import FlowView
from vitalkey.flows.password_settings import PasswordSetState
from vitalkey.flows.sessions import Authenticated
from vitalkey.web.context import in_unit_of_work, password_strength, requester_of, services
from vitalkey.web.errors import HttpError
from vitalkey.web.pages import continue_path, current_user, error_status, posted_form, see_other, waiting_request
from vitalkey.web.presentation import GONE, NOT_STORED, REDIRECT, Presentation
from vitalkey.web.render import page
from vitalkey.web.schemas import Error, FlowOut, PasswordSaved

# The link's page must not leak its address to anything it loads or links to (SECURITY).
NO_REFERRER = "no-referrer"
# What shows each state of setting a first password: Account & Security → Password (with
# ?flow={id}), and the JSON API's answer to the step that moved the flow there.
PASSWORD_SET_PRESENTATION = Presentation(
    password_settings.MACHINE,
    # COMPLETE: setting the password goes on to /account; DEAD: the page asks for a new code.
    pages={
        PasswordSetState.NEW: NOT_STORED,
        PasswordSetState.CODE_SENT: "account_password.html",
        PasswordSetState.COMPLETE: REDIRECT,
        PasswordSetState.DEAD: GONE,
    },
    api={
        PasswordSetState.NEW: NOT_STORED,
        PasswordSetState.CODE_SENT: FlowOut,
        PasswordSetState.COMPLETE: PasswordSaved,
        PasswordSetState.DEAD: Error,
    },
)


# Account & Security → Password -------------------------------------------------------
async def account_password(request: Request) -> Response:
    auth = await current_user(request)
    if auth is None:
        return see_other(request, "/login")
    if request.method == "POST":
        return await _account_password_post(request, auth)
    return await _account_password_page(request, auth, flow_id=request.query_params.get("flow", ""))


async def _account_password_page(
    request: Request,
    auth: Authenticated,
    *,
    flow_id: str = "",
    error: DomainError | None = None,
    strength: Strength | None = None,
) -> Response:
    view: FlowView | None = None
    if flow_id and auth.account.password_changed_at is None:
        try:
            view = await in_unit_of_work(
                request,
                services(request).password_set.load_for,
                flow_id,
                auth.account,
                requester_of(request, Channel.BROWSER),
            )
        except (FlowNotFound, FlowExpired, FlowDead, WrongState) as gone:
            error = error or gone  # ask for a new code
    return page(
        request,
        "account_password.html",
        status=error_status(error) if error else 200,
        error=error,
        auth=auth,
        has_password=auth.account.password_changed_at is not None,
        flow=view.flow if view else None,
        strength=strength,
    )


async def _account_password_post(request: Request, auth: Authenticated) -> Response:
    container = services(request)
    form: dict[str, str] = {}
    try:
        form = await posted_form(request)
        requester = requester_of(request, Channel.BROWSER)
        action = form.get("action", "")
        if action == "send_code":
            view = await in_unit_of_work(request, container.password_set.begin_for, auth.account, requester)
            return see_other(request, f"/account/password?flow={view.flow.id}")
        if action == "resend":
            flow_id = form.get("flow", "")
            await in_unit_of_work(request, container.password_set.load_for, flow_id, auth.account, requester)
            await in_unit_of_work(request, container.password_set.resend, flow_id, requester)
            return see_other(request, f"/account/password?flow={flow_id}&resent=1")
        if action == "set":
            typed = form.get("password", "")
            await container.password_set.set_password(
                form.get("flow", ""), auth.account, form.get("code", ""), typed, requester
            )
            score = (await password_strength(request, typed, auth.account)).score
            return see_other(request, f"/account?notice=password_set&strength={score}#password")
        if action == "change":
            typed = form.get("new_password", "")
            await container.password_change.change(
                auth,
                form.get("current_password", ""),
                typed,
                end_others=form.get("end_others") == "yes",
                requester=requester,
            )
            score = (await password_strength(request, typed, auth.account)).score
            return see_other(request, f"/account?notice=password_changed&strength={score}#password")
        raise HttpError("unknown_action", N_("This action is not available."), 400)
    except DomainError as error:
        typed = form.get("new_password") or form.get("password", "")
        return await _account_password_page(
            request,
            auth,
            flow_id=form.get("flow", "")[:64],
            error=error,
            strength=await password_strength(request, typed, auth.account) if typed else None,
        )


# The "Update password" link ------------------------------------------------------------
async def reset_link(request: Request) -> Response:
    """GET shows the form (looking does not use the link up: mail scanners open links);
    POST sets the password and leads to a page that asks the user to sign in."""
    token = request.path_params["token"][:128]
    # A sign-in for an app's authorization request: the link carries it, to the sign-in after.
    waiting = waiting_request(continue_path(request.query_params.get("continue", "")))
    request.state.waiting = waiting
    resets = services(request).password_resets
    try:
        account = await in_unit_of_work(request, resets.account_of, token)
    except ResetLinkInvalid as gone:
        return _gone(request, gone)
    if request.method == "GET":
        return _reset_form(request, token, account.email, end_sessions=True)
    form: dict[str, str] = {}
    try:
        form = await posted_form(request)
        await resets.complete(token, form.get("password", ""), end_sessions=form.get("end_sessions") == "yes")
    except ResetLinkInvalid as gone:
        return _gone(request, gone)
    except DomainError as error:
        typed = form.get("password")
        return _reset_form(
            request,
            token,
            account.email,
            end_sessions=form.get("end_sessions") == "yes",
            error=error,
            strength=await password_strength(request, typed, account) if typed else None,
        )
    return _no_referrer(see_other(request, "/password/updated" + (f"?continue={waiting}" if waiting else "")))


def _reset_form(
    request: Request,
    token: str,
    email: str,
    *,
    end_sessions: bool,
    error: DomainError | None = None,
    strength: Strength | None = None,
) -> Response:
    return _no_referrer(
        page(
            request,
            "password_reset.html",
            status=error_status(error) if error else 200,
            error=error,
            token=token,
            waiting=getattr(request.state, "waiting", ""),
            email=email,
            end_sessions=end_sessions,
            strength=strength,
            referrer_policy=NO_REFERRER,
        )
    )


def _gone(request: Request, error: ResetLinkInvalid) -> Response:
    return _no_referrer(
        page(
            request,
            "password_reset_gone.html",
            status=410,
            error=error,
            referrer_policy=NO_REFERRER,
            waiting=getattr(request.state, "waiting", ""),
        )
    )


def _no_referrer(response: Response) -> Response:
    response.headers["Referrer-Policy"] = NO_REFERRER
    return response


async def password_updated(request: Request) -> Response:
    waiting = waiting_request(continue_path(request.query_params.get("continue", "")))
    return page(request, "password_updated.html", waiting=waiting)


def routes() -> list[BaseRoute]:
    """This module's routes, in the order they are matched."""
    return [
        Route("/account/password", account_password, methods=["GET", "POST"]),
        Route("/password/reset/{token}", reset_link, methods=["GET", "POST"]),
        Route("/password/updated", password_updated, methods=["GET"]),
    ]
