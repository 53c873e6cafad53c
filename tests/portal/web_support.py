"""What the portal's page tests share: settings with two providers, the app composed by
``create_app`` on a real SQLite file, and a provider speaking the Withings wire format over
httpx's transport (the full story against a live VitalKey is the end-to-end suite's)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
from starlette.testclient import TestClient

from vitalkey_portal.accounts import Accounts
from vitalkey_portal.core import Core
from vitalkey_portal.records import PortalUser
from vitalkey_portal.settings import PortalSettings, load_settings
from vitalkey_portal.web.app import create_app

PASSWORD = "correct horse battery"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
BASE = "http://127.0.0.1:8100"

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


class Clock:
    def __init__(self, at: datetime = NOW) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _ok(body: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"status": 0, "body": body})


@dataclass
class Account:
    """One account at a provider: its id, whether it has a wearable, and its data."""

    userid: str
    wearable: bool = True
    weight_g: int | None = 72_500
    steps: int | None = 9_120
    sleep_s: int | None = 27_000


@dataclass
class Provider:
    """Answers the Withings paths the portal calls, as a provider would, and keeps what it was asked."""

    accounts: dict[str, Account] = field(
        default_factory=lambda: {"provider.example": Account("1001"), "vitalkey.example": Account("2002")}
    )
    calls: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)  # (host, action, form)

    def actions(self, host: str) -> list[str]:
        return [action for h, action, _ in self.calls if h == host]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        host, path, action = request.url.host, request.url.path, form.get("action", "")
        self.calls.append((host, action, form))
        account = self.accounts[host]
        yesterday = (NOW - timedelta(days=1)).date()
        if path == "/v2/oauth2" and action == "requesttoken":
            return _ok(
                {
                    "userid": account.userid,
                    "access_token": f"access-{account.userid}",
                    "refresh_token": f"refresh-{account.userid}",
                    "expires_in": 10800,
                    "scope": "user.info,user.metrics,user.activity",
                }
            )
        if path == "/v2/signature":
            return _ok({"nonce": "nonce-1"})
        if path in ("/v2/oauth2", "/notify"):
            return _ok({})
        if path == "/v2/user":
            kind = "Activity Tracker" if account.wearable else "Scale"
            return _ok({"devices": [{"type": kind, "deviceid": "dev-1", "model": "Test"}]})
        if action == "getmeas":
            groups = []
            if account.weight_g is not None:
                at = int((NOW - timedelta(days=1)).timestamp())
                measures = [{"type": 1, "value": account.weight_g, "unit": -3}]
                groups.append(
                    {"grpid": 1, "date": at, "category": 1, "attrib": 0, "modified": at, "measures": measures}
                )
            return _ok({"measuregrps": groups, "more": False, "offset": 0})
        if action == "getactivity":
            days = (
                []
                if account.steps is None
                else [{"date": yesterday.isoformat(), "steps": account.steps, "modified": 1}]
            )
            return _ok({"activities": days, "more": False, "offset": 0})
        if action == "getsummary":
            nights = []
            if account.sleep_s is not None:
                start = int(datetime.combine(yesterday, datetime.min.time(), tzinfo=UTC).timestamp())
                nights.append(
                    {
                        "id": 7,
                        "date": yesterday.isoformat(),
                        "startdate": start,
                        "enddate": start + account.sleep_s,
                        "modified": 1,
                        "data": {"total_sleep_time": account.sleep_s},
                    }
                )
            return _ok({"series": nights, "more": False, "offset": 0})
        if action == "getworkouts":
            return _ok({"series": [], "more": False, "offset": 0})
        return httpx.Response(200, json={"status": 2555, "error": f"unknown {path} {action}"})


@dataclass
class Portal:
    client: TestClient
    core: Core
    accounts: Accounts
    provider: Provider
    clock: Clock
    user: PortalUser
    settings: PortalSettings

    def drain(self) -> None:
        """Run the sync worker's due jobs now (the first sync)."""
        anyio.run(self.core.worker.drain)


@contextmanager
def running_portal(tmp_path: Path, base_url: str = BASE, **overrides: Any) -> Iterator[Portal]:
    settings = portal_settings(tmp_path, **overrides)
    clock, provider = Clock(), Provider()
    app = create_app(settings, now=clock, transport=httpx.MockTransport(provider))
    core: Core = app.state.core
    accounts: Accounts = app.state.services.accounts
    user = accounts.create("ann", PASSWORD, "Ann Example", "Europe/Paris")
    with TestClient(app, base_url=base_url) as client:
        yield Portal(client, core, accounts, provider, clock, user, settings)


def csrf_of(html: str) -> str:
    """The page's CSRF token, checked on every form of the page: each carries the same, non-empty
    (a form rendered without the page's context would send an empty one and be refused)."""
    tokens = re.findall(r'name="csrf_token" value="([^"]*)"', html)
    assert tokens, "the page has no form"
    assert all(tokens) and len(set(tokens)) == 1, f"the page's forms carry different tokens: {tokens}"
    return tokens[0]


def sign_in(client: TestClient, username: str = "ann", password: str = PASSWORD) -> httpx.Response:
    page = client.get("/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )


def link_device(portal: Portal, slug: str, return_to: str = "/link-device") -> httpx.Response:
    """Link Device, the provider's sign-in and "Allow this app" (its answer: the code), and the
    callback; the answer to the callback."""
    token = csrf_of(portal.client.get("/link-device").text)
    answer = portal.client.post(
        f"/link-device/{slug}", data={"csrf_token": token, "return_to": return_to}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    return portal.client.get(
        f"/link-device/{slug}/callback", params={"code": "the-code", "state": query["state"][0]}, follow_redirects=False
    )


# A real `vitalkey-portal serve` process ----------------------------------------------------------------
CLI = str(Path(sys.executable).with_name("vitalkey-portal"))


def write_config(folder: Path, port: int, **more: Any) -> Path:
    """A TOML settings file naming the two providers."""
    lines = [
        f'data_dir = "{folder / "portal-data"}"',
        f"port = {port}",
        'secret_key = "portal-test-secret-0123456789abcdef"',
        *(f"{key} = {json.dumps(value)}" for key, value in more.items()),
    ]
    for provider in PROVIDERS:
        lines.append("\n[[providers]]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in provider.items()]
    path = folder / "portal.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_cli(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False, env=env or dict(os.environ)
    )


@contextmanager
def serving(config: Path, port: int) -> Iterator[str]:
    """``vitalkey-portal serve --config FILE`` until the block ends; its base URL once /healthz answers."""
    log = config.with_suffix(".log")
    with log.open("wb") as out:
        process = subprocess.Popen([CLI, "serve", "--config", str(config)], stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the portal did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
