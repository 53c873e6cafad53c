"""The sign-in page's passkey: "Sign in with a passkey" and the browser's passkey autofill on the
address field, both answering one discoverable request whose flow and options the page carries
(static/passkey.js posts the answer to that flow's page, action "passkey")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from vitalkey.domain.authenticators import PASSKEY
from vitalkey.domain.errors import DomainError
from vitalkey.domain.flows import Channel
from vitalkey.flows.login import LoginState
from vitalkey.web.context import cookie_name, in_unit_of_work, requester_of, services

OFFER_COOKIE = "vk_passkey"  # the sign-in page's passkey flow, reused while it lasts


@dataclass(frozen=True, slots=True)
class PasskeyOffer:
    """A discoverable passkey sign-in waiting on the sign-in page: its flow and options."""

    flow_id: str
    options: dict[str, Any]


async def sign_in_offer(request: Request, return_to: str | None) -> PasskeyOffer | None:
    """The sign-in page's passkey request (None where passkeys do not apply). A browser keeps
    its flow in a cookie while it lasts, so that showing the page again writes nothing."""
    container = services(request)
    if not container.relying_party.applies:
        return None
    login = container.login
    requester = requester_of(request, Channel.BROWSER)
    kept = request.cookies.get(cookie_name(request, OFFER_COOKIE), "")
    if kept:
        try:  # the browser's request, while it is open (a new sign-in changes the browser's binding)
            flow = await in_unit_of_work(request, login.load, kept, requester)
            reusable = (flow.state, flow.context.get("method"), flow.email) == (LoginState.FIRST_FACTOR, PASSKEY, "")
            if reusable and flow.context.get("return_to") == return_to:
                prompt = await in_unit_of_work(request, login.prompt, flow)
                if prompt is not None and prompt.options:
                    return PasskeyOffer(flow.id, dict(prompt.options))
        except DomainError:
            pass  # gone, done or another browser's: a new one
    try:
        context = {"return_to": return_to} if return_to else {}
        view = await in_unit_of_work(request, login.start_with, PASSKEY, "", requester, **context)
        prompt = await in_unit_of_work(request, login.prompt, view.flow)
    except DomainError:
        return None  # the page works without passkeys
    return PasskeyOffer(view.flow.id, dict(prompt.options)) if prompt and prompt.options else None


def remember_offer(request: Request, response: Response, offer: PasskeyOffer | None) -> Response:
    if offer is not None and request.cookies.get(cookie_name(request, OFFER_COOKIE)) != offer.flow_id:
        response.set_cookie(
            cookie_name(request, OFFER_COOKIE),
            offer.flow_id,
            max_age=services(request).settings.flow_ttl_s,
            path="/",
            httponly=True,
            samesite="lax",
            secure=services(request).settings.https,
        )
    return response
