"""The providers a portal user can link, from configuration: one section each on "Link Device"."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ProviderKind(StrEnum):
    WITHINGS = "withings"  # the Withings Public API wire format (VitalKey speaks it)


class Revocation(StrEnum):
    WITHINGS = "withings"  # POST /v2/oauth2 action=revoke, signed with a nonce (withings-api.md)
    RFC7009 = "rfc7009"  # POST <revocation_url> token=<refresh token>, client authenticated


@dataclass(frozen=True, slots=True)
class Provider:
    """One configured provider.

    ``authorize_url`` is where the browser goes to sign in and allow the portal
    (``…/oauth2_user/authorize2``); ``api_url`` the base of the Withings paths (``/v2/oauth2``,
    ``/measure``, ``/v2/measure``, ``/v2/sleep``, ``/v2/user``, ``/notify``).
    """

    slug: str  # in URLs and the database: [a-z0-9-]+
    name: str  # shown as the section's title, e.g. "WITHINGS"
    logo: str  # an https URL or a path under the portal's /static/
    kind: ProviderKind
    authorize_url: str
    api_url: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...] = ("user.info", "user.metrics", "user.activity")
    requests_per_minute: int = 120  # the provider's per-app limit; the portal stays under it
    signs_notifications: bool = False  # VitalKey signs (VitalKey-Signature); Withings does not
    revocation: Revocation = Revocation.WITHINGS
    revocation_url: str = ""  # for RFC 7009

    @classmethod
    def from_config(cls, table: dict[str, Any]) -> Provider:
        """One ``[[providers]]`` table of the portal's TOML file; raises ValueError naming the field."""
        raise NotImplementedError  # portal-core
