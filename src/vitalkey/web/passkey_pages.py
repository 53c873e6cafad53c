"""Account & Security → "Add a passkey" (/account/passkeys/new): a name and the button; the
ceremony runs in static/passkey.js, which posts the browser's answer in the usual form. The
sign-in page's passkey is ``web/passkey_offer.py``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from vitalkey.domain.errors import DomainError, PasskeyUnavailable
from vitalkey.domain.flows import Channel
from vitalkey.domain.i18n import N_
from vitalkey.flows import passkey_enrolment
from vitalkey.flows.passkey_enrolment import Enrolment, EnrolmentState
from vitalkey.flows.sessions import Authenticated
from vitalkey.web.context import in_unit_of_work, requester_of, services
from vitalkey.web.errors import HttpError
from vitalkey.web.pages import current_user, error_status, posted_form, see_other
from vitalkey.web.presentation import NOT_STORED, REDIRECT, Presentation
from vitalkey.web.render import page
from vitalkey.web.schemas import PasskeyEnrolmentOut, PasskeyOut
from vitalkey.web.two_factor_pages import fresh, reauthenticate

NEW_PASSKEY = "/account/passkeys/new"
PASSKEY_ENROLMENT_PRESENTATION = Presentation(
    passkey_enrolment.MACHINE,
    pages={
        EnrolmentState.NEW: NOT_STORED,
        EnrolmentState.ENROLLING: "passkey_new.html",
        EnrolmentState.COMPLETE: REDIRECT,
    },
    api={
        EnrolmentState.NEW: NOT_STORED,
        EnrolmentState.ENROLLING: PasskeyEnrolmentOut,
        EnrolmentState.COMPLETE: PasskeyOut,
    },
)


# Account & Security → Add a passkey --------------------------------------------------------------
async def new_passkey_page(request: Request) -> Response:
    auth = await current_user(request)
    if auth is None:
        return see_other(request, "/login")
    if request.method == "GET":
        return await _show(request, auth)
    container = services(request)
    form: dict[str, str] = {}
    try:
        form = await posted_form(request)
        action = form.get("action", "")
        if action == "reauth":
            return await reauthenticate(request, auth, NEW_PASSKEY)
        if action != "add":
            raise HttpError("unknown_action", N_("This action is not available."), 400)
        await in_unit_of_work(
            request,
            container.passkey_enrolment.confirm,
            auth,
            form.get("flow_id", ""),
            form.get("credential", ""),
            form.get("name", ""),
            requester_of(request, Channel.BROWSER),
        )
    except DomainError as error:
        return await _show(request, auth, error, {"name": form.get("name", "")[:100]})
    return see_other(request, f"{NEW_PASSKEY}?notice=added")


async def _show(
    request: Request, auth: Authenticated, error: DomainError | None = None, values: dict[str, str] | None = None
) -> Response:
    container = services(request)
    factor = await in_unit_of_work(request, container.two_factor.status, auth.account.id)
    is_fresh = fresh(request, auth, factor)
    available = container.relying_party.applies
    enrolment: Enrolment | None = None
    if available and is_fresh:
        try:  # the options for this page (a refused answer shows new ones)
            enrolment = await in_unit_of_work(
                request, container.passkey_enrolment.begin, auth, "", requester_of(request, Channel.BROWSER)
            )
        except DomainError as refused:
            error = error or refused
    status = error_status(error) if error else 200
    if not available:
        error, status = error or PasskeyUnavailable(), 400
    return page(
        request,
        "passkey_new.html",
        status=status,
        error=error,
        available=available,
        fresh=is_fresh,
        enrolment=enrolment,
        values=values or {},
        notice=request.query_params.get("notice"),
    )


def routes() -> list[BaseRoute]:
    """This module's routes, in the order they are matched."""
    return [Route(NEW_PASSKEY, new_passkey_page, methods=["GET", "POST"])]
