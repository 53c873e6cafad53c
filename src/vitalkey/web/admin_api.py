"""The admin JSON API for OAuth clients, behind the operator's ``admin_token`` (off when unset)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from starlette.requests import Request

from vitalkey.domain.apps import App, ClientType
from vitalkey.domain.errors import UnknownApp
from vitalkey.domain.i18n import N_
from vitalkey.domain.tokens import same
from vitalkey.flows.clients import NewClient
from vitalkey.web import schemas
from vitalkey.web.api import ApiEndpoint, api_endpoint
from vitalkey.web.context import in_unit_of_work, services
from vitalkey.web.errors import HttpError

ADMIN_ERRORS = (401, 404, 409)
T = TypeVar("T")


def require_admin(request: Request) -> None:
    token = services(request).settings.admin_token
    if not token:
        raise HttpError("not_found", N_("This page does not exist."), 404)
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not same(given.strip(), token):
        raise HttpError("not_authenticated", N_("Please sign in."), 401)


async def _on_client(request: Request, method: Callable[[str], T]) -> T:
    """Run a registry method on the path's client; an unknown one is a 404 here."""
    try:
        return await in_unit_of_work(request, method, request.path_params["client_id"])
    except UnknownApp:
        raise HttpError("client_not_found", UnknownApp.message, 404) from None


def client_out(app: App) -> schemas.ClientOut:
    return schemas.ClientOut(
        client_id=app.client_id,
        name=app.name,
        client_type=app.client_type.value,
        first_party=app.first_party,
        supports_2fa=app.supports_2fa,
        redirect_uris=list(app.redirect_uris),
        scopes=list(app.scopes),
        logo_url=app.logo_url,
        policy_url=app.policy_url,
        created_at=app.created_at,
        has_secret=bool(app.secret_digest),
    )


@api_endpoint(
    "GET",
    "/api/v1/admin/clients",
    "All clients (admin token)",
    response=schemas.ClientList,
    errors=(401, 404),
    tag="admin",
)
async def list_clients(request: Request, _: None) -> schemas.ClientList:
    require_admin(request)
    apps = await in_unit_of_work(request, services(request).apps.all)
    return schemas.ClientList(clients=[client_out(app) for app in apps])


@api_endpoint(
    "POST",
    "/api/v1/admin/clients",
    "Register a client; a confidential one's secret is in this answer only (admin token)",
    body=schemas.ClientIn,
    response=schemas.ClientCreated,
    status=201,
    errors=ADMIN_ERRORS,
    tag="admin",
)
async def create_client(request: Request, body: schemas.ClientIn) -> schemas.ClientCreated:
    require_admin(request)
    new = NewClient(
        name=body.name,
        client_type=ClientType(body.client_type),
        redirect_uris=tuple(body.redirect_uris),
        scopes=tuple(body.scopes),
        first_party=body.first_party,
        supports_2fa=body.supports_2fa,
        logo_url=body.logo_url,
        policy_url=body.policy_url,
        client_id=body.client_id,
    )
    registered = await in_unit_of_work(request, services(request).apps.register, new)
    out = client_out(registered.app)
    return schemas.ClientCreated(**{f: getattr(out, f) for f in out.__struct_fields__}, client_secret=registered.secret)


@api_endpoint(
    "GET",
    "/api/v1/admin/clients/{client_id}",
    "One client (admin token)",
    response=schemas.ClientOut,
    errors=(401, 404),
    tag="admin",
)
async def show_client(request: Request, _: None) -> schemas.ClientOut:
    require_admin(request)
    return client_out(await _on_client(request, services(request).apps.get))


@api_endpoint(
    "POST",
    "/api/v1/admin/clients/{client_id}/secret",
    "A new secret for a confidential client; the old one stops working (admin token)",
    response=schemas.ClientSecret,
    errors=(401, 404),
    tag="admin",
)
async def rotate_client_secret(request: Request, _: None) -> schemas.ClientSecret:
    require_admin(request)
    secret = await _on_client(request, services(request).apps.rotate_secret)
    return schemas.ClientSecret(client_id=request.path_params["client_id"], client_secret=secret)


@api_endpoint(
    "DELETE",
    "/api/v1/admin/clients/{client_id}",
    "Delete a client (admin token)",
    response=schemas.Ended,
    errors=(401, 404),
    tag="admin",
)
async def delete_client(request: Request, _: None) -> schemas.Ended:
    require_admin(request)
    await _on_client(request, services(request).apps.delete)
    return schemas.Ended(ended=1)


@api_endpoint(
    "GET",
    "/api/v1/admin/clients/{client_id}/subscriptions",
    "The client's notification subscriptions, failing ones first (admin token)",
    response=schemas.SubscriptionList,
    errors=(401, 404),
    tag="admin",
)
async def client_subscriptions(request: Request, _: None) -> schemas.SubscriptionList:
    require_admin(request)
    app = await _on_client(request, services(request).apps.get)
    found = await in_unit_of_work(request, services(request).notify.of_client, app.client_id)
    return schemas.SubscriptionList(
        subscriptions=[
            schemas.SubscriptionOut(
                userid=subscription.account_id,
                appli=int(subscription.appli),
                callbackurl=subscription.callbackurl,
                comment=subscription.comment,
                created_at=subscription.created,
                failing_since=subscription.failing_since,
            )
            for subscription in found
        ]
    )


def endpoints() -> list[ApiEndpoint]:
    """This module's JSON endpoints, in the order they are matched and documented."""
    return [list_clients, create_client, show_client, rotate_client_secret, delete_client, client_subscriptions]
