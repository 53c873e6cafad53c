"""An upstream provider's ID token checked (OpenID Connect Core §3.1.3.7) with joserfc: the
algorithm against an allow-list, the signature against the provider's published key of the
token's ``kid``, then issuer, audience (and ``azp``), expiry, issued-at and nonce. Each failed
check is one reason (``Refusal``), the provider turns it into ``UpstreamRefused``."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import ClaimError, ExpiredTokenError, JoseError, MissingClaimError
from joserfc.jwk import Key, KeySet

# Asymmetric signatures only: `none` proves nothing, and an HS* token would be "signed" with a
# secret the provider shares with every holder of our client secret (or with a public key
# mistaken for a secret).
ASYMMETRIC_ALGS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"}
)
MAX_TOKEN_CHARS = 16_384


class Refusal(Exception):
    """One failed check; ``reason`` is UpstreamRefused's reason code."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def allowed_algorithms(discovered: object) -> frozenset[str]:
    """The provider's advertised ID token algorithms (RS256 when it says none, as the spec's
    default) that are asymmetric."""
    if not isinstance(discovered, list) or not discovered:
        return frozenset({"RS256"})
    return ASYMMETRIC_ALGS & {alg for alg in discovered if isinstance(alg, str)}


def signing_keys(jwks: object) -> dict[str | None, Key]:
    """The JWKS's keys for signatures, by ``kid`` (a key without one under None). Keys this
    library cannot read (another key type, an encryption key) are left out, not fatal."""
    if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
        raise Refusal("malformed")
    keys: dict[str | None, Key] = {}
    for data in jwks["keys"]:
        if not isinstance(data, dict) or data.get("use", "sig") != "sig":
            continue
        try:
            key = KeySet.import_key_set({"keys": [data]}).keys[0]
        except (JoseError, ValueError, TypeError, KeyError):
            continue
        kid = data.get("kid")
        keys[kid if isinstance(kid, str) else None] = key
    return keys


def token_header(token: str) -> dict[str, Any]:
    """The protected header of a compact JWS, before anything is trusted."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
        raise Refusal("malformed")
    try:
        header = jws.extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, TypeError, UnicodeError):
        raise Refusal("malformed") from None
    if not isinstance(header.get("alg"), str):
        raise Refusal("malformed")
    return dict(header)


def key_for(header: Mapping[str, Any], keys: Mapping[str | None, Key]) -> Key | None:
    """The published key the header names; a header without ``kid`` only when one key is published."""
    kid = header.get("kid")
    if isinstance(kid, str):
        return keys.get(kid)
    if kid is None and len(keys) == 1:
        return next(iter(keys.values()))
    return None


def verified_claims(token: str, header: Mapping[str, Any], key: Key) -> dict[str, Any]:
    """The token's claims, once its signature is right for ``key`` under the header's algorithm."""
    try:
        decoded = jwt.decode(token, key, algorithms=[str(header["alg"])])
    except (JoseError, ValueError, TypeError):
        raise Refusal("bad_signature") from None
    return dict(decoded.claims)


def check_claims(
    claims: Mapping[str, Any], *, issuer: str, client_id: str, nonce: str, now: int, leeway_s: int
) -> None:
    """Issuer, audience, authorized party, expiry, issued-at and nonce; the first that fails."""
    registry = jwt.JWTClaimsRegistry(
        now=now,
        leeway=leeway_s,
        iss={"essential": True, "value": issuer},
        sub={"essential": True},
        aud={"essential": True, "value": client_id},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(dict(claims))
    except ExpiredTokenError:
        raise Refusal("expired") from None
    except MissingClaimError as missing:
        raise Refusal("wrong_nonce" if missing.claim == "nonce" else "malformed") from None
    except ClaimError as wrong:
        raise Refusal(_claim_reason(wrong.claim, claims.get(wrong.claim))) from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != client_id:
        raise Refusal("wrong_audience")


def _claim_reason(claim: str, value: object) -> str:
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    reasons = {"iss": "wrong_issuer", "aud": "wrong_audience", "nonce": "wrong_nonce"}
    if claim == "iat" and numeric:
        return "issued_in_future"
    return reasons.get(claim, "malformed")


def check_algorithm(header: Mapping[str, Any], allowed: Collection[str]) -> None:
    if header["alg"] not in allowed:
        raise Refusal("alg_not_allowed")


__all__ = [
    "ASYMMETRIC_ALGS",
    "Refusal",
    "allowed_algorithms",
    "check_algorithm",
    "check_claims",
    "key_for",
    "signing_keys",
    "token_header",
    "verified_claims",
]
