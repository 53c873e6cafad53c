"""Benchmark: passkey sign-ins per second (POST /api/v1/login/passkey for the options, then
POST /api/v1/login/{id}/passkey with the answer) with 1 and 2 server processes, the answers made
by a software authenticator in the load generator (ES256, one passkey per account); next to the
ES256 signature verifications per second of this same machine, measured by this same script in
as many processes as the server has; the server's CPU time per sign-in (and the load
generator's, which signs every answer).

A passkey sign-in needs one ES256 verification, which costs little next to the rest of a request
(two requests, two transactions), so the verification rate is a ceiling far above the sign-in
rate, not a target: the ratio says how much of a sign-in is the signature.

    .venv/bin/python bench/passkey_signin.py [--seconds 10] [--concurrency 16] [--engines sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing
import os
import secrets
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import uvloop
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import bytes_to_base64url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.httpclient import Connection
from bench.signin import cpu_seconds, drop_database, install_server, open_connections, prepare_database, start
from tests.soft_authenticator import SoftAuthenticator, SoftCredential
from vitalkey.adapters.db import schema as t
from vitalkey.adapters.db.engine import make_engine

# The relying party the server is given (its public_url); the API does not look at the Host.
PUBLIC_URL = "http://localhost:8443"
PASSKEY_ACCOUNTS = 2_000  # of the bench's accounts, these get a passkey each


def give_passkeys(url: str, count: int) -> SoftAuthenticator:
    """Accounts 1 … ``count`` get one passkey each, stored as an enrolment stores it; the load
    generator's authenticator holds their private keys."""
    device = SoftAuthenticator(origin=PUBLIC_URL)
    now = datetime.now(UTC)
    rows = []
    for account_id in range(1, count + 1):
        credential = SoftCredential(
            credential_id=secrets.token_bytes(16),
            key=ec.generate_private_key(ec.SECP256R1()),
            rp_id="localhost",
            user_handle=secrets.token_bytes(32),
        )
        device.credentials.append(credential)
        data = {
            "public_key": bytes_to_base64url(credential.cose_public_key()),
            "user_handle": bytes_to_base64url(credential.user_handle),
            "transports": ["internal"],
            "aaguid": "a11ce000-0000-4000-8000-0000000000ee",
            "fmt": "none",
            "backup_eligible": False,
            "backed_up": False,
        }
        rows.append(
            {
                "account_id": account_id,
                "kind": "passkey",
                "name": "Bench",
                "created_at": now,
                "is_default": False,
                "lookup": credential.id,
                "counter": 0,
                "data": data,
                "sealed": "",
            }
        )
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(t.authenticators.insert(), rows)
    engine.dispose()
    return device


# The machine's ES256 limit ----------------------------------------------------------------------
def _verify_for(seconds: float) -> int:
    """One process verifying an ES256 signature over what a passkey signs, until the time is up."""
    key = ec.generate_private_key(ec.SECP256R1())
    signed = secrets.token_bytes(37) + hashlib.sha256(secrets.token_bytes(120)).digest()
    signature = key.sign(signed, ec.ECDSA(hashes.SHA256()))
    public = key.public_key()
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        public.verify(signature, signed, ec.ECDSA(hashes.SHA256()))
        count += 1
    return count


def es256_limit(processes: int, seconds: float) -> float:
    began = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        counts = pool.map(_verify_for, [seconds] * processes)
    return sum(counts) / (time.perf_counter() - began)


# The load --------------------------------------------------------------------------------------
async def passkey_signin_rate(
    port: int, device: SoftAuthenticator, seconds: float, concurrency: int
) -> tuple[int, float, int]:
    """``concurrency`` simulated users, each signing in again and again with its own passkeys
    (user i takes the passkeys i, i + concurrency, …: one passkey is never used twice at once, as
    its counter must grow)."""
    connections = await open_connections(port, concurrency)
    done = failures = 0
    deadline = time.perf_counter() + seconds

    async def user(index: int, connection: Connection) -> None:
        nonlocal done, failures
        mine = device.credentials[index::concurrency]
        turn = 0
        while time.perf_counter() < deadline:
            credential = mine[turn % len(mine)]
            turn += 1
            status, flow = await connection.request("POST", "/api/v1/login/passkey")
            if status != 201:
                failures += 1
                continue
            answer = json.loads(device.get(json.dumps(flow["options"]), credential=credential))
            status, _ = await connection.request("POST", f"/api/v1/login/{flow['id']}/passkey", {"credential": answer})
            if status == 200:
                done += 1
            else:
                failures += 1

    began = time.perf_counter()
    await asyncio.gather(*(user(i, c) for i, c in enumerate(connections)))
    elapsed = time.perf_counter() - began
    for connection in connections:
        await connection.close()
    return done, elapsed, failures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--processes", default="1,2")
    parser.add_argument("--accounts", type=int, default=PASSKEY_ACCOUNTS)
    parser.add_argument("--no-install", action="store_true", help="reuse bench/.venv-prod as it is")
    args = parser.parse_args()
    if not args.no_install:
        install_server()
    print(f"machine: {os.cpu_count()} cores; {args.seconds:.0f} s per measurement; concurrency {args.concurrency}")
    print(
        "| engine | processes | passkey sign-ins/s | ES256 verifications/s (same processes) | sign-ins / verifications "
        "| server CPU ms / sign-in | load generator CPU ms / sign-in | failures |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for engine_name in args.engines.split(","):
        for workers in (int(n) for n in args.processes.split(",")):
            limit_before = es256_limit(workers, args.seconds / 2)
            folder = Path(tempfile.mkdtemp(prefix="vk-bench-"))
            url = prepare_database(engine_name, folder, accounts=args.accounts)
            device = give_passkeys(url, args.accounts)
            process, port, _ = start(url, folder, workers, {"VITALKEY_PUBLIC_URL": PUBLIC_URL})
            try:
                uvloop.run(passkey_signin_rate(port, device, 1.0, args.concurrency))  # warm up
                server_before, client_before = cpu_seconds(process.pid)
                done, elapsed, failures = uvloop.run(passkey_signin_rate(port, device, args.seconds, args.concurrency))
                server_after, client_after = cpu_seconds(process.pid)
            finally:
                process.terminate()
                process.wait(timeout=10)
                drop_database(url)
                shutil.rmtree(folder, ignore_errors=True)
            # The mean of a measurement just before the server started and one just after it
            # stopped (the machine is shared; its speed drifts).
            limit = (limit_before + es256_limit(workers, args.seconds / 2)) / 2
            rate = done / elapsed
            server_ms = (server_after - server_before) * 1000 / max(done, 1)
            client_ms = (client_after - client_before) * 1000 / max(done, 1)
            print(
                f"| {engine_name} | {workers} | {rate:,.1f} | {limit:,.0f} | {rate / limit:.4f} "
                f"| {server_ms:.2f} | {client_ms:.2f} | {failures} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
