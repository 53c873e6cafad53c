"""The composition root of the portal's services: the store, one Withings client per provider
(paced), syncing, the sync worker, linking, notifications and the dashboard."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import Engine

from vitalkey_portal.dashboard import DashboardService
from vitalkey_portal.db.store import Store
from vitalkey_portal.linking import LinkingService
from vitalkey_portal.notifications import NotificationService
from vitalkey_portal.pacing import Pacer
from vitalkey_portal.providers import Provider
from vitalkey_portal.settings import PortalSettings
from vitalkey_portal.syncing import Syncer
from vitalkey_portal.withings import WithingsClient
from vitalkey_portal.worker import SyncWorker

TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Core:
    settings: PortalSettings
    store: Store
    providers: dict[str, Provider]
    clients: dict[str, WithingsClient]
    pacer: Pacer
    syncer: Syncer
    worker: SyncWorker
    linking: LinkingService
    notifications: NotificationService
    dashboard: DashboardService
    http: httpx.AsyncClient

    async def aclose(self) -> None:
        await self.http.aclose()


def build_core(
    settings: PortalSettings,
    engine: Engine,
    now: Callable[[], datetime] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Core:
    clock = now or utc_now
    store = Store(engine, settings.secret_key)
    providers = {provider.slug: provider for provider in settings.providers}
    http = httpx.AsyncClient(timeout=TIMEOUT, transport=transport, follow_redirects=False)
    pacer = Pacer()
    clients = {
        slug: WithingsClient(provider, http, pacer.pace(slug, provider.requests_per_minute))
        for slug, provider in providers.items()
    }
    syncer = Syncer(store, providers, clients, settings.first_sync_days, clock)
    poll_interval = timedelta(seconds=settings.poll_interval_s)
    worker = SyncWorker(store, syncer, pacer, providers, poll_interval, clock)
    linking = LinkingService(
        store, providers, clients, syncer, settings.public_url, settings.brand, poll_interval, clock, worker.wake
    )
    notifications = NotificationService(store, providers, clock, worker.wake)
    dashboard = DashboardService(store, settings.timezone, clock)
    return Core(settings, store, providers, clients, pacer, syncer, worker, linking, notifications, dashboard, http)
