"""The authorization server's edge: the authorize and consent pages, the token endpoints (RFC 6749
and the Withings envelope), revocation, introspection, userinfo, discovery and the JWKS. Thin:
read the request, call ``container.oauth`` (Authlib underneath), write the answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from vitalkey.container import Container
from vitalkey.domain.apps import origin_of
from vitalkey.domain.errors import DomainError, FlowExpired, FlowNotFound
from vitalkey.domain.flows import Channel, Flow
from vitalkey.domain.oauth import SCOPE_WORDS
from vitalkey.flows import authorize as authorize_flow
from vitalkey.flows.authorize import parameters
from vitalkey.oauth.provider import (
    ConsentNeeded,
    ErrorPage,
    LoginNeeded,
    Outcome,
    Redirect,
    SignedIn,
)
from vitalkey.oauth.resource import Bearer
from vitalkey.oauth.server import Answer, user_info
from vitalkey.observability import oauth_token_series
from vitalkey.web import schemas
from vitalkey.web.api import ApiEndpoint, api_endpoint
from vitalkey.web.bearer import NO_STORE, protected
from vitalkey.web.context import in_unit_of_work, requester_of, services
from vitalkey.web.form_endpoint import FormEndpoint, FormRequest, JsonAnswer
from vitalkey.web.pages import current_user, posted_form, see_other
from vitalkey.web.presentation import BROWSER_ONLY, GONE, Presentation
from vitalkey.web.render import page

GRANTS = frozenset({"authorization_code", "refresh_token"})


_encoder = msgspec.json.Encoder()


def json_answer(body: Any, status: int = 200, headers: Mapping[str, str] = NO_STORE) -> Response:
    return Response(_encoder.encode(body), status, headers=headers, media_type="application/json")


def count_token_request(values: list[tuple[str, str]], outcome: str) -> None:
    grant = next((value for name, value in values if name == "grant_type"), "")
    oauth_token_series(grant if grant in GRANTS else "other", outcome[:40]).inc()


# Authorization endpoint and consent page ---------------------------------------------
async def authorize(request: Request) -> Response:
    """GET /oauth2/authorize and /oauth2_user/authorize2 (the Withings path)."""
    return await _authorize(request, list(request.query_params.multi_items()), None)


async def authorize_continue(request: Request) -> Response:
    """The kept request after signing in (GET), and the consent page's answer (POST)."""
    container = services(request)
    try:
        flow: Flow = await in_unit_of_work(request, container.authorize_requests.get, request.path_params["flow_id"])
        decision = None
        if request.method == "POST":
            form = await posted_form(request)
            decision = form.get("decision") == "allow"
    except (FlowNotFound, FlowExpired) as error:
        return page(request, "oauth_error.html", status=400, problem=error.message_id)
    return await _authorize(request, parameters(flow), flow, decision)


async def _authorize(
    request: Request, values: list[tuple[str, str]], flow: Flow | None, decision: bool | None = None
) -> Response:
    container = services(request)
    auth = await current_user(request)
    user = SignedIn(auth.account, auth.session.created_at, auth.session.methods) if auth else None
    since = flow is not None and auth is not None and auth.session.created_at >= flow.created_at
    outcome: Outcome = await in_unit_of_work(
        request, container.oauth.authorize, values, user, signed_in_since_request=since, decision=decision
    )
    if isinstance(outcome, Redirect):
        if flow is not None and not await in_unit_of_work(request, container.authorize_requests.answered, flow):
            return page(request, "oauth_error.html", status=400, problem=FlowNotFound.message)
        return RedirectResponse(outcome.location, status_code=302, headers=NO_STORE)
    if isinstance(outcome, ErrorPage):
        return page(request, "oauth_error.html", status=400, oauth_error=outcome.error, description=outcome.description)
    kept: Flow = (
        flow
        if flow is not None
        else await in_unit_of_work(
            request, container.authorize_requests.keep, values, requester_of(request, Channel.BROWSER)
        )
    )
    if isinstance(outcome, LoginNeeded):
        return see_other(request, f"/login?continue={kept.id}")
    assert isinstance(outcome, ConsentNeeded)
    uri = dict(values).get("redirect_uri") or outcome.app.redirect_uris[0]
    request.state.form_targets = (origin_of(uri),)  # "Allow"/"Deny" end in the redirect to the app
    if outcome.app.logo_url:
        request.state.images = (origin_of(outcome.app.logo_url),)
    return page(
        request,
        "consent.html",
        app=outcome.app,
        scopes=[(scope, SCOPE_WORDS[scope], scope in outcome.new_scopes) for scope in outcome.scopes],
        flow_id=kept.id,
    )


# Token endpoints (bare ASGI: see form_endpoint) -----------------------------------------
NO_STORE_HEADERS = list(NO_STORE.items())


def oauth_refusal(message_id: str) -> JsonAnswer:
    """RFC 6749 §5.2 for a body that is not a readable form."""
    return JsonAnswer({"error": "invalid_request", "error_description": message_id}, 400, NO_STORE_HEADERS)


def withings_refusal(message_id: str) -> JsonAnswer:
    return JsonAnswer({"status": 503, "body": {}, "error": f"Invalid Params: {message_id}"}, 200, NO_STORE_HEADERS)


def from_answer(answer: Answer) -> JsonAnswer:
    """Authlib's answer with no-store (RFC 6749 §5.1) and its other headers (WWW-Authenticate)."""
    headers = [(n, v) for n, v in answer.headers if n.lower() not in ("content-type", "cache-control", "pragma")]
    return JsonAnswer(answer.body, answer.status, headers + NO_STORE_HEADERS)


def auth_headers(form: FormRequest) -> dict[str, str]:
    """Only what client authentication reads."""
    return {"Authorization": form.authorization} if form.authorization else {}


async def token(container: Container, form: FormRequest) -> JsonAnswer:
    """POST /oauth2/token: RFC 6749 JSON answers."""
    result = await container.uow.run_optimistic(container.oauth.prepare_token, form.values, auth_headers(form))
    count_token_request(form.values, result.answer.body.get("error", "issued"))
    return from_answer(result.answer)


async def withings_oauth2(container: Container, form: FormRequest) -> JsonAnswer:
    """POST /v2/oauth2 ``action=requesttoken|revoke``: the Withings envelope, always HTTP 200."""
    answer = await container.uow.run_optimistic(container.withings.prepare_oauth2, form.values, auth_headers(form))
    if dict(form.values).get("action") == "requesttoken":
        count_token_request(form.values, "issued" if answer["status"] == 0 else f"withings_{answer['status']}")
    return JsonAnswer(answer, 200, NO_STORE_HEADERS)


async def withings_signature(container: Container, form: FormRequest) -> JsonAnswer:
    """POST /v2/signature ``action=getnonce``."""
    return JsonAnswer(await container.uow.run(container.withings.get_nonce, form.values), 200, NO_STORE_HEADERS)


async def revoke(container: Container, form: FormRequest) -> JsonAnswer:
    """RFC 7009."""
    return from_answer(await container.uow.run(container.oauth.revoke, form.values, auth_headers(form)))


async def introspect(container: Container, form: FormRequest) -> JsonAnswer:
    """RFC 7662."""
    return from_answer(await container.uow.run(container.oauth.introspect, form.values, auth_headers(form)))


# Userinfo, discovery, keys --------------------------------------------------------------
async def userinfo(request: Request, bearer: Bearer) -> Response:
    """OIDC Core §5.3: the claims the token's scopes allow."""
    return json_answer(dict(user_info(bearer.account, " ".join(bearer.token.scopes))))


async def discovery(request: Request) -> Response:
    return json_answer(services(request).oauth.metadata(), headers={"cache-control": "public, max-age=3600"})


async def jwks(request: Request) -> Response:
    keys = await in_unit_of_work(request, services(request).oauth.jwks)
    return json_answer(keys, headers={"cache-control": "public, max-age=300"})


# Account & Security → Connected apps ---------------------------------------------------------
async def connected_apps_page(request: Request) -> Response:
    auth = await current_user(request)
    if auth is None:
        return see_other(request, "/login")
    container = services(request)
    notice = request.query_params.get("notice", "")
    error: DomainError | None = None
    if request.method == "POST":
        try:
            form = await posted_form(request)
            await in_unit_of_work(request, container.connected_apps.remove, auth.account.id, form.get("client_id", ""))
            return see_other(request, "/account/connected-apps?notice=removed")
        except DomainError as failed:
            error = failed
    apps = await in_unit_of_work(request, container.connected_apps.for_account, auth.account.id)
    return page(
        request,
        "connected_apps.html",
        status=400 if error else 200,
        error=error,
        apps=apps,
        scope_words=SCOPE_WORDS,
        notice=notice,
    )


# What shows each state of a kept authorization request: the consent page (or the redirect to
# the app) while it waits, the error page once answered; no JSON route shows it.
AUTHORIZE_PRESENTATION = Presentation(
    authorize_flow.MACHINE,
    pages={authorize_flow.AuthorizeState.PENDING: "consent.html", authorize_flow.AuthorizeState.ANSWERED: GONE},
    api={authorize_flow.AuthorizeState.PENDING: BROWSER_ONLY, authorize_flow.AuthorizeState.ANSWERED: BROWSER_ONLY},
)


def routes() -> list[BaseRoute]:
    """This module's routes, in the order they are matched."""
    return [
        Route("/oauth2/authorize", authorize, methods=["GET"]),
        Route("/oauth2_user/authorize2", authorize, methods=["GET"]),
        Route("/oauth2/authorize/{flow_id}", authorize_continue, methods=["GET", "POST"]),
        Route("/oauth2/token", FormEndpoint(token, oauth_refusal), methods=["POST"]),
        Route("/oauth2/revoke", FormEndpoint(revoke, oauth_refusal), methods=["POST"]),
        Route("/oauth2/introspect", FormEndpoint(introspect, oauth_refusal), methods=["POST"]),
        Route("/oauth2/userinfo", protected("openid")(userinfo), methods=["GET", "POST"]),
        Route("/oauth2/jwks", jwks, methods=["GET"]),
        Route("/.well-known/openid-configuration", discovery, methods=["GET"]),
        Route("/.well-known/oauth-authorization-server", discovery, methods=["GET"]),
        Route("/v2/oauth2", FormEndpoint(withings_oauth2, withings_refusal, with_query=True), methods=["POST"]),
        Route("/v2/signature", FormEndpoint(withings_signature, withings_refusal, with_query=True), methods=["POST"]),
        Route("/account/connected-apps", connected_apps_page, methods=["GET", "POST"]),
    ]


@api_endpoint(
    "GET",
    "/api/v1/account/connected-apps",
    "The apps the user allowed to read their data: scopes, first allowed, last used",
    response=schemas.ConnectedAppList,
    auth=True,
    tag="connected-apps",
)
async def list_connected_apps(request: Request, _: None) -> schemas.ConnectedAppList:
    container = services(request)
    apps = await in_unit_of_work(request, container.connected_apps.for_account, request.state.auth.account.id)
    return schemas.ConnectedAppList(
        connected_apps=[
            schemas.ConnectedAppOut(
                client_id=c.app.client_id,
                name=c.app.name,
                scopes=list(c.scopes),
                first_allowed_at=c.first_allowed_at,
                last_used_at=c.last_used_at,
                logo_url=c.app.logo_url,
                policy_url=c.app.policy_url,
                notified=c.notified,
            )
            for c in apps
        ]
    )


@api_endpoint(
    "DELETE",
    "/api/v1/account/connected-apps/{client_id}",
    "Remove an app's access: its tokens are revoked and the consent forgotten",
    response=schemas.Ended,
    auth=True,
    errors=(404,),
    tag="connected-apps",
)
async def remove_connected_app(request: Request, _: None) -> schemas.Ended:
    container = services(request)
    await in_unit_of_work(
        request, container.connected_apps.remove, request.state.auth.account.id, request.path_params["client_id"]
    )
    return schemas.Ended(ended=1)


def endpoints() -> list[ApiEndpoint]:
    """This module's JSON endpoints, in the order they are matched and documented."""
    return [list_connected_apps, remove_connected_app]
