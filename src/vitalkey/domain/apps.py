"""Registered apps (OAuth clients): first- or third-party, confidential or public, their exact
redirect URIs and allowed scopes, whether they can ask for a second factor, and what the consent
page shows about them (SPEC "OAuth Link Device", SECURITY "OAuth 2.0 / OIDC")."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit

from vitalkey.domain.errors import InvalidClientMetadata
from vitalkey.domain.tokens import keyed_digest

# The Withings scopes (withings-api.md) and the OpenID Connect ones.
SCOPES = ("user.info", "user.metrics", "user.activity", "user.sleepevents", "openid", "profile", "email")
_CLIENT_ID = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")


class ClientType(StrEnum):
    CONFIDENTIAL = "confidential"  # a server that keeps a secret
    PUBLIC = "public"  # a mobile or browser app: no secret, PKCE required


@dataclass(frozen=True, slots=True)
class App:
    client_id: str
    name: str
    first_party: bool
    supports_2fa: bool
    created_at: datetime
    client_type: ClientType = ClientType.PUBLIC
    redirect_uris: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    logo_url: str = ""
    policy_url: str = ""
    secret_digest: str = field(default="", repr=False)  # keyed digest of the secret; confidential only
    secret_sealed: str = field(default="", repr=False)  # the secret sealed: checks Withings signatures


def client_secret_digest(key: bytes, secret: str) -> str:
    """How a client secret is kept: a keyed digest (256 random bits need no slow hash)."""
    return keyed_digest(key, "client-secret:" + secret)


def check_client_id(client_id: str) -> str:
    if not _CLIENT_ID.fullmatch(client_id):
        raise InvalidClientMetadata("A client id has 2 to 64 lowercase letters, digits, dots, dashes or underscores.")
    return client_id


def check_redirect_uri(uri: str) -> str:
    """An absolute https URI, an http one on the loopback interface (native apps), or a private
    scheme (``com.example.app:/callback``); never a fragment (RFC 9700 §2.1)."""
    parts = urlsplit(uri)
    if not uri or len(uri) > 500 or parts.fragment or any(ch.isspace() for ch in uri):
        raise InvalidClientMetadata("A redirect URI must be absolute, without a fragment.")
    if parts.scheme == "https" and parts.netloc:
        return uri
    if parts.scheme == "http" and (parts.hostname or "") in {"127.0.0.1", "::1", "localhost"}:
        return uri
    if "." in parts.scheme and parts.scheme not in ("http", "https") and not parts.netloc:
        return uri  # a native app's private-use scheme (RFC 8252 §7.1)
    raise InvalidClientMetadata(
        "A redirect URI must use https (or http on the loopback interface, or a private scheme)."
    )


_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def _loopback(uri: str) -> bool:
    parts = urlsplit(uri)
    return parts.scheme == "http" and (parts.hostname or "") in _LOOPBACK


def _without_port(uri: str) -> tuple[str, str, str, str]:
    parts = urlsplit(uri)
    return parts.scheme, parts.hostname or "", parts.path, parts.query


def redirect_uri_allowed(app: App, uri: str) -> bool:
    """Exact string match; only a loopback URI's port may vary (RFC 8252 §7.3)."""
    if uri in app.redirect_uris:
        return True
    return _loopback(uri) and any(
        _loopback(known) and _without_port(known) == _without_port(uri) for known in app.redirect_uris
    )


def origin_of(uri: str) -> str:
    """The CSP source of a redirect URI: its origin, or a private scheme (``com.example.app:``)."""
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else f"{parts.scheme}:"


def check_scopes(scopes: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown or not scopes:
        raise InvalidClientMetadata("Allowed scopes are: " + ", ".join(SCOPES) + ".")
    return tuple(dict.fromkeys(scopes))


def check_url(url: str) -> str:
    """A logo or privacy-policy address shown on the consent page: https only."""
    if url and (not url.startswith("https://") or len(url) > 500 or not urlsplit(url).netloc):
        raise InvalidClientMetadata("Logo and privacy-policy addresses must be https URLs.")
    return url
