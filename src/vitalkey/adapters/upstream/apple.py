"""What Sign in with Apple does its own way: the client secret is a short-lived ES256 JWT signed
with the team's key, the name comes once (posted beside the code on the first authorization,
never in the ID token), and booleans in the ID token may be the strings "true" and "false"."""

from __future__ import annotations

import json
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey

CLIENT_SECRET_TTL_S = 300  # Apple allows months; a secret made per exchange needs minutes
MAX_POSTED_USER_CHARS = 4096
MAX_NAME_CHARS = 100


def client_secret(*, team_id: str, client_id: str, key_id: str, private_key_pem: str, audience: str, now: int) -> str:
    """The JWT Apple takes as client_secret: iss the team, sub the client (the Services ID), aud
    Apple's issuer, signed ES256 with the key Apple knows by ``kid``."""
    key = ECKey.import_key(private_key_pem)
    claims = {"iss": team_id, "sub": client_id, "aud": audience, "iat": now, "exp": now + CLIENT_SECRET_TTL_S}
    return jwt.encode({"alg": "ES256", "kid": key_id}, claims, key, algorithms=["ES256"])


def flag(value: object) -> bool:
    """An ID token boolean: true, or Apple's "true" (any case); everything else is false."""
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() == "true"


def posted_name(posted_user: str | None) -> tuple[str | None, str | None]:
    """Given and family name from the ``user`` JSON Apple posts on the first authorization only:
    {"name": {"firstName": …, "lastName": …}, "email": …}. Anything unreadable is no name (a
    sign-in does not fail over a name); its email is ignored, the ID token's counts."""
    if not posted_user or len(posted_user) > MAX_POSTED_USER_CHARS:
        return None, None
    try:
        user: Any = json.loads(posted_user)
    except ValueError:
        return None, None
    name = user.get("name") if isinstance(user, dict) else None
    if not isinstance(name, dict):
        return None, None
    return _name(name.get("firstName")), _name(name.get("lastName"))


def _name(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    cleaned = " ".join(value.split())[:MAX_NAME_CHARS]
    return cleaned or None


__all__ = ["CLIENT_SECRET_TTL_S", "client_secret", "flag", "posted_name"]
