"""One configured upstream provider (Google, Apple or any OpenID Connect provider) as the port
``UpstreamProvider``: the authorization code flow with PKCE (S256), state and nonce, through
Authlib's httpx client; the ID token checked by ``id_token.py``. Discovery is fetched once; the
provider's keys (JWKS) are cached, and a token signed by a key not yet seen refetches them once,
never more often than ``jwks_min_refetch_s``."""

from __future__ import annotations

import asyncio
import secrets
import ssl
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

import httpx2
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc.jwk import Key

from vitalkey.adapters.upstream import apple
from vitalkey.adapters.upstream.id_token import (
    Refusal,
    allowed_algorithms,
    check_algorithm,
    check_claims,
    key_for,
    signing_keys,
    token_header,
    verified_claims,
)
from vitalkey.domain.errors import UpstreamRefused
from vitalkey.observability import count_upstream_refusal, logger
from vitalkey.ports import Clock, UpstreamClaims, UpstreamStart
from vitalkey.settings import UpstreamConfig, secure_url

HTTP_TIMEOUT_S = 10.0
SUPPORTED_AUTH = ("client_secret_post", "client_secret_basic")
ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri")
# What an exchange can throw: no answer, an HTTP error status, an OAuth error answer, a body
# that is no JSON object.
HTTP_FAILURES = (httpx2.HTTPError, AuthlibBaseError, ValueError, OSError)

log = logger("vitalkey.upstream")


class OidcUpstream:
    """``UpstreamProvider`` for one entry of ``federation_providers``."""

    def __init__(
        self,
        config: UpstreamConfig,
        clock: Clock,
        *,
        leeway_s: int = 300,
        jwks_min_refetch_s: int = 60,
        count_refusal: Callable[[str, str], None] = count_upstream_refusal,
    ) -> None:
        self.config = config
        self.id = config.id
        self.display_name = config.display_name
        self.trusted_for_second_factor = config.trusted_for_second_factor
        self.clock = clock
        self.leeway_s = leeway_s
        self.jwks_min_refetch_s = jwks_min_refetch_s
        self.count_refusal = count_refusal
        self._discovery: dict[str, Any] | None = None
        self._keys: dict[str | None, Key] | None = None
        self._keys_at = 0.0  # when the keys were last fetched (the clock's seconds)
        self._refetch: asyncio.Future[dict[str | None, Key]] | None = None

    # The port -----------------------------------------------------------------------------
    async def start(self, redirect_uri: str, state: str | None = None) -> UpstreamStart:
        try:
            discovery = await self._discovered()
        except Refusal as refusal:
            raise self._refused(refusal.reason) from None
        state = state or secrets.token_urlsafe(32)
        nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(48)
        extra = {"response_mode": "form_post"} if self.config.kind == "apple" else {}
        async with self._client() as client:
            url, _ = client.create_authorization_url(
                discovery["authorization_endpoint"],
                state=state,
                code_verifier=verifier,
                redirect_uri=redirect_uri,
                scope=" ".join(self.config.scopes),
                nonce=nonce,
                **extra,
            )
        return UpstreamStart(url=url, state=state, nonce=nonce, code_verifier=verifier)

    async def finish(
        self, *, code: str, redirect_uri: str, expected: UpstreamStart, posted_user: str | None = None
    ) -> UpstreamClaims:
        try:
            discovery = await self._discovered()
            id_token = await self._exchange(discovery, code, redirect_uri, expected.code_verifier)
            claims = await self._checked(discovery, id_token, expected.nonce)
        except Refusal as refusal:
            raise self._refused(refusal.reason) from None
        return self._claims(claims, posted_user)

    # Discovery and keys ---------------------------------------------------------------------
    async def _discovered(self) -> dict[str, Any]:
        if self._discovery is None:
            document = await self._get_json(self.config.issuer.rstrip("/") + "/.well-known/openid-configuration")
            if document.get("issuer") != self.config.issuer:
                raise Refusal("wrong_issuer")  # OpenID Connect Discovery §4.3: exactly the configured one
            for name in ENDPOINTS:
                if not isinstance(document.get(name), str) or not secure_url(document[name]):
                    raise Refusal("malformed")
            self._discovery = document
        return self._discovery

    async def _key(self, discovery: Mapping[str, Any], header: Mapping[str, Any]) -> Key:
        if self._keys is None:
            self._keys_at = self._seconds()
            self._keys = await self._fetch_keys(discovery)
        key = key_for(header, self._keys)
        if key is not None:
            return key
        if self._refetch is None:
            if self._seconds() - self._keys_at < self.jwks_min_refetch_s:
                raise Refusal("unknown_kid")
            self._keys_at = self._seconds()
            self._refetch = asyncio.ensure_future(self._fetch_keys(discovery))
        pending = self._refetch  # concurrent sign-ins with the new key wait for the same refetch
        try:
            self._keys = await asyncio.shield(pending)
        finally:
            if pending.done() and self._refetch is pending:
                self._refetch = None
        key = key_for(header, self._keys)
        if key is None:
            raise Refusal("unknown_kid")
        return key

    async def _fetch_keys(self, discovery: Mapping[str, Any]) -> dict[str | None, Key]:
        return signing_keys(await self._get_json(str(discovery["jwks_uri"])))

    # The code for tokens, the ID token's checks ------------------------------------------------
    async def _exchange(self, discovery: Mapping[str, Any], code: str, redirect_uri: str, verifier: str) -> str:
        secret = self.config.client_secret
        if self.config.kind == "apple":
            secret = apple.client_secret(
                team_id=self.config.team_id,
                client_id=self.config.client_id,
                key_id=self.config.key_id,
                private_key_pem=self.config.private_key,
                audience=self.config.issuer,
                now=int(self._seconds()),
            )
        async with self._client(secret, _auth_method(self.config.kind, discovery)) as client:
            try:
                token = await client.fetch_token(
                    str(discovery["token_endpoint"]),
                    grant_type="authorization_code",
                    code=code,
                    redirect_uri=redirect_uri,
                    code_verifier=verifier,
                )
            except HTTP_FAILURES:
                raise Refusal("token_exchange_failed") from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise Refusal("malformed")
        return id_token

    async def _checked(self, discovery: Mapping[str, Any], id_token: str, nonce: str) -> dict[str, Any]:
        header = token_header(id_token)
        check_algorithm(header, allowed_algorithms(discovery.get("id_token_signing_alg_values_supported")))
        claims = verified_claims(id_token, header, await self._key(discovery, header))
        check_claims(
            claims,
            issuer=self.config.issuer,
            client_id=self.config.client_id,
            nonce=nonce,
            now=int(self._seconds()),
            leeway_s=self.leeway_s,
        )
        return claims

    def _claims(self, claims: Mapping[str, Any], posted_user: str | None) -> UpstreamClaims:
        email = claims.get("email") if isinstance(claims.get("email"), str) and claims.get("email") else None
        verified = apple.flag(claims.get("email_verified"))
        if self.config.kind == "apple":
            # A private relay address is Apple's, forwarding to the user: as verified as Apple says.
            verified = verified or apple.flag(claims.get("is_private_email"))
            given, family = apple.posted_name(posted_user)
        else:
            given, family = _text(claims.get("given_name")), _text(claims.get("family_name"))
        return UpstreamClaims(
            provider=self.id,
            issuer=str(claims["iss"]),
            subject=str(claims["sub"]),
            email=email,
            email_verified=bool(email) and verified,
            given_name=given,
            family_name=family,
        )

    # Plumbing ---------------------------------------------------------------------------------
    def _client(self, secret: str | None = None, auth_method: str | None = None) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            client_id=self.config.client_id,
            client_secret=secret,
            token_endpoint_auth_method=auth_method,
            code_challenge_method="S256",
            timeout=HTTP_TIMEOUT_S,
            follow_redirects=False,
            verify=_tls(),
        )

    async def _get_json(self, url: str) -> dict[str, Any]:
        async with self._client() as client:
            try:
                answer = await client.request("GET", url, withhold_token=True, headers={"Accept": "application/json"})
                answer.raise_for_status()
                document = answer.json()
            except HTTP_FAILURES:
                raise Refusal("unavailable") from None
        if not isinstance(document, dict):
            raise Refusal("malformed")
        return document

    def _seconds(self) -> float:
        return self.clock.now().timestamp()

    def _refused(self, reason: str) -> UpstreamRefused:
        self.count_refusal(self.id, reason)
        log.warning("upstream_refused", provider=self.id, reason=reason)  # never the token or the code
        return UpstreamRefused(reason, provider=self.display_name)


@cache
def _tls() -> ssl.SSLContext:
    """One TLS context (the system's trust store) for every client: making one costs ~30 ms of
    the event loop's time, a client with it ~1 ms."""
    return httpx2.create_ssl_context()


def _auth_method(kind: str, discovery: Mapping[str, Any]) -> str:
    """Apple takes its JWT in the form; others: the first of the provider's advertised methods
    that we speak (Google lists client_secret_post first), client_secret_basic when it lists none
    (the specification's default)."""
    if kind == "apple":
        return "client_secret_post"
    advertised = discovery.get("token_endpoint_auth_methods_supported")
    if isinstance(advertised, list):
        for method in advertised:
            if method in SUPPORTED_AUTH:
                return str(method)
    return "client_secret_basic"


def _text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip()[:100] or None


__all__ = ["OidcUpstream"]
