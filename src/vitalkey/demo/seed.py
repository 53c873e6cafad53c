"""What the demo puts into VitalKey before its server starts, through VitalKey's own services
(the client registry, the accounts and sessions repositories as the sign-up leaves them, the
companion app's ingestion): the portal as an OAuth client, the demo user with three devices and
90 days of data, and an API session for the live feed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime

from vitalkey.container import Container
from vitalkey.demo.health import DAYS, Devices, first_day_of, history
from vitalkey.domain.accounts import Account, clean_profile
from vitalkey.domain.apps import ClientType
from vitalkey.domain.emails import account_key
from vitalkey.domain.flows import Channel, Requester
from vitalkey.domain.health import Battery, DeviceType
from vitalkey.flows.clients import NewClient
from vitalkey.flows.sessions import start as start_session

PORTAL_NAME = "Health2Go"
PORTAL_SCOPES = ("user.info", "user.metrics", "user.activity")
DEMO_EMAIL = "demo@example.org"
DEMO_PROFILE = {
    "first_name": "Alex",
    "last_name": "Martin",
    "birth_date": "1988-04-12",
    "sex": "male",
    "units": "metric",
    "height_cm": 178,
}
DEMO_TIMEZONE = "Europe/Paris"
REQUESTER = Requester("127.0.0.1", "vitalkey demo", "en", Channel.API)


@dataclass(frozen=True, slots=True)
class PortalClient:
    client_id: str
    secret: str


def register_portal(container: Container, portal_url: str, logo_url: str) -> PortalClient:
    """The portal as a confidential client of VitalKey (its secret is shown this once)."""
    registered = container.apps.register(
        NewClient(
            name=PORTAL_NAME,
            client_type=ClientType.CONFIDENTIAL,
            redirect_uris=(f"{portal_url}/link-device/vitalkey/callback",),
            scopes=PORTAL_SCOPES,
            logo_url=logo_url,
        )
    )
    assert registered.secret is not None  # a confidential client always gets one
    return PortalClient(registered.app.client_id, registered.secret)


def create_user(container: Container) -> Account:
    """The demo user as the sign-up leaves one: the address confirmed (an account exists only
    once its code was entered), the privacy policy accepted (its version and when), the user
    details given; no second factor (the sign-up lets it be skipped)."""
    now = container.clock.now()
    profile = clean_profile(dict(DEMO_PROFILE), now.date())
    version = container.settings.privacy_policy_version
    with container.uow.begin() as tx:
        account = tx.accounts.create(DEMO_EMAIL, account_key(DEMO_EMAIL), "en", profile, version, now)
        if account is None:
            raise RuntimeError(f"{DEMO_EMAIL} has an account already")
        tx.audit.record("signup.completed", now, account.id, policy_version=version)
    return account


def pair_devices(container: Container, account_id: int) -> Devices:
    ingest = container.health_ingest
    scale = ingest.pair(account_id, DeviceType.SCALE, "Body+", 13, DEMO_TIMEZONE, Battery.HIGH)
    wearable = ingest.pair(account_id, DeviceType.ACTIVITY_TRACKER, "ScanWatch 2", 93, DEMO_TIMEZONE, Battery.MEDIUM)
    sleeper = ingest.pair(account_id, DeviceType.SLEEP_MONITOR, "Sleep Analyzer", 63, DEMO_TIMEZONE, Battery.UNKNOWN)
    return Devices(scale.deviceid, wearable.deviceid, sleeper.deviceid, DEMO_TIMEZONE)


def devices_of(container: Container, account_id: int) -> Devices:
    """The paired devices again (a kept demo)."""
    by_type = {device.type: device.deviceid for device in container.health_ingest.devices(account_id)}
    return Devices(
        by_type[DeviceType.SCALE],
        by_type[DeviceType.ACTIVITY_TRACKER],
        by_type[DeviceType.SLEEP_MONITOR],
        DEMO_TIMEZONE,
    )


def seed_history(
    container: Container,
    account_id: int,
    devices: Devices,
    now: datetime,
    first_day: date | None = None,
    after: datetime | None = None,
) -> date:
    """The days from ``first_day`` (default: the last 90 days) up to ``now``, or only what
    happened ``after`` a kept demo's last run, sent as the companion app sends it; the first day."""
    first = first_day or first_day_of(devices, now, DAYS)
    for number, batch in enumerate(history(devices, first, now, after)):
        key = f"demo-history-{int(now.timestamp())}-{number}"
        digest = hashlib.sha256(repr(batch).encode()).hexdigest()
        container.health_ingest.ingest(account_id, key, digest, batch)
    if after is None:
        container.health_ingest.set_goals(account_id, steps=10_000, sleep=8 * 3600, weight=None)
    return first


def api_session(container: Container, account_id: int) -> str:
    """A signed-in API session for the companion app's JSON API (what a sign-in with the emailed
    code gives the app): its bearer token."""
    with container.uow.begin() as tx:
        account = tx.accounts.get(account_id)
        if account is None:
            raise RuntimeError("the demo user is gone")
        return start_session(container.deps, tx, account, REQUESTER, ("email_code",)).token
