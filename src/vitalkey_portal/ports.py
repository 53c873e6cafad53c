"""What the web layer asks of the rest (implemented in linking.py, syncing.py, db/)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from vitalkey_portal.records import DashboardData, Link, PortalUser, ProviderSection


# Linking outcomes --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Linked:
    section: ProviderSection
    return_to: str


@dataclass(frozen=True, slots=True)
class NeedsConfirmation:
    """The new account has a wearable while another link has one: ask before replacing it."""

    pending: Link
    replaces: Link
    return_to: str


@dataclass(frozen=True, slots=True)
class LinkFailed:
    message: str  # shown to the user as it is (English)
    return_to: str


LinkOutcome = Linked | NeedsConfirmation | LinkFailed


class Linking(Protocol):
    def sections(self, user_id: int) -> list[ProviderSection]: ...

    def begin(self, user_id: int, provider: str, return_to: str) -> str:
        """The provider's authorize URL (state and PKCE S256 kept server-side); KeyError for an unknown provider."""
        ...

    async def complete(
        self, user_id: int, provider: str, code: str | None, state: str, error: str | None
    ) -> LinkOutcome:
        """The OAuth callback: check state, exchange the code, read the devices, apply the one-wearable rule,
        subscribe to notifications, queue the first sync (which starts at once)."""
        ...

    async def confirm(self, user_id: int, pending_id: int, replace: bool) -> LinkOutcome: ...

    async def unlink(self, user_id: int, provider: str) -> None:
        """Revoke at the provider, remove the subscriptions, mark the section unlinked."""
        ...


class Notifications(Protocol):
    def accept(self, provider: str, body: bytes, headers: Mapping[str, str]) -> int:
        """A provider's callback: verify (signature when the provider signs), record the work, and
        return the HTTP status to answer at once (204 done, 401 bad signature, 400 malformed,
        404 unknown provider). The sync runs after the answer, in the worker."""
        ...


class Dashboard(Protocol):
    def data(self, user_id: int, days: int) -> DashboardData: ...


class Accounts(Protocol):
    def create(self, username: str, password: str, display_name: str, timezone: str) -> PortalUser: ...

    def sign_in(self, username: str, password: str, client_ip: str) -> PortalUser | None:
        """None on a wrong name or password; raises Throttled when too many failures."""
        ...

    def user(self, user_id: int) -> PortalUser | None: ...


class Throttled(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(retry_after_s)
        self.retry_after_s = retry_after_s
