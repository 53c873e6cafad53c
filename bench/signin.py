"""Benchmark: completed email-code sign-ins per second (start + verify through the JSON API,
codes read from the outbox table), with 1 and 2 server processes, on SQLite and PostgreSQL;
resident memory per process; time from start to ready.

Reference, measured in the same run against the same server: GET /healthz requests per second
with the same client and concurrency. Results are reported as ratios to it, because these
machines are shared and noisy.

    .venv/bin/python bench/signin.py [--seconds 10] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import uvloop
from sqlalchemy import create_engine, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.httpclient import Connection
from vitalkey.adapters.db import migrate
from vitalkey.adapters.db import schema as t
from vitalkey.adapters.db.engine import make_engine
from vitalkey.domain.accounts import Profile, Sex, Units

PG_ADMIN = os.environ.get("VITALKEY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
ROOT = Path(__file__).resolve().parents[1]
SERVER_ENV = ROOT / "bench" / ".venv-prod"
VITALKEY = str(SERVER_ENV / "bin" / "vitalkey")


def install_server() -> None:
    """The server as it is deployed: runtime dependencies only, bytecode compiled, not editable."""
    uv = ROOT / ".tools" / "bin" / "uv"
    subprocess.run(
        [
            str(uv),
            "sync",
            "--frozen",
            "--quiet",
            "--no-dev",
            "--no-editable",
            "--compile-bytecode",
            "--reinstall-package",
            "vitalkey",
        ],
        cwd=ROOT,
        env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(SERVER_ENV)},
        check=True,
    )


ACCOUNTS = 20_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def create_database(engine_name: str, folder: Path, name: str | None = None) -> str:
    """An empty database, migrated: a file in ``folder`` (SQLite) or a new database on the server
    (PostgreSQL); ``name``: the file's or database's name (default: bench.sqlite3, a random one)."""
    if engine_name == "sqlite":
        url = f"sqlite:///{folder / (name or 'bench.sqlite3')}"
    else:
        name = name or f"vk_bench_{secrets.token_hex(3)}"
        admin = create_engine(PG_ADMIN.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url


def add_accounts(url: str, count: int) -> None:
    """``count`` accounts, user0@example.org …, ids 1 … count (in a fresh database)."""
    from datetime import UTC, date, datetime

    engine = make_engine(url)
    now = datetime.now(UTC)
    profile = Profile("Bench", "User", date(1990, 1, 1), Sex.FEMALE, 170.0, Units.METRIC)
    rows = [
        {
            "email": f"user{i}@example.org",
            "email_key": f"user{i}@example.org",
            "language": "en",
            "first_name": profile.first_name,
            "last_name": profile.last_name,
            "birth_date": profile.birth_date,
            "sex": "female",
            "height_cm": 170.0,
            "units": "metric",
            "policy_version": "2026-01",
            "policy_accepted_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for i in range(count)
    ]
    with engine.begin() as conn:
        conn.execute(t.accounts.insert(), rows)
    engine.dispose()


def prepare_database(engine_name: str, folder: Path, accounts: int = ACCOUNTS) -> str:
    url = create_database(engine_name, folder)
    add_accounts(url, accounts)
    return url


def drop_database(url: str) -> None:
    if url.startswith("postgresql"):
        name = url.rsplit("/", 1)[1]
        admin = create_engine(PG_ADMIN.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def start(
    url: str, folder: Path, workers: int, extra_env: dict[str, str] | None = None, log: Path | None = None
) -> tuple[subprocess.Popen[bytes], int, float]:
    """``log``: a file for the server's output (warnings and errors only), else none is kept."""
    port = free_port()
    env = {
        **os.environ,
        "VITALKEY_DATABASE_URL": url,
        "VITALKEY_DATA_DIR": str(folder),
        "VITALKEY_LOG_LEVEL": "warning",
        "VITALKEY_MAIL_CONSOLE": "false",
        "VITALKEY_RELAY_IN_PROCESS": "false",
        "VITALKEY_MAIL_LIMIT_PER_IP": "100000000/60",
        "VITALKEY_MAIL_LIMIT_PER_ADDRESS": "1000/60",
        **(extra_env or {}),
    }
    began = time.perf_counter()
    with open(log or os.devnull, "ab") as output:  # the child keeps its own copy
        process = subprocess.Popen(
            [VITALKEY, "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            stdout=output,
            stderr=output,
        )
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as answer:
                if answer.status == 200:
                    return process, port, time.perf_counter() - began
        except OSError:
            time.sleep(0.01)
        if time.perf_counter() - began > 30:
            raise RuntimeError("server did not start")


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU time used so far by the server (all its processes) and by this load generator."""
    tick = os.sysconf("SC_CLK_TCK")
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout.split()
    server = 0.0
    for child in [str(pid), *children]:
        try:
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            server += (int(fields[11]) + int(fields[12])) / tick
        except FileNotFoundError:
            pass
    own = os.times()
    return server, own.user + own.system


def rss_mb(pid: int) -> list[float]:
    """Resident memory of the server's worker processes (the children of the server's main process)."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout.split()
    sizes = []
    for child in [str(pid), *children]:
        try:
            for line in Path(f"/proc/{child}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
        except FileNotFoundError:
            pass
    return sizes


# The load generator runs on uvloop, as the server does: its share of the two cores is smaller.


async def open_connections(port: int, count: int) -> list[Connection]:
    """Open keep-alive connections one by one, as clients arrive over time: opened all at once,
    they would all be accepted by whichever server process wakes first."""
    connections = []
    for _ in range(count):
        connection = Connection("127.0.0.1", port)
        await connection.request("GET", "/healthz")
        connections.append(connection)
        await asyncio.sleep(0.002)
    return connections


async def healthz_rate(port: int, seconds: float, concurrency: int) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    connections = await open_connections(port, concurrency)
    deadline = time.perf_counter() + seconds

    async def user(connection: Connection) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await connection.request("GET", "/healthz")
            done += 1
        await connection.close()

    began = time.perf_counter()
    await asyncio.gather(*(user(c) for c in connections))
    return done / (time.perf_counter() - began)


class CodeReader:
    """Reads the codes of many pending flows from the outbox in one query every few milliseconds,
    so that each simulated user goes on as soon as its code is there (no lock-step waves). On
    SQLite the query runs inline with the standard library driver (a few tens of µs), so that the
    load generator takes as little of the two cores as it can."""

    def __init__(self, url: str) -> None:
        self.sqlite = sqlite3.connect(url.removeprefix("sqlite:///")) if url.startswith("sqlite") else None
        self.engine = None if self.sqlite else make_engine(url)
        self.pending: dict[str, asyncio.Future[str]] = {}

    async def code(self, flow_id: str) -> str:
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.pending[flow_id] = future
        return await future

    def _read(self, keys: list[str]) -> dict[str, str]:
        if self.sqlite is not None:
            marks = ",".join("?" * len(keys))
            rows = self.sqlite.execute(
                f"SELECT idempotency_key, payload FROM outbox WHERE idempotency_key IN ({marks})", keys
            )
            return {key.split(":")[1]: json.loads(payload)["code"] for key, payload in rows}
        assert self.engine is not None
        with self.engine.connect() as conn:
            found = conn.execute(
                select(t.outbox.c.idempotency_key, t.outbox.c.payload).where(t.outbox.c.idempotency_key.in_(keys))
            )
            return {key.split(":")[1]: payload["code"] for key, payload in found}

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self.pending:
                keys = [f"login:{f}:email:1" for f in self.pending]
                found = self._read(keys) if self.sqlite else await asyncio.to_thread(self._read, keys)
                for flow_id, code in found.items():
                    self.pending.pop(flow_id).set_result(code)
            await asyncio.sleep(0.002)

    def close(self) -> None:
        if self.sqlite is not None:
            self.sqlite.close()
        if self.engine is not None:
            self.engine.dispose()


async def signin_rate(
    port: int, url: str, seconds: float, concurrency: int, fresh_connections: bool = True
) -> tuple[int, float, int]:
    """``concurrency`` simulated users, each signing in again and again: start, code, verify.
    Each sign-in opens its own connection, as an app does when a user signs in: with long-lived
    keep-alive connections, which server process gets the load depends on who accepted them."""
    reader = CodeReader(url)
    stop = asyncio.Event()
    reading = asyncio.create_task(reader.run(stop))
    connections = await open_connections(port, concurrency)
    done = failures = 0
    counter = 0
    deadline = time.perf_counter() + seconds

    async def user(connection: Connection) -> None:
        nonlocal done, failures, counter
        while time.perf_counter() < deadline:
            counter += 1
            status, flow = await connection.request(
                "POST", "/api/v1/login", {"email": f"user{counter % ACCOUNTS}@example.org"}
            )
            if status != 201:
                failures += 1
                continue
            code = await reader.code(flow["id"])
            status, _ = await connection.request("POST", f"/api/v1/login/{flow['id']}/code", {"code": code})
            if status == 200:
                done += 1
            else:
                failures += 1
            if fresh_connections:
                await connection.close()  # the next sign-in comes on a new connection

    began = time.perf_counter()
    await asyncio.gather(*(user(c) for c in connections))
    elapsed = time.perf_counter() - began
    stop.set()
    await reading
    for connection in connections:
        await connection.close()
    reader.close()
    return done, elapsed, failures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--processes", default="1,2")
    args = parser.parse_args()
    install_server()
    print(f"machine: {os.cpu_count()} cores; {args.seconds:.0f} s per measurement; concurrency {args.concurrency}")
    print(
        "| engine | processes | sign-ins/s | healthz req/s (reference) | sign-ins / reference | RSS per process (MB) | start→ready (s) "
        "| server CPU ms / sign-in | load generator CPU ms / sign-in | failures |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for engine_name in args.engines.split(","):
        for workers in (int(n) for n in args.processes.split(",")):
            folder = Path(tempfile.mkdtemp(prefix="vk-bench-"))
            url = prepare_database(engine_name, folder)
            process, port, ready_s = start(url, folder, workers)
            try:
                uvloop.run(signin_rate(port, url, 1.0, args.concurrency))  # warm up
                reference = uvloop.run(healthz_rate(port, args.seconds, args.concurrency))
                server_before, client_before = cpu_seconds(process.pid)
                done, elapsed, failures = uvloop.run(signin_rate(port, url, args.seconds, args.concurrency))
                server_after, client_after = cpu_seconds(process.pid)
                rate = done / elapsed
                server_ms = (server_after - server_before) * 1000 / max(done, 1)
                client_ms = (client_after - client_before) * 1000 / max(done, 1)
                memory = rss_mb(process.pid)
                workers_rss = memory[1:] or memory
                print(
                    f"| {engine_name} | {workers} | {rate:,.0f} | {reference:,.0f} | {rate / reference:.3f} | "
                    f"{max(workers_rss):.0f} | {ready_s:.2f} | {server_ms:.2f} | {client_ms:.2f} | {failures} |",
                    flush=True,
                )
            finally:
                process.terminate()
                process.wait(timeout=10)
                drop_database(url)
                shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
