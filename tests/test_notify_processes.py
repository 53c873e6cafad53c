"""Notifications across real processes: a server killed (kill -9) between the data's commit and
its delivery delivers it after a restart, once; two server processes beside two separate
``vitalkey worker`` processes on PostgreSQL deliver every notification exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest

from tests.conftest import Receiver, free_port, new_pg_database, start_server, stop_server
from vitalkey.adapters.db import migrate
from vitalkey.adapters.db.engine import make_engine
from vitalkey.container import build
from vitalkey.domain.accounts import Profile, Sex, Units
from vitalkey.domain.apps import ClientType
from vitalkey.domain.flows import Channel, Requester
from vitalkey.domain.notifications import Appli, Subscription
from vitalkey.flows.clients import NewClient
from vitalkey.flows.sessions import start as start_session
from vitalkey.settings import load_settings

PROFILE = Profile("Ann", "Lee", date(1990, 5, 1), Sex.FEMALE, 168.0, Units.METRIC)
MORNING = int(datetime(2026, 11, 20, 7, 30, tzinfo=UTC).timestamp())


def environment(url: str, coalesce_s: float, **more: str) -> dict[str, str]:
    return {
        "VITALKEY_DATABASE_URL": url,
        "VITALKEY_NOTIFY_ALLOW_HTTP": "true",
        "VITALKEY_NOTIFY_ALLOW_LOCAL": "true",
        "VITALKEY_NOTIFY_COALESCE_S": str(coalesce_s),
        "VITALKEY_RELAY_POLL_S": "0.05",
        **more,
    }


def subscribed_users(url: str, data_dir: Path, count: int, callback: str) -> list[tuple[int, str]]:
    """``count`` accounts, each with an API session and a weight subscription of one partner app
    to ``callback``: (account id, session token) each. Made with the server's own flows."""
    data_dir.mkdir(parents=True, exist_ok=True)
    container = build(load_settings(environ={"VITALKEY_DATABASE_URL": url, "VITALKEY_DATA_DIR": str(data_dir)}))
    try:
        app = container.apps.register(
            NewClient("Health2Go", ClientType.CONFIDENTIAL, ("https://p.example/cb",), ("user.metrics",))
        ).app
        now = container.clock.now()
        users = []
        requester = Requester("127.0.0.1", "test", "en", Channel.API)
        with container.uow.begin() as tx:
            for n in range(count):
                account = tx.accounts.create(f"u{n}@example.org", f"u{n}@example.org", "en", PROFILE, "2026-01", now)
                assert account is not None
                tx.subscriptions.add(Subscription(0, account.id, app.client_id, Appli.WEIGHT, callback, "", now, now))
                session = start_session(container.deps, tx, account, requester, ("email_code",))
                users.append((account.id, session.token))
        return users
    finally:
        container.close()


def send_weigh_in(base: str, token: str) -> None:
    auth = {"authorization": f"Bearer {token}", "idempotency-key": str(uuid.uuid4())}
    batch = {"measure_groups": [{"date": MORNING, "timezone": "Europe/Paris", "attrib": 2, "category": 1,
                                 "measures": [{"type": 1, "value": 7235, "unit": -2}]}]}  # fmt: skip
    answer = httpx.post(base + "/api/v1/health/batches", json=batch, headers=auth, timeout=30)
    assert answer.status_code == 201, answer.text


def wait_for(receiver: Receiver, count: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while len(receiver.of("POST")) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def test_a_server_killed_before_the_delivery_delivers_it_after_a_restart(
    tmp_path: Path, sqlite_url: str, receiver: Receiver
) -> None:
    data_dir = tmp_path / "live"
    ((userid, token),) = subscribed_users(sqlite_url, data_dir, 1, receiver.url + "/hook")
    env = environment(sqlite_url, coalesce_s=2)
    port = free_port()
    server = start_server(data_dir, port, env)
    try:
        send_weigh_in(server.url, token)  # committed, due in 2 s
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
    finally:
        server.log_handle.close()
    time.sleep(2.5)
    assert receiver.of("POST") == []  # nobody was there to send it
    restarted = start_server(data_dir, port, env)
    try:
        wait_for(receiver, 1, 10)
        time.sleep(1)  # no second copy follows
    finally:
        stop_server(restarted)
    (post,) = receiver.of("POST")
    assert (post["form"]["userid"], post["form"]["appli"]) == (str(userid), "1")


@pytest.fixture
def postgresql_url() -> Iterator[str]:
    for url in new_pg_database("vk_notify"):
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield url


def test_two_servers_and_two_workers_deliver_each_notification_once(
    tmp_path: Path, postgresql_url: str, receiver: Receiver
) -> None:
    data_dir = tmp_path / "live"
    users = subscribed_users(postgresql_url, data_dir, 24, receiver.url + "/hook")
    env = environment(postgresql_url, coalesce_s=0, VITALKEY_RELAY_IN_PROCESS="false")
    server = start_server(data_dir, free_port(), env, workers=2)
    workers = [
        subprocess.Popen(
            [str(Path(sys.executable).with_name("vitalkey")), "worker"],
            env={**os.environ, "VITALKEY_DATA_DIR": str(data_dir), "VITALKEY_LOG_LEVEL": "warning", **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        senders = [threading.Thread(target=send_weigh_in, args=(server.url, token)) for _, token in users]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        wait_for(receiver, len(users), 20)
        time.sleep(1.5)  # room for a duplicate to show up
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=10)
        stop_server(server)
    posts = receiver.of("POST")
    assert sorted(int(post["form"]["userid"]) for post in posts) == sorted(userid for userid, _ in users)
    assert len({post["headers"]["vitalkey-delivery"] for post in posts}) == len(users)
