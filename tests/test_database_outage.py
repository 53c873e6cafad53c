"""A real server process whose PostgreSQL database goes away and comes back: every kind of path
answers 503 with Retry-After in its own shape, /readyz says 503, and afterwards all work again.
Its standard error is one JSON object per line throughout, tracebacks included."""

from __future__ import annotations

import asyncio
import http.cookiejar
import io
import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import redirect_stderr
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from tests.conftest import (
    PG_ADMIN_URL,
    ContainerFactory,
    Mailbox,
    free_port,
    new_pg_database,
    start_server,
    stop_server,
)
from tests.web.conftest import csrf_of
from vitalkey.adapters.db import migrate
from vitalkey.adapters.db.engine import make_engine
from vitalkey.observability import configure_logging

TOKEN_FORM = {"grant_type": "refresh_token", "refresh_token": "1.x", "client_id": "nobody", "client_secret": "s"}


@pytest.fixture
def throwaway_database() -> Iterator[str]:
    for url in new_pg_database("vk_outage"):
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield url


@pytest.fixture
def admin() -> Iterator[Engine]:
    engine = create_engine(
        PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    yield engine
    engine.dispose()


def cut_off(admin: Engine, name: str, allowed: bool) -> None:
    """No new connections to the database, and the server's connections ended (or allowed again)."""
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}'))
        if not allowed:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})


class Browser:
    def __init__(self, base: str) -> None:
        self.base = base
        handler = urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        self.opener = urllib.request.build_opener(handler, NoRedirect())

    def send(self, path: str, *, form: dict[str, str] | None = None, data: Any = None) -> tuple[int, Any, str]:
        """(status, headers, body) of a GET, a form POST or a JSON POST."""
        body, kind = None, ""
        if form is not None:
            body, kind = urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded"
        elif data is not None:
            body, kind = json.dumps(data).encode(), "application/json"
        request = urllib.request.Request(self.base + path, data=body, headers={"content-type": kind} if kind else {})
        try:
            with self.opener.open(request, timeout=30) as answer:
                return answer.status, answer.headers, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read().decode()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None


def test_a_database_outage_answers_503_everywhere_and_passes(
    throwaway_database: str, admin: Engine, smtp_server: tuple[Mailbox, int], tmp_path: Path
) -> None:
    name = throwaway_database.rsplit("/", 1)[1]
    env = {
        "VITALKEY_DATABASE_URL": throwaway_database,
        "VITALKEY_SMTP_HOST": "127.0.0.1",
        "VITALKEY_SMTP_PORT": str(smtp_server[1]),
        "VITALKEY_SMTP_SECURITY": "none",
        "VITALKEY_RELAY_POLL_S": "0.2",
    }
    errors = tmp_path / "stderr.log"
    with errors.open("wb") as stderr:
        server = start_server(tmp_path / "live", free_port(), env, stderr=stderr)
        try:
            browser = Browser(server.url)
            _, _, login_page = browser.send("/login")
            token = csrf_of(login_page)
            cut_off(admin, name, allowed=False)
            try:
                status, headers, body = browser.send("/login", form={"csrf_token": token, "email": "ann@example.org"})
                assert status == 503 and headers["retry-after"] == "5" and "try again in a moment" in body
                assert headers["content-type"].startswith("text/html")
                status, headers, body = browser.send("/api/v1/signup", data={"email": "ann@example.org"})
                assert (status, headers["retry-after"], json.loads(body)["error"]) == (503, "5", "unavailable")
                status, headers, body = browser.send("/oauth2/token", form=TOKEN_FORM)
                assert (status, headers["retry-after"]) == (503, "5")
                assert json.loads(body)["error"] == "temporarily_unavailable"
                status, headers, body = browser.send("/v2/oauth2", form={"action": "requesttoken", **TOKEN_FORM})
                assert (status, headers["retry-after"], json.loads(body)["status"]) == (503, "5", 601)
                assert browser.send("/readyz")[0] == 503
            finally:
                cut_off(admin, name, allowed=True)

            assert browser.send("/readyz")[0] == 200
            assert browser.send("/login", form={"csrf_token": token, "email": "ann@example.org"})[0] == 303
            assert browser.send("/api/v1/signup", data={"email": "bo@example.org"})[0] == 201
            status, _, body = browser.send("/oauth2/token", form=TOKEN_FORM)
            assert (status, json.loads(body)["error"]) == (400, "invalid_client")
            status, _, body = browser.send("/v2/oauth2", form={"action": "requesttoken", **TOKEN_FORM})
            assert (status, json.loads(body)["status"]) == (200, 401)
        finally:
            stop_server(server)

    lines = errors.read_text().splitlines()
    events = [json.loads(line) for line in lines]  # every line is one JSON object
    failures = [event for event in events if event["event"] == "storage_unavailable"]
    assert {event["route"] for event in failures} >= {"/login", "/api/v1/signup", "/oauth2/token", "/v2/oauth2"}
    assert all(event["exception"][0]["exc_type"] == "StorageUnavailable" for event in failures)
    assert all("Traceback" not in line for line in lines)


def test_the_relay_logs_an_unreachable_database_and_its_own_bugs_as_single_json_lines(
    make_container: ContainerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    relay = make_container().relay
    working, refused = relay.engine, make_engine("postgresql://postgres@127.0.0.1:1/nowhere")
    claim, run_once, stop = relay.claim, relay.run_once, asyncio.Event()

    def claim_or_fail() -> object:
        if relay.engine is refused:
            return claim()  # connection refused
        raise RuntimeError("secret-value-123")  # a bug of the relay's own

    async def one_round() -> int:
        try:
            return await run_once()
        finally:
            stop.set()

    monkeypatch.setattr(relay, "claim", claim_or_fail)
    monkeypatch.setattr(relay, "run_once", one_round)
    stream = io.StringIO()
    with redirect_stderr(stream):
        configure_logging("warning", json=True)
        for engine in (refused, working):
            monkeypatch.setattr(relay, "engine", engine)
            stop.clear()
            asyncio.run(relay.run_forever(stop))
    refused.dispose()
    unreachable, bug = (json.loads(line) for line in stream.getvalue().splitlines())
    assert unreachable["event"] == "relay.storage_unavailable" and unreachable["reason"] == "psycopg.OperationalError"
    assert "exception" not in unreachable
    assert bug["event"] == "relay.error" and bug["exception"][0]["exc_type"] == "RuntimeError"
    assert "secret-value-123" not in stream.getvalue()
