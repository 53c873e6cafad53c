"""Real oidc-provider servers (tests/upstream_provider.py), one Google-like and one Apple-like per
test module, and the upstream provider objects under test, built from settings as the server
builds them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from tests.upstream_provider import REDIRECT_URI, AppleTeam, OidcServer, ensure_oidc_provider, rsa_jwk
from vitalkey.adapters.upstream import upstream_providers
from vitalkey.adapters.upstream.oidc import OidcUpstream
from vitalkey.ports import UpstreamClaims, UpstreamStart
from vitalkey.settings import load_settings

GOOGLE_ACCOUNTS = {
    "ada": {"email": "ada@example.com", "email_verified": True, "given_name": "Ada", "family_name": "Lovelace"},
    "bob": {"email": "bob@example.com", "email_verified": False, "given_name": "Bob", "family_name": "Unverified"},
}
APPLE_ACCOUNTS = {
    # Apple's booleans are strings; a private relay address says so.
    "001234.tim": {"email": "x7d9k2@privaterelay.appleid.com", "email_verified": "true", "is_private_email": "true"},
    "005678.eve": {"email": "eve@example.org", "email_verified": "false", "is_private_email": "false"},
}
APPLE_NAMES = {
    "001234.tim": {"firstName": "Tim", "lastName": "Cook"},
    "005678.eve": {"firstName": "Eve", "lastName": "Apfel"},
}


class ShiftedClock:
    """The real time, moved on by the test (the JWKS refetch interval without sleeping)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture(scope="session")
def oidc_provider_installed() -> None:
    ensure_oidc_provider()


def serve(folder: Path, flavour: str, **values: Any) -> Iterator[OidcServer]:
    """A provider for the length of a fixture (node's oidc-provider installed first)."""
    ensure_oidc_provider()
    server = OidcServer(folder, flavour, **values).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def google_server(oidc_provider_installed: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcServer]:
    yield from serve(tmp_path_factory.mktemp("google"), "google", keys=[rsa_jwk("google-1")], accounts=GOOGLE_ACCOUNTS)


@pytest.fixture(scope="module")
def apple_server(oidc_provider_installed: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcServer]:
    yield from serve(
        tmp_path_factory.mktemp("apple"),
        "apple",
        keys=[rsa_jwk("apple-1")],
        accounts=APPLE_ACCOUNTS,
        names=APPLE_NAMES,
        apple=AppleTeam(),
    )


def provider_settings(server: OidcServer, **entry: Any) -> dict[str, Any]:
    """The provider's entry of federation_providers, as an operator writes it."""
    if server.flavour == "apple":
        assert server.apple is not None
        base = {
            "id": "apple",
            "kind": "apple",
            "issuer": server.issuer,
            "client_id": server.client_id,
            "team_id": server.apple.team_id,
            "key_id": server.apple.key_id,
            "private_key": server.apple.private_pem,
        }
    else:
        base = {
            "id": "google",
            "kind": "google",
            "issuer": server.issuer,
            "client_id": server.client_id,
            "client_secret": server.client_secret,
        }
    return {**base, **entry}


def upstream_for(
    server: OidcServer, clock: Any = None, settings: dict[str, str] | None = None, **entry: Any
) -> OidcUpstream:
    """The provider object, built from settings (JSON text in the environment, and ``settings``'
    other variables) as the server does."""
    environ = {"VITALKEY_FEDERATION_PROVIDERS": json.dumps([provider_settings(server, **entry)]), **(settings or {})}
    (provider,) = upstream_providers(load_settings(environ=environ), clock or ShiftedClock()).values()
    return provider


@dataclass
class Attempt:
    start: UpstreamStart
    answer: dict[str, str]  # what reached the redirect URI


def authorize(server: OidcServer, upstream: OidcUpstream, login: str) -> Attempt:
    start = asyncio.run(upstream.start(REDIRECT_URI))
    return Attempt(start, server.sign_in(start.url, login))


def finish(upstream: OidcUpstream, attempt: Attempt, **changes: Any) -> UpstreamClaims:
    expected = changes.pop("expected", attempt.start)
    return asyncio.run(
        upstream.finish(
            code=changes.pop("code", attempt.answer["code"]),
            redirect_uri=REDIRECT_URI,
            expected=expected,
            posted_user=changes.pop("posted_user", attempt.answer.get("user")),
        )
    )


def sign_in(server: OidcServer, upstream: OidcUpstream, login: str) -> UpstreamClaims:
    return finish(upstream, authorize(server, upstream, login))


def refusals(provider: str, reason: str) -> float:
    return (
        REGISTRY.get_sample_value("vitalkey_upstream_refusals_total", {"provider": provider, "reason": reason}) or 0.0
    )


@pytest.fixture
def google_controls(google_server: OidcServer) -> Iterator[OidcServer]:
    """The Google-like server, its test controls back to normal afterwards."""
    yield google_server
    google_server.control(skew_s=0, tamper="", id_token_ttl_s=3600)
