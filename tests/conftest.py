"""Shared fixtures: both database engines, a real SMTP server, containers, apps."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from vitalkey.adapters.clock import FrozenClock
from vitalkey.adapters.db import migrate
from vitalkey.adapters.db.engine import make_engine
from vitalkey.adapters.db.schema import metadata
from vitalkey.adapters.mail.senders import SmtpSender
from vitalkey.container import Container, build
from vitalkey.observability import configure_logging
from vitalkey.settings import Settings, load_settings

PG_ADMIN_URL = os.environ.get("VITALKEY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"

# A gateway that production settings require (nothing is sent to it in these tests).
PROD_SMS = {
    "sms_provider_url": "http://127.0.0.1:9",
    "sms_account_sid": "AC00000000000000000000000000000000",
    "sms_auth_token": "test-token",
    "sms_from": "+15005550006",
}


@pytest.fixture(autouse=True)
def quiet_logs() -> None:
    configure_logging("warning", json=True)


# Databases ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "vitalkey.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


def new_pg_database(prefix: str) -> Iterator[str]:
    """An empty PostgreSQL database, dropped afterwards (use as a generator fixture body)."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = create_engine(
        PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI and cannot be reached at {PG_ADMIN_URL}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}")
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated once."""
    for url in new_pg_database("vk_test"):
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield url


SEED_TABLES = {"apps"}  # rows the migrations insert: kept, and what tests added removed


def _truncate(url: str) -> None:
    engine = make_engine(url)
    names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables if table.name not in SEED_TABLES)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        conn.execute(text("DELETE FROM apps WHERE client_id NOT LIKE 'vitalkey-%'"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        target = tmp_path / "vitalkey.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("pg_database")
    _truncate(url)
    return url


REDIS_URL = os.environ.get("VITALKEY_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis is expected at {REDIS_URL} in CI: {exc}")
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    return REDIS_URL


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def make_limited_container(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ContainerFactory]:
    """Like ``make_container``, with the rate limits counted in SQLite, PostgreSQL or Redis (on
    SQLite; a key prefix of its own keeps its Redis counts apart from every other test's and run's)."""
    if request.param == "postgresql":
        database: str = request.getfixturevalue("pg_database")
        _truncate(database)
    else:
        database = request.getfixturevalue("sqlite_url")
    backend: dict[str, Any] = {}
    if request.param == "redis":
        backend = {
            "redis_url": request.getfixturevalue("redis_url"),
            "redis_prefix": f"vitalkey-test:{secrets.token_hex(8)}:",  # counts of earlier runs live on in Redis
            "secret_key": "test-" + secrets.token_hex(16),
        }
    made: list[Container] = []

    def factory(**overrides: Any) -> Container:
        clock = overrides.pop("clock", None)
        container = build(make_settings(tmp_path, database, **backend, **overrides), clock=clock)
        made.append(container)
        return container

    yield factory
    for container in made:
        container.close()


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    target = tmp_path / "vitalkey.sqlite3"
    shutil.copy(sqlite_template, target)
    return f"sqlite:///{target}"


# Mail --------------------------------------------------------------------------------
@dataclass
class Mailbox:
    """Everything a real SMTP server (aiosmtpd) received."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)  # (MAIL FROM, RCPT TO)
    lock: threading.Lock = field(default_factory=threading.Lock)
    refuse: int = 0  # answer the next N messages with a temporary failure

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.refuse > 0:
                self.refuse -= 1
                return "451 4.3.0 Try again later"
            parsed = message_from_bytes(envelope.content, policy=policy.default)
            assert isinstance(parsed, EmailMessage)
            self.messages.append(parsed)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]

    def wait_for(self, address: str, count: int = 1, timeout: float = 10.0) -> EmailMessage:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.to(address)
            if len(found) >= count:
                return found[count - 1]
            time.sleep(0.02)
        raise AssertionError(f"no mail #{count} to {address} within {timeout}s")


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def code_in(message: EmailMessage) -> str:
    found = re.search(r"^\s+(\d{6})\s*$", text_of(message), re.M)
    assert found, "no code in the mail"
    return found.group(1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


@pytest.fixture
def mailbox(smtp_server: tuple[Mailbox, int]) -> Mailbox:
    box, _ = smtp_server
    with box.lock:
        box.messages.clear()
        box.envelopes.clear()
        box.refuse = 0
    return box


# Settings and containers -------------------------------------------------------------
def make_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": str(tmp_path / "data"),
        "database_url": database_url,
        "dev_mode": True,
        "mail_console": False,
        "secret_key": "test-secret-key-0123456789abcdef",
        "relay_poll_s": 0.05,
        "log_json": True,
        "mail_limit_per_ip": "1000/3600",
    }
    values.update(overrides)
    return load_settings(environ={}, **values)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


ContainerFactory = Callable[..., Container]


@pytest.fixture
def make_container(tmp_path: Path, database_url: str) -> Iterator[ContainerFactory]:
    made: list[Container] = []

    def factory(**overrides: Any) -> Container:
        clock = overrides.pop("clock", None)
        sender = overrides.pop("sender", None)
        sms_sender = overrides.pop("sms_sender", None)
        settings = make_settings(tmp_path, database_url, **overrides)
        container = build(settings, clock=clock, sender=sender, sms_sender=sms_sender)
        made.append(container)
        return container

    yield factory
    for container in made:
        container.close()


@pytest.fixture
def container(make_container: ContainerFactory, clock: FrozenClock) -> Container:
    return make_container(clock=clock)


@pytest.fixture
def smtp_sender(smtp_server: tuple[Mailbox, int]) -> SmtpSender:
    return SmtpSender("127.0.0.1", smtp_server[1], security="none", timeout=5)


# A real HTTP server playing a Twilio-compatible SMS gateway ------------------------------
@dataclass
class Gateway:
    """What the fake gateway received, and how it answers the next requests."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    status: int = 201
    delay_s: float = 0.0

    def texts_to(self, phone: str) -> list[str]:
        return [r["form"]["Body"] for r in self.received if r["form"].get("To") == phone]

    def wait_for(self, phone: str, number: int = 1, timeout: float = 10.0) -> str:
        """The ``number``-th text to ``phone``, once the server's relay has sent it."""
        deadline = time.monotonic() + timeout
        while len(self.texts_to(phone)) < number:
            if time.monotonic() > deadline:
                raise AssertionError(f"no text number {number} to {phone}")
            time.sleep(0.02)
        return self.texts_to(phone)[number - 1]

    def code(self, phone: str, number: int = 1) -> str:
        found = re.search(r"#(\d{6})\s*$", self.wait_for(phone, number))
        assert found, "no code in the text"
        return found.group(1)

    def last_code(self, phone: str) -> str:
        """The code of the newest text to ``phone`` (its last line: ``@host #123456``)."""
        texts = self.texts_to(phone)
        assert texts, f"no text to {phone}"
        found = re.search(r"#(\d{6})\s*$", texts[-1])
        assert found, "no code in the text"
        return found.group(1)


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    port = free_port()
    state = Gateway(url=f"http://127.0.0.1:{port}")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["content-length"])
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            user, _, secret = base64.b64decode(self.headers["authorization"].split()[1]).decode().partition(":")
            state.received.append(
                {
                    "path": self.path,
                    "form": form,
                    "auth": (user, secret),
                    "idempotency": self.headers.get("i-twilio-idempotency-token"),
                    "content_type": self.headers["content-type"],
                }
            )
            time.sleep(state.delay_s)
            body = {"sid": "SM0001", "status": "queued"} if state.status < 300 else {"code": 21211, "message": "bad"}
            payload = json.dumps(body).encode()
            self.send_response(state.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


# A real HTTP server playing a partner's notification receiver ---------------------------
@dataclass
class Receiver:
    """What a partner's callback URL received (method, path, headers, form), and how it answers."""

    url: str  # http://127.0.0.1:<port>
    received: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    delay_s: float = 0.0

    def of(self, method: str) -> list[dict[str, Any]]:
        return [request for request in self.received if request["method"] == method]


def start_receiver(port: int) -> tuple[Receiver, Callable[[], None]]:
    """A receiver listening on ``port``, and how to stop it (a partner that goes down)."""
    state = Receiver(url=f"http://127.0.0.1:{port}")

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, body: bytes) -> None:
            headers = {name.lower(): value for name, value in self.headers.items()}
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            request = {"method": self.command, "path": self.path, "headers": headers, "form": form, "body": body}
            state.received.append(request)
            time.sleep(state.delay_s)
            self.send_response(state.status)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_HEAD(self) -> None:
            self._answer(b"")

        def do_POST(self) -> None:
            self._answer(self.rfile.read(int(self.headers.get("content-length") or 0)))

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return state, stop


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state, stop = start_receiver(free_port())
    yield state
    stop()


# A real server process -----------------------------------------------------------------
@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    log_handle: Any


def start_server(
    data_dir: Path, port: int, env: dict[str, str], workers: int = 1, stderr: IO[bytes] | None = None
) -> LiveServer:
    """``vitalkey serve`` in its own process, as a user starts it; returns once /readyz answers.
    Its output goes to ``server.log``, its standard error there too unless ``stderr`` is given."""
    log = data_dir / "server.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    full_env = {
        **os.environ,
        "VITALKEY_DATA_DIR": str(data_dir),
        "VITALKEY_MAIL_CONSOLE": "false",
        "VITALKEY_LOG_LEVEL": "warning",
        **env,
    }
    handle = log.open("wb")
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("vitalkey")), "serve", "--port", str(port), "--workers", str(workers)],
        env=full_env,
        stdout=handle,
        stderr=stderr or subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            handle.close()
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=1) as answer:
                if answer.status == 200:
                    return LiveServer(url, process, log, handle)
        except OSError:
            time.sleep(0.05)
    process.terminate()
    handle.close()
    raise RuntimeError(f"server not ready: {log.read_text()[-2000:]}")


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
    server.log_handle.close()


def live_environment(database_url: str, smtp_port: int, **more: str) -> dict[str, str]:
    """A live server's settings: this database, mail to the test SMTP server, a quick relay."""
    return {
        "VITALKEY_DATABASE_URL": database_url,
        "VITALKEY_SMTP_HOST": "127.0.0.1",
        "VITALKEY_SMTP_PORT": str(smtp_port),
        "VITALKEY_SMTP_SECURITY": "none",
        "VITALKEY_RELAY_POLL_S": "0.05",
        **more,
    }


@pytest.fixture
def live_server(tmp_path: Path, sqlite_url: str, smtp_server: tuple[Mailbox, int]) -> Iterator[LiveServer]:
    server = start_server(tmp_path / "live", free_port(), live_environment(sqlite_url, smtp_server[1]))
    yield server
    stop_server(server)
