"""The protocol engine: Authlib's framework-free server core, bound to one database transaction.

Authlib owns the grammar (RFC 6749 grants, RFC 7636, RFC 7009, RFC 7662, OpenID Connect Core,
RFC 9207); this module gives it our records: clients are apps, codes and tokens are rows kept
as digests, users are accounts. Each call works in one transaction (the ``Context`` it is given),
so every lookup it makes and every row it writes commit or roll back together.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass, field
from datetime import datetime
from hashlib import sha256
from typing import Any, ClassVar

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    InvalidRequestError,
    OAuth2Request,
    TokenMixin,
    grants,
)
from authlib.oauth2.rfc6749.requests import OAuth2Payload
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core import AuthorizationCodeMixin, OpenIDCode, UserInfo
from authlib.oidc.core.errors import RequestNotSupportedError, RequestURINotSupportedError

from vitalkey.domain.accounts import Account, display_name
from vitalkey.domain.apps import SCOPES, App, ClientType, client_secret_digest, redirect_uri_allowed
from vitalkey.domain.oauth import (
    AUTHORIZE_PARAMETERS,
    TOKEN_PARAMETERS,
    AuthorizationCode,
    TokenKind,
    TokenPolicy,
    TokenRecord,
    join_token,
    parameter_problem,
    parse_scope,
    split_token,
    withings_signature_message,
)
from vitalkey.domain.tokens import new_token, same, token_digest
from vitalkey.oauth.keys import Key
from vitalkey.ports import Sealer, Transaction

SECRET_AUTH = ["client_secret_basic", "client_secret_post"]
WITHINGS_SIGNATURE = "withings_signature"
TOKEN_AUTH = [*SECRET_AUTH, WITHINGS_SIGNATURE, "none"]
MAX_TOKEN = 200  # longer strings are never ours: refused before a digest is computed


class WriteNeeded(Exception):
    """A request checked on a read transaction must write more than a refresh's new generation
    (a replayed token revokes its family, a signed request spends its nonce): it is run again
    whole, in a write transaction."""


@dataclass
class DeferredGeneration:
    """A refresh checked on a read: the generation to store and the parent to rotate, written
    later by :func:`store_deferred` if the parent is still live then."""

    parent_id: int = 0
    retire_at: datetime | None = None
    record: TokenRecord | None = None
    token: dict[str, Any] = field(default_factory=dict)  # the answer's body, completed when stored


@dataclass
class Context:
    """What one transaction of the engine knows: the records, the time, who signed in. With
    ``deferred`` set, the transaction only reads: a refresh's writes are kept there, and any
    other write raises :class:`WriteNeeded`."""

    tx: Transaction
    now: datetime
    issuer: str
    policy: TokenPolicy
    server_secret: bytes
    sealer: Sealer
    signing: tuple[str, str, Key] | None = None  # (alg, kid, private key) for ID tokens
    auth_time: datetime | None = None  # when the signed-in user last authenticated
    methods: tuple[str, ...] = ()
    deferred: DeferredGeneration | None = None

    def writing(self) -> Transaction:
        """The transaction, for a write; refused on a read (:class:`WriteNeeded`)."""
        if self.deferred is not None:
            raise WriteNeeded()
        return self.tx


# Requests -----------------------------------------------------------------------------
class Payload(OAuth2Payload):
    """Query and form merged, as Withings clients send them (``action`` in the query, the rest in
    the form). A comma-separated Withings scope becomes the space-separated scope of RFC 6749."""

    def __init__(self, values: list[tuple[str, str]]) -> None:
        self.all_values: dict[str, list[str]] = {}
        for key, value in values:
            self.all_values.setdefault(key, []).append(value)
        self.first_values = {key: items[0] for key, items in self.all_values.items()}
        self.scope_text = self.first_values.get("scope", "")
        if "scope" in self.first_values:
            self.first_values["scope"] = " ".join(parse_scope(self.scope_text))

    @property
    def data(self) -> dict[str, str]:
        return self.first_values

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self.all_values


# Parameters Authlib may quote in an error description, which allows only printable ASCII
# without '"' and '\\' (RFC 6749 §5.2); such a value is refused before Authlib sees it.
QUOTED = ("response_type", "grant_type", "client_id", "redirect_uri", "scope", "code_challenge_method",
          "token_type_hint", "prompt")  # fmt: skip
_DESCRIBABLE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")


class Request(OAuth2Request):
    def __init__(
        self,
        method: str,
        uri: str,
        headers: dict[str, str],
        values: list[tuple[str, str]],
        limits: dict[str, int] = TOKEN_PARAMETERS,
    ) -> None:
        """``limits``: the parameters refused before Authlib reads the request when too long
        (an authorization request checks its own once its redirect URI is known:
        :class:`ParameterLimits`). Raises ``InsecureTransportError`` for a URI without HTTPS."""
        super().__init__(method, uri, headers=headers)
        self.payload: Payload = Payload(values)
        self.scope_text = ""  # the scope as the client wrote it, for the Withings answer
        self.malformed = next(
            (name for name, value in values if name in QUOTED and not _DESCRIBABLE.fullmatch(value)), ""
        )
        self.too_long = parameter_problem(self.payload.datalist, limits) if limits else ""

    @property
    def args(self) -> dict[str, str]:
        return self.payload.data

    @property
    def form(self) -> dict[str, str]:
        return self.payload.data


# Models -------------------------------------------------------------------------------
class Client(ClientMixin):
    def __init__(self, app: App, context: Context) -> None:
        self.app = app
        self.context = context

    @property
    def client_id(self) -> str:
        return self.app.client_id

    def get_client_id(self) -> str:
        return self.app.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.app.redirect_uris[0] if len(self.app.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The requested scope if the app may ask for all of it (else ``invalid_scope``); the
        app's scopes when none is asked for (RFC 6749 §3.3)."""
        requested = parse_scope(scope or "")
        if not requested:
            return " ".join(self.app.scopes)
        return " ".join(requested) if set(requested) <= set(self.app.scopes) else None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri_allowed(self.app, redirect_uri)

    def check_client_secret(self, client_secret: str) -> bool:
        given = client_secret_digest(self.context.server_secret, client_secret)
        return bool(self.app.secret_digest) and same(self.app.secret_digest, given)

    def check_withings_signature(self, signature: str, *values: str) -> bool:
        """Hex HMAC-SHA256 keyed by the client secret over the values joined by commas."""
        if not self.app.secret_sealed:
            return False
        secret = self.context.sealer.open(self.app.secret_sealed)
        expected = hmac.new(secret.encode(), withings_signature_message(*values).encode(), sha256).hexdigest()
        return same(expected, signature.lower())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.app.client_type is ClientType.PUBLIC:
            return method == "none"
        return method in (*SECRET_AUTH, WITHINGS_SIGNATURE)

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


class Code(AuthorizationCodeMixin):
    def __init__(self, record: AuthorizationCode) -> None:
        self.record = record
        self.code_challenge = record.code_challenge
        self.code_challenge_method = record.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.record.redirect_uri

    def get_scope(self) -> str:
        return " ".join(self.record.scopes)

    def get_nonce(self) -> str | None:
        return self.record.nonce or None

    def get_auth_time(self) -> int:
        return int(self.record.auth_time.timestamp())

    def get_acr(self) -> str | None:
        return None

    def get_amr(self) -> list[str] | None:
        return list(self.record.methods) or None


@dataclass
class Token(TokenMixin):
    record: TokenRecord
    kind: TokenKind
    now: datetime
    user: Account | None = field(default=None)

    def check_client(self, client: Client) -> bool:
        return self.record.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return " ".join(self.record.scopes)

    def get_expires_in(self) -> int:
        return int((self.record.access_expires_at - self.record.created_at).total_seconds())

    def is_expired(self) -> bool:
        if self.kind is TokenKind.ACCESS:
            return self.now >= self.record.access_expires_at
        return self.now >= self.record.refresh_expires_at or self.record.replayed(self.now)

    def is_revoked(self) -> bool:
        return self.record.revoked_at is not None

    def get_user(self) -> Account | None:
        return self.user


@dataclass(frozen=True, slots=True)
class TokenOwner:
    """The user of a refresh grant, as far as the grant needs to know."""

    id: int


def find_token(tx: Transaction, now: datetime, token: str, *, with_owner: bool = False) -> Token | None:
    """An access or refresh token: its generation's row (by the id the token carries, or for an
    older token by its digest), if the token's secret is that row's access or refresh secret.
    Either kind is found whatever the caller's hint (RFC 7009 §2.1 allows it). ``with_owner``:
    its account is read with it (``Token.user``), and a token whose account is gone is none."""
    if not token or len(token) > MAX_TOKEN:
        return None
    token_id, secret = split_token(token)
    digest = token_digest(secret)
    tokens = tx.oauth_tokens
    if token_id is None:
        token_id = tokens.legacy_id(digest)
    if token_id is None:
        return None
    owner: Account | None = None
    if with_owner:
        found = tokens.get_with_owner(token_id)
        record, owner = found if found is not None else (None, None)
    else:
        record = tokens.get(token_id)
    if record is None:
        return None
    if same(record.access_digest, digest):
        return Token(record, TokenKind.ACCESS, now, owner)
    if same(record.refresh_digest, digest):
        return Token(record, TokenKind.REFRESH, now, owner)
    return None


# Grants and extensions --------------------------------------------------------------------
class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH

    @property
    def context(self) -> Context:
        return self.server.context  # type: ignore[no-any-return]

    def generate_authorization_code(self) -> str:
        return new_token(32)

    def save_authorization_code(self, code: str, request: Request) -> None:
        context = self.context
        assert context.auth_time is not None
        data = request.payload.data
        record = AuthorizationCode(
            digest=token_digest(code),
            client_id=request.client.get_client_id(),
            account_id=request.user.id,
            redirect_uri=data.get("redirect_uri", ""),
            scopes=parse_scope(request.scope),
            scope_text=request.payload.scope_text or ",".join(parse_scope(request.scope)),
            nonce=data.get("nonce", ""),  # within its column: ParameterLimits
            code_challenge=data.get("code_challenge", ""),
            code_challenge_method=data.get("code_challenge_method", "") if data.get("code_challenge") else "",
            auth_time=context.auth_time,
            methods=context.methods,
            family_id=new_token(16),
            created_at=context.now,
            expires_at=context.now + context.policy.code_ttl,
        )
        context.tx.authorization_codes.add(record)

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        """Redeem the code (one conditional UPDATE). A code presented again revokes every token its
        first redemption issued (RFC 6749 §4.1.2)."""
        context = self.context
        if not code or len(code) > MAX_TOKEN:
            return None
        digest = token_digest(code)
        record = context.writing().authorization_codes.use(digest, context.now)
        if record is None:
            spent = context.tx.authorization_codes.get(digest)
            if spent is not None and spent.used_at is not None:
                revoked = context.tx.oauth_tokens.revoke_family(
                    spent.account_id, spent.client_id, spent.family_id, context.now
                )
                context.tx.audit.record(
                    "oauth.code_reused", context.now, spent.account_id, client_id=spent.client_id, revoked=revoked
                )
            return None
        if record.client_id != client.get_client_id():
            return None
        self.request.scope_text = record.scope_text
        return Code(record)

    def delete_authorization_code(self, authorization_code: Code) -> None:
        """Nothing to do: the code was marked used when it was redeemed."""

    def authenticate_user(self, authorization_code: Code) -> Account | None:
        return self.context.tx.accounts.get(authorization_code.record.account_id)


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """Every refresh returns a new refresh token; the old one stays valid until the new access
    token is used or the grace period passes; after that, presenting it revokes the family."""

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH
    INCLUDE_NEW_REFRESH_TOKEN = True

    @property
    def context(self) -> Context:
        return self.server.context  # type: ignore[no-any-return]

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        context = self.context
        token = find_token(context.tx, context.now, refresh_token)
        if token is None or token.kind is not TokenKind.REFRESH:
            return None
        record = token.record
        if record.revoked_at is None and record.replayed(context.now):
            revoked = context.writing().oauth_tokens.revoke_family(
                record.account_id, record.client_id, record.family_id, context.now
            )
            context.tx.audit.record(
                "oauth.refresh_replayed", context.now, record.account_id, client_id=record.client_id, revoked=revoked
            )
            return None
        if not record.refresh_alive(context.now):
            return None
        self.request.scope_text = record.scope_text
        return token

    def authenticate_user(self, refresh_token: Token) -> TokenOwner:
        """No lookup: an account's tokens are deleted with it (ON DELETE CASCADE), so a live token
        names a live account, and a refresh needs only its id (no ID token is issued here)."""
        return TokenOwner(refresh_token.record.account_id)

    def revoke_old_credential(self, refresh_token: Token) -> None:
        """Checked when the grant began, in this transaction: the parent is live (or, deferred,
        checked again when the child is stored)."""
        context = self.context
        retire_at = context.now + context.policy.refresh_grace
        if context.deferred is not None:
            context.deferred.parent_id, context.deferred.retire_at = refresh_token.record.id, retire_at
        else:
            context.tx.oauth_tokens.rotate(refresh_token.record.id, context.now, retire_at)


class ParameterLimits:
    """Every parameter of an authorization request that we read is at most as long as we keep it
    (``AUTHORIZE_PARAMETERS``) and given once. Checked once the client and its redirect URI are
    known, so the refusal goes back to the client (RFC 6749 §4.1.2.1); before that, a client id
    or redirect URI longer than any registered one is unknown: the error page."""

    def __call__(self, grant: grants.AuthorizationCodeGrant) -> None:
        grant.register_hook("before_validate_authorization_request_payload", self.check)

    def check(self, grant: grants.AuthorizationCodeGrant, redirect_uri: str) -> None:
        values = grant.request.payload.datalist
        # Request objects are not supported (discovery says so): refused, never ignored (OIDC Core §6).
        if "request" in values:
            raise RequestNotSupportedError("Request objects (request=) are not supported.")
        if "request_uri" in values:
            raise RequestURINotSupportedError("Request objects by reference (request_uri=) are not supported.")
        problem = parameter_problem(values, AUTHORIZE_PARAMETERS)
        if problem:
            raise InvalidRequestError(problem)


class Pkce(CodeChallenge):
    """S256 only; public clients must use it (SECURITY.md)."""

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]

    def validate_code_challenge(self, grant: grants.AuthorizationCodeGrant, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if data.get("code_challenge") and data.get("code_challenge_method", "plain") != "S256":
            raise InvalidRequestError("Only code_challenge_method=S256 is supported.")
        super().validate_code_challenge(grant, redirect_uri)
        client: Client = grant.request.client
        if client.app.client_type is ClientType.PUBLIC and not data.get("code_challenge"):
            raise InvalidRequestError("A public client must send a code_challenge (PKCE, S256).")


def user_info(account: Account, scope: str) -> UserInfo:
    claims: dict[str, Any] = {"sub": str(account.id), "email": account.email, "email_verified": True}
    if account.profile is not None:
        first, last = account.profile.first_name, account.profile.last_name
        name = display_name(first, last, account.language)  # OIDC: "ordered according to the End-User's locale"
        claims.update(name=name, given_name=first, family_name=last)
    claims["locale"] = account.language
    return UserInfo(claims).filter(scope)


class OpenIdCode(OpenIDCode):
    def __init__(self, server: Server) -> None:
        super().__init__(require_nonce=False)
        self.server = server

    @property
    def context(self) -> Context:
        return self.server.context

    def exists_nonce(self, nonce: str, request: Request) -> bool:
        return False  # the nonce is the client's replay check: we only echo it in the ID token

    def _signing(self) -> tuple[str, str, Key]:
        assert self.context.signing is not None
        return self.context.signing

    def resolve_client_private_key(self, client: Client) -> Key:
        return self._signing()[2]

    def get_client_algorithm(self, client: Client) -> str:
        return self._signing()[0]

    def get_encode_header(self, client: Client) -> dict[str, str]:
        alg, kid, _ = self._signing()
        return {"alg": alg, "kid": kid, "typ": "JWT"}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        now = int(self.context.now.timestamp())
        ttl = int(self.context.policy.id_token_ttl.total_seconds())
        return {"iss": self.context.issuer, "aud": [client.get_client_id()], "iat": now, "exp": now + ttl}

    def generate_user_info(self, user: Account, scope: str) -> UserInfo:
        return user_info(user, scope)


class Issuer(IssuerParameter):
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


class Revocation(RevocationEndpoint):
    """RFC 7009: revoking either token of a grant revokes the whole grant (§2.1 allows it)."""

    CLIENT_AUTH_METHODS: ClassVar[list[str]] = [*SECRET_AUTH, "none"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        context: Context = self.server.context
        return find_token(context.tx, context.now, token_string)

    def revoke_token(self, token: Token, request: Request) -> None:
        context: Context = self.server.context
        record = token.record
        context.tx.oauth_tokens.revoke_family(record.account_id, record.client_id, record.family_id, context.now)
        context.tx.audit.record(
            "oauth.token_revoked", context.now, token.record.account_id, client_id=token.record.client_id
        )


class Introspection(IntrospectionEndpoint):
    """RFC 7662 for confidential clients, about their own tokens."""

    CLIENT_AUTH_METHODS = SECRET_AUTH

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        context: Context = self.server.context
        return find_token(context.tx, context.now, token_string)

    def check_permission(self, token: Token, client: Client, request: Request) -> bool:
        return token.check_client(client)

    def introspect_token(self, token: Token) -> dict[str, Any]:
        record = token.record
        expires = record.access_expires_at if token.kind is TokenKind.ACCESS else record.refresh_expires_at
        return {
            "active": True,
            "client_id": record.client_id,
            "token_type": "Bearer" if token.kind is TokenKind.ACCESS else "refresh_token",
            "scope": token.get_scope(),
            "sub": str(record.account_id),
            "aud": record.client_id,
            "iss": self.server.context.issuer,
            "exp": int(expires.timestamp()),
            "iat": int(record.created_at.timestamp()),
        }


class MalformedParameter(InvalidRequestError):
    """Raised before Authlib reads the request: it would fail to describe the value in an error."""


# The server ---------------------------------------------------------------------------------
@dataclass
class Answer:
    """Authlib's (status, body, headers), with the ``location`` its issuer extension rewrites."""

    status: int
    body: Any
    headers: list[tuple[str, str]]

    @property
    def location(self) -> str | None:
        return next((value for name, value in self.headers if name.lower() == "location"), None)

    @location.setter
    def location(self, value: str) -> None:
        self.headers = [(n, v) for n, v in self.headers if n.lower() != "location"] + [("Location", value)]


class Server(AuthorizationServer):
    """Built once per thread (registering the grants costs more than a grant); each call of the
    provider hands it that call's :class:`Context` (calls on one thread never interleave)."""

    context: Context

    def __init__(self, issuer: str) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.register_token_generator("default", self._generate_token)
        self.register_client_auth_method(WITHINGS_SIGNATURE, _withings_signature)
        self.register_grant(AuthorizationCodeGrant, [ParameterLimits(), Pkce(required=True), OpenIdCode(self)])
        self.register_grant(RefreshTokenGrant)
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)
        self.register_extension(Issuer(issuer))

    def create_token_response(self, request: Any = None) -> Any:
        if isinstance(request, Request) and not request.payload.grant_type:
            # RFC 6749 §5.2: a missing parameter is invalid_request, not an unknown grant.
            return self.handle_error_response(request, InvalidRequestError("Missing 'grant_type' parameter."))
        return super().create_token_response(request)

    def query_client(self, client_id: str) -> Client | None:
        if not client_id or len(client_id) > 64:
            return None
        app = self.context.tx.apps.get(client_id)
        return None if app is None or not app.redirect_uris else Client(app, self.context)

    def _generate_token(
        self,
        grant_type: str,
        client: Client,
        user: Account | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": new_token(32),
            "expires_in": int(self.context.policy.access_ttl.total_seconds()),
            "scope": scope or "",
        }
        if include_refresh_token:
            token["refresh_token"] = new_token(32)
        return token

    def save_token(self, token: dict[str, Any], request: Request) -> None:
        """One generation of the grant: a code starts a family, a refresh adds a child."""
        context = self.context
        parent: Token | None = request.refresh_token
        code: Code | None = request.authorization_code
        scopes = parse_scope(token["scope"])
        parent_id: int | None = None
        if parent is not None:
            family, parent_id = parent.record.family_id, parent.record.id
            if request.payload.data.get("scope"):
                request.scope_text = request.payload.scope_text  # a narrower scope, as written
        else:
            assert code is not None
            family = code.record.family_id
        record = TokenRecord(
            id=0,  # numbered by the store
            family_id=family,
            parent_id=parent_id,
            client_id=request.client.get_client_id(),
            account_id=request.user.id,
            scopes=scopes,
            scope_text=request.scope_text or ",".join(scopes),
            created_at=context.now,
            access_expires_at=context.now + context.policy.access_ttl,
            refresh_expires_at=context.now + context.policy.refresh_ttl,
            access_digest=token_digest(token["access_token"]),
            refresh_digest=token_digest(token["refresh_token"]),
        )
        if context.deferred is not None:
            context.deferred.record, context.deferred.token = record, token
        else:
            store_generation(context.tx, record, token, context.policy)

    def create_oauth2_request(self, request: Request) -> Request:
        if request.malformed:
            raise MalformedParameter(f"The parameter '{request.malformed}' holds characters that are not allowed.")
        if request.too_long:
            raise MalformedParameter(request.too_long)
        return request

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError  # no JSON requests: every OAuth request is a form or a query

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Answer:
        return Answer(status, body, list(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signals: the engine writes its own audit rows."""


def store_generation(tx: Transaction, record: TokenRecord, token: dict[str, Any], policy: TokenPolicy) -> None:
    """Store a generation and complete the answer ``token``: what the client gets is each secret
    behind the row id."""
    token_id = tx.oauth_tokens.add(record)
    token["access_token"] = join_token(token_id, token["access_token"])
    token["refresh_token"] = join_token(token_id, token["refresh_token"])
    tx.consents.used(record.account_id, record.client_id, record.created_at, policy.last_used_precision)


def store_deferred(tx: Transaction, deferred: DeferredGeneration, now: datetime, policy: TokenPolicy) -> bool:
    """Write a refresh checked on a read: rotate the parent if it is still live (nothing was
    revoked or retired since the read), then store the child; whether it was."""
    assert deferred.record is not None and deferred.retire_at is not None
    if not tx.oauth_tokens.rotate(deferred.parent_id, now, deferred.retire_at):
        return False
    store_generation(tx, deferred.record, deferred.token, policy)
    return True


def _withings_signature(query_client: Any, request: Request) -> Client | None:
    """Withings' signed token request: ``nonce`` and ``signature`` (HMAC of
    ``action,client_id,nonce``) instead of the secret; the nonce is spent."""
    data = request.payload.data
    client_id, nonce, signature = data.get("client_id", ""), data.get("nonce", ""), data.get("signature", "")
    if not (client_id and nonce and signature) or data.get("client_secret"):
        return None
    client: Client | None = query_client(client_id)
    if client is None or not client.check_withings_signature(signature, data.get("action", ""), client_id, nonce):
        return None
    context = client.context
    return client if context.writing().nonces.use(nonce, client_id, context.now) else None


__all__ = [
    "Answer",
    "Client",
    "Context",
    "DeferredGeneration",
    "Request",
    "Server",
    "Token",
    "TokenOwner",
    "WriteNeeded",
    "find_token",
    "store_deferred",
    "user_info",
]
