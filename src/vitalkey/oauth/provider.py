"""What the web edge asks of the authorization server: authorize (login, consent, code), the
token endpoints, revocation, introspection, discovery and the JWKS; bearer tokens at the resource
endpoints through ``protector`` (:mod:`vitalkey.oauth.resource`).

Each call is one transaction, run by Authlib's ``Server`` (one per thread); the web layer only
turns the answers into responses.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import AccessDeniedError, InsecureTransportError, InvalidRequestError, OAuth2Error
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError

from vitalkey.domain.accounts import Account
from vitalkey.domain.apps import SCOPES, App
from vitalkey.domain.oauth import AUTHORIZE_PARAMETERS, TokenPolicy, parse_scope
from vitalkey.domain.tokens import new_token
from vitalkey.flows.notify_outbox import unlinked
from vitalkey.oauth.keys import SigningKeys
from vitalkey.oauth.resource import AccessTokenValidator, BearerProtector
from vitalkey.oauth.server import (
    SECRET_AUTH,
    WITHINGS_SIGNATURE,
    Answer,
    Context,
    DeferredGeneration,
    MalformedParameter,
    Request,
    Server,
    WriteNeeded,
    store_deferred,
)
from vitalkey.ports import Clock, Pending, Sealer, Transaction, UnitOfWork

AUTHORIZE_PATH = "/oauth2/authorize"
ID_TOKEN_CLAIMS = ("sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "at_hash", "locale")
TOKEN_PATH = "/oauth2/token"  # noqa: S105 (a path)
INVALID_HINT = "The id_token_hint is not an ID token this server issued to this client."


@dataclass(frozen=True, slots=True)
class SignedIn:
    account: Account
    auth_time: datetime
    methods: tuple[str, ...]


# What an authorization request leads to.
@dataclass(frozen=True, slots=True)
class Redirect:
    location: str  # back to the client: a code, or an error (with state and iss)


@dataclass(frozen=True, slots=True)
class ErrorPage:
    """Unknown client or unregistered redirect URI: never redirect (SECURITY.md)."""

    error: str
    description: str


@dataclass(frozen=True, slots=True)
class LoginNeeded:
    pass


@dataclass(frozen=True, slots=True)
class ConsentNeeded:
    app: App
    scopes: tuple[str, ...]
    new_scopes: tuple[str, ...]  # those not allowed before (all of them the first time)


Outcome = Redirect | ErrorPage | LoginNeeded | ConsentNeeded


@dataclass(frozen=True, slots=True)
class TokenAnswer:
    answer: Answer
    account_id: int | None = None  # the user the tokens were issued for
    scope_text: str = ""  # the scope as the client first wrote it (Withings echoes it)


class OAuthProvider:
    def __init__(
        self,
        uow: UnitOfWork,
        clock: Clock,
        *,
        issuer: str,
        policy: TokenPolicy,
        server_secret: bytes,
        sealer: Sealer,
        keys: SigningKeys,
    ) -> None:
        self.uow, self.clock, self.issuer, self.policy = uow, clock, issuer.rstrip("/"), policy
        self.server_secret, self.sealer, self.keys = server_secret, sealer, keys
        self.protector = BearerProtector(AccessTokenValidator(uow, clock, policy))
        self._per_thread = threading.local()

    # Authorization endpoint ------------------------------------------------------------
    def authorize(
        self,
        values: list[tuple[str, str]],
        user: SignedIn | None,
        *,
        signed_in_since_request: bool = False,
        decision: bool | None = None,
    ) -> Outcome:
        """Validate the request (Authlib), then: sign in if needed (``prompt=login``,
        ``max_age``, an ``id_token_hint`` naming someone else), ask for consent unless every
        scope was allowed before (``prompt=consent`` asks again), and issue the code.
        ``decision``: the answer on the consent page."""
        hint = next((value for name, value in values if name == "id_token_hint"), "")
        readable = 0 < len(hint) <= AUTHORIZE_PARAMETERS["id_token_hint"]  # a longer one is refused below
        hinted = self.keys.signed_claims(hint) if readable else None  # keys are read outside the transaction
        now = self.clock.now()
        with self.uow.begin() as tx:
            context = self._context(tx, now, user)
            server = self._server(context)
            try:
                request = Request("GET", self.issuer + AUTHORIZE_PATH, {}, values, limits={})
            except InsecureTransportError as error:
                return self._failed(error, None)
            try:
                grant = server.get_consent_grant(request, end_user=user.account if user else None)
            except OAuth2Error as error:
                return self._failed(error, request)
            data = request.payload.data
            prompts = set(data.get("prompt", "").split())
            subject = self._hinted_subject(hinted, request.client.get_client_id()) if hint else None
            if hint and subject is None:
                invalid = InvalidRequestError(INVALID_HINT, redirect_uri=grant.redirect_uri)
                return self._failed(invalid, request)
            someone_else = subject is not None and user is not None and str(user.account.id) != subject
            if (
                user is None
                or someone_else
                or (not signed_in_since_request and self._must_sign_in(prompts, data, user, now))
            ):
                # Signed in for this very request and still not the user the hint names: the
                # client learns it (OIDC Core §3.1.2.1), rather than a code for someone else.
                if "none" in prompts or (someone_else and signed_in_since_request):
                    return self._failed(LoginRequiredError(redirect_uri=grant.redirect_uri), request)
                return LoginNeeded()
            app: App = request.client.app
            scopes = parse_scope(request.scope)
            consent = tx.consents.get(user.account.id, app.client_id)
            new = tuple(scope for scope in scopes if consent is None or scope not in consent.scopes)
            asking = not app.first_party and (bool(new) or "consent" in prompts)
            if asking and decision is None:
                if "none" in prompts:
                    return self._failed(ConsentRequiredError(redirect_uri=grant.redirect_uri), request)
                return ConsentNeeded(app, scopes, new or scopes)
            if decision is False:
                tx.audit.record("oauth.denied", now, user.account.id, client_id=app.client_id)
                return self._failed(AccessDeniedError(redirect_uri=grant.redirect_uri), request)
            if new or consent is None:
                allowed = tuple(dict.fromkeys((*(consent.scopes if consent else ()), *scopes)))
                tx.consents.allow(user.account.id, app.client_id, allowed, now)
                tx.audit.record("oauth.allowed", now, user.account.id, client_id=app.client_id, scopes=list(scopes))
            answer = server.create_authorization_response(request, grant_user=user.account, grant=grant)
            return Redirect(answer.location or "")

    def _hinted_subject(self, claims: dict[str, Any] | None, client_id: str) -> str | None:
        """The user an ``id_token_hint`` names, if it is an ID token we issued (signed by a key
        still published) to this client; None otherwise. Its expiry may have passed (OIDC Core
        §3.1.2.1: the hint says who, not that they are signed in)."""
        if claims is None or claims.get("iss") != self.issuer:
            return None
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        subject = claims.get("sub")
        return subject if client_id in audiences and isinstance(subject, str) and subject else None

    def _must_sign_in(self, prompts: set[str], data: dict[str, str], user: SignedIn, now: datetime) -> bool:
        if "login" in prompts or "select_account" in prompts:
            return True
        max_age = data.get("max_age", "")
        return max_age.isdigit() and now - user.auth_time > timedelta(seconds=int(max_age))

    def _failed(self, error: OAuth2Error, request: Request | None) -> Redirect | ErrorPage:
        if not error.redirect_uri or request is None:
            return ErrorPage(error.error or "invalid_request", error.description or "")
        error.state = request.payload.state
        _, _, headers = error()
        location = dict(headers)["Location"]
        return Redirect(add_params_to_uri(location, [("iss", self.issuer)]))

    # Token endpoint ---------------------------------------------------------------------
    def token(self, values: list[tuple[str, str]], headers: dict[str, str]) -> TokenAnswer:
        """RFC 6749 §4.1.3 and §6: the code and refresh grants, in one write transaction."""
        alg, kid, key = self.keys.signing_key()  # cached; loaded outside the transaction
        now = self.clock.now()
        with self.uow.begin() as tx:
            context = self._context(tx, now, None)
            context.signing = (alg, kid, key)
            return self._token_request(context, values, headers)

    def prepare_token(
        self, values: list[tuple[str, str]], headers: dict[str, str]
    ) -> TokenAnswer | Pending[TokenAnswer]:
        """:meth:`token` for :meth:`UnitOfWork.run_optimistic`. A refresh grant (by far the most
        frequent request) is checked on a read transaction, so that the database's one writer is
        held only to store its generation: a refused one is answered without writing; an accepted
        one is stored if its parent is still live then (nothing revoked or retired it since the
        read), and is otherwise run again whole, as is every other request."""
        whole = Pending(lambda: self.token(values, headers))
        if not any(name == "grant_type" and value == "refresh_token" for name, value in values):
            return whole
        now = self.clock.now()
        deferred = DeferredGeneration()
        with self.uow.read() as tx:
            context = self._context(tx, now, None)
            context.deferred = deferred
            try:
                checked = self._token_request(context, values, headers)
            except WriteNeeded:
                return whole
        if checked.answer.status != 200:
            return checked

        def store() -> TokenAnswer:
            with self.uow.begin() as tx:
                stored = store_deferred(tx, deferred, now, self.policy)
            if not stored:
                return self.token(values, headers)
            answer = Answer(checked.answer.status, deferred.token, checked.answer.headers)
            return TokenAnswer(answer, checked.account_id, checked.scope_text)

        return Pending(store)

    def _token_request(self, context: Context, values: list[tuple[str, str]], headers: dict[str, str]) -> TokenAnswer:
        try:
            request = Request("POST", self.issuer + TOKEN_PATH, headers, values)
            answer: Answer = self._server(context).create_token_response(request)
        except (MalformedParameter, InsecureTransportError) as error:
            return TokenAnswer(Answer(*error()))
        if answer.status != 200:
            return TokenAnswer(answer)
        return TokenAnswer(answer, request.user.id, request.scope_text)

    def revoke(self, values: list[tuple[str, str]], headers: dict[str, str]) -> Answer:
        return self._endpoint("revocation", "/oauth2/revoke", values, headers)

    def introspect(self, values: list[tuple[str, str]], headers: dict[str, str]) -> Answer:
        return self._endpoint("introspection", "/oauth2/introspect", values, headers)

    def _endpoint(self, name: str, path: str, values: list[tuple[str, str]], headers: dict[str, str]) -> Answer:
        now = self.clock.now()
        with self.uow.begin() as tx:
            try:
                request = Request("POST", self.issuer + path, headers, values)
                answer: Answer = self._server(self._context(tx, now, None)).create_endpoint_response(name, request)
            except (MalformedParameter, InsecureTransportError) as error:
                answer = Answer(*error())
            return answer

    # Withings signatures and unlinking ----------------------------------------------------
    def new_nonce(self, client_id: str, signature: str, timestamp: str) -> str | None:
        """A nonce for a client whose ``getnonce`` signature is right; None otherwise."""
        now = self.clock.now()
        with self.uow.begin() as tx:
            client = self._server(self._context(tx, now, None)).query_client(client_id)
            if client is None or not client.check_withings_signature(signature, "getnonce", client_id, timestamp):
                return None
            nonce = new_token(24)
            tx.nonces.add(nonce, client.client_id, now + self.policy.nonce_ttl)
            return nonce

    def unlink(self, values: list[tuple[str, str]], headers: dict[str, str], account_id: int) -> None:
        """Withings ``action=revoke``: the authenticated client gives up its access to the user."""
        now = self.clock.now()
        with self.uow.begin() as tx:
            server = self._server(self._context(tx, now, None))
            request = Request("POST", self.issuer + "/v2/oauth2", headers, values)
            client = server.authenticate_client(request, [*SECRET_AUTH, WITHINGS_SIGNATURE], "revocation")
            revoked = tx.oauth_tokens.revoke_app(account_id, client.client_id, now)
            tx.consents.forget(account_id, client.client_id)
            unlinked(tx, account_id, client.client_id, now)
            tx.audit.record("oauth.unlinked", now, account_id, client_id=client.client_id, tokens=revoked)

    # Metadata -----------------------------------------------------------------------------
    def jwks(self) -> dict[str, Any]:
        return self.keys.jwks()

    def metadata(self) -> dict[str, Any]:
        """OpenID Connect Discovery 1.0 and RFC 8414."""
        base = self.issuer
        return {
            "issuer": base,
            "authorization_endpoint": base + AUTHORIZE_PATH,
            "token_endpoint": base + TOKEN_PATH,
            "userinfo_endpoint": base + "/oauth2/userinfo",
            "jwks_uri": base + "/oauth2/jwks",
            "revocation_endpoint": base + "/oauth2/revoke",
            "introspection_endpoint": base + "/oauth2/introspect",
            "scopes_supported": list(SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [self.keys.alg],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": [*ID_TOKEN_CLAIMS, "name", "given_name", "family_name", "email", "email_verified"],
            "prompt_values_supported": ["none", "login", "consent"],
            "authorization_response_iss_parameter_supported": True,
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
        }

    def _server(self, context: Context) -> Server:
        server: Server | None = getattr(self._per_thread, "server", None)
        if server is None:
            server = self._per_thread.server = Server(self.issuer)
        server.context = context
        return server

    def _context(self, tx: Transaction, now: datetime, user: SignedIn | None) -> Context:
        return Context(
            tx=tx,
            now=now,
            issuer=self.issuer,
            policy=self.policy,
            server_secret=self.server_secret,
            sealer=self.sealer,
            auth_time=user.auth_time if user else None,
            methods=user.methods if user else (),
        )


__all__ = [
    "ConsentNeeded",
    "ErrorPage",
    "LoginNeeded",
    "OAuthProvider",
    "Outcome",
    "Redirect",
    "SignedIn",
    "TokenAnswer",
]
