"""The JSON API of Account & Security → "Two-factor authentication and sign-in methods": the
account's authenticators listed, renamed, made the default, removed (``flows.methods``)."""

from __future__ import annotations

from starlette.requests import Request

from vitalkey.domain.errors import AuthenticatorNotFound, InvalidInput
from vitalkey.domain.flows import Channel
from vitalkey.domain.i18n import N_
from vitalkey.flows.methods import Method, SignInMethods
from vitalkey.flows.sessions import Authenticated
from vitalkey.i18n import translations
from vitalkey.web import schemas
from vitalkey.web.api import ApiEndpoint, api_endpoint
from vitalkey.web.context import in_unit_of_work, language, requester_of, services

BASE = "/api/v1/account/authenticators"
CHANGE_ERRORS = (403, 404)  # 403: reauthentication_required; 404: not one of the account's


def authenticator_id(request: Request) -> int:
    """The id in the path; anything but a number is no authenticator of the account's."""
    raw = str(request.path_params["authenticator_id"])
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise AuthenticatorNotFound()
    return int(raw)


def authenticator_out(request: Request, method: Method) -> schemas.AuthenticatorOut:
    row = method.row
    return schemas.AuthenticatorOut(
        id=row.id,
        kind=row.kind,
        label=translations(language(request)).gettext(method.label),
        name=method.hint,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        is_default=row.is_default,
        can_make_default=method.can_be_default,
        can_rename=method.can_rename,
    )


def _methods(request: Request) -> SignInMethods:
    methods: SignInMethods = services(request).sign_in_methods
    return methods


@api_endpoint(
    "GET",
    BASE,
    "The account's sign-in methods (text message, authenticator app, passkeys), the default first",
    response=schemas.AuthenticatorList,
    auth=True,
    tag="two-factor",
)
async def list_authenticators(request: Request, _: None) -> schemas.AuthenticatorList:
    listed = await in_unit_of_work(request, _methods(request).for_account, request.state.auth.account)
    return schemas.AuthenticatorList(
        authenticators=[authenticator_out(request, method) for method in listed.methods],
        two_factor=listed.two_factor is not None,
    )


@api_endpoint(
    "PATCH",
    BASE + "/{authenticator_id}",
    "Rename a method and/or make it the default second factor (needs a sign-in within 5 minutes with the "
    "second factor); a new default is mailed",
    body=schemas.AuthenticatorChange,
    response=schemas.AuthenticatorOut,
    auth=True,
    errors=CHANGE_ERRORS,
    tag="two-factor",
)
async def change_authenticator(request: Request, body: schemas.AuthenticatorChange) -> schemas.AuthenticatorOut:
    auth: Authenticated = request.state.auth
    wanted = authenticator_id(request)
    methods, requester = _methods(request), requester_of(request, Channel.API)
    if body.name is None and body.default is None:
        raise InvalidInput(N_('Give a "name", or "default": true.'))
    method = await in_unit_of_work(request, methods.get, auth.account, wanted)
    if body.name is not None:
        method = await in_unit_of_work(request, methods.rename, auth, wanted, body.name, requester)
    if body.default:
        method = await in_unit_of_work(request, methods.make_default, auth, wanted, requester)
    return authenticator_out(request, method)


@api_endpoint(
    "DELETE",
    BASE + "/{authenticator_id}",
    "Remove a method (needs a sign-in within 5 minutes with the second factor; mailed); removing the last "
    "text message or authenticator app turns 2FA off and revokes the app passwords",
    response=schemas.AuthenticatorRemoved,
    auth=True,
    errors=CHANGE_ERRORS,
    tag="two-factor",
)
async def remove_authenticator(request: Request, _: None) -> schemas.AuthenticatorRemoved:
    removed = await in_unit_of_work(
        request,
        _methods(request).remove,
        request.state.auth,
        authenticator_id(request),
        requester_of(request, Channel.API),
    )
    return schemas.AuthenticatorRemoved(
        removed=1, two_factor=removed.two_factor_on, app_passwords_revoked=removed.app_passwords_revoked
    )


def endpoints() -> list[ApiEndpoint]:
    """This module's JSON endpoints, in the order they are matched and documented."""
    return [list_authenticators, change_authenticator, remove_authenticator]
