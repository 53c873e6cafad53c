"""The Withings ``/notify`` API (withings-api.md "Notifications"): ``subscribe``, ``get``,
``list``, ``update``, ``revoke`` — per user, with the user's access token, in the Withings
envelope. Parameters, the token's places and the per-app limit are those of the data API
(:mod:`vitalkey.web.withings_data`).

Statuses: 0 ok; 293 a callback URL refused (Withings' rules, or its HEAD not answered below 400
in time); 343 no such subscription (``get``, ``update``); 294 nothing to revoke; 214 a token
without the scope that reads the appli's data; 503 invalid params; 2554 an unknown action.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from vitalkey.domain.errors import DomainError
from vitalkey.domain.notifications import PERMANENT, Appli, CallbackRefused, Subscription, appli_of
from vitalkey.flows.app_quota import TooManyRequests
from vitalkey.flows.notify import NoSuchSubscription, ScopeMissing
from vitalkey.oauth.resource import Bearer, BearerRefused
from vitalkey.oauth.withings import INVALID_PARAMS, OK
from vitalkey.web.bearer import bearer_of
from vitalkey.web.context import in_unit_of_work, services
from vitalkey.web.withings_data import (
    TOO_MANY_REQUESTS,
    UNAUTHORIZED,
    BadParam,
    Params,
    answer,
    asked,
    refusal,
)

CALLBACK_REFUSED = 293
NOTHING_TO_REVOKE = 294
NO_SUCH_SUBSCRIPTION = 343

Handler = Callable[[Request, Bearer, Params], Awaitable[dict[str, Any]]]


def appli_param(params: Params, name: str = "appli", *, default: Appli | None = None) -> Appli | None:
    text = params.get(name, "")
    if text == "":
        return default
    appli = appli_of(text)
    if appli is None:
        raise BadParam(name, f"{text[:20]!r} is not a notification appli")
    return appli


def required(params: Params, name: str) -> str:
    text = params.get(name, "")
    if not text:
        raise BadParam(name, "is required")
    return text


def profile(subscription: Subscription) -> dict[str, Any]:
    """A ``list`` item: Withings' fields, then whether its deliveries failed a whole retry
    schedule (beyond Withings: the partner sees it, and fixes it with ``update``)."""
    failing = subscription.failing_since
    return {
        "appli": int(subscription.appli),
        "callbackurl": subscription.callbackurl,
        "comment": subscription.comment,
        "expires": PERMANENT,
        "failing": failing is not None,
        "failing_since": int(failing.timestamp()) if failing is not None else None,
    }


async def subscribe(request: Request, bearer: Bearer, params: Params) -> dict[str, Any]:
    url, appli = required(params, "callbackurl"), appli_param(params, default=Appli.WEIGHT)
    assert appli is not None
    token = bearer.token
    await services(request).notify.subscribe(
        token.account_id, token.client_id, token.scopes, url, appli, params.get("comment", "")
    )
    return {}


async def get(request: Request, bearer: Bearer, params: Params) -> dict[str, Any]:
    url, appli = required(params, "callbackurl"), appli_param(params, default=Appli.WEIGHT)
    assert appli is not None
    found = await in_unit_of_work(
        request, services(request).notify.get, bearer.account.id, bearer.token.client_id, url, appli
    )
    return {"appli": int(found.appli), "callbackurl": found.callbackurl, "comment": found.comment}


async def list_(request: Request, bearer: Bearer, params: Params) -> dict[str, Any]:
    appli = appli_param(params)
    found = await in_unit_of_work(
        request, services(request).notify.of_app, bearer.account.id, bearer.token.client_id, appli
    )
    return {"profiles": [profile(subscription) for subscription in found]}


async def update(request: Request, bearer: Bearer, params: Params) -> dict[str, Any]:
    url, appli = required(params, "callbackurl"), appli_param(params)
    if appli is None:
        raise BadParam("appli", "is required")
    new_url, new_appli = params.get("new_callbackurl") or None, appli_param(params, "new_appli")
    comment = params.get("comment")
    if new_url is None and new_appli is None and comment is None:
        raise BadParam("new_callbackurl", "new_callbackurl, new_appli or comment is required")
    token = bearer.token
    await services(request).notify.update(
        token.account_id, token.client_id, token.scopes, url, appli,
        new_callbackurl=new_url, new_appli=new_appli, comment=comment,
    )  # fmt: skip
    return {}


async def revoke(request: Request, bearer: Bearer, params: Params) -> dict[str, Any]:
    url, appli = params.get("callbackurl") or None, appli_param(params)
    notify = services(request).notify
    await in_unit_of_work(request, notify.revoke, bearer.account.id, bearer.token.client_id, url, appli)
    return {}


ACTIONS: Mapping[str, Handler] = {
    "subscribe": subscribe,
    "get": get,
    "list": list_,
    "update": update,
    "revoke": revoke,
}


async def notify_endpoint(request: Request) -> Response:
    found = await asked(request, ACTIONS)
    if isinstance(found, Response):
        return found
    params, handler, name = found.params, found.action, found.params.get("action", "")
    try:
        bearer = await bearer_of(request, found.authorization, "")  # each action checks the scope it needs
    except BearerRefused as refused:
        return refusal(refused)
    reads = services(request).health_reads
    try:
        if not reads.admit_reserved(bearer.token.client_id):
            await in_unit_of_work(request, reads.admit, bearer.token.client_id)
        body = await handler(request, bearer, params)
    except TooManyRequests as limited:
        return answer(
            TOO_MANY_REQUESTS,
            {"wait_seconds": limited.seconds},
            f"Too many requests: at most {reads.requests_per_minute} a minute per app",
        )
    except BadParam as bad:
        return answer(INVALID_PARAMS, error=bad.text)
    except CallbackRefused:
        url = params.get("new_callbackurl") or params.get("callbackurl", "")
        return answer(CALLBACK_REFUSED, error=f"The callback URL '{url[:255]}' is either unknown or invalid")
    except ScopeMissing as missing:
        return answer(
            UNAUTHORIZED, error=f"Unauthorized: the access token does not carry the {missing.params['scope']} scope"
        )
    except NoSuchSubscription:
        if name == "revoke":
            return answer(NOTHING_TO_REVOKE, error="No such subscription could be deleted")
        return answer(NO_SUCH_SUBSCRIPTION, error="No notification matching the criteria was found")
    except DomainError as refused:
        text = refused.message_id % refused.params if refused.params else refused.message_id
        return answer(INVALID_PARAMS, error=f"Invalid Params: {refused.field_name or 'request'}: {text}")
    return answer(OK, body)


def routes() -> list[BaseRoute]:
    return [Route("/notify", notify_endpoint, methods=["GET", "POST"])]


__all__ = ["ACTIONS", "routes"]
