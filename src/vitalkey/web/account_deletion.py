"""Account & Security → Delete account: the page, the "deleted" page after it, and the JSON API of
the companion app. A fresh sign-in (with the second factor) and the typed email address are asked
for by the flow (``flows/account_deletion``); the page offers "Sign in again" when needed."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from vitalkey.domain.errors import DomainError
from vitalkey.domain.i18n import N_
from vitalkey.web import schemas
from vitalkey.web.api import ApiEndpoint, api_endpoint
from vitalkey.web.context import in_unit_of_work, services
from vitalkey.web.errors import HttpError
from vitalkey.web.pages import current_user, error_status, posted_form, see_other, signed_out
from vitalkey.web.render import page
from vitalkey.web.two_factor_pages import fresh, reauthenticate

PAGE = "/account/delete"
DONE = "/account/deleted"


async def delete_page(request: Request) -> Response:
    auth = await current_user(request)
    if auth is None:
        return see_other(request, "/login")
    container = services(request)
    error: DomainError | None = None
    if request.method == "POST":
        try:
            form = await posted_form(request)
            action = form.get("action", "")
            if action == "reauth":
                return await reauthenticate(request, auth, PAGE)
            if action != "delete":
                raise HttpError("unknown_action", N_("This action is not available."), 400)
            await in_unit_of_work(
                request, container.account_deletion.delete_account, auth, form.get("confirmation", "")
            )
            return signed_out(request, DONE)
        except DomainError as refused:
            error = refused
    factor = await in_unit_of_work(request, container.two_factor.status, auth.account.id)
    return page(
        request,
        "account_delete.html",
        status=error_status(error) if error else 200,
        error=error,
        auth=auth,
        fresh=fresh(request, auth, factor),
        page_url=PAGE,
    )


async def deleted_page(request: Request) -> Response:
    """Shown to anyone (the session is gone): it says only what happened, and names nobody."""
    return page(request, "account_deleted.html")


@api_endpoint(
    "DELETE",
    "/api/v1/account",
    "Delete the account and all its data (needs a sign-in within 5 minutes with the second factor, "
    "and the account's email address typed as the confirmation); partner apps hear appli 46 action=delete",
    body=schemas.AccountDeleteIn,
    response=schemas.AccountDeleted,
    auth=True,
    errors=(400, 403),
)
async def delete_account(request: Request, body: schemas.AccountDeleteIn) -> schemas.AccountDeleted:
    container = services(request)
    done = await in_unit_of_work(
        request, container.account_deletion.delete_account, request.state.auth, body.confirmation
    )
    return schemas.AccountDeleted(deleted=True, apps_told=done.apps_told)


def endpoints() -> list[ApiEndpoint]:
    return [delete_account]


def routes() -> list[BaseRoute]:
    """This module's routes, in the order they are matched (before ``/account/{action}``)."""
    return [
        Route(PAGE, delete_page, methods=["GET", "POST"]),
        Route(DONE, deleted_page, methods=["GET"]),
    ]
