"""Benchmark: password sign-ins per second (start, "Login with password instead", password,
through the JSON API) with 1 and 2 server processes, next to the argon2id limit measured by
this same script on this same machine: hash verifications per second with the server's
parameters and process count, each process using as many threads as the server's hashing pool.

A password sign-in is dominated by argon2id (tens of milliseconds of CPU by design), so the
target is to reach at least 90% of that limit: the server around the hash must cost little.

    .venv/bin/python bench/password_signin.py [--seconds 10] [--concurrency 32] [--engines sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import uvloop
from argon2 import PasswordHasher
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.httpclient import Connection
from bench.signin import (
    ACCOUNTS,
    cpu_seconds,
    drop_database,
    install_server,
    open_connections,
    prepare_database,
    start,
)
from vitalkey.adapters.db.engine import make_engine
from vitalkey.domain.passwords import PasswordPolicy

POLICY = PasswordPolicy()  # the server's defaults: m=19 MiB, t=2, p=1
PASSWORD = "violet tram umbrella 42"


def hasher() -> PasswordHasher:
    return PasswordHasher(memory_cost=POLICY.memory_kib, time_cost=POLICY.time_cost, parallelism=POLICY.parallelism)


def _verify_for(seconds: float, threads: int, stored: str) -> int:
    """One process: ``threads`` threads verifying the right password until the time is up."""
    argon2 = hasher()
    deadline = time.perf_counter() + seconds

    def loop() -> int:
        count = 0
        while time.perf_counter() < deadline:
            argon2.verify(stored, PASSWORD)
            count += 1
        return count

    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(lambda _: loop(), range(threads)))


def argon2_limit(processes: int, seconds: float) -> float:
    """Verifications per second by ``processes`` processes, each with the server's pool size."""
    stored = hasher().hash(PASSWORD)
    threads = os.cpu_count() or 1
    began = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        counts = pool.starmap(_verify_for, [(seconds, threads, stored)] * processes)
    return sum(counts) / (time.perf_counter() - began)


def give_passwords(url: str) -> None:
    """Every bench account gets the same stored hash (one salt is enough for a benchmark)."""
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE accounts SET password_hash = :hash, password_changed_at = 0"),
            {"hash": hasher().hash(PASSWORD)},
        )
    engine.dispose()


async def password_signin_rate(
    port: int, seconds: float, concurrency: int, direct: bool = True
) -> tuple[int, float, int]:
    """``direct``: start with ``"method": "password"`` (no code mailed), then the password; else
    the seed's way: start (a code is mailed), "Login with password instead", the password."""
    connections = await open_connections(port, concurrency)
    done = failures = counter = 0
    deadline = time.perf_counter() + seconds

    async def user(connection: Connection) -> None:
        nonlocal done, failures, counter
        while time.perf_counter() < deadline:
            counter += 1
            email = f"user{counter % ACCOUNTS}@example.org"
            start_body = {"email": email, "method": "password"} if direct else {"email": email}
            status, flow = await connection.request("POST", "/api/v1/login", start_body)
            if status != 201:
                failures += 1
                continue
            if not direct:
                await connection.request("POST", f"/api/v1/login/{flow['id']}/password-instead")
            status, _ = await connection.request("POST", f"/api/v1/login/{flow['id']}/password", {"password": PASSWORD})
            if status == 200:
                done += 1
            else:
                failures += 1

    began = time.perf_counter()
    await asyncio.gather(*(user(c) for c in connections))
    elapsed = time.perf_counter() - began
    for connection in connections:
        await connection.close()
    return done, elapsed, failures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--processes", default="1,2")
    args = parser.parse_args()
    install_server()
    print(f"machine: {os.cpu_count()} cores; {args.seconds:.0f} s per measurement; concurrency {args.concurrency}")
    print(
        "| engine | processes | path | password sign-ins/s | argon2id verifications/s (limit) | sign-ins / limit "
        "| server CPU ms / sign-in | failures |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for engine_name in args.engines.split(","):
        for workers in (int(n) for n in args.processes.split(",")):
            limit_before = argon2_limit(workers, args.seconds / 2)
            folder = Path(tempfile.mkdtemp(prefix="vk-bench-"))
            url = prepare_database(engine_name, folder)
            give_passwords(url)
            process, port, _ = start(
                url,
                folder,
                workers,
                {"VITALKEY_PASSWORD_ATTEMPTS_PER_IP": "100000000/60", "VITALKEY_MAIL_LIMIT_PER_ADDRESS": "100000/60"},
            )
            measured = []
            try:
                uvloop.run(password_signin_rate(port, 1.0, args.concurrency))  # warm up
                for direct in (True, False):
                    server_before, _ = cpu_seconds(process.pid)
                    done, elapsed, failures = uvloop.run(
                        password_signin_rate(port, args.seconds, args.concurrency, direct)
                    )
                    server_after, _ = cpu_seconds(process.pid)
                    measured.append((direct, done, elapsed, failures, server_after - server_before))
            finally:
                process.terminate()
                process.wait(timeout=10)
                drop_database(url)
                shutil.rmtree(folder, ignore_errors=True)
            # The limit: the mean of a measurement just before the server started and one just after
            # it stopped (the machine is shared; its speed drifts).
            limit = (limit_before + argon2_limit(workers, args.seconds / 2)) / 2
            for direct, done, elapsed, failures, server_s in measured:
                rate = done / elapsed
                path = "start with password" if direct else "code mailed, then password instead"
                print(
                    f"| {engine_name} | {workers} | {path} | {rate:,.1f} | {limit:,.1f} | {rate / limit:.3f} "
                    f"| {server_s * 1000 / max(done, 1):.1f} | {failures} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
