"""What the portal's page tests share: settings with two providers, a migrated SQLite database,
fast argon2id, and the app built around the services."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from starlette.testclient import TestClient

from vitalkey_portal.accounts import Accounts
from vitalkey_portal.db import migrate
from vitalkey_portal.db.engine import make_engine
from vitalkey_portal.db.store import Store, Tokens
from vitalkey_portal.records import DashboardData, Link, LinkState, PortalUser
from vitalkey_portal.settings import PortalSettings, load_settings

FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # argon2id, cheap for tests
PASSWORD = "correct horse battery"
TOKENS = Tokens("access-token", "refresh-token", 1_900_000_000)

PROVIDERS: list[dict[str, Any]] = [
    {
        "slug": "withings",
        "name": "WITHINGS",
        "logo": "logos/tracker.svg",
        "authorize_url": "https://provider.example/oauth2_user/authorize2",
        "api_url": "https://provider.example",
        "client_id": "portal-client",
        "client_secret": "portal-secret-0123456789",
    },
    {
        "slug": "vitalkey",
        "name": "VitalKey",
        "logo": "logos/tracker.svg",
        "authorize_url": "https://vitalkey.example/oauth2_user/authorize2",
        "api_url": "https://vitalkey.example",
        "client_id": "portal-client-2",
        "client_secret": "portal-secret-9876543210",
        "signs_notifications": True,
    },
]


def portal_settings(tmp_path: Path, **overrides: Any) -> PortalSettings:
    values: dict[str, Any] = {
        "data_dir": str(tmp_path / "portal-data"),
        "secret_key": "portal-test-secret-0123456789abcdef",
        "run_worker": False,
        "providers": PROVIDERS,
    }
    values.update(overrides)
    return load_settings(environ={}, **values)


def migrated(settings: PortalSettings) -> Any:
    engine = make_engine(settings)
    migrate.upgrade(engine)
    return engine


def add_user(accounts: Accounts, username: str = "ann", timezone: str = "Europe/Paris") -> PortalUser:
    return accounts.create(username, PASSWORD, username.title() + " Example", timezone)


def sign_in(client: TestClient, username: str = "ann", password: str = PASSWORD) -> Any:
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    return client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}, follow_redirects=False
    )


def csrf_of(html: str) -> str:
    return html.split('name="csrf_token" value="')[1].split('"', maxsplit=1)[0]


def add_link(
    store: Store, user_id: int, provider: str, state: LinkState = LinkState.LINKED, at: datetime | None = None
) -> Link:
    return store.save_link(user_id, provider, "4242", state, True, "user.metrics", TOKENS, at or datetime.now(UTC))


@dataclass
class Recorded:
    """The provider's callbacks as the notifications service received them."""

    calls: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)
    status: int = 204

    def accept(self, provider: str, body: bytes, headers: Mapping[str, str]) -> int:
        self.calls.append((provider, body, dict(headers)))
        return self.status


def empty_dashboard(days: int) -> DashboardData:
    return DashboardData(days=days, weight_kg=(), steps=(), sleep_hours=(), last_sync=None)


@dataclass
class StandInLinking:
    """Sections read from the real store; the OAuth steps answer what a test sets (until the
    core's linking is merged, the page tests exercise the web layer's handling of each outcome)."""

    store: Store
    settings: PortalSettings
    outcome: Any = None
    calls: list[tuple[Any, ...]] = field(default_factory=list)

    def sections(self, user_id: int) -> list[Any]:
        from vitalkey_portal.records import ProviderSection

        return [ProviderSection(p, self.store.link_of(user_id, p.slug)) for p in self.settings.providers]

    def begin(self, user_id: int, provider: str, return_to: str) -> str:
        found = next(p for p in self.settings.providers if p.slug == provider)
        self.calls.append(("begin", user_id, provider, return_to))
        return f"{found.authorize_url}?response_type=code&state=s1"

    async def complete(self, user_id: int, provider: str, code: str | None, state: str, error: str | None) -> Any:
        self.calls.append(("complete", user_id, provider, code, state, error))
        return self.outcome

    async def confirm(self, user_id: int, pending_id: int, replace: bool) -> Any:
        self.calls.append(("confirm", user_id, pending_id, replace))
        return self.outcome

    async def unlink(self, user_id: int, provider: str) -> None:
        from vitalkey_portal.records import UnlinkReason

        self.calls.append(("unlink", user_id, provider))
        link = self.store.link_of(user_id, provider)
        if link is not None:
            self.store.unlink(link.id, UnlinkReason.USER, datetime.now(UTC))
