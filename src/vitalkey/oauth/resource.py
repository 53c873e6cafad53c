"""Bearer tokens at the resource endpoints (RFC 6750): Authlib's ``ResourceProtector`` with a
validator backed by our token store. Every endpoint that takes an access token (userinfo, the data
API) asks :meth:`BearerProtector.bearer` with the scope it requires; how a refusal is answered is the
web edge's choice (RFC 6750's challenge, or the Withings envelope)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from authlib.oauth2.rfc6749 import (
    JsonRequest,
    MissingAuthorizationError,
    ResourceProtector,
    UnsupportedTokenTypeError,
)
from authlib.oauth2.rfc6750 import BearerTokenValidator, InvalidTokenError

from vitalkey.domain.accounts import Account
from vitalkey.domain.oauth import TokenKind, TokenPolicy, TokenRecord
from vitalkey.oauth.server import Token, find_token
from vitalkey.ports import Clock, UnitOfWork

REALM = "vitalkey"

# Why a request was refused: no bearer token at all (RFC 6750 §3.1 sends no error code then, we
# say invalid_request), one that is not a live access token, or one without the scope required.
RefusalReason = Literal["invalid_request", "invalid_token", "insufficient_scope"]


@dataclass(frozen=True, slots=True)
class Bearer:
    """A live access token and whose it is."""

    account: Account
    token: TokenRecord

    @property
    def first_use(self) -> bool:
        """Whether the token's first use is still to be recorded (see :meth:`BearerProtector.check`)."""
        return self.token.access_used_at is None


class BearerRefused(Exception):
    def __init__(self, error: RefusalReason, scope: str, *, first_use: bool = False) -> None:
        super().__init__(error)
        self.error = error
        self.scope = scope  # the scope the resource requires
        self.first_use = first_use  # a live token's first use, not recorded (BearerProtector.check)


class AccessTokenValidator(BearerTokenValidator):
    """An access token (never a refresh token) of a live account, from the token store."""

    def __init__(self, uow: UnitOfWork, clock: Clock, policy: TokenPolicy) -> None:
        super().__init__(realm=REALM)
        self.uow, self.clock, self.policy = uow, clock, policy

    def authenticate_token(self, token_string: str) -> Token | None:
        now = self.clock.now()
        with self.uow.read() as tx:
            token = find_token(tx, now, token_string.strip(), with_owner=True)
        if token is None or token.kind is not TokenKind.ACCESS or token.user is None:
            return None
        return token

    def record_use(self, bearer: Bearer) -> None:
        """Any use of a live token counts, even where its scope does not reach: its first use
        retires the refresh token it replaced (the Withings rotation rule)."""
        record, now = bearer.token, self.clock.now()
        if record.access_used_at is None:
            with self.uow.begin() as tx:
                if tx.oauth_tokens.first_use(record, now):
                    tx.consents.used(record.account_id, record.client_id, now, self.policy.last_used_precision)


class BearerProtector(ResourceProtector):
    """The one place a resource endpoint's bearer token is checked. The token is never logged."""

    def __init__(self, validator: AccessTokenValidator) -> None:
        super().__init__()
        self.validator = validator
        self.register_token_validator(validator)

    def bearer(self, method: str, uri: str, authorization: str, scope: str) -> Bearer:
        """The live access token in ``authorization`` (the header's value) and its user, if the
        token was issued for ``scope`` ("": any scope, the caller checks); :class:`BearerRefused`
        otherwise. Its first use is
        recorded (a write transaction, once per token)."""
        return self.check(method, uri, authorization, scope, record_use=True)

    def check(self, method: str, uri: str, authorization: str, scope: str, *, record_use: bool) -> Bearer:
        """:meth:`bearer`; with ``record_use`` false, without any write, for work that reads only
        (``UnitOfWork.run_optimistic``): when the answer's (or the refusal's) ``first_use`` is true,
        the caller records it (:meth:`AccessTokenValidator.record_use`, in a write) before it
        answers."""
        request = JsonRequest(method, uri, {"Authorization": authorization} if authorization else {})
        try:
            token: Token = self.validate_request([], request)  # unknown, expired, revoked
        except (MissingAuthorizationError, UnsupportedTokenTypeError):
            raise BearerRefused("invalid_request", scope) from None
        except InvalidTokenError:
            raise BearerRefused("invalid_token", scope) from None
        assert token.user is not None
        bearer = Bearer(token.user, token.record)
        if record_use:
            self.validator.record_use(bearer)
        if scope and self.validator.scope_insufficient(token.get_scope(), [scope]):
            raise BearerRefused("insufficient_scope", scope, first_use=bearer.first_use and not record_use)
        return bearer


__all__ = ["REALM", "AccessTokenValidator", "Bearer", "BearerProtector", "BearerRefused", "RefusalReason"]
