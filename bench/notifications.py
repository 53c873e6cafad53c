"""Benchmark: notifications to partners (issue #19) — 1,000 subscribed users' companion apps each
send a weigh-in at once; a partner's receiver (a local HTTP server in this process, answering 204
at once) gets one signed callback per user. Measured: callbacks delivered per second, and the time
from the data's commit to its callback's arrival (p50, p99), on SQLite and PostgreSQL, with the
server's in-process delivery worker, the coalescing window set to 0 (the default 10 s would be the
latency) and 1 or 2 server processes.

The commit's moment is bounded from both sides: each batch's request is sent at ``sent`` and its
201 (after the commit) arrives at ``answered``; the latency is reported from ``answered`` (at most
the true one) and from ``sent`` (at least it).

    .venv/bin/python bench/notifications.py [--users 1000] [--engines sqlite,postgresql]
        [--processes 1,2] [--concurrency 64]

Results: bench/RESULTS.md, "Notifications (issue #19)".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.health_data import largest_worker_rss
from bench.httpclient import Connection
from bench.signin import drop_database, install_server, open_connections, prepare_database, start
from vitalkey.container import build
from vitalkey.domain.apps import ClientType
from vitalkey.domain.flows import Channel, Requester
from vitalkey.domain.notifications import Appli, Subscription
from vitalkey.flows.clients import NewClient
from vitalkey.flows.sessions import start as start_session
from vitalkey.settings import load_settings

MORNING = 1_795_000_000  # 2026-11-18: a weigh-in in the past


@dataclass
class Arrivals:
    """When each user's callback arrived (first one only) and how many came in all."""

    at: dict[int, float] = field(default_factory=dict)
    total: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)
    expected: int = 0


async def receiver(arrivals: Arrivals) -> tuple[asyncio.Server, int]:
    """A minimal HTTP/1.1 receiver: reads each request whole, answers 204, notes its userid."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length) if length else b""
                now = time.perf_counter()
                writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                if head.startswith(b"POST"):
                    userid = int(parse_qs(body.decode())["userid"][0])
                    arrivals.at.setdefault(userid, now)
                    arrivals.total += 1
                    if len(arrivals.at) >= arrivals.expected:
                        arrivals.done.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def subscribe_all(url: str, folder: Path, users: int, callback: str) -> list[tuple[int, str]]:
    """Each account (ids 1..users) subscribed by one partner app to ``callback``, with an API
    session; (account id, session token) each."""
    container = build(load_settings(environ={"VITALKEY_DATABASE_URL": url, "VITALKEY_DATA_DIR": str(folder)}))
    try:
        app = container.apps.register(
            NewClient("Bench partner", ClientType.CONFIDENTIAL, ("https://p.example/cb",), ("user.metrics",))
        ).app
        now = container.clock.now()
        requester = Requester("127.0.0.1", "bench", "en", Channel.API)
        sessions = []
        with container.uow.begin() as tx:
            for account_id in range(1, users + 1):
                account = tx.accounts.get(account_id)
                assert account is not None
                tx.subscriptions.add(Subscription(0, account_id, app.client_id, Appli.WEIGHT, callback, "", now, now))
                sessions.append(
                    (account_id, start_session(container.deps, tx, account, requester, ("email_code",)).token)
                )
        return sessions
    finally:
        container.close()


async def send_all(port: int, sessions: list[tuple[int, str]], concurrency: int) -> dict[int, tuple[float, float]]:
    """Every user's weigh-in, ``concurrency`` at a time: (sent, answered) per user."""
    connections = await open_connections(port, concurrency)
    queue = list(sessions)
    moments: dict[int, tuple[float, float]] = {}

    async def app(connection: Connection) -> None:
        while queue:
            account_id, token = queue.pop()
            batch = {"measure_groups": [{"date": MORNING, "timezone": "Europe/Paris", "attrib": 2, "category": 1,
                                         "measures": [{"type": 1, "value": 7235, "unit": -2}]}]}  # fmt: skip
            headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
            sent = time.perf_counter()
            status, answer = await connection.request("POST", "/api/v1/health/batches", batch, headers=headers)
            assert status == 201, (status, answer)
            moments[account_id] = (sent, time.perf_counter())

    await asyncio.gather(*(app(connection) for connection in connections))
    for connection in connections:
        await connection.close()
    return moments


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000 if ordered else float("nan")


async def measure(engine_name: str, workers: int, args: argparse.Namespace) -> str:
    arrivals = Arrivals(expected=args.users)
    server, receiver_port = await receiver(arrivals)
    folder = Path(tempfile.mkdtemp(prefix="vk-notify-bench-"))
    url = prepare_database(engine_name, folder, accounts=args.users)
    sessions = subscribe_all(url, folder, args.users, f"http://127.0.0.1:{receiver_port}/hook")
    env = {
        "VITALKEY_RELAY_IN_PROCESS": "true",
        "VITALKEY_NOTIFY_ALLOW_HTTP": "true",
        "VITALKEY_NOTIFY_ALLOW_LOCAL": "true",
        "VITALKEY_NOTIFY_COALESCE_S": "0",
    }
    process, port, _ = start(url, folder, workers, env, log=folder / "server.log")
    try:
        began = time.perf_counter()
        moments = await send_all(port, sessions, args.concurrency)
        with contextlib.suppress(TimeoutError):  # the table says how many arrived
            await asyncio.wait_for(arrivals.done.wait(), timeout=120)
        await asyncio.sleep(1)  # late duplicates, if any, would count
        rss = largest_worker_rss(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=10)
        server.close()
        drop_database(url)
    arrived = [arrivals.at[user] for user in moments if user in arrivals.at]
    first_commit = min(answered for _, answered in moments.values())
    rate = len(arrived) / (max(arrived) - first_commit) if arrived else 0.0
    from_answer = [arrivals.at[user] - answered for user, (_, answered) in moments.items() if user in arrivals.at]
    from_sent = [arrivals.at[user] - sent for user, (sent, _) in moments.items() if user in arrivals.at]
    ingest_s = max(answered for _, answered in moments.values()) - began
    return (
        f"| {engine_name} | {workers} | {len(arrived):,} of {args.users:,} | {arrivals.total - len(arrived)} | "
        f"{args.users / ingest_s:,.0f} | {rate:,.0f} | "
        f"{percentile(from_answer, 0.5):.0f} / {percentile(from_answer, 0.99):.0f} | "
        f"{percentile(from_sent, 0.5):.0f} / {percentile(from_sent, 0.99):.0f} | {rss:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--processes", default="1,2")
    parser.add_argument("--concurrency", type=int, default=64, help="companion apps sending at once")
    parser.add_argument("--no-install", action="store_true", help="use bench/.venv-prod as it is")
    args = parser.parse_args()
    if not args.no_install:
        install_server()
    rows = [
        uvloop.run(measure(engine_name, int(workers), args))
        for engine_name in args.engines.split(",")
        for workers in args.processes.split(",")
    ]
    print(
        "\n| engine | processes | callbacks arrived | duplicates | batches/s ingested | callbacks/s | "
        "commit→callback p50 / p99 ms (from the 201) | (from the request) | RSS per process (MB) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
