"""The JSON API of authenticator apps (TOTP): the second factor of a sign-in, and adding (or
replacing) the account's app: a secret, then the app's first code."""

from __future__ import annotations

from starlette.requests import Request

from vitalkey.domain.authenticators import TOTP, StoredAuthenticator
from vitalkey.domain.flows import Channel
from vitalkey.flows.authenticators.base import Answer
from vitalkey.flows.sessions import Started
from vitalkey.web import schemas
from vitalkey.web.api import FLOW_ERRORS, ApiEndpoint, api_endpoint, signed_in
from vitalkey.web.context import in_unit_of_work, requester_of, services

SETUP_ERRORS = (403, 409)  # 403: reauthentication_required; 409: added or replaced meanwhile


@api_endpoint(
    "POST",
    "/api/v1/login/{flow_id}/totp",
    'Second factor: the code from the authenticator app (the flow\'s "method" is "totp"); a code once used'
    " is refused (totp_code_used)",
    body=schemas.SubmitCode,
    response=schemas.SignedIn,
    errors=FLOW_ERRORS,
    tag="login",
)
async def login_totp(request: Request, body: schemas.SubmitCode) -> schemas.SignedIn:
    login = services(request).login
    flow_id, requester = request.path_params["flow_id"], requester_of(request, Channel.API)
    _, result = await in_unit_of_work(request, login.submit, flow_id, TOTP, Answer(code=body.code), requester)
    assert isinstance(result, Started)  # a second factor signs in
    return signed_in(result)


@api_endpoint(
    "POST",
    "/api/v1/account/authenticators/totp",
    "Add an authenticator app, or replace the account's (needs a sign-in within 5 minutes, with the second"
    " factor when 2FA is on): a new secret to add to the app",
    response=schemas.TotpSetupStarted,
    status=201,
    auth=True,
    errors=SETUP_ERRORS,
    tag="two-factor",
)
async def totp_begin(request: Request, _: None) -> schemas.TotpSetupStarted:
    container = services(request)
    view = await in_unit_of_work(
        request, container.totp_setup.begin, request.state.auth, requester_of(request, Channel.API)
    )
    return schemas.TotpSetupStarted(
        flow_id=view.flow.id,
        secret=view.secret,
        uri=view.uri,
        replacing=view.replacing,
        expires_at=view.flow.expires_at,
    )


@api_endpoint(
    "POST",
    "/api/v1/account/authenticators/totp/{flow_id}",
    "Confirm the authenticator app with its first code: the app is stored; when this turns 2FA on, the"
    " answer holds the recovery code",
    body=schemas.SubmitCode,
    response=schemas.TotpSetupDone,
    auth=True,
    errors=(*FLOW_ERRORS, 403),
    tag="two-factor",
)
async def totp_confirm(request: Request, body: schemas.SubmitCode) -> schemas.TotpSetupDone:
    container = services(request)
    auth, requester = request.state.auth, requester_of(request, Channel.API)
    flow_id = request.path_params["flow_id"]
    view = await in_unit_of_work(request, container.totp_setup.confirm, auth, flow_id, body.code, requester)
    if view.recovery_code is not None:  # shown in this answer: the set-up is done
        await in_unit_of_work(request, container.totp_setup.finish, auth, flow_id, requester)
    assert view.authenticator is not None
    return schemas.TotpSetupDone(
        authenticator=totp_app_out(view.authenticator),
        two_factor_enabled=view.recovery_code is not None,
        replaced=view.replacing,
        recovery_code=view.recovery_code,
    )


def totp_app_out(row: StoredAuthenticator) -> schemas.TotpAppOut:
    return schemas.TotpAppOut(
        id=row.id,
        kind="totp",
        name=row.name,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        is_default=row.is_default,
    )


def endpoints() -> list[ApiEndpoint]:
    """This module's JSON endpoints, in the order they are matched and documented."""
    return [login_totp, totp_begin, totp_confirm]
