"""OAuth grants as records: authorization codes, token generations with the Withings rotation
rule, remembered consents and ID-token signing keys (SPEC "OAuth Link Device", SECURITY
"OAuth 2.0 / OIDC", withings-api.md "OAuth 2.0"). Pure rules; the protocol grammar is Authlib's."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from vitalkey.domain.apps import SCOPES
from vitalkey.domain.i18n import N_

# What each scope lets an app read, in the plain words of the consent page.
SCOPE_WORDS: dict[str, str] = {
    "user.info": N_("Your profile: name, birth date, sex, height and units"),
    "user.metrics": N_("Your body measurements: weight, body composition, heart rate and blood pressure"),
    "user.activity": N_("Your daily activity: steps, distance, calories and workouts"),
    "user.sleepevents": N_("Your sleep: duration, phases and sleep score"),
    "openid": N_("Who you are on VitalKey (an identifier, no personal data)"),
    "profile": N_("Your first and last name"),
    "email": N_("Your email address"),
}
assert set(SCOPE_WORDS) == set(SCOPES)

_SCOPE_SEPARATORS = re.compile(r"[\s,]+")


# Every parameter the authorization endpoint reads, with the longest value it takes (README,
# "OAuth limits"): the lengths the database keeps (nonce, redirect_uri, scope, code_challenge)
# or bounds no honest client reaches. A longer value, or one given twice, is refused with
# invalid_request naming it — never cut. Parameters not listed are not ours: ignored (RFC 6749
# §3.1) and not kept with a request waiting for a sign-in.
AUTHORIZE_PARAMETERS: dict[str, int] = {
    "response_type": 32,
    "client_id": 64,
    "redirect_uri": 500,
    "scope": 300,
    "state": 2000,
    "nonce": 300,
    "code_challenge": 128,
    "code_challenge_method": 16,
    "prompt": 64,
    "max_age": 10,
    "id_token_hint": 4096,
    "login_hint": 254,
    "ui_locales": 100,
    "claims_locales": 100,
    "acr_values": 300,
    "display": 16,
    "response_mode": 32,
    "mode": 16,  # Withings: mode=demo
}
# What the token endpoints keep of a request as written: a refresh's narrower scope.
TOKEN_PARAMETERS: dict[str, int] = {"scope": 300}


def parameter_problem(values: dict[str, list[str]], limits: dict[str, int]) -> str:
    """Why a request's parameters are refused (a message naming the first bad one), or ''."""
    for name, limit in limits.items():
        given = values.get(name, [])
        if len(given) > 1:
            return f"The parameter '{name}' is given more than once."
        if given and len(given[0]) > limit:
            return f"The parameter '{name}' is longer than {limit} characters."
    return ""


def parse_scope(raw: str) -> tuple[str, ...]:
    """Withings sends ``user.info,user.metrics``; RFC 6749 sends ``user.info user.metrics``."""
    return tuple(dict.fromkeys(part for part in _SCOPE_SEPARATORS.split(raw or "") if part))


class TokenKind(StrEnum):
    ACCESS = "access_token"
    REFRESH = "refresh_token"


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    code_ttl: timedelta = timedelta(seconds=30)  # Withings' codes live 30 s
    access_ttl: timedelta = timedelta(hours=3)
    refresh_ttl: timedelta = timedelta(days=365)
    refresh_grace: timedelta = timedelta(hours=8)  # an old refresh token after a rotation
    id_token_ttl: timedelta = timedelta(hours=1)
    nonce_ttl: timedelta = timedelta(minutes=10)  # a Withings signature nonce
    signature_skew: timedelta = timedelta(minutes=5)  # allowed clock difference of a signed getnonce
    # "Last used" of a connected app is kept to this precision: a partner refreshing often
    # does not rewrite its consent on every grant.
    last_used_precision: timedelta = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class AuthorizationCode:
    """An issued code, kept as a digest. ``family_id`` names the tokens its redemption issues, so
    a second redemption can revoke them (RFC 6749 §4.1.2)."""

    digest: str
    client_id: str
    account_id: int
    redirect_uri: str
    scopes: tuple[str, ...]
    scope_text: str  # the scope exactly as requested: the Withings answer echoes it
    nonce: str
    code_challenge: str
    code_challenge_method: str
    auth_time: datetime
    methods: tuple[str, ...]
    family_id: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """One generation of a grant: an access token and its refresh token, both kept as digests.

    Every refresh adds a generation to the family. The parent's refresh token stays usable until
    the child's access token is first used or ``refresh_grace`` passes (``retire_at``); presented
    after that it is a replay, and the whole family is revoked.

    ``id`` is the store's (0 until the record is stored); ``parent_id`` is None for the first
    generation, issued for a code."""

    id: int
    family_id: str
    parent_id: int | None
    client_id: str
    account_id: int
    scopes: tuple[str, ...]
    scope_text: str
    created_at: datetime
    access_expires_at: datetime
    refresh_expires_at: datetime
    access_used_at: datetime | None = None
    retire_at: datetime | None = None
    revoked_at: datetime | None = None
    # The digests of the two tokens' secrets (see ``split_token``), as the store keeps them.
    access_digest: str = field(default="", repr=False)
    refresh_digest: str = field(default="", repr=False)

    def access_alive(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.access_expires_at

    def refresh_alive(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.refresh_expires_at and not self.replayed(now)

    def replayed(self, now: datetime) -> bool:
        """Presenting this refresh token now is the reuse of a rotated one."""
        return self.retire_at is not None and now >= self.retire_at


def join_token(token_id: int, secret: str) -> str:
    """An access or refresh token as issued: its generation's row id, a dot, a random secret.
    The id finds the row (no index over secrets to maintain on every refresh); only the secret's
    digest is kept, and compared in constant time."""
    return f"{token_id}.{secret}"


def split_token(token: str) -> tuple[int | None, str]:
    """(row id, secret) of an issued token; (None, token) for one issued before the row id was
    part of it (migration 0007), found through its digest."""
    selector, dot, secret = token.partition(".")
    if dot and secret and selector.isascii() and selector.isdigit() and len(selector) <= 18 and selector[0] != "0":
        return int(selector), secret
    return None, token


@dataclass(frozen=True, slots=True)
class Consent:
    """What a user allowed an app to read; the consent page is shown again only for new scopes."""

    account_id: int
    client_id: str
    scopes: tuple[str, ...]
    first_allowed_at: datetime
    last_used_at: datetime | None = None

    def covers(self, scopes: tuple[str, ...]) -> bool:
        return set(scopes) <= set(self.scopes)


@dataclass(frozen=True, slots=True)
class SigningKey:
    """An ID-token key. The newest live key of the configured algorithm signs; a rotated key stays
    published in the JWKS until the ID tokens it signed have expired (``publish_until``)."""

    kid: str
    alg: str
    public_jwk: dict[str, Any]
    private_sealed: str = field(repr=False)
    created_at: datetime = field(compare=False, default=datetime.min)
    retired_at: datetime | None = None
    publish_until: datetime | None = None

    def published(self, now: datetime) -> bool:
        return self.publish_until is None or now < self.publish_until


ID_TOKEN_ALGS = ("ES256", "RS256")  # never "none" (SECURITY.md)


def withings_signature_message(*values: str) -> str:
    """Withings signs the values of a request joined by commas (withings-api.md)."""
    return ",".join(values)
