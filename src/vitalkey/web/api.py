"""The JSON API: the same flows as the pages, for mobile apps and scripts."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import anyio
import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from vitalkey.adapters.memory import FreeMemory
from vitalkey.domain.accounts import Account
from vitalkey.domain.authenticators import EMAIL_CODE, PASSKEY, PASSWORD, RECOVERY_CODE, SECOND_FACTORS, SMS
from vitalkey.domain.errors import DomainError, NotAuthenticated
from vitalkey.domain.flows import Channel, Flow, FlowKind, StateMachine
from vitalkey.domain.i18n import N_
from vitalkey.domain.two_factor import grouped
from vitalkey.flows import email_code
from vitalkey.flows.authenticators.base import Prompt
from vitalkey.flows.email_flow import EmailCodeFlow, FlowView
from vitalkey.flows.login import LoginFlow, LoginState, SecondFactorNeeded, SignInResult
from vitalkey.flows.password import Typist, count_estimate
from vitalkey.flows.sessions import Authenticated, Started
from vitalkey.flows.signup import SignupFlow
from vitalkey.i18n import translations
from vitalkey.web import schemas
from vitalkey.web.context import in_unit_of_work, language, password_strength, read_json, requester_of, services
from vitalkey.web.errors import HttpError, retry_after, status_of
from vitalkey.web.openapi import ApiRoute, HeaderParameter
from vitalkey.web.render import translate
from vitalkey.web.user_agents import describe, label

ApiHandler = Callable[[Request, Any], Awaitable[Any]]
_free_memory = FreeMemory()
_encoder = msgspec.json.Encoder()


def json_response(value: Any, status: int = 200) -> Response:
    return Response(
        _encoder.encode(value), status_code=status, media_type="application/json", headers={"cache-control": "no-store"}
    )


def error_response(request: Request, error: DomainError) -> Response:
    status = error.status if isinstance(error, HttpError) else status_of(error)
    code = error.http_code if isinstance(error, HttpError) else error.code
    lang = language(request)
    body = schemas.Error(
        error=code,
        message=translate(lang, error),
        field=error.field_name,
        errors=[schemas.FieldError(p.field_name, translate(lang, p)) for p in error.problems if p.field_name],
    )
    headers = {"cache-control": "no-store"}
    if (wait := retry_after(error)) is not None:
        headers["retry-after"] = wait
    if status == 401:
        headers["www-authenticate"] = 'Bearer realm="vitalkey"'
    return Response(_encoder.encode(body), status_code=status, media_type="application/json", headers=headers)


@dataclass(frozen=True, slots=True)
class ApiEndpoint:
    """A JSON route declared beside its handler, with its OpenAPI description; ``create_app``
    composes the modules' endpoints into routes and the document."""

    described: ApiRoute
    handler: ApiHandler
    # At most this many requests of the endpoint read, decode and handle their bodies at once in
    # a process (per event loop); the others wait with their bodies unread. For large bodies: the
    # resident memory of a process is the high-water mark of the bodies decoded at once, and what
    # they freed is handed back to the system when the endpoint falls idle (or every second).
    at_once: int | None = None
    _turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = field(
        default_factory=weakref.WeakKeyDictionary, compare=False, repr=False
    )

    def route(self) -> Route:
        return Route(self.described.path, self.answer, methods=[self.described.method])

    async def answer(self, request: Request) -> Response:
        try:
            if self.described.auth:
                await authenticate(request)
            if self.at_once is None:
                result = await self._handle(request)
            else:
                turns = self._turn()
                try:
                    async with turns:
                        result = await self._handle(request)
                finally:
                    _free_memory.release(idle=turns.borrowed_tokens == 0)
        except DomainError as error:
            return error_response(request, error)
        if isinstance(result, Response):
            return result
        return json_response(result, self.described.status)

    async def _handle(self, request: Request) -> Any:
        body = self.described.body
        payload = await read_json(request, body) if body is not None else None
        return await self.handler(request, payload)

    def _turn(self) -> anyio.CapacityLimiter:
        loop = asyncio.get_running_loop()
        turns = self._turns.get(loop)
        if turns is None:
            assert self.at_once is not None
            turns = self._turns[loop] = anyio.CapacityLimiter(self.at_once)
        return turns


def api_endpoint(
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
    headers: tuple[HeaderParameter, ...] = (),
    raw_body: tuple[str, ...] = (),
    at_once: int | None = None,
) -> Callable[[ApiHandler], ApiEndpoint]:
    """Declare a handler as a JSON endpoint (nothing is registered: a module lists its endpoints)."""

    def declare(handler: ApiHandler) -> ApiEndpoint:
        described = ApiRoute(
            method, path, summary, body, response, status, auth, errors, (tag,), also, headers, raw_body
        )
        return ApiEndpoint(described, handler, at_once)

    return declare


async def authenticate(request: Request) -> Authenticated:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise NotAuthenticated()
    auth: Authenticated = await in_unit_of_work(request, services(request).sessions.authenticate, token.strip())
    if auth.session.kind.value != "api":
        raise NotAuthenticated()
    request.state.auth = auth
    request.state.account = auth.account
    return auth


# The actions a sign-in's answer lists, by step and method, as they were named before the states
# named steps (clients switch on them). A method without an entry lists its step's events.
LOGIN_ACTIONS: Mapping[tuple[str, str], tuple[str, ...]] = MappingProxyType(
    {
        (LoginState.FIRST_FACTOR, EMAIL_CODE): (
            "code_resent", "code_verified", "attempts_exhausted", "password_chosen", "second_factor_required",
            "app_refused",
        ),
        (LoginState.FIRST_FACTOR, PASSWORD): (
            "code_chosen", "password_verified", "forgot_chosen", "reset_requested", "second_factor_required",
            "app_refused",
        ),
        (LoginState.FORGOT, PASSWORD): ("password_chosen", "reset_requested"),
        (LoginState.RESET_SENT, PASSWORD): ("password_chosen", "code_chosen"),
        (LoginState.SECOND_FACTOR, SMS): ("sms_resent", "sms_verified", "sms_attempts_exhausted", "recovery_chosen"),
        (LoginState.SECOND_FACTOR, RECOVERY_CODE): ("sms_chosen", "recovery_verified"),
    }
)  # fmt: skip


def actions_of(flow: Flow, machine: StateMachine[Any, Any]) -> list[str]:
    if flow.kind is FlowKind.LOGIN:
        legacy = LOGIN_ACTIONS.get((flow.state, str(flow.context.get("method"))))
        if legacy is not None:
            return list(legacy)
    return machine.events_from(flow.state)


def flow_out(
    view: FlowView,
    machine: StateMachine[Any, Any],
    policy_version: str,
    challenge: Prompt | None = None,
    refused: schemas.SmsRefused | None = None,
    methods: list[str] | None = None,
) -> schemas.FlowOut:
    flow = view.flow
    method = flow.context.get("method") if flow.kind is FlowKind.LOGIN else None
    return schemas.FlowOut(
        method=str(method) if method else None,
        sms_refused=refused,
        second_factor=challenge.method if challenge else None,
        phone_hint=challenge.hint if challenge else None,
        id=flow.id,
        kind=flow.kind.value,
        state=flow.state,
        email=flow.email,
        expires_at=flow.expires_at,
        actions=actions_of(flow, machine),
        suggestion=view.suggestion,
        code_expires_at=view.code.get("code_expires_at"),
        resend_available_at=view.code.get("resend_available_at"),
        attempts_left=view.code.get("attempts_left"),
        policy_version=policy_version if flow.state == "policy" else None,
        methods=methods,
    )


def account_out(account: Account, two_factor: bool = False) -> schemas.AccountOut:
    profile = account.profile
    return schemas.AccountOut(
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


def signed_in(started: Started) -> schemas.SignedIn:
    return schemas.SignedIn(
        session_token=started.token,
        expires_at=started.session.expires_at,
        account=account_out(started.account, not SECOND_FACTORS.isdisjoint(started.session.methods)),
    )


SECOND_FACTOR_ANSWER = (
    (
        202,
        schemas.FlowOut,
        'The account has 2FA on: the flow is in "second_factor" with the method "sms" and a code was texted'
        " (see phone_hint); or, when"
        " a limit refused the text, none was (see sms_refused: resend after retry_after, or use the recovery code)",
    ),
)


def sign_in_answer(request: Request, result: SignInResult) -> schemas.SignedIn | Response:
    """Signed in (200), or a second factor is needed (202 with the flow)."""
    if isinstance(result, SecondFactorNeeded):
        view = FlowView(result.flow, None, email_code_status(request, result))
        answer = json_response(_out(request, "login", view, result.challenge), 202)
        if (refused := result.challenge.refused) is not None:
            answer.headers["retry-after"] = str(refused.params.get("seconds", 0))
        return answer
    return signed_in(result)


def email_code_status(request: Request, result: SecondFactorNeeded) -> dict[str, Any]:
    return email_code.status(services(request).deps, result.challenge.code)


FLOW_ERRORS = (404, 409, 410, 429)


def _email_flow(request: Request, kind: str) -> EmailCodeFlow:
    container = services(request)
    email_flow: EmailCodeFlow = container.signup if kind == "signup" else container.login
    return email_flow


async def _view(request: Request, kind: str, flow_id: str) -> schemas.FlowOut:
    view = await in_unit_of_work(request, _email_flow(request, kind).view, flow_id, requester_of(request, Channel.API))
    return _out(request, kind, view)


def _out(request: Request, kind: str, view: FlowView, challenge: Prompt | None = None) -> schemas.FlowOut:
    container = services(request)
    methods = None
    if kind == "login" and view.flow.state == LoginState.SECOND_FACTOR:
        challenge = challenge or container.login.challenge(view.flow)
        methods = [way.method for way in container.login.other_ways(view.flow)]
    refused = None
    texted = view.flow.state == LoginState.SECOND_FACTOR and view.flow.context.get("method") == SMS
    if challenge is not None and challenge.refused is not None and texted:
        error = challenge.refused
        refused = schemas.SmsRefused(
            error.code, translate(language(request), error), int(error.params.get("seconds", 0))
        )
    out = flow_out(
        view, _email_flow(request, kind).machine, container.settings.privacy_policy_version, challenge, refused, methods
    )
    factor_step = view.flow.state in (LoginState.FIRST_FACTOR, LoginState.SECOND_FACTOR)
    if kind == "login" and factor_step and view.flow.context.get("method") == PASSKEY:
        # The WebAuthn options of a passkey step (those of its current, unused challenge).
        shown = challenge if challenge is not None and challenge.method == PASSKEY else None
        shown = shown or container.login.prompt(view.flow)
        out.options = dict(shown.options) if shown is not None and shown.options else None
    return out


def _email_steps(kind: str, label: str) -> list[ApiEndpoint]:
    base = f"/api/v1/{kind}"

    @api_endpoint(
        "POST",
        base,
        f"Start {label} with an email address",
        body=schemas.StartFlow,
        response=schemas.FlowOut,
        status=201,
        errors=(429,),
        tag=kind,
    )
    async def start(request: Request, body: schemas.StartFlow) -> schemas.FlowOut:
        email_flow = _email_flow(request, kind)
        requester = requester_of(request, Channel.API)
        if isinstance(email_flow, LoginFlow):
            view = await in_unit_of_work(
                request, email_flow.begin, body.email, requester, app=body.app, method=body.method
            )
        elif body.method == "password" or body.app is not None:
            raise HttpError("invalid_request", N_('"method" and "app" are for signing in only.'), 400)
        else:
            view = await in_unit_of_work(request, email_flow.start, body.email, requester)
        return _out(request, kind, view)

    @api_endpoint(
        "GET",
        base + "/{flow_id}",
        f"The current step of a {label} flow",
        response=schemas.FlowOut,
        errors=(404,),
        tag=kind,
    )
    async def show(request: Request, _: None) -> schemas.FlowOut:
        return await _view(request, kind, request.path_params["flow_id"])

    @api_endpoint(
        "POST",
        base + "/{flow_id}/suggestion",
        "Accept or decline the suggested address",
        body=schemas.AnswerSuggestion,
        response=schemas.FlowOut,
        errors=FLOW_ERRORS,
        tag=kind,
    )
    async def suggestion(request: Request, body: schemas.AnswerSuggestion) -> schemas.FlowOut:
        view = await in_unit_of_work(
            request,
            _email_flow(request, kind).answer_suggestion,
            request.path_params["flow_id"],
            body.accept,
            requester_of(request, Channel.API),
        )
        return _out(request, kind, view)

    @api_endpoint(
        "POST",
        base + "/{flow_id}/resend",
        "Send a new code (after 60 s, at most 5 times)",
        response=schemas.FlowOut,
        errors=FLOW_ERRORS,
        tag=kind,
    )
    async def resend(request: Request, _: None) -> schemas.FlowOut:
        view = await in_unit_of_work(
            request,
            _email_flow(request, kind).resend,
            request.path_params["flow_id"],
            requester_of(request, Channel.API),
        )
        return _out(request, kind, view)

    return [start, show, suggestion, resend]


@api_endpoint(
    "POST",
    "/api/v1/signup/{flow_id}/code",
    "Confirm the address with the mailed code",
    body=schemas.SubmitCode,
    response=schemas.FlowOut,
    errors=FLOW_ERRORS,
    tag="signup",
)
async def signup_code(request: Request, body: schemas.SubmitCode) -> schemas.FlowOut:
    return await _signup_step(request, services(request).signup.submit_code, body.code)


@api_endpoint(
    "POST",
    "/api/v1/signup/{flow_id}/policy",
    "Accept the privacy policy",
    body=schemas.AcceptPolicy,
    response=schemas.FlowOut,
    errors=FLOW_ERRORS,
    tag="signup",
)
async def signup_policy(request: Request, body: schemas.AcceptPolicy) -> schemas.FlowOut:
    signup: SignupFlow = services(request).signup
    return await _signup_step(request, signup.accept_policy, body.accept, body.policy_version)


@api_endpoint(
    "POST",
    "/api/v1/signup/{flow_id}/details",
    "Give the user details",
    body=schemas.Details,
    response=schemas.FlowOut,
    errors=FLOW_ERRORS,
    tag="signup",
)
async def signup_details(request: Request, body: schemas.Details) -> schemas.FlowOut:
    signup: SignupFlow = services(request).signup
    return await _signup_step(request, signup.submit_details, msgspec.to_builtins(body))


async def _signup_step(request: Request, step: Callable[..., Flow], *args: Any) -> schemas.FlowOut:
    """Run one sign-up step and answer with the flow as the step left it."""
    flow = await in_unit_of_work(
        request, step, request.path_params["flow_id"], *args, requester_of(request, Channel.API)
    )
    return _out(request, "signup", FlowView(flow, None, {}))


@api_endpoint(
    "POST",
    "/api/v1/signup/{flow_id}/two-factor",
    "Skip or choose two-factor set-up; signs in",
    body=schemas.TwoFactorChoice,
    response=schemas.SignedIn,
    errors=FLOW_ERRORS,
    tag="signup",
)
async def signup_finish(request: Request, body: schemas.TwoFactorChoice) -> schemas.SignedIn:
    signup: SignupFlow = services(request).signup
    started = await in_unit_of_work(
        request,
        signup.finish,
        request.path_params["flow_id"],
        body.choice == "setup",
        requester_of(request, Channel.API),
    )
    return signed_in(started)


@api_endpoint(
    "POST",
    "/api/v1/login/{flow_id}/code",
    "Sign in with the mailed code (or go on to the second factor)",
    body=schemas.SubmitCode,
    response=schemas.SignedIn,
    errors=(*FLOW_ERRORS, 403),
    tag="login",
    also=SECOND_FACTOR_ANSWER,
)
async def login_code(request: Request, body: schemas.SubmitCode) -> schemas.SignedIn | Response:
    container = services(request)
    result = await in_unit_of_work(
        request,
        container.login.submit_code,
        request.path_params["flow_id"],
        body.code,
        requester_of(request, Channel.API),
    )
    return sign_in_answer(request, result)


def _login_move(path: str, summary: str, event: str) -> ApiEndpoint:
    @api_endpoint("POST", path, summary, response=schemas.FlowOut, errors=FLOW_ERRORS, tag="login")
    async def move(request: Request, _: None) -> schemas.FlowOut:
        login: LoginFlow = services(request).login
        flow = await in_unit_of_work(
            request, login.choose, request.path_params["flow_id"], event, requester_of(request, Channel.API)
        )
        return _out(request, "login", FlowView(flow, None, {}))

    return move


@api_endpoint(
    "POST",
    "/api/v1/login/{flow_id}/method",
    '"Try another way": another method for the current step (see the answer\'s "method")',
    body=schemas.ChooseMethod,
    response=schemas.FlowOut,
    errors=FLOW_ERRORS,
    tag="login",
)
async def login_method(request: Request, body: schemas.ChooseMethod) -> schemas.FlowOut:
    login: LoginFlow = services(request).login
    flow_id = request.path_params["flow_id"]
    await in_unit_of_work(request, login.choose_method, flow_id, body.method, requester_of(request, Channel.API))
    return await _view(request, "login", flow_id)  # with the step's code, if it waits for one


@api_endpoint(
    "POST",
    "/api/v1/login/{flow_id}/password-reset",
    '"Forgot your password?": mail an "Update password" link valid one day',
    response=schemas.FlowOut,
    errors=FLOW_ERRORS,
    tag="login",
)
async def login_password_reset(request: Request, _: None) -> schemas.FlowOut:
    container = services(request)
    flow = await in_unit_of_work(
        request, container.login.request_reset, request.path_params["flow_id"], requester_of(request, Channel.API)
    )
    return _out(request, "login", FlowView(flow, None, {}))


@api_endpoint(
    "POST",
    "/api/v1/login/{flow_id}/password",
    "Sign in with the password, or with an app password from an app without 2FA support",
    body=schemas.SubmitPassword,
    response=schemas.SignedIn,
    errors=(*FLOW_ERRORS, 403),
    tag="login",
    also=SECOND_FACTOR_ANSWER,
)
async def login_password(request: Request, body: schemas.SubmitPassword) -> schemas.SignedIn | Response:
    login: LoginFlow = services(request).login
    result = await login.submit_password(
        request.path_params["flow_id"], body.password, requester_of(request, Channel.API)
    )
    return sign_in_answer(request, result)


@api_endpoint(
    "POST",
    "/api/v1/login/{flow_id}/sms",
    "Second factor: the code texted to the verified number",
    body=schemas.SubmitCode,
    response=schemas.SignedIn,
    errors=FLOW_ERRORS,
    tag="login",
)
async def login_sms(request: Request, body: schemas.SubmitCode) -> schemas.SignedIn:
    container = services(request)
    started = await in_unit_of_work(
        request,
        container.login.submit_sms,
        request.path_params["flow_id"],
        body.code,
        requester_of(request, Channel.API),
    )
    return signed_in(started)


@api_endpoint(
    "POST",
    "/api/v1/login/{flow_id}/sms/resend",
    "Text a new code (after 60 s, at most 5 times; the tries already used stay used)",
    response=schemas.FlowOut,
    errors=FLOW_ERRORS,
    tag="login",
)
async def login_sms_resend(request: Request, _: None) -> schemas.FlowOut:
    container = services(request)
    result = await in_unit_of_work(
        request, container.login.resend_sms, request.path_params["flow_id"], requester_of(request, Channel.API)
    )
    return _out(request, "login", FlowView(result.flow, None, email_code_status(request, result)), result.challenge)


@api_endpoint(
    "POST",
    "/api/v1/login/{flow_id}/recovery",
    '"Use my recovery code": signs in once; the answer holds the new recovery code',
    body=schemas.SubmitRecovery,
    response=schemas.SignedInWithRecovery,
    errors=FLOW_ERRORS,
    tag="login",
)
async def login_recovery(request: Request, body: schemas.SubmitRecovery) -> schemas.SignedInWithRecovery:
    container = services(request)
    used = await in_unit_of_work(
        request,
        container.login.submit_recovery,
        request.path_params["flow_id"],
        body.recovery_code,
        requester_of(request, Channel.API),
    )
    base = signed_in(used.started)
    return schemas.SignedInWithRecovery(
        session_token=base.session_token,
        expires_at=base.expires_at,
        account=base.account,
        new_recovery_code=grouped(used.new_code),
    )


# Passwords ---------------------------------------------------------------------------
STRENGTH_KEYS = ("very_weak", "weak", "fair", "strong", "very_strong")


async def strength_out(request: Request, password: str, who: Account | Typist) -> schemas.StrengthOut:
    estimate = await password_strength(request, password, who)
    return schemas.StrengthOut(
        score=estimate.score,
        label=STRENGTH_KEYS[estimate.score],  # type: ignore[arg-type]
        text=translations(language(request)).gettext(estimate.label),
        length=estimate.length,
        recommended_length=estimate.recommended_length,
        warning=estimate.warning,
    )


@api_endpoint(
    "POST",
    "/api/v1/password/strength",
    "Estimate a new password's strength (the meter); nothing is stored",
    body=schemas.StrengthQuery,
    response=schemas.StrengthOut,
    errors=(429,),
    tag="password",
)
async def password_strength_api(request: Request, body: schemas.StrengthQuery) -> schemas.StrengthOut:
    await in_unit_of_work(request, count_estimate, services(request).deps, requester_of(request, Channel.API))
    return await strength_out(request, body.password, Typist(body.email, tuple(body.names), body.birth_date))


@api_endpoint(
    "POST",
    "/api/v1/password/reset",
    'Choose a new password with the "Update password" link; does not sign in',
    body=schemas.ResetPassword,
    response=schemas.PasswordSaved,
    errors=(410,),
    tag="password",
)
async def password_reset(request: Request, body: schemas.ResetPassword) -> schemas.PasswordSaved:
    container = services(request)
    done = await container.password_resets.complete(body.token, body.password, end_sessions=body.end_other_sessions)
    return schemas.PasswordSaved(
        strength=await strength_out(request, body.password, done.account), sessions_ended=done.sessions_ended
    )


@api_endpoint(
    "POST",
    "/api/v1/account/password/code",
    "Mail a code for setting a first password",
    response=schemas.FlowOut,
    status=201,
    auth=True,
    errors=(409, 429),
    tag="password",
)
async def password_code(request: Request, _: None) -> schemas.FlowOut:
    container = services(request)
    view = await in_unit_of_work(
        request, container.password_set.begin_for, request.state.auth.account, requester_of(request, Channel.API)
    )
    return flow_out(view, container.password_set.machine, "")


@api_endpoint(
    "POST",
    "/api/v1/account/password/code/{flow_id}/resend",
    "Mail a new code for setting a first password",
    response=schemas.FlowOut,
    auth=True,
    errors=FLOW_ERRORS,
    tag="password",
)
async def password_code_resend(request: Request, _: None) -> schemas.FlowOut:
    container = services(request)
    flow_id, requester = request.path_params["flow_id"], requester_of(request, Channel.API)
    await in_unit_of_work(request, container.password_set.load_for, flow_id, request.state.auth.account, requester)
    view = await in_unit_of_work(request, container.password_set.resend, flow_id, requester)
    return flow_out(view, container.password_set.machine, "")


@api_endpoint(
    "POST",
    "/api/v1/account/password/set",
    "Set the first password with the mailed code",
    body=schemas.SetPassword,
    response=schemas.PasswordSaved,
    auth=True,
    errors=FLOW_ERRORS,
    tag="password",
)
async def password_set(request: Request, body: schemas.SetPassword) -> schemas.PasswordSaved:
    container = services(request)
    account = request.state.auth.account
    await container.password_set.set_password(
        body.flow_id, account, body.code, body.password, requester_of(request, Channel.API)
    )
    return schemas.PasswordSaved(strength=await strength_out(request, body.password, account), sessions_ended=0)


@api_endpoint(
    "POST",
    "/api/v1/account/password/change",
    "Change the password (needs the current one)",
    body=schemas.ChangePassword,
    response=schemas.PasswordSaved,
    auth=True,
    errors=(409, 429),
    tag="password",
)
async def password_change(request: Request, body: schemas.ChangePassword) -> schemas.PasswordSaved:
    container = services(request)
    auth: Authenticated = request.state.auth
    ended = await container.password_change.change(
        auth,
        body.current_password,
        body.new_password,
        end_others=body.end_other_sessions,
        requester=requester_of(request, Channel.API),
    )
    return schemas.PasswordSaved(
        strength=await strength_out(request, body.new_password, auth.account), sessions_ended=ended
    )


@api_endpoint("GET", "/api/v1/account", "The signed-in account", response=schemas.AccountOut, auth=True)
async def get_account(request: Request, _: None) -> schemas.AccountOut:
    account = request.state.auth.account
    factor = await in_unit_of_work(request, services(request).two_factor.status, account.id)
    return account_out(account, factor is not None)


@api_endpoint(
    "PATCH", "/api/v1/account", "Change the profile", body=schemas.ProfileUpdate, response=schemas.AccountOut, auth=True
)
async def patch_account(request: Request, body: schemas.ProfileUpdate) -> schemas.AccountOut:
    container = services(request)
    account = request.state.auth.account
    updated = await in_unit_of_work(request, container.accounts.update_profile, account, msgspec.to_builtins(body))
    if body.language:
        await in_unit_of_work(request, container.accounts.set_language, account, body.language)
        updated = (await in_unit_of_work(request, container.sessions.authenticate, _bearer(request))).account
    return account_out(updated)


@api_endpoint("GET", "/api/v1/sessions", "The account's active sessions", response=schemas.SessionList, auth=True)
async def list_sessions(request: Request, _: None) -> schemas.SessionList:
    auth: Authenticated = request.state.auth
    sessions = await in_unit_of_work(request, services(request).sessions.list, auth.account.id)
    gettext = translations(language(request)).gettext
    return schemas.SessionList(
        sessions=[
            schemas.SessionOut(
                id=session.id,
                kind=session.kind.value,
                created_at=session.created_at,
                last_seen_at=session.last_seen_at,
                expires_at=session.expires_at,
                ip=session.ip,
                user_agent=session.user_agent,
                device=label(describe(session.user_agent), gettext),
                current=session.id == auth.session.id,
            )
            for session in sessions
        ]
    )


@api_endpoint(
    "DELETE", "/api/v1/sessions/{session_id}", "End one session", response=schemas.Ended, auth=True, errors=(404,)
)
async def end_session(request: Request, _: None) -> schemas.Ended:
    auth: Authenticated = request.state.auth
    await in_unit_of_work(request, services(request).sessions.end, auth.session, request.path_params["session_id"])
    return schemas.Ended(ended=1)


@api_endpoint("POST", "/api/v1/sessions/end-others", "End every other session", response=schemas.Ended, auth=True)
async def end_others(request: Request, _: None) -> schemas.Ended:
    auth: Authenticated = request.state.auth
    return schemas.Ended(ended=await in_unit_of_work(request, services(request).sessions.end_others, auth.session))


@api_endpoint("POST", "/api/v1/logout", "End the current session", response=schemas.Ended, auth=True)
async def logout(request: Request, _: None) -> schemas.Ended:
    auth: Authenticated = request.state.auth
    await in_unit_of_work(request, services(request).sessions.end, auth.session, auth.session.id)
    return schemas.Ended(ended=1)


def _bearer(request: Request) -> str:
    return request.headers.get("authorization", "").partition(" ")[2].strip()


def endpoints() -> list[ApiEndpoint]:
    """This module's JSON endpoints, in the order they are matched and documented."""
    return [
        *_email_steps("signup", "sign-up"),
        *_email_steps("login", "sign-in"),
        signup_code,
        signup_policy,
        signup_details,
        signup_finish,
        login_code,
        _login_move(
            "/api/v1/login/{flow_id}/password-instead",
            'Choose "Login with password instead"',
            "password_chosen",
        ),
        _login_move(
            "/api/v1/login/{flow_id}/code-instead",
            "Go back from the password to the mailed code",
            "code_chosen",
        ),
        _login_move("/api/v1/login/{flow_id}/recovery-instead", '"Use my recovery code"', "recovery_chosen"),
        _login_move(
            "/api/v1/login/{flow_id}/sms-instead",
            "Go back from the recovery code to the texted code",
            "sms_chosen",
        ),
        login_method,
        login_password_reset,
        login_password,
        login_sms,
        login_sms_resend,
        login_recovery,
        password_strength_api,
        password_reset,
        password_code,
        password_code_resend,
        password_set,
        password_change,
        get_account,
        patch_account,
        list_sessions,
        end_session,
        end_others,
        logout,
    ]
