"""Sign-in with an upstream provider (issue #23): the button's POST sends the browser to the
provider, the callback finishes there and says what the sign-in leads to.

What the callback must check (state, nonce, PKCE verifier) is kept server-side in a login flow
(``LoginFlow.start_upstream``, context ``UPSTREAM``, its state a one-time code of the flow); the browser holds only the
flow's opaque id, in an HttpOnly SameSite=Lax cookie, and the flow is bound to the browser like
every browser flow. The kept values are removed before the code is exchanged, so a callback is
answered once.

Apple answers with ``form_post``: a POST from Apple's site, which carries no SameSite=Lax cookie,
so nothing can be checked there. It is sent on at once, unread but for its known fields, as a GET
of the same callback (303): a top-level GET navigation carries the Lax cookie, and the checks are
the same as for every provider.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from vitalkey.domain.errors import (
    DomainError,
    FlowExpired,
    FlowNotFound,
    LinkGone,
    ReauthenticationRequired,
    UpstreamRefused,
    WrongState,
)
from vitalkey.domain.flows import Channel, Requester
from vitalkey.domain.i18n import N_
from vitalkey.domain.tokens import is_token, same
from vitalkey.flows.federation import AddressNeeded, LinkRequired, SignedIn, SignupStarted
from vitalkey.flows.login import LINK_INTENT, UPSTREAM_TTL
from vitalkey.flows.sessions import Authenticated
from vitalkey.ports import UpstreamClaims, UpstreamProvider, UpstreamStart
from vitalkey.web.context import cookie_name, in_unit_of_work, read_form, requester_of, services
from vitalkey.web.errors import HttpError
from vitalkey.web.federation_api import app_flow_id, callback_uri, finish_for_app, provider_named
from vitalkey.web.pages import LINK_CONTINUE, current_user, error_status, first_factor_done, posted_form, see_other
from vitalkey.web.render import page

FLOW_COOKIE = "vk_upstream"  # the login flow that keeps the UpstreamStart; its id only
FLOW_COOKIE_MAX_AGE = int(UPSTREAM_TTL.total_seconds())
ADDRESS_CONTINUE = "/signup/address/"  # + the login flow keeping an identity that came without an address
LINKED = "/account/two-factor?notice=linked"  # where a link ends (one of pages.RETURN_PAGES)
CALLBACK = "/login/callback/{provider}"  # web/csrf.py lets its POST through: it comes from the provider
# What a provider's answer may hold (Apple's ``user``: the name, sent on the first authorization only).
ANSWER_FIELDS = ("code", "state", "error", "user")


def _refused(request: Request, error: DomainError) -> Response:
    return _without_flow_cookie(
        request, page(request, "login_email.html", status=error_status(error), error=error, email="", waiting="")
    )


async def start(request: Request) -> Response:
    """The button: a login flow keeps what the callback checks; the browser goes to the provider."""
    try:
        provider = provider_named(request)
        form = await posted_form(request)
        # Account & Security's "Link your … account": the identity goes to the signed-in account.
        linking = form.get("intent") == "link" and await current_user(request) is not None
        begun = await provider.start(callback_uri(request, provider))
        kept = {"provider": provider.id, "state": begun.state, "nonce": begun.nonce, "verifier": begun.code_verifier}
        view = await in_unit_of_work(
            request,
            services(request).login.start_upstream,
            kept,
            requester_of(request, Channel.BROWSER),
            **{LINK_INTENT: linking},
        )
    except DomainError as error:
        return _refused(request, error)
    response = see_other(request, begun.url)
    response.set_cookie(
        cookie_name(request, FLOW_COOKIE),
        view.flow.id,
        max_age=FLOW_COOKIE_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=services(request).settings.https,
        path="/login/callback",
    )
    return response


async def posted_callback(request: Request) -> Response:
    """Apple's ``form_post``: the same answer, as a GET that carries the browser's cookie. Not
    guarded by the CSRF check (the POST comes from the provider's site) and changes nothing."""
    try:
        provider_named(request)
    except DomainError as error:
        return _refused(request, error)
    try:
        form = await read_form(request)
    except DomainError:
        form = {}  # unreadable: sent on empty, refused there as any answer without a state
    answer = {name: form[name] for name in ANSWER_FIELDS if form.get(name)}
    return see_other(request, f"{request.url.path}?{urlencode(answer)}")


async def checked_claims(
    request: Request, provider: UpstreamProvider, flow_id: str, requester: Requester
) -> UpstreamClaims:
    """The provider's answer to the login flow ``flow_id``: its state checked against the kept
    one (taken, so a callback is answered once), the code exchanged and the ID token checked."""
    try:
        kept = await in_unit_of_work(request, services(request).login.take_upstream, flow_id, requester)
    except (FlowNotFound, WrongState) as gone:
        raise UpstreamRefused("bad_state", provider=provider.display_name) from gone
    state = request.query_params.get("state", "")
    expected = UpstreamStart(url="", state=kept["state"], nonce=kept["nonce"], code_verifier=kept["verifier"])
    if kept["provider"] != provider.id or not same(state, expected.state):
        raise UpstreamRefused("bad_state", provider=provider.display_name)
    if "error" in request.query_params or not request.query_params.get("code"):
        raise UpstreamRefused("token_exchange_failed", provider=provider.display_name)
    return await provider.finish(
        code=request.query_params["code"],
        redirect_uri=callback_uri(request, provider),
        expected=expected,
        posted_user=request.query_params.get("user"),
    )


async def callback(request: Request) -> Response:
    """The provider's answer, for the sign-in this browser started: what the identity leads to."""
    if (for_app := app_flow_id(request)) is not None:  # a mobile app's sign-in (web/federation_api.py)
        return await finish_for_app(request, for_app, checked_claims)
    container = services(request)
    requester = requester_of(request, Channel.BROWSER)
    try:
        provider = provider_named(request)
        flow_id = request.cookies.get(cookie_name(request, FLOW_COOKIE), "")
        if not is_token(flow_id):
            raise UpstreamRefused("bad_state", provider=provider.display_name)
        claims = await checked_claims(request, provider, flow_id, requester)
        auth = await current_user(request)
        if auth is not None and await in_unit_of_work(request, container.login.wants_link, flow_id, requester):
            return _without_flow_cookie(request, await _link_to(request, auth, flow_id, claims))
        outcome = await in_unit_of_work(request, container.federation.sign_in, claims, requester)
        if isinstance(outcome, SignedIn):
            _, result = await in_unit_of_work(request, container.login.submit_federated, flow_id, claims, requester)
            response = await first_factor_done(request, flow_id, result)
        elif isinstance(outcome, SignupStarted):
            response = see_other(request, f"/signup/{outcome.view.flow.id}")
        elif isinstance(outcome, LinkRequired):
            await in_unit_of_work(request, container.login.keep_for_link, flow_id, claims, outcome.email, requester)
            response = see_other(request, LINK_CONTINUE + flow_id)
        else:
            assert isinstance(outcome, AddressNeeded)
            await in_unit_of_work(request, container.login.keep_for_address, flow_id, claims, requester)
            response = see_other(request, ADDRESS_CONTINUE + flow_id)
    except DomainError as error:
        return _refused(request, error)
    return _without_flow_cookie(request, response)


async def _link_to(request: Request, auth: Authenticated, flow_id: str, claims: UpstreamClaims) -> Response:
    """Account & Security's "Link your … account": linked at once after a recent sign-in, else
    kept while the user signs in again ("Sign in to link")."""
    container = services(request)
    requester = requester_of(request, Channel.BROWSER)
    try:
        await in_unit_of_work(request, container.federation.link, auth, claims, requester)
    except ReauthenticationRequired:
        await in_unit_of_work(request, container.login.keep_for_link, flow_id, claims, auth.account.email, requester)
        return see_other(request, LINK_CONTINUE + flow_id)
    return see_other(request, LINKED)


def _without_flow_cookie(request: Request, response: Response) -> Response:
    response.delete_cookie(cookie_name(request, FLOW_COOKIE), path="/login/callback")
    return response


async def link_page(request: Request) -> Response:
    """An identity kept for linking (an account has its verified address, or a signed-in user's
    sign-in is too old to link it at once): "Sign in to link" starts a sign-in to that account,
    which links the identity when it completes, and comes back to the list of methods."""
    container = services(request)
    flow_id = request.path_params["flow_id"]
    requester = requester_of(request, Channel.BROWSER)
    error: DomainError | None = None
    try:
        waiting = await in_unit_of_work(request, container.login.waiting_link, flow_id, requester)
        provider = container.federation.kind.provider(waiting.claims.provider)
    except (FlowNotFound, FlowExpired, WrongState):
        return page(request, "flow_gone.html", status=410, error=LinkGone(), kind="login", waiting="")
    if request.method == "POST":
        try:
            if (await posted_form(request)).get("action") != "sign_in":
                raise HttpError("unknown_action", N_("This action is not available."), 400)
            view = await in_unit_of_work(request, container.login.start_to_link, flow_id, requester, LINKED)
            return see_other(request, f"/login/{view.flow.id}")
        except DomainError as refused:
            error = refused
    return page(
        request,
        "federation_link.html",
        status=error_status(error) if error else 200,
        error=error,
        auth=await current_user(request),
        flow_id=flow_id,
        email=waiting.email,
        provider=provider.display_name,
    )


async def address_page(request: Request) -> Response:
    """A provider that gave no address: the user types the new account's address, and the
    sign-up starts with the identity kept (the code mailed confirms the address)."""
    container = services(request)
    flow_id = request.path_params["flow_id"]
    requester = requester_of(request, Channel.BROWSER)
    try:
        claims = await in_unit_of_work(request, container.login.claims_without_address, flow_id, requester)
        provider = container.federation.kind.provider(claims.provider)
    except (FlowNotFound, FlowExpired, WrongState):
        return page(request, "flow_gone.html", status=410, error=FlowExpired(), kind="signup", waiting="")
    error: DomainError | None = None
    email = ""
    if request.method == "POST":
        try:
            email = (await posted_form(request)).get("email", "")
            started = await in_unit_of_work(request, container.federation.start_signup, claims, email, requester)
            await in_unit_of_work(request, container.login.claims_without_address, flow_id, requester, take=True)
            return see_other(request, f"/signup/{started.view.flow.id}")
        except DomainError as refused:
            error = refused
    return page(
        request,
        "federation_address.html",
        status=error_status(error) if error else 200,
        error=error,
        flow_id=flow_id,
        email=email[:254],
        provider=provider.display_name,
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/login/with/{provider}", start, methods=["POST"]),
        Route(CALLBACK, callback, methods=["GET"]),
        Route(CALLBACK, posted_callback, methods=["POST"]),
        Route(LINK_CONTINUE + "{flow_id}", link_page, methods=["GET", "POST"]),
        Route(ADDRESS_CONTINUE + "{flow_id}", address_page, methods=["GET", "POST"]),
    ]
