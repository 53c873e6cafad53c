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


# A loopback redirect URI, the one kind whose port may vary (RFC 8252 §7.3): http, a loopback
# host spelled exactly so (no other case, no trailing dot, no other spelling of the address),
# an optional port, then the path and query that must equal the registered ones.
_LOOPBACK_URI = re.compile(r"http://(?P<host>127\.0\.0\.1|\[::1\]|localhost)(?::(?P<port>[0-9]{1,5}))?(?P<rest>/.*)?")
_PRIVATE_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*\.[a-z0-9+.-]*[a-z0-9]")  # com.example.app (RFC 8252 §7.1)


def _unsafe(uri: str) -> bool:
    """What no redirect URI may hold, registered or requested: a fragment (RFC 6749 §3.1.2),
    userinfo (``http://evil.example@127.0.0.1/``: a reader may take either side for the host), a
    backslash (which browsers read as a slash), spaces or control characters, or non-ASCII."""
    if not uri or len(uri) > 500 or not uri.isascii() or "#" in uri or "\\" in uri:
        return True
    if any(ch <= " " or ch == "\x7f" for ch in uri):
        return True
    parts = urlsplit(uri)
    return "@" in parts.netloc


def _loopback(uri: str) -> tuple[str, str] | None:
    """(host, path and query) of a loopback redirect URI — everything but its port — or None."""
    found = _LOOPBACK_URI.fullmatch(uri)
    if found is None or (found["port"] is not None and not 0 < int(found["port"]) < 65536):
        return None
    return found["host"], found["rest"] or ""


def check_redirect_uri(uri: str) -> str:
    """An absolute https URI, an http one on the loopback interface (native apps), or a private
    scheme (``com.example.app:/callback``); never a fragment (RFC 9700 §2.1) or userinfo."""
    if _unsafe(uri):
        raise InvalidClientMetadata("A redirect URI must be absolute, without a fragment or user name.")
    parts = urlsplit(uri)
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number in range)
    except ValueError:
        raise InvalidClientMetadata("A redirect URI must be absolute, without a fragment or user name.") from None
    if uri.startswith("https://") and parts.hostname:
        return uri
    if _loopback(uri) is not None:
        return uri
    if _PRIVATE_SCHEME.fullmatch(parts.scheme) and uri.startswith(parts.scheme + ":/") and not parts.netloc:
        return uri  # a native app's private-use scheme (RFC 8252 §7.1)
    raise InvalidClientMetadata(
        "A redirect URI must use https (or http on the loopback interface, or a private scheme)."
    )


def redirect_uri_allowed(app: App, uri: str) -> bool:
    """Simple string comparison (RFC 6749 §3.1.2.3, RFC 9700 §4.1.3); only a loopback URI's port
    may vary (RFC 8252 §7.3): host, path and query as registered, to the character."""
    if _unsafe(uri):
        return False
    if uri in app.redirect_uris:
        return True
    requested = _loopback(uri)
    return requested is not None and any(_loopback(known) == requested for known in app.redirect_uris)


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
