"""Benchmark: OAuth token grants per second at POST /oauth2/token — refresh-token grants (each
answer rotates the refresh token, and each simulated client goes on with the newest one) and
authorization-code redemptions — for VitalKey with 1 and 2 server processes (SQLite, and
PostgreSQL when asked), and side by side for node's oidc-provider (the npm package, installed
by this script into bench/.node/) with 1 and 2 processes (node's cluster module).

Codes are not obtained through a browser: VitalKey's are rows written into ``oauth_codes``
before the run; oidc-provider's are created through its own models (``Grant``,
``AuthorizationCode``) by a set-up endpoint of the small provider.mjs this script writes. Every
chain starts by redeeming one such code.

References, measured in the same run against the same server with the same client and
concurrency: ``GET /healthz`` requests per second (VitalKey's, and a trivial Koa middleware in
front of oidc-provider's routes, answering ``{"status": "ok"}``).

    .venv/bin/python bench/oauth_grants.py [--seconds 10] [--rounds 4] [--concurrency 64]
        [--processes 1,2] [--targets vitalkey-sqlite,node,vitalkey-postgresql] [--codes-per-client 1000]

The servers of one process count run side by side; refresh grants are measured in alternating
rounds (A B, B A, …), since the machine's speed drifts during a run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.httpclient import Connection
from bench.signin import (
    cpu_seconds,
    drop_database,
    free_port,
    healthz_rate,
    install_server,
    open_connections,
    prepare_database,
    rss_mb,
    start,
)
from vitalkey.container import build
from vitalkey.domain.apps import ClientType
from vitalkey.domain.oauth import AuthorizationCode
from vitalkey.domain.tokens import new_token, token_digest
from vitalkey.flows.clients import NewClient
from vitalkey.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
NODE_DIR = ROOT / "bench" / ".node"
REDIRECT_URI = "https://bench.example/cb"
SCOPES = ("user.info", "user.metrics")
CODE_ACCOUNTS = 1_000  # the codes are spread over this many users
HOUR_S = 3600


@dataclass
class Client:
    """How to reach one server's token endpoint."""

    port: int
    path: str
    client_id: str
    secret: str = field(repr=False)
    codes: Callable[[Connection, int], Awaitable[list[str]]]  # ``n`` fresh codes, usable on that connection

    def form(self, **values: str) -> dict[str, str]:
        return {**values, "client_id": self.client_id, "client_secret": self.secret}  # client_secret_post


@dataclass
class Tally:
    done: int = 0
    failures: int = 0
    elapsed: float = 0.0
    first_failure: str = ""
    ran_out: bool = False

    def fail(self, status: int, body: object) -> None:
        self.failures += 1
        if not self.first_failure:  # error answers carry no token
            self.first_failure = f"HTTP {status} {json.dumps(body)[:300]}"

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed else 0.0


# VitalKey ---------------------------------------------------------------------------------------
def seed_vitalkey(
    url: str, folder: Path, codes: int, accounts: Sequence[int] = range(1, CODE_ACCOUNTS + 1)
) -> tuple[str, str, list[str]]:
    """A confidential client, consents for ``accounts`` (the first ones by default), and ``codes``
    live codes, the n-th for the (n mod len(accounts))-th of them."""
    settings = load_settings(environ={"VITALKEY_DATABASE_URL": url, "VITALKEY_DATA_DIR": str(folder)})
    container = build(settings)
    try:
        registered = container.apps.register(
            NewClient(
                name="Bench partner",
                client_type=ClientType.CONFIDENTIAL,
                redirect_uris=(REDIRECT_URI,),
                scopes=SCOPES,
            )
        )
        assert registered.secret is not None
        client_id = registered.app.client_id
        now = datetime.now(UTC)
        values = [new_token(32) for _ in range(codes)]
        with container.uow.begin() as tx:
            for account_id in accounts:
                tx.consents.allow(account_id, client_id, SCOPES, now)
            for n, code in enumerate(values):
                tx.authorization_codes.add(
                    AuthorizationCode(
                        digest=token_digest(code),
                        client_id=client_id,
                        account_id=accounts[n % len(accounts)],
                        redirect_uri=REDIRECT_URI,
                        scopes=SCOPES,
                        scope_text=",".join(SCOPES),
                        nonce="",
                        code_challenge="",
                        code_challenge_method="",
                        auth_time=now,
                        methods=("email_code",),
                        family_id=new_token(16),
                        created_at=now,
                        expires_at=now + timedelta(hours=2),
                    )
                )
        return client_id, registered.secret, values
    finally:
        container.close()


def start_vitalkey(engine: str, folder: Path, workers: int, codes: int) -> tuple[subprocess.Popen[bytes], Client, str]:
    url = prepare_database(engine, folder)
    client_id, secret, values = seed_vitalkey(url, folder, codes)
    extra = {"VITALKEY_OAUTH_CODE_TTL_S": str(2 * HOUR_S)}
    process, port, _ = start(url, folder, workers, extra, log=folder / "server.log")

    async def take(_: Connection, n: int) -> list[str]:
        taken = values[:n]
        del values[:n]
        return taken

    return process, Client(port, "/oauth2/token", client_id, secret, take), url


# oidc-provider ----------------------------------------------------------------------------------
PROVIDER_MJS = """\
// Written by bench/oauth_grants.py: oidc-provider with one confidential client, for the benchmark.
import cluster from 'node:cluster';
import http from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.env.BENCH_PORT);
const workers = Number(process.env.BENCH_WORKERS || '1');
const REDIRECT_URI = process.env.BENCH_REDIRECT_URI;
const SCOPES = process.env.BENCH_SCOPES.split(' ');
const SCOPE = ['offline_access', ...SCOPES].join(' ');

// In memory, in a Map: the bundled memory adapter is an LRU of 1,000 entries, which would drop
// the codes made before the run. Nothing expires here; oidc-provider checks expiry itself.
const store = new Map();
class MapAdapter {
  constructor(model) { this.model = model; }
  key(id) { return `${this.model}:${id}`; }
  async upsert(id, payload) {
    store.set(this.key(id), payload);
    if (payload.grantId) {
      const members = store.get(`grant:${payload.grantId}`) ?? [];
      members.push(this.key(id));
      store.set(`grant:${payload.grantId}`, members);
    }
    if (payload.uid) store.set(`uid:${payload.uid}`, id);
  }
  async find(id) { return store.get(this.key(id)); }
  async findByUid(uid) { return this.find(store.get(`uid:${uid}`)); }
  async findByUserCode() { return undefined; }
  async consume(id) { store.get(this.key(id)).consumed = Math.floor(Date.now() / 1000); }
  async destroy(id) { store.delete(this.key(id)); }
  async revokeByGrantId(grantId) {
    for (const key of store.get(`grant:${grantId}`) ?? []) store.delete(key);
    store.delete(`grant:${grantId}`);
  }
}

function serve() {
  const provider = new Provider(`http://127.0.0.1:${port}`, {
    adapter: MapAdapter,
    clients: [{
      client_id: 'bench',
      client_secret: process.env.BENCH_CLIENT_SECRET,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [REDIRECT_URI],
      token_endpoint_auth_method: 'client_secret_post',
    }],
    scopes: ['openid', 'offline_access', ...SCOPES],
    rotateRefreshToken: true,
    ttl: { AccessToken: 3 * 3600, AuthorizationCode: 2 * 3600, RefreshToken: 365 * 86400, Grant: 365 * 86400 },
    findAccount: (ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
    cookies: { keys: ['bench-only-cookie-key'] },
  });
  let users = 0;
  provider.use(async (ctx, next) => {
    if (ctx.path === '/healthz') {
      ctx.body = { status: 'ok' };
      return;
    }
    if (ctx.path === '/bench/codes' && ctx.method === 'POST') {
      // Set-up only: what a consent leaves behind (a grant) and the code issued on it.
      const client = await provider.Client.find('bench');
      const codes = [];
      for (let i = 0; i < Number(ctx.query.n); i += 1) {
        const accountId = `user${(users += 1) % 1000}`;
        const grant = new provider.Grant({ accountId, clientId: 'bench' });
        grant.addOIDCScope(SCOPE);
        const grantId = await grant.save();
        const code = new provider.AuthorizationCode({
          accountId, client, grantId, redirectUri: REDIRECT_URI, scope: SCOPE,
          authTime: Math.floor(Date.now() / 1000),
        });
        codes.push(await code.save());
      }
      ctx.body = { codes };
      return;
    }
    await next();
  });
  const server = http.createServer(provider.callback());
  server.keepAliveTimeout = 600_000; // codes live in this process: the client keeps its connection
  server.listen(port, '127.0.0.1');
}

if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i += 1) cluster.fork();
} else {
  serve();
}
"""


def install_node() -> str:
    """oidc-provider's newest release into bench/.node (git-ignored), and provider.mjs beside it."""
    subprocess.run(
        [
            "npm",
            "install",
            "--prefix",
            str(NODE_DIR),
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            "oidc-provider@latest",
        ],
        check=True,
    )
    (NODE_DIR / "provider.mjs").write_text(PROVIDER_MJS)
    package = json.loads((NODE_DIR / "node_modules" / "oidc-provider" / "package.json").read_text())
    return str(package["version"])


def start_node(folder: Path, workers: int) -> tuple[subprocess.Popen[bytes], Client]:
    port, secret = free_port(), new_token(32)
    env = {
        **os.environ,
        "BENCH_PORT": str(port),
        "BENCH_WORKERS": str(workers),
        "BENCH_CLIENT_SECRET": secret,
        "BENCH_REDIRECT_URI": REDIRECT_URI,
        "BENCH_SCOPES": " ".join(SCOPES),
    }
    with open(folder / "server.log", "wb") as log:
        process = subprocess.Popen(["node", str(NODE_DIR / "provider.mjs")], env=env, stdout=log, stderr=log)
    began = time.perf_counter()
    while time.perf_counter() - began < 30:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    time.sleep(0.5 if workers > 1 else 0)  # every worker listening, not only the first
                    break
        except OSError:
            time.sleep(0.05)
    else:
        raise RuntimeError(f"oidc-provider did not start; see {folder / 'server.log'}")

    async def make(connection: Connection, n: int) -> list[str]:
        """Codes live in the memory of the worker behind this connection."""
        status, body = await connection.request("POST", f"/bench/codes?n={n}", form={})
        assert status == 200, (status, body)
        return list(body["codes"])

    return process, Client(port, "/token", "bench", secret, make)


# The load ---------------------------------------------------------------------------------------
async def redeem(connection: Connection, client: Client, code: str, tally: Tally) -> str | None:
    """A code for tokens; the refresh token, or None (counted as a failure)."""
    status, body = await connection.request(
        "POST", client.path, form=client.form(grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI)
    )
    if status == 200 and "refresh_token" in body:
        return str(body["refresh_token"])
    tally.fail(status, body)
    return None


async def refresh_rate(client: Client, seconds: float, concurrency: int) -> Tally:
    """``concurrency`` clients, each on its own keep-alive connection, each refreshing its own grant
    again and again with the newest refresh token it was given. A chain stops at its first failure."""
    tally = Tally()
    connections = await open_connections(client.port, concurrency)
    firsts = [await redeem(c, client, (await client.codes(c, 1))[0], tally) for c in connections]

    async def chain(connection: Connection, token: str | None) -> None:
        while token is not None and time.perf_counter() < deadline:
            status, body = await connection.request(
                "POST", client.path, form=client.form(grant_type="refresh_token", refresh_token=token)
            )
            if status == 200 and "refresh_token" in body:
                token = str(body["refresh_token"])
                tally.done += 1
            else:
                tally.fail(status, body)
                token = None

    began = time.perf_counter()
    deadline = began + seconds
    await asyncio.gather(*(chain(c, t) for c, t in zip(connections, firsts, strict=True)))
    tally.elapsed = time.perf_counter() - began
    for connection in connections:
        await connection.close()
    return tally


async def code_rate(client: Client, seconds: float, concurrency: int, per_connection: int) -> Tally:
    """``concurrency`` clients redeeming codes issued before the run, one after the other. The run
    ends at the deadline or when the first client has used all its codes."""
    tally = Tally()
    connections = await open_connections(client.port, concurrency)
    batches = [await client.codes(c, per_connection) for c in connections]

    async def user(connection: Connection, codes: list[str]) -> None:
        for code in codes:
            if time.perf_counter() >= deadline or tally.ran_out:
                return
            if await redeem(connection, client, code, tally) is not None:
                tally.done += 1
        tally.ran_out = True

    began = time.perf_counter()
    deadline = began + seconds
    await asyncio.gather(*(user(c, b) for c, b in zip(connections, batches, strict=True)))
    tally.elapsed = time.perf_counter() - began
    for connection in connections:
        await connection.close()
    return tally


@dataclass
class Row:
    server: str
    processes: int
    grant: str
    tally: Tally
    reference: float
    server_cpu_ms: float
    rss_ready: float
    rss_after: float

    def markdown(self, vitalkey_reference: float | None) -> str:
        common = f"{self.tally.rate / vitalkey_reference:.3f}" if vitalkey_reference else "–"
        return (
            f"| {self.server} | {self.processes} | {self.grant} | {self.tally.rate:,.0f} | {self.reference:,.0f} | "
            f"{self.tally.rate / self.reference:.3f} | {common} | {self.server_cpu_ms:.2f} | "
            f"{self.rss_ready:.0f} → {self.rss_after:.0f} | "
            f"{self.tally.failures} |"
        )


def largest_worker_rss(pid: int) -> float:
    """MB: the largest resident set among the worker processes (the main one when it serves alone)."""
    memory = rss_mb(pid)
    return max(memory[1:] or memory)


@dataclass
class Target:
    """One running server under measurement."""

    name: str
    workers: int
    process: subprocess.Popen[bytes]
    client: Client
    folder: Path
    url: str = ""  # VitalKey's database, dropped at the end
    rss_ready: float = 0.0
    reference: float = 0.0
    refresh_rounds: list[Tally] = field(default_factory=list)
    refresh_cpu_s: float = 0.0

    def start_measuring(self) -> float:
        return cpu_seconds(self.process.pid)[0]

    def row(self, grant: str, tally: Tally, cpu_s: float) -> Row:
        cpu_ms = cpu_s * 1000 / max(tally.done, 1)
        rss_after = largest_worker_rss(self.process.pid)
        return Row(self.name, self.workers, grant, tally, self.reference, cpu_ms, self.rss_ready, rss_after)


def start_target(target: str, workers: int, args: argparse.Namespace) -> Target:
    folder = Path(tempfile.mkdtemp(prefix="vk-oauth-bench-"))
    if target == "node":
        process, client = start_node(folder, workers)
        return Target("oidc-provider (in memory)", workers, process, client, folder)
    engine = target.removeprefix("vitalkey-")
    codes = args.concurrency * (args.codes_per_client + args.rounds + 2)
    process, client, url = start_vitalkey(engine, folder, workers, codes)
    return Target(f"VitalKey ({engine})", workers, process, client, folder, url)


def stop_target(target: Target, failed: bool) -> None:
    target.process.terminate()
    target.process.wait(timeout=10)
    if target.url:
        drop_database(target.url)
    if failed:
        print(f"  {target.name} x{target.workers}: server output kept in {target.folder / 'server.log'}", flush=True)
    else:
        shutil.rmtree(target.folder, ignore_errors=True)


def measure(targets: list[Target], args: argparse.Namespace) -> list[Row]:
    """The servers run side by side, each idle while another is measured. Refresh grants are
    measured in ``--rounds`` rounds of ``--seconds / --rounds`` each, the servers taking turns in
    the order A B, B A, A B … (the machine's speed drifts: each server gets as much of every
    part of the run); code redemptions once each."""
    for target in targets:
        target.rss_ready = largest_worker_rss(target.process.pid)
        uvloop.run(refresh_rate(target.client, 1.0, args.concurrency))  # warm up
    for target in targets:
        target.reference = uvloop.run(healthz_rate(target.client.port, args.seconds, args.concurrency))
    for round_ in range(args.rounds):
        for target in targets if round_ % 2 == 0 else targets[::-1]:
            before = target.start_measuring()
            tally = uvloop.run(refresh_rate(target.client, args.seconds / args.rounds, args.concurrency))
            target.refresh_cpu_s += target.start_measuring() - before
            target.refresh_rounds.append(tally)
    rows = []
    for target in targets:
        total = Tally(
            done=sum(t.done for t in target.refresh_rounds),
            failures=sum(t.failures for t in target.refresh_rounds),
            elapsed=sum(t.elapsed for t in target.refresh_rounds),
            first_failure=next((t.first_failure for t in target.refresh_rounds if t.first_failure), ""),
        )
        rows.append(target.row("refresh", total, target.refresh_cpu_s))
    for target in targets:
        # Codes are made before the run (oidc-provider makes them through the connection, so its
        # CPU counter starts after that).
        before = target.start_measuring()
        tally = uvloop.run(code_rate(target.client, args.seconds, args.concurrency, args.codes_per_client))
        rows.append(target.row("code", tally, target.start_measuring() - before))
        if tally.ran_out:
            print(f"  {target.name} x{target.workers} code: codes ran out after {tally.elapsed:.1f} s", flush=True)
    for row in rows:
        if row.tally.first_failure:
            print(f"  {row.server} x{row.processes} {row.grant}: first failure: {row.tally.first_failure}", flush=True)
    print(
        f"  refresh grants/s per round (x{targets[0].workers}): "
        + "; ".join(f"{t.name}: " + " / ".join(f"{r.rate:,.0f}" for r in t.refresh_rounds) for t in targets),
        flush=True,
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10, help="per measurement (refresh: over all rounds)")
    parser.add_argument("--rounds", type=int, default=4, help="refresh measurements alternate this many times")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--processes", default="1,2")
    parser.add_argument("--targets", default="vitalkey-sqlite,node", help="vitalkey-sqlite,vitalkey-postgresql,node")
    parser.add_argument("--codes-per-client", type=int, default=1000, help="codes issued per client before a run")
    args = parser.parse_args()
    names = args.targets.split(",")
    install_server()
    versions = ""
    if "node" in names:
        node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout.strip()
        versions = f"; node {node}, oidc-provider {install_node()}"
    print(
        f"machine: {os.cpu_count()} cores; {args.seconds:.0f} s per measurement, refresh in {args.rounds} "
        f"alternating rounds; concurrency {args.concurrency}{versions}"
    )
    print(
        "| server | processes | grant | grants/s | healthz req/s (own reference) | grants / own reference "
        "| grants / VitalKey healthz | server CPU ms / grant | RSS per process, ready → after (MB) | failures |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for workers in (int(n) for n in args.processes.split(",")):
        targets: list[Target] = []
        rows: list[Row] = []
        try:
            for name in names:
                targets.append(start_target(name, workers, args))
            rows = measure(targets, args)
        finally:
            failed = not rows or any(row.tally.failures for row in rows)
            for target in targets:
                stop_target(target, failed)
        vitalkey_reference = next((t.reference for t in targets if t.name.startswith("VitalKey")), None)
        for row in rows:
            print(row.markdown(vitalkey_reference), flush=True)


if __name__ == "__main__":
    main()
