"""ID-token signing keys (joserfc): generated on first use, the private half sealed at rest,
rotated by ``vitalkey keys rotate``; a rotated key stays in the JWKS until the ID tokens it
signed have expired. Processes cache the keys for a minute, so a rotation reaches every process
within that minute while the old key is still published."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

from vitalkey.domain.oauth import ID_TOKEN_ALGS, SigningKey, TokenPolicy
from vitalkey.ports import Clock, Sealer, UnitOfWork

CACHE_S = 60.0
Key = ECKey | RSAKey


def generate(alg: str, sealer: Sealer, now: datetime) -> SigningKey:
    if alg not in ID_TOKEN_ALGS:
        raise ValueError(f"ID tokens are signed with one of {', '.join(ID_TOKEN_ALGS)}")
    key: Key = ECKey.generate_key("P-256", private=True) if alg == "ES256" else RSAKey.generate_key(2048, private=True)
    kid = key.thumbprint()
    public = {**key.as_dict(private=False), "kid": kid, "alg": alg, "use": "sig"}
    sealed = sealer.seal(json.dumps(key.as_dict(private=True)))
    return SigningKey(kid=kid, alg=alg, public_jwk=public, private_sealed=sealed, created_at=now)


class SigningKeys:
    def __init__(self, uow: UnitOfWork, clock: Clock, sealer: Sealer, alg: str, policy: TokenPolicy) -> None:
        if alg not in ID_TOKEN_ALGS:
            raise ValueError(f"id_token_alg must be one of {', '.join(ID_TOKEN_ALGS)}")
        self.uow, self.clock, self.sealer, self.alg, self.policy = uow, clock, sealer, alg, policy
        self._lock = threading.Lock()
        self._loaded_at = -CACHE_S
        self._keys: list[SigningKey] = []
        self._private: dict[str, Key] = {}

    def signing_key(self) -> tuple[str, str, Key]:
        """(alg, kid, private key) of the newest live key of the configured algorithm."""
        for key in self._current():
            if key.alg == self.alg and key.retired_at is None:
                return key.alg, key.kid, self._open(key)
        # The first ID token of a new installation. The new key is used as made, not read back
        # into the cache: the transaction that stores it may still roll back (and be run again,
        # with another key), and a cached key that was never stored would sign ID tokens that
        # no published key verifies.
        key = self.rotate()
        return key.alg, key.kid, self._open(key)

    def jwks(self) -> dict[str, Any]:
        """The published public keys; a new installation makes its first key here, so clients
        that fetch the JWKS before any ID token exists find the key that will sign it."""
        self.signing_key()
        now = self.clock.now()
        return {"keys": [key.public_jwk for key in self._current() if key.published(now)]}

    def signed_claims(self, token: str) -> dict[str, Any] | None:
        """The claims of a JWT signed by one of our published keys (a retired key no longer
        published signs nothing valid), or None. Only the signature is checked here: what the
        claims must say (issuer, audience; expiry or not) is the caller's rule."""
        now = self.clock.now()
        published = [key.public_jwk for key in self._current() if key.published(now)]
        if not published or token.count(".") != 2:  # a compact JWS, nothing else
            return None
        try:
            decoded = jwt.decode(token, KeySet.import_key_set({"keys": published}), algorithms=list(ID_TOKEN_ALGS))
        except (JoseError, ValueError, TypeError):
            return None
        return dict(decoded.claims)

    def rotate(self, alg: str | None = None) -> SigningKey:
        """A new signing key; the old ones of its algorithm stop signing and stay published for
        the lifetime of the ID tokens they signed."""
        now = self.clock.now()
        key = generate(alg or self.alg, self.sealer, now)
        with self.uow.begin() as tx:
            tx.signing_keys.retire(key.alg, now, now + self.policy.id_token_ttl)
            tx.signing_keys.add(key)
        self.forget()
        return key

    def forget(self) -> None:
        with self._lock:
            self._loaded_at = -CACHE_S

    def _current(self) -> list[SigningKey]:
        with self._lock:
            if time.monotonic() - self._loaded_at < CACHE_S:
                return self._keys
        with self.uow.read() as tx:
            keys = tx.signing_keys.all()
        with self._lock:
            self._keys, self._loaded_at = keys, time.monotonic()
        return keys

    def _open(self, key: SigningKey) -> Key:
        private = self._private.get(key.kid)
        if private is None:
            data = json.loads(self.sealer.open(key.private_sealed))
            private = ECKey.import_key(data) if key.alg == "ES256" else RSAKey.import_key(data)
            self._private[key.kid] = private
        return private


__all__ = ["SigningKeys", "generate"]
