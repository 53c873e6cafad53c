"""Helpers for the OAuth tests: a registered partner, a signed-in browser, and the way from the
authorize URL to a code."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from starlette.testclient import TestClient

from tests.conftest import Mailbox
from tests.web.conftest import csrf_of, web_sign_up
from vitalkey.container import Container
from vitalkey.domain.apps import ClientType
from vitalkey.flows.clients import NewClient

CALLBACK = "https://portal.example.com/withings/callback"
NATIVE_CALLBACK = "http://127.0.0.1/callback"


@dataclass
class Partner:
    client_id: str
    secret: str | None
    redirect_uri: str


def register(container: Container, *, public: bool = False, scopes: tuple[str, ...] | None = None) -> Partner:
    redirect = NATIVE_CALLBACK if public else CALLBACK
    registered = container.apps.register(
        NewClient(
            name="Coach Portal" if public else "Acme Wellness Portal",
            client_type=ClientType.PUBLIC if public else ClientType.CONFIDENTIAL,
            redirect_uris=(redirect,),
            scopes=scopes or ("user.info", "user.metrics", "user.activity", "user.sleepevents", "openid", "email"),
            logo_url="https://portal.example.com/logo.png",
            policy_url="https://portal.example.com/privacy",
        )
    )
    return Partner(registered.app.client_id, registered.secret, redirect)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(partner: Partner, path: str = "/oauth2_user/authorize2", **params: str) -> str:
    query = {
        "response_type": "code",
        "client_id": partner.client_id,
        "redirect_uri": partner.redirect_uri,
        "scope": "user.info,user.metrics",
        "state": "xyz-state",
        **params,
    }
    return f"{path}?{urlencode({k: v for k, v in query.items() if v is not None})}"


def query_of(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def signed_up(client: TestClient, mailbox: Mailbox, email: str = "ann@example.com") -> None:
    web_sign_up(client, mailbox, email)


def allow(client: TestClient, consent_page: Any, decision: str = "allow") -> Any:
    """Answer the consent page; the answer's redirect (not followed)."""
    found = re.search(r'<form method="post" action="(/oauth2/authorize/[^"]+)"', consent_page.text)
    assert found, "no consent form on the page"
    action = found.group(1)
    return client.post(
        action, data={"csrf_token": csrf_of(consent_page.text), "decision": decision}, follow_redirects=False
    )


def code_for(client: TestClient, partner: Partner, **params: str) -> dict[str, str]:
    """Authorize as the signed-in browser, allowing the app when asked; the redirect's query."""
    answer = client.get(authorize_url(partner, **params), follow_redirects=False)
    if answer.status_code == 200:  # the consent page
        answer = allow(client, answer)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(partner.redirect_uri)
    return query_of(location)


def withings_token(client: TestClient, partner: Partner, **fields: str) -> dict[str, Any]:
    data = {"action": "requesttoken", "client_id": partner.client_id, "client_secret": partner.secret or "", **fields}
    answer = client.post("/v2/oauth2", data=data)
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


def token(client: TestClient, partner: Partner, **fields: str) -> Any:
    data = {"client_id": partner.client_id, **fields}
    if partner.secret:
        data["client_secret"] = partner.secret
    return client.post("/oauth2/token", data=data)
