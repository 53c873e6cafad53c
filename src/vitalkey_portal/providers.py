"""The providers a portal user can link, from configuration: one section each on "Link Device"."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

SLUG = re.compile(r"[a-z0-9-]{1,64}")
DEFAULT_SCOPES = ("user.info", "user.metrics", "user.activity")
REQUIRED = ("slug", "name", "authorize_url", "api_url", "client_id", "client_secret")


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
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(table) - known)
        if unknown:
            raise ValueError(f"providers: unknown field {unknown[0]!r}")
        for name in REQUIRED:
            if not isinstance(table.get(name), str) or not table[name].strip():
                raise ValueError(f"providers: {name} is required (a non-empty string)")
        slug = table["slug"].strip()
        if not SLUG.fullmatch(slug):
            raise ValueError(f"providers[{slug}].slug must be lowercase letters, digits and dashes")
        where = f"providers[{slug}]"
        values: dict[str, Any] = {name: table[name].strip() for name in REQUIRED}
        values["logo"] = _text(table, "logo", where, "")
        values["kind"] = _choice(ProviderKind, table.get("kind", "withings"), f"{where}.kind")
        values["revocation"] = _choice(Revocation, table.get("revocation", "withings"), f"{where}.revocation")
        values["revocation_url"] = _text(table, "revocation_url", where, "")
        for name in ("authorize_url", "api_url"):
            values[name] = _http_url(values[name], f"{where}.{name}")
        if values["revocation"] is Revocation.RFC7009:
            if not values["revocation_url"]:
                raise ValueError(f"{where}.revocation_url is required when revocation is 'rfc7009'")
            values["revocation_url"] = _http_url(values["revocation_url"], f"{where}.revocation_url")
        scopes = table.get("scopes", DEFAULT_SCOPES)
        if isinstance(scopes, str):
            scopes = [part.strip() for part in scopes.split(",")]
        if not isinstance(scopes, list | tuple) or not scopes or not all(isinstance(x, str) and x for x in scopes):
            raise ValueError(f"{where}.scopes must be a non-empty list of scope names")
        values["scopes"] = tuple(scopes)
        rate = table.get("requests_per_minute", 120)
        if not isinstance(rate, int) or isinstance(rate, bool) or not 1 <= rate <= 100_000:
            raise ValueError(f"{where}.requests_per_minute must be an integer from 1 to 100000")
        values["requests_per_minute"] = rate
        signs = table.get("signs_notifications", False)
        if not isinstance(signs, bool):
            raise ValueError(f"{where}.signs_notifications must be true or false")
        values["signs_notifications"] = signs
        return cls(**values)


def _text(table: dict[str, Any], name: str, where: str, default: str) -> str:
    value = table.get(name, default)
    if not isinstance(value, str):
        raise ValueError(f"{where}.{name} must be a string")
    return value.strip()


def _choice(kind: type[StrEnum], value: object, where: str) -> Any:
    try:
        return kind(str(value))
    except ValueError:
        allowed = ", ".join(repr(str(member)) for member in kind)
        raise ValueError(f"{where} must be one of {allowed}") from None


def _http_url(value: str, where: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"{where} must be an http(s) URL without query or fragment")
    return value.rstrip("/")
