"""Opaque random tokens (sessions, flows, CSRF) and how they are kept at rest."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

_URLSAFE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


def new_token(nbytes: int = 32) -> str:
    """A URL-safe random token; 32 bytes = 256 bits."""
    return secrets.token_urlsafe(nbytes)


def token_digest(token: str) -> str:
    """Stored form of a high-entropy token: a plain SHA-256 is enough (no guessing possible)."""
    return hashlib.sha256(token.encode()).hexdigest()


def keyed_digest(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def is_token(value: str) -> bool:
    """Whether ``value`` could be one of our URL-safe ids (checked before it reaches a query)."""
    return _URLSAFE.fullmatch(value) is not None


def is_digest(value: str) -> bool:
    return _HEX_DIGEST.fullmatch(value) is not None


def to_base64url(raw: bytes) -> str:
    """Bytes as unpadded base64url (WebAuthn's ids and keys as browsers spell them)."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def from_base64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
