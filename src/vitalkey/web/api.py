"""The JSON API: the same flows as the pages, for mobile apps and scripts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vitalkey.domain.accounts import Account
from vitalkey.domain.errors import DomainError, NotAuthenticated
from vitalkey.domain.flows import Channel, Flow, StateMachine
from vitalkey.domain.i18n import N_
from vitalkey.domain.two_factor import SECOND_FACTORS, grouped
from vitalkey.flows import email_code
from vitalkey.flows.email_flow import EmailCodeFlow, FlowView
from vitalkey.flows.login import RECOVERY, SMS_SENT, LoginFlow, SecondFactorNeeded, SignInResult
from vitalkey.flows.password import Typist, count_estimate
from vitalkey.flows.second_factor import Challenge
from vitalkey.flows.sessions import Authenticated, Started
from vitalkey.flows.signup import SignupFlow
from vitalkey.i18n import translations
from vitalkey.observability import CODE_FAILURES, SIGNINS, SIGNUPS, SMS_COMPLETED, SMS_REFUSED
from vitalkey.web import schemas as s
from vitalkey.web.context import blocking, language, password_strength, read_json, requester
from vitalkey.web.errors import HttpError, retry_after, status_of
from vitalkey.web.openapi import ApiRoute
from vitalkey.web.render import translate

Handler = Callable[[Request, Any], Awaitable[Any]]
_encoder = msgspec.json.Encoder()
CODE_ERRORS = {
    "wrong_code",
    "code_expired",
    "code_used",
    "flow_dead",
    "malformed_code",
    "too_many_code_failures",
    "wrong_recovery_code",
    "malformed_recovery_code",
}


def count_refusal(error: DomainError) -> None:
    """The metrics of refused codes and of texts not sent because of a limit."""
    if error.code in CODE_ERRORS:
        CODE_FAILURES.labels(reason=error.code).inc()
    elif error.code in ("sms_limited", "sms_unavailable"):
        SMS_REFUSED.labels(limit=str(error.params.get("limit", ""))).inc()


def json_response(value: Any, status: int = 200) -> Response:
    return Response(
        _encoder.encode(value), status_code=status, media_type="application/json", headers={"cache-control": "no-store"}
    )


def error_response(request: Request, error: DomainError) -> Response:
    status = error.status if isinstance(error, HttpError) else status_of(error)
    code = error.http_code if isinstance(error, HttpError) else error.code
    lang = language(request)
    body = s.Error(
        error=code,
        message=translate(lang, error),
        field=error.field_name,
        errors=[s.FieldError(p.field_name, translate(lang, p)) for p in error.problems if p.field_name],
    )
    headers = {"cache-control": "no-store"}
    if (wait := retry_after(error)) is not None:
        headers["retry-after"] = wait
    if status == 401:
        headers["www-authenticate"] = 'Bearer realm="vitalkey"'
    return Response(_encoder.encode(body), status_code=status, media_type="application/json", headers=headers)


class Api:
    """Registers JSON routes together with their OpenAPI description."""

    def __init__(self) -> None:
        self.described: list[ApiRoute] = []
        self.routes: list[Route] = []

    def route(
        self,
        method: str,
        path: str,
        summary: str,
        *,
        body: type[msgspec.Struct] | None = None,
        response: type[msgspec.Struct] | None = None,
        status: int = 200,
        auth: bool = False,
        errors: tuple[int, ...] = (),
        tag: str = "account",
        also: tuple[tuple[int, type[msgspec.Struct], str], ...] = (),
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            async def endpoint(request: Request) -> Response:
                try:
                    if auth:
                        await authenticate(request)
                    payload = await read_json(request, body) if body is not None else None
                    result = await handler(request, payload)
                except DomainError as error:
                    count_refusal(error)
                    return error_response(request, error)
                if isinstance(result, Response):
                    return result
                return json_response(result, status)

            self.routes.append(Route(path, endpoint, methods=[method]))
            self.described.append(ApiRoute(method, path, summary, body, response, status, auth, errors, (tag,), also))
            return handler

        return register


async def authenticate(request: Request) -> Authenticated:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise NotAuthenticated()
    auth: Authenticated = await blocking(request, request.app.state.container.sessions.authenticate, token.strip())
    if auth.session.kind.value != "api":
        raise NotAuthenticated()
    request.state.auth = auth
    request.state.account = auth.account
    return auth


def flow_out(
    view: FlowView,
    machine: StateMachine,
    policy_version: str,
    challenge: Challenge | None = None,
    refused: s.SmsRefused | None = None,
) -> s.FlowOut:
    flow = view.flow
    return s.FlowOut(
        sms_refused=refused,
        second_factor=challenge.method if challenge else None,
        phone_hint=challenge.hint if challenge else None,
        id=flow.id,
        kind=flow.kind.value,
        state=flow.state,
        email=flow.email,
        expires_at=flow.expires_at,
        actions=machine.events_from(flow.state),
        suggestion=view.suggestion,
        code_expires_at=view.code.get("code_expires_at"),
        resend_available_at=view.code.get("resend_available_at"),
        attempts_left=view.code.get("attempts_left"),
        policy_version=policy_version if flow.state == "policy" else None,
    )


def account_out(account: Account, two_factor: bool = False) -> s.AccountOut:
    profile = account.profile
    return s.AccountOut(
        id=account.id,
        email=account.email,
        language=account.language,
        created_at=account.created_at,
        first_name=profile.first_name if profile else None,
        last_name=profile.last_name if profile else None,
        birth_date=profile.birth_date if profile else None,
        sex=profile.sex.value if profile else None,
        height_cm=profile.height_cm if profile else None,
        units=profile.units.value if profile else None,
        has_password=account.password_changed_at is not None,
        password_changed_at=account.password_changed_at,
        two_factor=two_factor,
    )


def signed_in(started: Started) -> s.SignedIn:
    return s.SignedIn(
        session_token=started.token,
        expires_at=started.session.expires_at,
        account=account_out(started.account, not SECOND_FACTORS.isdisjoint(started.session.methods)),
    )


SECOND_FACTOR_ANSWER = (
    (
        202,
        s.FlowOut,
        'The account has 2FA on: the flow is in "sms_sent" and a code was texted (see phone_hint); or, when'
        " a limit refused the text, none was (see sms_refused: resend after retry_after, or use the recovery code)",
    ),
)


def sign_in_answer(request: Request, result: SignInResult, method: str) -> s.SignedIn | Response:
    """Signed in (200), or a second factor is needed (202 with the flow)."""
    if isinstance(result, SecondFactorNeeded):
        view = FlowView(result.flow, None, email_code_status(request, result))
        answer = json_response(_out(request, "login", view, result.challenge), 202)
        if (refused := result.challenge.refused) is not None:
            count_refusal(refused)
            answer.headers["retry-after"] = str(refused.params.get("seconds", 0))
        return answer
    SIGNINS.labels(method=method).inc()
    return signed_in(result)


def email_code_status(request: Request, result: SecondFactorNeeded) -> dict[str, Any]:
    return email_code.status(request.app.state.container.deps, result.challenge.code)


api = Api()
FLOW_ERRORS = (404, 409, 410, 429)


def _flows(request: Request, kind: str) -> EmailCodeFlow:
    container = request.app.state.container
    flow: EmailCodeFlow = container.signup if kind == "signup" else container.login
    return flow


async def _view(request: Request, kind: str, flow_id: str) -> s.FlowOut:
    view = await blocking(request, _flows(request, kind).view, flow_id, requester(request, Channel.API))
    return _out(request, kind, view)


def _out(request: Request, kind: str, view: FlowView, challenge: Challenge | None = None) -> s.FlowOut:
    container = request.app.state.container
    if challenge is None and kind == "login" and view.flow.state in (SMS_SENT, RECOVERY):
        challenge = container.login.challenge(view.flow)
    refused = None
    if challenge is not None and challenge.refused is not None and view.flow.state == SMS_SENT:
        error = challenge.refused
        refused = s.SmsRefused(error.code, translate(language(request), error), int(error.params.get("seconds", 0)))
    return flow_out(view, _flows(request, kind).machine, container.settings.privacy_policy_version, challenge, refused)


def _register_email_steps(kind: str, label: str) -> None:
    base = f"/api/v1/{kind}"

    @api.route(
        "POST",
        base,
        f"Start {label} with an email address",
        body=s.StartFlow,
        response=s.FlowOut,
        status=201,
        errors=(429,),
        tag=kind,
    )
    async def start(request: Request, body: s.StartFlow) -> s.FlowOut:
        flows = _flows(request, kind)
        req = requester(request, Channel.API)
        if isinstance(flows, LoginFlow):
            view = await blocking(request, flows.begin, body.email, req, app=body.app, method=body.method)
        elif body.method == "password" or body.app is not None:
            raise HttpError("invalid_request", N_('"method" and "app" are for signing in only.'), 400)
        else:
            view = await blocking(request, flows.start, body.email, req)
        return _out(request, kind, view)

    @api.route(
        "GET", base + "/{flow_id}", f"The current step of a {label} flow", response=s.FlowOut, errors=(404,), tag=kind
    )
    async def show(request: Request, _: None) -> s.FlowOut:
        return await _view(request, kind, request.path_params["flow_id"])

    @api.route(
        "POST",
        base + "/{flow_id}/suggestion",
        "Accept or decline the suggested address",
        body=s.AnswerSuggestion,
        response=s.FlowOut,
        errors=FLOW_ERRORS,
        tag=kind,
    )
    async def suggestion(request: Request, body: s.AnswerSuggestion) -> s.FlowOut:
        view = await blocking(
            request,
            _flows(request, kind).answer_suggestion,
            request.path_params["flow_id"],
            body.accept,
            requester(request, Channel.API),
        )
        return _out(request, kind, view)

    @api.route(
        "POST",
        base + "/{flow_id}/resend",
        "Send a new code (after 60 s, at most 5 times)",
        response=s.FlowOut,
        errors=FLOW_ERRORS,
        tag=kind,
    )
    async def resend(request: Request, _: None) -> s.FlowOut:
        view = await blocking(
            request, _flows(request, kind).resend, request.path_params["flow_id"], requester(request, Channel.API)
        )
        return _out(request, kind, view)


_register_email_steps("signup", "sign-up")
_register_email_steps("login", "sign-in")


@api.route(
    "POST",
    "/api/v1/signup/{flow_id}/code",
    "Confirm the address with the mailed code",
    body=s.SubmitCode,
    response=s.FlowOut,
    errors=FLOW_ERRORS,
    tag="signup",
)
async def signup_code(request: Request, body: s.SubmitCode) -> s.FlowOut:
    return await _signup_step(request, request.app.state.container.signup.submit_code, body.code)


@api.route(
    "POST",
    "/api/v1/signup/{flow_id}/policy",
    "Accept the privacy policy",
    body=s.AcceptPolicy,
    response=s.FlowOut,
    errors=FLOW_ERRORS,
    tag="signup",
)
async def signup_policy(request: Request, body: s.AcceptPolicy) -> s.FlowOut:
    signup: SignupFlow = request.app.state.container.signup
    return await _signup_step(request, signup.accept_policy, body.accept, body.policy_version)


@api.route(
    "POST",
    "/api/v1/signup/{flow_id}/details",
    "Give the user details",
    body=s.Details,
    response=s.FlowOut,
    errors=FLOW_ERRORS,
    tag="signup",
)
async def signup_details(request: Request, body: s.Details) -> s.FlowOut:
    signup: SignupFlow = request.app.state.container.signup
    return await _signup_step(request, signup.submit_details, msgspec.to_builtins(body))


async def _signup_step(request: Request, step: Callable[..., Flow], *args: Any) -> s.FlowOut:
    """Run one sign-up step and answer with the flow as the step left it."""
    flow = await blocking(request, step, request.path_params["flow_id"], *args, requester(request, Channel.API))
    return _out(request, "signup", FlowView(flow, None, {}))


@api.route(
    "POST",
    "/api/v1/signup/{flow_id}/two-factor",
    "Skip or choose two-factor set-up; signs in",
    body=s.TwoFactorChoice,
    response=s.SignedIn,
    errors=FLOW_ERRORS,
    tag="signup",
)
async def signup_finish(request: Request, body: s.TwoFactorChoice) -> s.SignedIn:
    signup: SignupFlow = request.app.state.container.signup
    started = await blocking(
        request, signup.finish, request.path_params["flow_id"], body.choice == "setup", requester(request, Channel.API)
    )
    SIGNUPS.inc()
    return signed_in(started)


@api.route(
    "POST",
    "/api/v1/login/{flow_id}/code",
    "Sign in with the mailed code (or go on to the second factor)",
    body=s.SubmitCode,
    response=s.SignedIn,
    errors=(*FLOW_ERRORS, 403),
    tag="login",
    also=SECOND_FACTOR_ANSWER,
)
async def login_code(request: Request, body: s.SubmitCode) -> s.SignedIn | Response:
    container = request.app.state.container
    result = await blocking(
        request, container.login.submit_code, request.path_params["flow_id"], body.code, requester(request, Channel.API)
    )
    return sign_in_answer(request, result, "email_code")


def _register_login_move(path: str, summary: str, event: str) -> None:
    @api.route("POST", path, summary, response=s.FlowOut, errors=FLOW_ERRORS, tag="login")
    async def move(request: Request, _: None) -> s.FlowOut:
        login: LoginFlow = request.app.state.container.login
        flow = await blocking(
            request, login.choose, request.path_params["flow_id"], event, requester(request, Channel.API)
        )
        return _out(request, "login", FlowView(flow, None, {}))


_register_login_move(
    "/api/v1/login/{flow_id}/password-instead", 'Choose "Login with password instead"', "password_chosen"
)
_register_login_move(
    "/api/v1/login/{flow_id}/code-instead", "Go back from the password to the mailed code", "code_chosen"
)
_register_login_move("/api/v1/login/{flow_id}/recovery-instead", '"Use my recovery code"', "recovery_chosen")
_register_login_move(
    "/api/v1/login/{flow_id}/sms-instead", "Go back from the recovery code to the texted code", "sms_chosen"
)


@api.route(
    "POST",
    "/api/v1/login/{flow_id}/password-reset",
    '"Forgot your password?": mail an "Update password" link valid one day',
    response=s.FlowOut,
    errors=FLOW_ERRORS,
    tag="login",
)
async def login_password_reset(request: Request, _: None) -> s.FlowOut:
    container = request.app.state.container
    flow = await blocking(
        request, container.login.request_reset, request.path_params["flow_id"], requester(request, Channel.API)
    )
    return _out(request, "login", FlowView(flow, None, {}))


@api.route(
    "POST",
    "/api/v1/login/{flow_id}/password",
    "Sign in with the password, or with an app password from an app without 2FA support",
    body=s.SubmitPassword,
    response=s.SignedIn,
    errors=(*FLOW_ERRORS, 403),
    tag="login",
    also=SECOND_FACTOR_ANSWER,
)
async def login_password(request: Request, body: s.SubmitPassword) -> s.SignedIn | Response:
    login: LoginFlow = request.app.state.container.login
    result = await login.submit_password(request.path_params["flow_id"], body.password, requester(request, Channel.API))
    return sign_in_answer(request, result, "password")


@api.route(
    "POST",
    "/api/v1/login/{flow_id}/sms",
    "Second factor: the code texted to the verified number",
    body=s.SubmitCode,
    response=s.SignedIn,
    errors=FLOW_ERRORS,
    tag="login",
)
async def login_sms(request: Request, body: s.SubmitCode) -> s.SignedIn:
    container = request.app.state.container
    started = await blocking(
        request, container.login.submit_sms, request.path_params["flow_id"], body.code, requester(request, Channel.API)
    )
    SMS_COMPLETED.labels(purpose="login").inc()
    SIGNINS.labels(method="sms").inc()
    return signed_in(started)


@api.route(
    "POST",
    "/api/v1/login/{flow_id}/sms/resend",
    "Text a new code (after 60 s, at most 5 times; the tries already used stay used)",
    response=s.FlowOut,
    errors=FLOW_ERRORS,
    tag="login",
)
async def login_sms_resend(request: Request, _: None) -> s.FlowOut:
    container = request.app.state.container
    result = await blocking(
        request, container.login.resend_sms, request.path_params["flow_id"], requester(request, Channel.API)
    )
    return _out(request, "login", FlowView(result.flow, None, email_code_status(request, result)), result.challenge)


@api.route(
    "POST",
    "/api/v1/login/{flow_id}/recovery",
    '"Use my recovery code": signs in once; the answer holds the new recovery code',
    body=s.SubmitRecovery,
    response=s.SignedInWithRecovery,
    errors=FLOW_ERRORS,
    tag="login",
)
async def login_recovery(request: Request, body: s.SubmitRecovery) -> s.SignedInWithRecovery:
    container = request.app.state.container
    used = await blocking(
        request,
        container.login.submit_recovery,
        request.path_params["flow_id"],
        body.recovery_code,
        requester(request, Channel.API),
    )
    SIGNINS.labels(method="recovery_code").inc()
    base = signed_in(used.started)
    return s.SignedInWithRecovery(
        session_token=base.session_token,
        expires_at=base.expires_at,
        account=base.account,
        new_recovery_code=grouped(used.new_code),
    )


# Passwords ---------------------------------------------------------------------------
STRENGTH_KEYS = ("very_weak", "weak", "fair", "strong", "very_strong")


async def strength_out(request: Request, password: str, who: Account | Typist) -> s.StrengthOut:
    estimate = await password_strength(request, password, who)
    return s.StrengthOut(
        score=estimate.score,
        label=STRENGTH_KEYS[estimate.score],  # type: ignore[arg-type]
        text=translations(language(request)).gettext(estimate.label),
        length=estimate.length,
        recommended_length=estimate.recommended_length,
        warning=estimate.warning,
    )


@api.route(
    "POST",
    "/api/v1/password/strength",
    "Estimate a new password's strength (the meter); nothing is stored",
    body=s.StrengthQuery,
    response=s.StrengthOut,
    errors=(429,),
    tag="password",
)
async def password_strength_api(request: Request, body: s.StrengthQuery) -> s.StrengthOut:
    await blocking(request, count_estimate, request.app.state.container.deps, requester(request, Channel.API))
    return await strength_out(request, body.password, Typist(body.email, tuple(body.names), body.birth_date))


@api.route(
    "POST",
    "/api/v1/password/reset",
    'Choose a new password with the "Update password" link; does not sign in',
    body=s.ResetPassword,
    response=s.PasswordSaved,
    errors=(410,),
    tag="password",
)
async def password_reset(request: Request, body: s.ResetPassword) -> s.PasswordSaved:
    container = request.app.state.container
    done = await container.password_resets.complete(body.token, body.password, end_sessions=body.end_other_sessions)
    return s.PasswordSaved(
        strength=await strength_out(request, body.password, done.account), sessions_ended=done.sessions_ended
    )


@api.route(
    "POST",
    "/api/v1/account/password/code",
    "Mail a code for setting a first password",
    response=s.FlowOut,
    status=201,
    auth=True,
    errors=(409, 429),
    tag="password",
)
async def password_code(request: Request, _: None) -> s.FlowOut:
    container = request.app.state.container
    view = await blocking(
        request, container.password_set.begin_for, request.state.auth.account, requester(request, Channel.API)
    )
    return flow_out(view, container.password_set.machine, "")


@api.route(
    "POST",
    "/api/v1/account/password/code/{flow_id}/resend",
    "Mail a new code for setting a first password",
    response=s.FlowOut,
    auth=True,
    errors=FLOW_ERRORS,
    tag="password",
)
async def password_code_resend(request: Request, _: None) -> s.FlowOut:
    container = request.app.state.container
    flow_id, req = request.path_params["flow_id"], requester(request, Channel.API)
    await blocking(request, container.password_set.load_for, flow_id, request.state.auth.account, req)
    view = await blocking(request, container.password_set.resend, flow_id, req)
    return flow_out(view, container.password_set.machine, "")


@api.route(
    "POST",
    "/api/v1/account/password/set",
    "Set the first password with the mailed code",
    body=s.SetPassword,
    response=s.PasswordSaved,
    auth=True,
    errors=FLOW_ERRORS,
    tag="password",
)
async def password_set(request: Request, body: s.SetPassword) -> s.PasswordSaved:
    container = request.app.state.container
    account = request.state.auth.account
    await container.password_set.set_password(
        body.flow_id, account, body.code, body.password, requester(request, Channel.API)
    )
    return s.PasswordSaved(strength=await strength_out(request, body.password, account), sessions_ended=0)


@api.route(
    "POST",
    "/api/v1/account/password/change",
    "Change the password (needs the current one)",
    body=s.ChangePassword,
    response=s.PasswordSaved,
    auth=True,
    errors=(409, 429),
    tag="password",
)
async def password_change(request: Request, body: s.ChangePassword) -> s.PasswordSaved:
    container = request.app.state.container
    auth: Authenticated = request.state.auth
    ended = await container.password_change.change(
        auth,
        body.current_password,
        body.new_password,
        end_others=body.end_other_sessions,
        req=requester(request, Channel.API),
    )
    return s.PasswordSaved(strength=await strength_out(request, body.new_password, auth.account), sessions_ended=ended)


@api.route("GET", "/api/v1/account", "The signed-in account", response=s.AccountOut, auth=True)
async def get_account(request: Request, _: None) -> s.AccountOut:
    account = request.state.auth.account
    factor = await blocking(request, request.app.state.container.two_factor.status, account.id)
    return account_out(account, factor is not None)


@api.route("PATCH", "/api/v1/account", "Change the profile", body=s.ProfileUpdate, response=s.AccountOut, auth=True)
async def patch_account(request: Request, body: s.ProfileUpdate) -> s.AccountOut:
    container = request.app.state.container
    account = request.state.auth.account
    updated = await blocking(request, container.accounts.update_profile, account, msgspec.to_builtins(body))
    if body.language:
        await blocking(request, container.accounts.set_language, account, body.language)
        updated = (await blocking(request, container.sessions.authenticate, _bearer(request))).account
    return account_out(updated)


@api.route("GET", "/api/v1/sessions", "The account's active sessions", response=s.SessionList, auth=True)
async def list_sessions(request: Request, _: None) -> s.SessionList:
    auth: Authenticated = request.state.auth
    sessions = await blocking(request, request.app.state.container.sessions.list, auth.account.id)
    return s.SessionList(
        sessions=[
            s.SessionOut(
                id=x.id,
                kind=x.kind.value,
                created_at=x.created_at,
                last_seen_at=x.last_seen_at,
                expires_at=x.expires_at,
                ip=x.ip,
                user_agent=x.user_agent,
                current=x.id == auth.session.id,
            )
            for x in sessions
        ]
    )


@api.route("DELETE", "/api/v1/sessions/{session_id}", "End one session", response=s.Ended, auth=True, errors=(404,))
async def end_session(request: Request, _: None) -> s.Ended:
    auth: Authenticated = request.state.auth
    await blocking(request, request.app.state.container.sessions.end, auth.session, request.path_params["session_id"])
    return s.Ended(ended=1)


@api.route("POST", "/api/v1/sessions/end-others", "End every other session", response=s.Ended, auth=True)
async def end_others(request: Request, _: None) -> s.Ended:
    auth: Authenticated = request.state.auth
    return s.Ended(ended=await blocking(request, request.app.state.container.sessions.end_others, auth.session))


@api.route("POST", "/api/v1/logout", "End the current session", response=s.Ended, auth=True)
async def logout(request: Request, _: None) -> s.Ended:
    auth: Authenticated = request.state.auth
    await blocking(request, request.app.state.container.sessions.end, auth.session, auth.session.id)
    return s.Ended(ended=1)


def _bearer(request: Request) -> str:
    return request.headers.get("authorization", "").partition(" ")[2].strip()
