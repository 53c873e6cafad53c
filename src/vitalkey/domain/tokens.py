"""Opaque random tokens (sessions, flows, CSRF) and how they are kept at rest."""

from __future__ import annotations

import hashlib
import hmac
import secrets


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
