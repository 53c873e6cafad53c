"""The portal's services against a live ``vitalkey serve`` process: the portal's core runs in a
background event loop with a small HTTP server for the provider's notification callbacks (the
web layer's own route does the same: ``/notify/{slug}`` → ``Notifications.accept``); VitalKey
users are made and fed through its JSON and companion APIs, and sign in and allow the portal as
a browser would (tests/e2e/live_oauth.py)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx
import uvicorn
from anyio.from_thread import BlockingPortal, start_blocking_portal
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.conftest import LiveServer, Mailbox
from tests.e2e.companion_app import JSON, created, session_of
from tests.e2e.live_oauth import Partner, WebUser, query_of, sign_up
from tests.portal.conftest import SCOPES, SECRET, add_user
from vitalkey_portal.core import Core, build_core
from vitalkey_portal.db import migrate
from vitalkey_portal.db.engine import make_engine
from vitalkey_portal.ports import LinkOutcome
from vitalkey_portal.providers import Provider, ProviderKind
from vitalkey_portal.settings import PortalSettings, load_settings

T = TypeVar("T")
SCALE: JSON = {"type": "Scale", "model": "Body+", "model_id": 13, "timezone": "UTC", "battery": "high"}
TRACKER: JSON = {"type": "Activity Tracker", "model": "ScanWatch", "model_id": 93, "timezone": "UTC", "battery": "high"}
SLEEP_MONITOR: JSON = {"type": "Sleep Monitor", "model": "Sleep Analyzer", "model_id": 63, "timezone": "UTC",
                       "battery": "high"}  # fmt: skip


def provider_for(server: LiveServer, partner: Partner, slug: str = "vitalkey", **more: Any) -> Provider:
    assert partner.secret is not None
    values: dict[str, Any] = {
        "slug": slug,
        "name": "WITHINGS" if slug == "vitalkey" else slug.upper(),
        "logo": "/static/withings.svg",
        "kind": ProviderKind.WITHINGS,
        "authorize_url": server.url + "/oauth2_user/authorize2",
        "api_url": server.url,
        "client_id": partner.client_id,
        "client_secret": partner.secret,
        "scopes": SCOPES,
        "signs_notifications": True,
    }
    values.update(more)
    return Provider(**values)


def notify_app(core: Core) -> Starlette:
    async def notify(request: Request) -> Response:
        if request.method == "HEAD":
            return Response(status_code=200)
        status = core.notifications.accept(request.path_params["slug"], await request.body(), request.headers)
        return Response(status_code=status)

    return Starlette(routes=[Route("/notify/{slug}", notify, methods=["POST", "HEAD"])])


@dataclass
class PortalUnderTest:
    """The portal's core in a background event loop, with its notification callback served."""

    core: Core
    engine: Engine
    runner: BlockingPortal
    url: str
    stop_worker: anyio.Event | None = None
    user_ids: dict[str, int] = field(default_factory=dict)

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        return self.runner.call(function, *args)

    def user(self, name: str) -> int:
        if name not in self.user_ids:
            self.user_ids[name] = add_user(self.engine, name)
        return self.user_ids[name]

    def link(self, web_user: WebUser, user_id: int, provider: str = "vitalkey") -> LinkOutcome:
        """Link Device: the authorize URL, the user at VitalKey (sign-in, "Allow this app"), back
        to the portal's callback with the code and state."""
        authorize = self.core.linking.begin(user_id, provider, "/link-device")
        location = web_user.link(authorize)
        assert location.startswith(f"{self.url}/link-device/{provider}/callback?"), location
        back = query_of(location)
        outcome: LinkOutcome = self.call(
            self.core.linking.complete, user_id, provider, back.get("code"), back.get("state", ""), back.get("error")
        )
        return outcome

    def drain(self) -> None:
        self.call(self.core.worker.drain)

    def start_worker(self) -> None:
        self.stop_worker = self.call(anyio.Event)
        self.runner.start_task_soon(self.core.worker.run, self.stop_worker)

    def wait_for(self, check: Callable[[], T], timeout: float = 15.0) -> T:
        """``check()`` once it is truthy (the worker runs in the background)."""
        deadline = time.monotonic() + timeout
        while True:
            found = check()
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {timeout} s: {found!r}")
            time.sleep(0.05)


def portal_settings(
    data_dir: Path, database_url: str, port: int, providers: tuple[Provider, ...], **more: Any
) -> PortalSettings:
    return load_settings(
        environ={},
        data_dir=str(data_dir),
        database_url=database_url,
        port=port,
        secret_key=SECRET,
        providers=providers,
        **more,
    )


@contextmanager
def running_portal(settings: PortalSettings) -> Iterator[PortalUnderTest]:
    engine = make_engine(settings)
    migrate.upgrade(engine)
    with ExitStack() as stack:
        stack.callback(engine.dispose)
        runner = stack.enter_context(start_blocking_portal())
        core = build_core(settings, engine)
        stack.callback(lambda: runner.call(core.aclose))
        server = uvicorn.Server(
            uvicorn.Config(
                notify_app(core), host=settings.host, port=settings.port, log_level="warning", lifespan="off"
            )
        )
        serving = runner.start_task_soon(server.serve)
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "the portal's callback server did not start"
            time.sleep(0.02)
        under_test = PortalUnderTest(core, engine, runner, settings.public_url)

        def stop() -> None:
            if under_test.stop_worker is not None:
                runner.call(under_test.stop_worker.set)
            server.should_exit = True
            serving.result(timeout=10)

        stack.callback(stop)
        yield under_test


# VitalKey's side ---------------------------------------------------------------------------------
def new_email(tag: str) -> str:
    return f"{tag}-{secrets.token_hex(4)}@example.org"


@dataclass
class VitalKeyUser:
    """An account at VitalKey, its companion-app session, and its browser."""

    server: LiveServer
    email: str
    account_id: int
    token: str
    browser: WebUser

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, headers={"authorization": f"Bearer {self.token}"}, timeout=30)

    def pair(self, *devices: JSON) -> list[str]:
        with self.api() as http:
            return [created(http.post("/api/v1/health/devices", json=device), 201)["deviceid"] for device in devices]

    def send(self, batch: JSON) -> JSON:
        with self.api() as http:
            key = {"idempotency-key": secrets.token_hex(8)}
            return created(http.post("/api/v1/health/batches", json=batch, headers=key), 201)

    def connected_apps(self) -> list[str]:
        with self.api() as http:
            answer = http.get("/api/v1/account/connected-apps")
            assert answer.status_code == 200, answer.text
            return [app["client_id"] for app in answer.json()["connected_apps"]]


def vitalkey_user(server: LiveServer, mailbox: Mailbox, tag: str) -> VitalKeyUser:
    email = new_email(tag)
    sign_up(server, mailbox, email)
    token, account_id = session_of(server, mailbox, email)
    return VitalKeyUser(server, email, account_id, token, WebUser(server, mailbox, email))


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


@dataclass(frozen=True)
class History:
    """What a user's devices recorded over the last ``days`` days (UTC), as sent."""

    now: datetime
    groups: list[JSON]
    activity: list[JSON]
    workouts: list[JSON]
    sleep: list[JSON]


def history(
    deviceids: dict[str, str], days: int = 90, weigh_ins_a_day: int = 10, now: datetime | None = None
) -> History:
    """``weigh_ins_a_day`` weigh-ins on the scale every day (enough to need several pages), a
    day of steps and a workout from the tracker, a night from the sleep monitor."""
    now = (now or datetime.now(UTC)).replace(microsecond=0) - timedelta(minutes=5)
    groups, activity, workouts, sleep = [], [], [], []
    for back in range(days):
        moment = now - timedelta(days=back)
        for k in range(weigh_ins_a_day):
            groups.append({"date": epoch(moment - timedelta(minutes=10 * k)), "category": 1, "attrib": 0,
                           "timezone": "UTC", "deviceid": deviceids["scale"],
                           "measures": [{"type": 1, "value": 70000 + back * 10 + k, "unit": -3}]})  # fmt: skip
        day = moment.date()
        activity.append({"date": day.isoformat(), "timezone": "UTC", "deviceid": deviceids["tracker"],
                         "data": {"steps": 5000 + back, "distance": 4000 + back, "calories": 200}})  # fmt: skip
        start = moment - timedelta(hours=1)
        workouts.append({"category": 1, "startdate": epoch(start), "enddate": epoch(start + timedelta(minutes=30)),
                         "date": start.date().isoformat(), "timezone": "UTC", "deviceid": deviceids["tracker"],
                         "data": {"steps": 3000}})  # fmt: skip
        night_end = moment - timedelta(hours=2)
        sleep.append({"startdate": epoch(night_end - timedelta(hours=8)), "enddate": epoch(night_end),
                      "timezone": "UTC", "deviceid": deviceids["sleep"],
                      "summary": {"total_sleep_time": 25200 + back, "total_timeinbed": 28800}})  # fmt: skip
    return History(now, groups, activity, workouts, sleep)


def upload_history(user: VitalKeyUser, data: History) -> JSON:
    return user.send({"measure_groups": data.groups, "activity": data.activity, "workouts": data.workouts,
                      "sleep": data.sleep, "backfill": True})  # fmt: skip


def window_start(now: datetime, days: int = 60) -> tuple[date, int]:
    """The portal's first-sync window: the last ``days`` calendar days (UTC), today included."""
    first = now.astimezone(UTC).date() - timedelta(days=days - 1)
    return first, epoch(datetime.combine(first, datetime.min.time(), tzinfo=UTC))
