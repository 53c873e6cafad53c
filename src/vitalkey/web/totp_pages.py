"""Account & Security → Two-factor authentication → "Authenticator app": the pages of its set-up
(flows/totp_setup.py). The page says whether the account has an app and offers to set one up
or to replace it, after a fresh sign-in; the set-up shows the QR code, the key and the code
field, then (when this turned 2FA on) the recovery code once."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from vitalkey.domain.authenticators import TOTP
from vitalkey.domain.errors import DomainError, FlowDead, FlowExpired, FlowNotFound, WrongState
from vitalkey.domain.flows import Channel
from vitalkey.domain.i18n import N_
from vitalkey.flows.sessions import Authenticated
from vitalkey.web.context import in_unit_of_work, requester_of, services
from vitalkey.web.errors import HttpError
from vitalkey.web.pages import current_user, error_status, posted_form, see_other
from vitalkey.web.presentation import GONE, REDIRECT
from vitalkey.web.render import page
from vitalkey.web.two_factor_pages import TWO_FACTOR_PRESENTATION, fresh, reauthenticate

PAGE = "/account/two-factor/authenticator-app"


async def app_page(request: Request) -> Response:
    auth = await current_user(request)
    if auth is None:
        return see_other(request, "/login")
    if request.method == "GET":
        return await _show_app(request, auth)
    try:
        form = await posted_form(request)
        action = form.get("action", "")
        if action == "reauth":
            return await reauthenticate(request, auth, PAGE)
        if action != "start":
            raise HttpError("unknown_action", N_("This action is not available."), 400)
        container = services(request)
        requester = requester_of(request, Channel.BROWSER)
        view = await in_unit_of_work(request, container.totp_setup.begin, auth, requester)
    except DomainError as error:
        return await _show_app(request, auth, error)
    return see_other(request, f"{PAGE}/{view.flow.id}")


async def _show_app(request: Request, auth: Authenticated, error: DomainError | None = None) -> Response:
    container = services(request)
    factor = await in_unit_of_work(request, container.two_factor.status, auth.account.id)
    app = await in_unit_of_work(request, container.totp_setup.current, auth.account.id)
    return page(
        request,
        "totp_app.html",
        status=error_status(error) if error else 200,
        error=error,
        app=app,
        fresh=fresh(request, auth, factor),
        notice=request.query_params.get("notice"),
    )


async def setup_page(request: Request) -> Response:
    auth = await current_user(request)
    if auth is None:
        return see_other(request, "/login")
    flow_id = request.path_params["flow_id"]
    if request.method == "GET":
        return await _show_setup(request, auth, flow_id)
    container = services(request)
    requester = requester_of(request, Channel.BROWSER)
    try:
        form = await posted_form(request)
        action = form.get("action", "")
        if action == "totp_confirm":
            view = await in_unit_of_work(
                request, container.totp_setup.confirm, auth, flow_id, form.get("code", ""), requester
            )
            if view.recovery_code is not None:  # 2FA turned on: the recovery code, once
                return see_other(request, f"{PAGE}/{flow_id}")
            return see_other(request, f"{PAGE}?notice={'replaced' if view.replacing else 'added'}")
        if action == "done":
            await in_unit_of_work(request, container.totp_setup.finish, auth, flow_id, requester)
            return see_other(request, f"{PAGE}?notice=enabled")
        raise HttpError("unknown_action", N_("This action is not available."), 400)
    except (FlowNotFound, FlowExpired, WrongState) as gone:
        return await _show_app(request, auth, gone)
    except DomainError as error:
        return await _show_setup(request, auth, flow_id, error)


async def _show_setup(
    request: Request, auth: Authenticated, flow_id: str, error: DomainError | None = None
) -> Response:
    container = services(request)
    try:
        view = await in_unit_of_work(
            request, container.totp_setup.view, auth, flow_id, requester_of(request, Channel.BROWSER)
        )
    except (FlowNotFound, FlowExpired) as gone:
        return await _show_app(request, auth, gone)
    template = TWO_FACTOR_PRESENTATION.page(view.flow.state, TOTP)
    if template == GONE:
        return await _show_app(request, auth, error or FlowDead())
    if template == REDIRECT:
        return see_other(request, PAGE)
    return page(request, template, status=error_status(error) if error else 200, error=error, view=view)


def routes() -> list[BaseRoute]:
    """This module's routes, in the order they are matched (before ``/account/two-factor/{flow_id}``)."""
    return [
        Route(PAGE, app_page, methods=["GET", "POST"]),
        Route(PAGE + "/{flow_id}", setup_page, methods=["GET", "POST"]),
    ]
