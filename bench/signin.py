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
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from sqlalchemy import create_engine, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.httpclient import Connection
from vitalkey.adapters.db import migrate
from vitalkey.adapters.db import schema as t
from vitalkey.adapters.db.engine import make_engine
from vitalkey.domain.accounts import Profile, Sex, Units

PG_ADMIN = os.environ.get("VITALKEY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
VITALKEY = str(Path(sys.executable).with_name("vitalkey"))
ACCOUNTS = 20_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def prepare_database(engine_name: str, folder: Path) -> str:
    if engine_name == "sqlite":
        url = f"sqlite:///{folder / 'bench.sqlite3'}"
    else:
        name = f"vk_bench_{secrets.token_hex(3)}"
        admin = create_engine(PG_ADMIN.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    engine = make_engine(url)
    migrate.upgrade(engine)
    from datetime import UTC, date, datetime

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
        for i in range(ACCOUNTS)
    ]
    with engine.begin() as conn:
        conn.execute(t.accounts.insert(), rows)
    engine.dispose()
    return url


def drop_database(url: str) -> None:
    if url.startswith("postgresql"):
        name = url.rsplit("/", 1)[1]
        admin = create_engine(PG_ADMIN.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def start(url: str, folder: Path, workers: int) -> tuple[subprocess.Popen[bytes], int, float]:
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
    }
    began = time.perf_counter()
    process = subprocess.Popen(
        [VITALKEY, "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
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


def rss_mb(pid: int) -> list[float]:
    """Resident memory of the server's worker processes (the children of the granian main process)."""
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


async def signin_rate(port: int, url: str, seconds: float, concurrency: int) -> tuple[float, int]:
    """Waves of ``concurrency`` sign-ins: start all, read their codes in one query, verify all."""
    engine = make_engine(url)
    done = failures = 0
    counter = 0
    connections = await open_connections(port, concurrency)
    deadline = time.perf_counter() + seconds
    began = time.perf_counter()
    while time.perf_counter() < deadline:
        emails = [f"user{(counter + i) % ACCOUNTS}@example.org" for i in range(concurrency)]
        counter += concurrency
        started = await asyncio.gather(
            *(c.request("POST", "/api/v1/login", {"email": e}) for c, e in zip(connections, emails, strict=True))
        )
        flow_ids = [body["id"] for status, body in started if status == 201]
        failures += concurrency - len(flow_ids)

        def codes(flow_ids: list[str] = flow_ids) -> dict[str, str]:
            with engine.connect() as conn:
                rows = conn.execute(
                    select(t.outbox.c.idempotency_key, t.outbox.c.payload)
                    .where(t.outbox.c.id > 0)
                    .where(t.outbox.c.idempotency_key.in_([f"login:{f}:email:1" for f in flow_ids]))
                )
                return {key.split(":")[1]: payload["code"] for key, payload in rows}

        found = await asyncio.to_thread(codes)
        verified = await asyncio.gather(
            *(
                c.request("POST", f"/api/v1/login/{f}/code", {"code": found[f]})
                for c, f in zip(connections, flow_ids, strict=False)
            )
        )
        ok = sum(1 for status, _ in verified if status == 200)
        done += ok
        failures += len(verified) - ok
    elapsed = time.perf_counter() - began
    for connection in connections:
        await connection.close()
    engine.dispose()
    return done / elapsed, failures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--engines", default="sqlite,postgresql")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; {args.seconds:.0f} s per measurement; concurrency {args.concurrency}")
    print(
        "| engine | processes | sign-ins/s | healthz req/s (reference) | sign-ins / reference | RSS per process (MB) | start→ready (s) | failures |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for engine_name in args.engines.split(","):
        for workers in (1, 2):
            folder = Path(tempfile.mkdtemp(prefix="vk-bench-"))
            url = prepare_database(engine_name, folder)
            process, port, ready_s = start(url, folder, workers)
            try:
                asyncio.run(signin_rate(port, url, 1.0, args.concurrency))  # warm up
                reference = asyncio.run(healthz_rate(port, args.seconds, args.concurrency))
                rate, failures = asyncio.run(signin_rate(port, url, args.seconds, args.concurrency))
                memory = rss_mb(process.pid)
                workers_rss = memory[1:] or memory
                print(
                    f"| {engine_name} | {workers} | {rate:,.0f} | {reference:,.0f} | {rate / reference:.3f} | "
                    f"{max(workers_rss):.0f} | {ready_s:.2f} | {failures} |",
                    flush=True,
                )
            finally:
                process.terminate()
                process.wait(timeout=10)
                drop_database(url)
                shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
