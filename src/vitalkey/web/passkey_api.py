"""The JSON API of passkeys, for mobile apps: the same ceremonies as the pages (options, then the
platform's answer). A sign-in with a passkey alone, a passkey as the second factor, and adding
one from Account & Security. Where the server's address cannot have passkeys (an IP, plain http
other than localhost), every one of these answers 400 ``passkey_unavailable``."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request

from vitalkey.domain.authenticators import PASSKEY, StoredAuthenticator
from vitalkey.domain.flows import Channel
from vitalkey.flows.authenticators.base import Answer
from vitalkey.flows.sessions import Started
from vitalkey.web import schemas
from vitalkey.web.api import FLOW_ERRORS, ApiEndpoint, _out, api_endpoint, signed_in
from vitalkey.web.context import in_unit_of_work, requester_of, services

_encoder = msgspec.json.Encoder()


def credential_json(credential: dict[str, Any]) -> str:
    """The answer as py_webauthn reads it (a JSON text)."""
    return _encoder.encode(credential).decode()


def passkey_out(row: StoredAuthenticator) -> schemas.PasskeyOut:
    return schemas.PasskeyOut(
        id=row.id,
        kind=row.kind,
        name=row.name,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        backup_eligible=bool(row.data.get("backup_eligible")),
        backed_up=bool(row.data.get("backed_up")),
        transports=[str(t) for t in row.data.get("transports", [])],
    )


@api_endpoint(
    "POST",
    "/api/v1/login/passkey",
    "Start a sign-in with a passkey (no address needed): the answer's options are for the platform's "
    "passkey request; then POST /api/v1/login/{flow_id}/passkey",
    response=schemas.FlowOut,
    status=201,
    errors=(429,),
    tag="login",
)
async def login_passkey_start(request: Request, _: None) -> schemas.FlowOut:
    container = services(request)
    container.relying_party.require()
    view = await in_unit_of_work(request, container.login.start_with, PASSKEY, "", requester_of(request, Channel.API))
    return _out(request, "login", view)


@api_endpoint(
    "POST",
    "/api/v1/login/{flow_id}/passkey",
    "Sign in with a passkey (alone: it counts as both factors), or give it as the second factor when the "
    'flow is at "second_factor" with the method "passkey"; a refused answer uses the challenge up '
    "(GET the flow for new options)",
    body=schemas.SubmitPasskey,
    response=schemas.SignedIn,
    errors=(*FLOW_ERRORS, 403),
    tag="login",
)
async def login_passkey(request: Request, body: schemas.SubmitPasskey) -> schemas.SignedIn:
    container = services(request)
    container.relying_party.require()
    answer = Answer(credential=credential_json(body.credential))
    _, result = await in_unit_of_work(
        request,
        container.login.submit,
        request.path_params["flow_id"],
        PASSKEY,
        answer,
        requester_of(request, Channel.API),
    )
    assert isinstance(result, Started)  # a passkey is never followed by another factor
    return signed_in(result)


@api_endpoint(
    "POST",
    "/api/v1/account/authenticators/passkeys",
    "Add a passkey (needs a sign-in within 5 minutes, with the second factor when 2FA is on): the options for "
    "the platform's passkey creation; then POST …/passkeys/{flow_id} with its answer",
    body=schemas.NewPasskeyIn,
    response=schemas.PasskeyEnrolmentOut,
    status=201,
    auth=True,
    errors=(403, 429),
    tag="two-factor",
)
async def passkey_enrol(request: Request, body: schemas.NewPasskeyIn) -> schemas.PasskeyEnrolmentOut:
    container = services(request)
    enrolment = await in_unit_of_work(
        request, container.passkey_enrolment.begin, request.state.auth, body.name, requester_of(request, Channel.API)
    )
    flow = enrolment.flow
    return schemas.PasskeyEnrolmentOut(id=flow.id, expires_at=flow.expires_at, options=enrolment.options)


@api_endpoint(
    "POST",
    "/api/v1/account/authenticators/passkeys/{flow_id}",
    "The platform's answer: the passkey is added (and the account address mailed)",
    body=schemas.ConfirmPasskey,
    response=schemas.PasskeyOut,
    status=201,
    auth=True,
    errors=(*FLOW_ERRORS, 403),
    tag="two-factor",
)
async def passkey_confirm(request: Request, body: schemas.ConfirmPasskey) -> schemas.PasskeyOut:
    container = services(request)
    row = await in_unit_of_work(
        request,
        container.passkey_enrolment.confirm,
        request.state.auth,
        request.path_params["flow_id"],
        credential_json(body.credential),
        body.name,
        requester_of(request, Channel.API),
    )
    return passkey_out(row)


def endpoints() -> list[ApiEndpoint]:
    """This module's JSON endpoints, in the order they are matched and documented."""
    return [login_passkey_start, login_passkey, passkey_enrol, passkey_confirm]
