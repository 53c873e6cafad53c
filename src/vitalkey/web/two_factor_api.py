"""The JSON API of Account & Security → Two-factor authentication and App passwords."""

from __future__ import annotations

from starlette.requests import Request

from vitalkey.domain.flows import Channel
from vitalkey.domain.two_factor import SECOND_FACTORS, AppPassword, phone_hint
from vitalkey.flows.sessions import Authenticated
from vitalkey.flows.two_factor import SetupView
from vitalkey.observability import SMS_COMPLETED
from vitalkey.web import schemas as s
from vitalkey.web.api import FLOW_ERRORS, api
from vitalkey.web.context import blocking, requester

FRESH_ERRORS = (403, 409, 429)  # 403: reauthentication_required; 409: 2FA off; 429: SMS limits


def setup_out(request: Request, view: SetupView) -> s.SetupOut:
    machine = request.app.state.container.two_factor.machine
    return s.SetupOut(
        flow_id=view.flow.id,
        state=view.flow.state,  # type: ignore[arg-type]
        phone_hint=view.hint,
        actions=machine.events_from(view.flow.state),
        code_expires_at=view.code.get("code_expires_at"),
        resend_available_at=view.code.get("resend_available_at"),
        attempts_left=view.code.get("attempts_left"),
        recovery_code=view.recovery_code,
    )


@api.route("GET", "/api/v1/account/two-factor", "Whether 2FA is on, and how", response=s.TwoFactorOut, auth=True)
async def two_factor_status(request: Request, _: None) -> s.TwoFactorOut:
    container = request.app.state.container
    auth: Authenticated = request.state.auth
    factor = await blocking(request, container.two_factor.status, auth.account.id)
    countries = sorted(container.deps.two_factor.regions)
    fresh_until = auth.session.created_at + container.deps.two_factor.reauth_window
    if factor is None:
        return s.TwoFactorOut(enabled=False, fresh_until=fresh_until, countries=countries)
    return s.TwoFactorOut(
        enabled=True,
        method=factor.method,
        phone_hint=phone_hint(factor.phone),
        enabled_at=factor.enabled_at,
        recovery_issued_at=factor.recovery_issued_at,
        fresh_until=fresh_until if not SECOND_FACTORS.isdisjoint(auth.session.methods) else None,
        countries=countries,
    )


@api.route(
    "POST",
    "/api/v1/account/two-factor/sms",
    'Text a confirmation code to a number: turns 2FA on ("Text message") or changes the number',
    body=s.PhoneIn,
    response=s.SetupOut,
    status=201,
    auth=True,
    errors=FRESH_ERRORS,
    tag="two-factor",
)
async def two_factor_begin(request: Request, body: s.PhoneIn) -> s.SetupOut:
    container = request.app.state.container
    view = await blocking(
        request,
        container.two_factor.begin,
        request.state.auth,
        body.phone,
        body.country,
        requester(request, Channel.API),
    )
    return setup_out(request, view)


@api.route(
    "POST",
    "/api/v1/account/two-factor/sms/{flow_id}/resend",
    "Text a new confirmation code",
    response=s.SetupOut,
    auth=True,
    errors=FLOW_ERRORS,
    tag="two-factor",
)
async def two_factor_resend(request: Request, _: None) -> s.SetupOut:
    container = request.app.state.container
    view = await blocking(
        request,
        container.two_factor.resend,
        request.state.auth,
        request.path_params["flow_id"],
        requester(request, Channel.API),
    )
    return setup_out(request, view)


@api.route(
    "POST",
    "/api/v1/account/two-factor/sms/{flow_id}/verify",
    "Confirm the number with the texted code; when 2FA turns on, the answer holds the recovery code",
    body=s.SubmitCode,
    response=s.SetupOut,
    auth=True,
    errors=FLOW_ERRORS,
    tag="two-factor",
)
async def two_factor_verify(request: Request, body: s.SubmitCode) -> s.SetupOut:
    container = request.app.state.container
    view = await blocking(
        request,
        container.two_factor.confirm,
        request.state.auth,
        request.path_params["flow_id"],
        body.code,
        requester(request, Channel.API),
    )
    SMS_COMPLETED.labels(purpose="setup").inc()
    return setup_out(request, view)


@api.route(
    "POST",
    "/api/v1/account/two-factor/sms/{flow_id}/done",
    '"Next" after the recovery code was shown: the set-up is complete',
    response=s.SetupOut,
    auth=True,
    errors=FLOW_ERRORS,
    tag="two-factor",
)
async def two_factor_done(request: Request, _: None) -> s.SetupOut:
    container = request.app.state.container
    auth, req = request.state.auth, requester(request, Channel.API)
    await blocking(request, container.two_factor.finish, auth, request.path_params["flow_id"], req)
    return setup_out(
        request, await blocking(request, container.two_factor.view, auth, request.path_params["flow_id"], req)
    )


@api.route(
    "DELETE",
    "/api/v1/account/two-factor",
    "Turn 2FA off (needs a sign-in within 5 minutes with the second factor); app passwords are revoked",
    response=s.TwoFactorDisabled,
    auth=True,
    errors=FRESH_ERRORS,
    tag="two-factor",
)
async def two_factor_disable(request: Request, _: None) -> s.TwoFactorDisabled:
    container = request.app.state.container
    revoked = await blocking(request, container.two_factor.disable, request.state.auth, requester(request, Channel.API))
    return s.TwoFactorDisabled(app_passwords_revoked=revoked)


@api.route(
    "GET",
    "/api/v1/account/two-factor/recovery-code",
    "Account Recovery → Recovery code (needs a sign-in within 5 minutes with the second factor)",
    response=s.RecoveryCodeOut,
    auth=True,
    errors=FRESH_ERRORS,
    tag="two-factor",
)
async def recovery_code(request: Request, _: None) -> s.RecoveryCodeOut:
    code, factor = await blocking(request, request.app.state.container.two_factor.recovery_code, request.state.auth)
    return s.RecoveryCodeOut(recovery_code=code, issued_at=factor.recovery_issued_at)


@api.route(
    "POST",
    "/api/v1/account/two-factor/recovery-code",
    "Replace the recovery code with a new one (the old one stops working)",
    response=s.RecoveryCodeOut,
    auth=True,
    errors=FRESH_ERRORS,
    tag="two-factor",
)
async def renew_recovery_code(request: Request, _: None) -> s.RecoveryCodeOut:
    container = request.app.state.container
    code = await blocking(
        request, container.two_factor.renew_recovery, request.state.auth, requester(request, Channel.API)
    )
    return s.RecoveryCodeOut(recovery_code=code, issued_at=container.clock.now())


# Apps and app passwords ----------------------------------------------------------------
@api.route("GET", "/api/v1/apps", "The registered apps, and which can ask for a second factor", response=s.AppList)
async def list_apps(request: Request, _: None) -> s.AppList:
    apps = await blocking(request, request.app.state.container.apps.all)
    return s.AppList(
        apps=[s.AppOut(a.client_id, a.name, first_party=a.first_party, supports_2fa=a.supports_2fa) for a in apps]
    )


def app_password_out(password: AppPassword) -> s.AppPasswordOut:
    return s.AppPasswordOut(
        id=password.id,
        app=password.app_id,
        name=password.name,
        created_at=password.created_at,
        last_used_at=password.last_used_at,
    )


@api.route("GET", "/api/v1/account/app-passwords", "The account's app passwords", response=s.AppPasswordList, auth=True)
async def list_app_passwords(request: Request, _: None) -> s.AppPasswordList:
    container = request.app.state.container
    passwords = await blocking(request, container.app_passwords.for_account, request.state.auth.account.id)
    return s.AppPasswordList(app_passwords=[app_password_out(p) for p in passwords])


@api.route(
    "POST",
    "/api/v1/account/app-passwords",
    "Create an app password for an app without 2FA support (shown once)",
    body=s.NewAppPassword,
    response=s.CreatedAppPasswordOut,
    status=201,
    auth=True,
    errors=FRESH_ERRORS,
    tag="two-factor",
)
async def create_app_password(request: Request, body: s.NewAppPassword) -> s.CreatedAppPasswordOut:
    container = request.app.state.container
    created = await blocking(
        request,
        container.app_passwords.create,
        request.state.auth,
        body.app,
        body.name,
        requester(request, Channel.API),
    )
    out = app_password_out(created.password)
    return s.CreatedAppPasswordOut(
        id=out.id, app=out.app, name=out.name, created_at=out.created_at, password=created.secret
    )


@api.route(
    "DELETE",
    "/api/v1/account/app-passwords/{password_id}",
    "Revoke an app password",
    response=s.Ended,
    auth=True,
    errors=(404,),
    tag="two-factor",
)
async def revoke_app_password(request: Request, _: None) -> s.Ended:
    container = request.app.state.container
    await blocking(
        request, container.app_passwords.revoke, request.state.auth.account, request.path_params["password_id"]
    )
    return s.Ended(ended=1)
