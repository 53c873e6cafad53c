"""The JSON API of Account & Security → Two-factor authentication and App passwords."""

from __future__ import annotations

from starlette.requests import Request

from vitalkey.domain.authenticators import SECOND_FACTORS
from vitalkey.domain.flows import Channel
from vitalkey.domain.two_factor import AppPassword, phone_hint
from vitalkey.flows.sessions import Authenticated
from vitalkey.flows.two_factor import SetupView
from vitalkey.web import schemas
from vitalkey.web.api import FLOW_ERRORS, ApiEndpoint, api_endpoint
from vitalkey.web.context import in_unit_of_work, requester_of, services

FRESH_ERRORS = (403, 409, 429)  # 403: reauthentication_required; 409: 2FA off; 429: SMS limits


def setup_out(request: Request, view: SetupView) -> schemas.SetupOut:
    machine = services(request).two_factor.machine
    return schemas.SetupOut(
        flow_id=view.flow.id,
        state=view.flow.state,  # type: ignore[arg-type]
        phone_hint=view.hint,
        actions=machine.events_from(view.flow.state),
        code_expires_at=view.code.get("code_expires_at"),
        resend_available_at=view.code.get("resend_available_at"),
        attempts_left=view.code.get("attempts_left"),
        recovery_code=view.recovery_code,
    )


@api_endpoint(
    "GET", "/api/v1/account/two-factor", "Whether 2FA is on, and how", response=schemas.TwoFactorOut, auth=True
)
async def two_factor_status(request: Request, _: None) -> schemas.TwoFactorOut:
    container = services(request)
    auth: Authenticated = request.state.auth
    factor = await in_unit_of_work(request, container.two_factor.status, auth.account.id)
    countries = sorted(container.deps.two_factor.regions)
    fresh_until = auth.session.created_at + container.deps.two_factor.reauth_window
    if factor is None:
        return schemas.TwoFactorOut(enabled=False, fresh_until=fresh_until, countries=countries)
    return schemas.TwoFactorOut(
        enabled=True,
        method=factor.method,
        phone_hint=phone_hint(factor.phone) if factor.phone else None,  # none without a number (TOTP only)
        enabled_at=factor.enabled_at,
        recovery_issued_at=factor.recovery_issued_at,
        fresh_until=fresh_until if not SECOND_FACTORS.isdisjoint(auth.session.methods) else None,
        countries=countries,
    )


@api_endpoint(
    "POST",
    "/api/v1/account/two-factor/sms",
    'Text a confirmation code to a number: turns 2FA on ("Text message") or changes the number',
    body=schemas.PhoneIn,
    response=schemas.SetupOut,
    status=201,
    auth=True,
    errors=FRESH_ERRORS,
    tag="two-factor",
)
async def two_factor_begin(request: Request, body: schemas.PhoneIn) -> schemas.SetupOut:
    container = services(request)
    view = await in_unit_of_work(
        request,
        container.two_factor.begin,
        request.state.auth,
        body.phone,
        body.country,
        requester_of(request, Channel.API),
    )
    return setup_out(request, view)


@api_endpoint(
    "POST",
    "/api/v1/account/two-factor/sms/{flow_id}/resend",
    "Text a new confirmation code",
    response=schemas.SetupOut,
    auth=True,
    errors=FLOW_ERRORS,
    tag="two-factor",
)
async def two_factor_resend(request: Request, _: None) -> schemas.SetupOut:
    container = services(request)
    view = await in_unit_of_work(
        request,
        container.two_factor.resend,
        request.state.auth,
        request.path_params["flow_id"],
        requester_of(request, Channel.API),
    )
    return setup_out(request, view)


@api_endpoint(
    "POST",
    "/api/v1/account/two-factor/sms/{flow_id}/verify",
    "Confirm the number with the texted code; when 2FA turns on, the answer holds the recovery code",
    body=schemas.SubmitCode,
    response=schemas.SetupOut,
    auth=True,
    errors=FLOW_ERRORS,
    tag="two-factor",
)
async def two_factor_verify(request: Request, body: schemas.SubmitCode) -> schemas.SetupOut:
    container = services(request)
    view = await in_unit_of_work(
        request,
        container.two_factor.confirm,
        request.state.auth,
        request.path_params["flow_id"],
        body.code,
        requester_of(request, Channel.API),
    )
    return setup_out(request, view)


@api_endpoint(
    "POST",
    "/api/v1/account/two-factor/sms/{flow_id}/done",
    '"Next" after the recovery code was shown: the set-up is complete',
    response=schemas.SetupOut,
    auth=True,
    errors=FLOW_ERRORS,
    tag="two-factor",
)
async def two_factor_done(request: Request, _: None) -> schemas.SetupOut:
    container = services(request)
    auth, requester = request.state.auth, requester_of(request, Channel.API)
    await in_unit_of_work(request, container.two_factor.finish, auth, request.path_params["flow_id"], requester)
    return setup_out(
        request,
        await in_unit_of_work(request, container.two_factor.view, auth, request.path_params["flow_id"], requester),
    )


@api_endpoint(
    "DELETE",
    "/api/v1/account/two-factor",
    "Turn 2FA off (needs a sign-in within 5 minutes with the second factor); app passwords are revoked",
    response=schemas.TwoFactorDisabled,
    auth=True,
    errors=FRESH_ERRORS,
    tag="two-factor",
)
async def two_factor_disable(request: Request, _: None) -> schemas.TwoFactorDisabled:
    container = services(request)
    revoked = await in_unit_of_work(
        request, container.two_factor.disable, request.state.auth, requester_of(request, Channel.API)
    )
    return schemas.TwoFactorDisabled(app_passwords_revoked=revoked)


@api_endpoint(
    "GET",
    "/api/v1/account/two-factor/recovery-code",
    "Account Recovery → Recovery code (needs a sign-in within 5 minutes with the second factor)",
    response=schemas.RecoveryCodeOut,
    auth=True,
    errors=FRESH_ERRORS,
    tag="two-factor",
)
async def recovery_code(request: Request, _: None) -> schemas.RecoveryCodeOut:
    code, factor = await in_unit_of_work(request, services(request).two_factor.recovery_code, request.state.auth)
    return schemas.RecoveryCodeOut(recovery_code=code, issued_at=factor.recovery_issued_at)


@api_endpoint(
    "POST",
    "/api/v1/account/two-factor/recovery-code",
    "Replace the recovery code with a new one (the old one stops working)",
    response=schemas.RecoveryCodeOut,
    auth=True,
    errors=FRESH_ERRORS,
    tag="two-factor",
)
async def renew_recovery_code(request: Request, _: None) -> schemas.RecoveryCodeOut:
    container = services(request)
    code = await in_unit_of_work(
        request, container.two_factor.renew_recovery, request.state.auth, requester_of(request, Channel.API)
    )
    return schemas.RecoveryCodeOut(recovery_code=code, issued_at=container.clock.now())


# Apps and app passwords ----------------------------------------------------------------
@api_endpoint(
    "GET", "/api/v1/apps", "The registered apps, and which can ask for a second factor", response=schemas.AppList
)
async def list_apps(request: Request, _: None) -> schemas.AppList:
    apps = await in_unit_of_work(request, services(request).apps.all)
    return schemas.AppList(
        apps=[
            schemas.AppOut(app.client_id, app.name, first_party=app.first_party, supports_2fa=app.supports_2fa)
            for app in apps
        ]
    )


def app_password_out(password: AppPassword) -> schemas.AppPasswordOut:
    return schemas.AppPasswordOut(
        id=password.id,
        app=password.app_id,
        name=password.name,
        created_at=password.created_at,
        last_used_at=password.last_used_at,
    )


@api_endpoint(
    "GET", "/api/v1/account/app-passwords", "The account's app passwords", response=schemas.AppPasswordList, auth=True
)
async def list_app_passwords(request: Request, _: None) -> schemas.AppPasswordList:
    container = services(request)
    passwords = await in_unit_of_work(request, container.app_passwords.for_account, request.state.auth.account.id)
    return schemas.AppPasswordList(app_passwords=[app_password_out(p) for p in passwords])


@api_endpoint(
    "POST",
    "/api/v1/account/app-passwords",
    "Create an app password for an app without 2FA support (shown once)",
    body=schemas.NewAppPassword,
    response=schemas.CreatedAppPasswordOut,
    status=201,
    auth=True,
    errors=FRESH_ERRORS,
    tag="two-factor",
)
async def create_app_password(request: Request, body: schemas.NewAppPassword) -> schemas.CreatedAppPasswordOut:
    container = services(request)
    created = await in_unit_of_work(
        request,
        container.app_passwords.create,
        request.state.auth,
        body.app,
        body.name,
        requester_of(request, Channel.API),
    )
    out = app_password_out(created.password)
    return schemas.CreatedAppPasswordOut(
        id=out.id, app=out.app, name=out.name, created_at=out.created_at, password=created.secret
    )


@api_endpoint(
    "DELETE",
    "/api/v1/account/app-passwords/{password_id}",
    "Revoke an app password",
    response=schemas.Ended,
    auth=True,
    errors=(404,),
    tag="two-factor",
)
async def revoke_app_password(request: Request, _: None) -> schemas.Ended:
    container = services(request)
    await in_unit_of_work(
        request, container.app_passwords.revoke, request.state.auth.account, request.path_params["password_id"]
    )
    return schemas.Ended(ended=1)


def endpoints() -> list[ApiEndpoint]:
    """This module's JSON endpoints, in the order they are matched and documented."""
    return [
        two_factor_status,
        two_factor_begin,
        two_factor_resend,
        two_factor_verify,
        two_factor_done,
        two_factor_disable,
        recovery_code,
        renew_recovery_code,
        list_apps,
        list_app_passwords,
        create_app_password,
        revoke_app_password,
    ]
