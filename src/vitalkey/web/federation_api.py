"""Sign-in with an upstream provider from a mobile app (issue #23): the JSON API's side of
web/federation_pages.py, a native flow with an exchange code.

An app cannot hold the browser's cookie, and the provider sends the browser back to OUR callback
only. So the app starts the sign-in (``POST /api/v1/login/with/{provider}``: a login flow of the
API, the provider's URL) and opens the URL in the system browser. The state sent to the provider
is the flow's id sealed (Fernet) with an ``api:`` prefix: the flow's id, the app's bearer of the
flow, is in no URL the provider or the browser sees. The callback (one hook in
``federation_pages.callback``) opens it, checks the answer as for the browser, keeps the claims
in the flow with the digest of a new one-time exchange code, and sends the browser to the app's
registered return URI with ``?code=``. The app trades the code, with the flow's id, for what the
sign-in leads to (``POST /api/v1/login/{flow_id}/federated``): a session (or the second factor),
a sign-up flow, or "an account exists" (then, signed in to it, ``POST
/api/v1/account/authenticators/federated`` links the identity kept in the flow).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from vitalkey.domain.errors import (
    AccountToLink,
    AddressMissing,
    DomainError,
    UnknownProvider,
    UpstreamRefused,
    WrongState,
)
from vitalkey.domain.flows import Channel, Requester
from vitalkey.domain.tokens import is_token
from vitalkey.flows.federation import AddressNeeded, LinkRequired, SignedIn, SignupStarted
from vitalkey.ports import UpstreamClaims, UpstreamProvider
from vitalkey.web import schemas
from vitalkey.web.api import (
    FLOW_ERRORS,
    SECOND_FACTOR_ANSWER,
    ApiEndpoint,
    _out,
    api_endpoint,
    json_response,
    sign_in_answer,
)
from vitalkey.web.context import in_unit_of_work, requester_of, services
from vitalkey.web.pages import error_status
from vitalkey.web.render import page

APP_STATE = "api:"  # what the sealed state of an app's sign-in opens to, before the flow's id
MAX_STATE = 1000  # longer than any state we seal: not opened
CheckedClaims = Callable[[Request, UpstreamProvider, str, Requester], Awaitable[UpstreamClaims]]
SIGNUP_ANSWER = (
    201,
    schemas.FlowOut,
    'A new identity: a sign-up flow (kind "signup"), at "policy" when the provider verified the address, else at '
    "the code mailed to it; go on with /api/v1/signup/{id}/…, which links the identity to the new account",
)


def provider_named(request: Request) -> UpstreamProvider:
    """The configured provider the path names (``{provider}``)."""
    found = services(request).federation.kind.providers.get(request.path_params["provider"])
    if found is None:
        raise UnknownProvider()
    return found


def callback_uri(request: Request, provider: UpstreamProvider) -> str:
    """The provider knows our callback page only (web/federation_pages.py), for apps as well."""
    return services(request).settings.public_url.rstrip("/") + f"/login/callback/{provider.id}"


def _to_app(return_to: str, **params: str) -> Response:
    """The browser sent back to the app (a registered redirect URI: no fragment), never cached."""
    separator = "&" if "?" in return_to else "?"
    return RedirectResponse(
        return_to + separator + urlencode(params),
        status_code=303,
        headers={"cache-control": "no-store", "referrer-policy": "no-referrer"},
    )


def _display_name(request: Request, claims: UpstreamClaims) -> str:
    return services(request).federation.kind.provider(claims.provider).display_name


# The callback, in the browser --------------------------------------------------------------
def app_flow_id(request: Request) -> str | None:
    """The login flow of an app's sign-in that this callback answers, sealed in its state; None
    for the browser's own sign-ins (and for a state that does not open: the browser's path
    refuses it)."""
    state = request.query_params.get("state", "")
    if not state or len(state) > MAX_STATE:
        return None
    try:
        opened = services(request).sealer.open(state)
    except ValueError:  # SealingError: not sealed by us, or changed
        return None
    flow_id = opened.removeprefix(APP_STATE)
    return flow_id if opened.startswith(APP_STATE) and is_token(flow_id) else None


async def finish_for_app(request: Request, flow_id: str, checked_claims: CheckedClaims) -> Response:
    """The provider's answer to an app's sign-in: checked as the browser's (``checked_claims``,
    passed in by the callback), the claims kept in the flow, the browser sent to the app's return
    URI with a one-time exchange code; or with ``?error=`` when refused (the refusal page when
    the flow, and so the app's return URI, is unknown). Never a 500 for a bad answer."""
    container = services(request)
    requester = requester_of(request, Channel.API)
    try:
        provider = provider_named(request)
        claims = await checked_claims(request, provider, flow_id, requester)
        code, return_to = await in_unit_of_work(request, container.login.keep_for_exchange, flow_id, claims, requester)
    except DomainError as error:
        known = await in_unit_of_work(request, container.login.app_return, flow_id, requester)
        if known is None:
            return page(request, "login_email.html", status=error_status(error), error=error, email="", waiting="")
        return _to_app(known, error=error.reason if isinstance(error, UpstreamRefused) else error.code)
    return _to_app(return_to, code=code)


# The JSON endpoints ------------------------------------------------------------------------
@api_endpoint(
    "GET",
    "/api/v1/login/providers",
    'The sign-in providers offered ("Continue with Google", "Sign in with Apple", …), in the order to show them',
    response=schemas.ProviderList,
    tag="login",
)
async def list_providers(request: Request, _: None) -> schemas.ProviderList:
    container = services(request)
    configured = container.federation.kind.providers
    return schemas.ProviderList(
        providers=[
            schemas.ProviderOut(
                id=config.id,
                kind=config.kind,  # type: ignore[arg-type]  # checked by the settings
                name=config.display_name,
                logo_url=config.logo_url or None,
            )
            for config in container.settings.federation_providers
            if config.id in configured
        ]
    )


@api_endpoint(
    "POST",
    "/api/v1/login/with/{provider}",
    "Start a sign-in with a provider: open the answer's url in the system browser; the browser comes back to "
    "return_to with ?code= (then POST /api/v1/login/{id}/federated) or ?error=",
    body=schemas.FederatedStart,
    response=schemas.FederatedStarted,
    status=201,
    errors=(404, 429),
    tag="login",
)
async def start(request: Request, body: schemas.FederatedStart) -> schemas.FederatedStarted:
    container = services(request)
    provider = provider_named(request)
    requester = requester_of(request, Channel.API)
    view = await in_unit_of_work(request, container.login.start_for_app, requester, body.app, body.return_to)
    flow_id = view.flow.id
    begun = await provider.start(callback_uri(request, provider), state=container.sealer.seal(APP_STATE + flow_id))
    kept = {"provider": provider.id, "state": begun.state, "nonce": begun.nonce, "verifier": begun.code_verifier}
    await in_unit_of_work(request, container.login.keep_upstream, flow_id, kept, requester)
    return schemas.FederatedStarted(id=flow_id, url=begun.url, expires_at=view.flow.expires_at)


@api_endpoint(
    "POST",
    "/api/v1/login/{flow_id}/federated",
    "Trade the exchange code (once; a few wrong codes end the flow) for what the sign-in leads to: signed in, the "
    "second factor, or a sign-up; 409 account_exists: sign in to that account, then POST "
    "/api/v1/account/authenticators/federated; 400 address_needed: POST …/federated/address",
    body=schemas.FederatedExchange,
    response=schemas.SignedIn,
    errors=(*FLOW_ERRORS, 403),
    tag="login",
    also=(*SECOND_FACTOR_ANSWER, SIGNUP_ANSWER),
)
async def exchange(request: Request, body: schemas.FederatedExchange) -> schemas.SignedIn | Response:
    container = services(request)
    flow_id, requester = request.path_params["flow_id"], requester_of(request, Channel.API)
    claims = await in_unit_of_work(request, container.login.exchange, flow_id, body.code, requester)
    outcome = await in_unit_of_work(request, container.federation.sign_in, claims, requester)
    if isinstance(outcome, SignedIn):
        _, result = await in_unit_of_work(request, container.login.submit_federated, flow_id, claims, requester)
        return sign_in_answer(request, result)
    if isinstance(outcome, SignupStarted):
        await in_unit_of_work(request, container.login.forget_claims, flow_id, requester)
        return json_response(_out(request, "signup", outcome.view), 201)
    if isinstance(outcome, LinkRequired):
        raise AccountToLink(email=outcome.email, provider=_display_name(request, claims))
    assert isinstance(outcome, AddressNeeded)
    raise AddressMissing(provider=_display_name(request, claims))


@api_endpoint(
    "POST",
    "/api/v1/login/{flow_id}/federated/address",
    "The provider gave no address (address_needed): the address for the new account; a sign-up flow at the "
    "code mailed to it",
    body=schemas.FederatedAddress,
    response=schemas.FlowOut,
    status=201,
    errors=(*FLOW_ERRORS,),
    tag="login",
)
async def address(request: Request, body: schemas.FederatedAddress) -> schemas.FlowOut:
    container = services(request)
    flow_id, requester = request.path_params["flow_id"], requester_of(request, Channel.API)
    claims = await in_unit_of_work(request, container.login.kept_claims, flow_id, requester)
    if claims.email:  # the provider gave one: the exchange said what it leads to
        raise WrongState()
    started = await in_unit_of_work(request, container.federation.start_signup, claims, body.email, requester)
    await in_unit_of_work(request, container.login.forget_claims, flow_id, requester)
    return _out(request, "signup", started.view)


@api_endpoint(
    "POST",
    "/api/v1/account/authenticators/federated",
    "Link the identity of a sign-in that answered account_exists to this account, the one that uses its address "
    "(needs a sign-in within 5 minutes, with the second factor when 2FA is on; mailed)",
    body=schemas.FederatedLink,
    response=schemas.LinkedIdentityOut,
    status=201,
    auth=True,
    errors=(403, 404, 409),
    tag="two-factor",
)
async def link(request: Request, body: schemas.FederatedLink) -> schemas.LinkedIdentityOut:
    container = services(request)
    auth, requester = request.state.auth, requester_of(request, Channel.API)
    claims = await in_unit_of_work(request, container.login.claims_to_link, body.flow, auth.account, requester)
    row = await in_unit_of_work(request, container.federation.link, auth, claims, requester)
    await in_unit_of_work(request, container.login.forget_claims, body.flow, requester)
    return schemas.LinkedIdentityOut(
        id=row.id, kind=row.kind, provider=str(row.data.get("provider")), name=row.name, created_at=row.created_at
    )


def endpoints() -> list[ApiEndpoint]:
    """This module's JSON endpoints, in the order they are matched and documented (before the
    sign-in's /api/v1/login/{flow_id}: "providers" and "with" are no flow ids)."""
    return [list_providers, start, exchange, address, link]
