"""The relying party of passkeys: VitalKey as the browser names it (the id is ``public_url``'s
host, the origin its scheme, host and port). Apart from ``flows/passkeys`` so that a process
starts without py_webauthn (see ``flows/authenticators/passkey.ceremonies``)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from vitalkey.domain.errors import PasskeyUnavailable

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class RelyingParty:
    id: str
    name: str
    origins: tuple[str, ...]
    applies: bool

    @classmethod
    def from_public_url(
        cls, public_url: str, name: str = "VitalKey", extra_origins: Iterable[str] = ()
    ) -> RelyingParty:
        parts = urlsplit(public_url)
        host = (parts.hostname or "").lower()
        scheme = parts.scheme.lower()
        if not host or scheme not in DEFAULT_PORTS:
            raise ValueError(f"not an http(s) URL with a host: {public_url!r}")
        port = parts.port
        shown_host = f"[{host}]" if ":" in host else host
        origin = f"{scheme}://{shown_host}" + (f":{port}" if port and port != DEFAULT_PORTS[scheme] else "")
        # Chromium refuses an IP literal as the relying-party id, and browsers offer WebAuthn in
        # secure contexts only: https, or http on localhost.
        applies = not _is_ip(host) and (scheme == "https" or host == "localhost" or host.endswith(".localhost"))
        return cls(id=host, name=name, origins=(origin, *extra_origins), applies=applies)

    def require(self) -> None:
        if not self.applies:
            raise PasskeyUnavailable()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
