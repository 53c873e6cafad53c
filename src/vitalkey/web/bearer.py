"""Resource endpoints that take an OAuth access token: a route declares the scope it requires,

    Route("/oauth2/userinfo", protected("openid")(userinfo), methods=["GET", "POST"])

and its handler is called with the request and the :class:`Bearer` (the token and its user).
The token is checked by the one ``BearerProtector`` (:mod:`vitalkey.oauth.resource`); a refusal is
rendered by the route family's ``refuse`` (RFC 6750's challenge by default; the Withings data API
answers in its envelope instead)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from vitalkey.oauth.resource import REALM, Bearer, BearerRefused
from vitalkey.web.context import in_unit_of_work, services

Handler = Callable[[Request, Bearer], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]
Refuse = Callable[[BearerRefused], Response]

# OAuth answers carry tokens or claims: never cached (RFC 6749 §5.1, RFC 6750 §5.3).
NO_STORE: Mapping[str, str] = MappingProxyType({"cache-control": "no-store", "pragma": "no-cache"})


def rfc6750_refusal(refused: BearerRefused) -> Response:
    """RFC 6750 §3: 401 with a challenge (no error code when no token was given), 403 for a token
    without the scope."""
    challenge = f'Bearer realm="{REALM}"'
    if refused.error == "invalid_request":
        body, status = {"error": refused.error, "error_description": "A bearer token is required."}, 401
    elif refused.error == "invalid_token":
        body, status = {"error": refused.error, "error_description": "The access token is not valid."}, 401
        challenge += ', error="invalid_token"'
    else:
        body, status = {"error": refused.error, "error_description": f"The {refused.scope} scope is required."}, 403
        challenge += f', error="insufficient_scope", scope="{refused.scope}"'
    return JSONResponse(body, status, headers={**NO_STORE, "www-authenticate": challenge})


async def bearer_of(request: Request, authorization: str, scope: str) -> Bearer:
    """The live access token in ``authorization`` (an Authorization header's value) and its user,
    if it was issued for ``scope``; :class:`BearerRefused` otherwise. For routes whose scope
    depends on the request (the Withings data API: per action) or whose token may come in a
    parameter as well as in the header; other routes declare theirs with :func:`protected`."""
    protector = services(request).oauth.protector
    bearer: Bearer = await in_unit_of_work(
        request, protector.bearer, request.method, request.url.path, authorization, scope
    )
    return bearer


def protected(scope: str, refuse: Refuse = rfc6750_refusal) -> Callable[[Handler], Endpoint]:
    """The handler, called only with a live access token issued for ``scope`` (in the
    Authorization header)."""

    def guard(handler: Handler) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            try:
                bearer = await bearer_of(request, request.headers.get("authorization", ""), scope)
            except BearerRefused as refused:
                return refuse(refused)
            return await handler(request, bearer)

        return endpoint

    return guard
