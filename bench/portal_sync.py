"""Benchmark: the partner portal's sync (issue #20), against a real VitalKey server process.

1. **First sync.** A VitalKey user with 90 days of data from three devices (the demo's: a scale, a
   wearable, a sleep monitor); the portal links it and runs its first sync, the last 60 days
   (measures, activity, workouts, sleep): the time from the link's first-sync jobs being queued to
   the last one done, through the portal's own worker, Withings client and store. Each round is a
   new portal database, so every round stores the 60 days afresh.
2. **A poll cycle.** 1,000 linked users, each poll due at once (the worst case: the poll interval
   normally spreads them): the time until every link was polled, the provider requests the portal
   sent in the busiest 60 seconds, and the 601s it drew. The provider's limit — VitalKey's
   ``withings_requests_per_minute`` and the portal's ``requests_per_minute`` for it, the same
   number — is ``--limit`` (at 120 a minute a cycle of 4,000 requests takes over half an hour; the
   portal's pacer scales with the limit, so a higher one shows the same behaviour sooner).

The portal runs in this process (its worker as ``vitalkey-portal serve`` runs it), VitalKey as
``vitalkey serve`` from the deployed install in bench/.venv-prod.

    .venv/bin/python bench/portal_sync.py [--users 1000] [--limit 3000] [--rounds 5]

Results: bench/RESULTS.md, "Partner portal (issue #20)".
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import httpx
import uvloop
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.signin import drop_database, install_server, prepare_database, start
from vitalkey.container import build
from vitalkey.demo.seed import PORTAL_SCOPES, pair_devices, seed_history
from vitalkey.domain.apps import ClientType
from vitalkey.domain.oauth import AuthorizationCode
from vitalkey.domain.tokens import new_token, token_digest
from vitalkey.flows.clients import NewClient
from vitalkey.settings import load_settings
from vitalkey_portal.core import Core, build_core
from vitalkey_portal.db import tables
from vitalkey_portal.db.engine import make_engine
from vitalkey_portal.db.migrate import upgrade
from vitalkey_portal.db.store import JobKind
from vitalkey_portal.linking import code_challenge, redirect_uri
from vitalkey_portal.providers import Provider, ProviderKind
from vitalkey_portal.records import LinkState
from vitalkey_portal.settings import PortalSettings
from vitalkey_portal.syncing import FIRST_PARTS, tokens_of

PORTAL_URL = "http://127.0.0.1:9"  # never called back: the benchmark subscribes nobody
SLUG = "vitalkey"
VERIFIER = "bench-verifier-" + "x" * 40


class Counting(httpx.AsyncBaseTransport):
    """The portal's HTTP transport, counting what it sends to the provider and the 601s it gets."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.sent: list[float] = []  # moments of the data calls (the ones the provider's limit counts)
        self.statuses: Counter[int] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        if request.url.path != "/v2/oauth2":
            self.sent.append(time.monotonic())
            with contextlib.suppress(ValueError, AttributeError):
                self.statuses[int(json.loads(body).get("status", -1))] += 1
        headers = [
            (k, v) for k, v in response.headers.items() if k.lower() not in ("content-encoding", "content-length")
        ]
        return httpx.Response(response.status_code, headers=headers, content=body, request=request)

    def busiest_minute(self) -> int:
        moments, most, first = sorted(self.sent), 0, 0
        for last, moment in enumerate(moments):
            while moment - moments[first] >= 60:
                first += 1
            most = max(most, last - first + 1)
        return most

    async def aclose(self) -> None:
        await self.inner.aclose()


# VitalKey ---------------------------------------------------------------------------------------
def seed_vitalkey(url: str, folder: Path, users: int, codes_per_user: int) -> tuple[str, str, dict[int, list[str]]]:
    """The portal as a confidential client; the first account's 90 days from three devices;
    ``codes_per_user`` authorization codes (PKCE, the portal's redirect URI) for every account."""
    container = build(load_settings(environ={"VITALKEY_DATABASE_URL": url, "VITALKEY_DATA_DIR": str(folder)}))
    try:
        registered = container.apps.register(
            NewClient("Health2Go", ClientType.CONFIDENTIAL, (redirect_uri(PORTAL_URL, SLUG),), PORTAL_SCOPES)
        )
        assert registered.secret is not None
        client_id = registered.app.client_id
        now = container.clock.now()
        seed_history(container, 1, pair_devices(container, 1), now, days=90)
        codes: dict[int, list[str]] = {}
        with container.uow.begin() as tx:
            for account_id in range(1, users + 1):
                tx.consents.allow(account_id, client_id, PORTAL_SCOPES, now)
                codes[account_id] = []
                for _ in range(codes_per_user):
                    code = new_token(32)
                    codes[account_id].append(code)
                    tx.authorization_codes.add(
                        AuthorizationCode(
                            digest=token_digest(code),
                            client_id=client_id,
                            account_id=account_id,
                            redirect_uri=redirect_uri(PORTAL_URL, SLUG),
                            scopes=PORTAL_SCOPES,
                            scope_text=",".join(PORTAL_SCOPES),
                            nonce="",
                            code_challenge=code_challenge(VERIFIER),
                            code_challenge_method="S256",
                            auth_time=now,
                            methods=("email_code",),
                            family_id=new_token(16),
                            created_at=now,
                            expires_at=now + timedelta(hours=2),
                        )
                    )
        return client_id, registered.secret, codes
    finally:
        container.close()


# The portal -------------------------------------------------------------------------------------
def portal(folder: Path, port: int, client_id: str, secret: str, limit: int, transport: Counting) -> Core:
    provider = Provider(
        slug=SLUG,
        name="VitalKey",
        logo="",
        kind=ProviderKind.WITHINGS,
        authorize_url=f"http://127.0.0.1:{port}/oauth2_user/authorize2",
        api_url=f"http://127.0.0.1:{port}",
        client_id=client_id,
        client_secret=secret,
        scopes=PORTAL_SCOPES,
        requests_per_minute=limit,
        signs_notifications=True,
    )
    folder.mkdir(parents=True, exist_ok=True)
    settings = PortalSettings(
        public_url=PORTAL_URL,
        data_dir=str(folder),
        database_url=f"sqlite:///{folder / 'portal.sqlite3'}",
        secret_key=secrets.token_hex(32),
        providers=(provider,),
    )
    engine = make_engine(settings)
    upgrade(engine)
    return build_core(settings, engine, transport=transport)


async def link_users(core: Core, codes: dict[int, str]) -> dict[int, int]:
    """A portal user per VitalKey account, linked with tokens from the real token endpoint
    (``/v2/oauth2 action=requesttoken``); the portal's link id per account."""
    now = datetime.now(UTC)
    with (
        core.store.engine.begin() as conn
    ):  # users as `vitalkey-portal user add` leaves them, without hashing 1,000 passwords
        rows = [
            {"id": n, "username": f"user{n}", "display_name": f"User {n}", "password_hash": "-", "timezone": "UTC", "created": now}
            for n in codes
        ]  # fmt: skip
        conn.execute(insert(tables.users), rows)
    client = core.clients[SLUG]
    links: dict[int, int] = {}

    async def one(account_id: int) -> None:
        grant = await client.exchange_code(codes[account_id], VERIFIER, redirect_uri(PORTAL_URL, SLUG))
        link = core.store.save_link(
            account_id, SLUG, grant.userid, LinkState.LINKED, False, grant.scope, tokens_of(grant, now), now
        )
        links[account_id] = link.id

    for start_at in range(0, len(codes), 16):
        async with anyio.create_task_group() as group:
            for account_id in list(codes)[start_at : start_at + 16]:
                group.start_soon(one, account_id)
    return links


async def first_sync(
    port: int, folder: Path, client_id: str, secret: str, code: str, limit: int
) -> tuple[float, int, int]:
    """Seconds for one first sync; the requests it took; the measure groups it stored."""
    transport = Counting()
    core = portal(folder, port, client_id, secret, limit, transport)
    try:
        link_id = (await link_users(core, {1: code}))[1]
        transport.sent.clear()
        began = time.perf_counter()
        core.store.add_jobs((link_id, JobKind.FIRST, datetime.now(UTC), part, None, None, None) for part in FIRST_PARTS)
        await core.worker.drain(timeout_s=60)
        elapsed = time.perf_counter() - began
        link = core.store.link(link_id)
        assert link is not None and link.last_sync is not None, "the first sync did not complete"
        return elapsed, len(transport.sent), len(core.store.measure_groups([link_id]))
    finally:
        await core.aclose()
        await transport.aclose()


async def poll_cycle(
    port: int, folder: Path, client_id: str, secret: str, codes: dict[int, str], limit: int
) -> dict[str, float]:
    transport = Counting()
    core = portal(folder, port, client_id, secret, limit, transport)
    try:
        links = await link_users(core, codes)
        due = datetime.now(UTC)
        for link_id in links.values():
            core.store.synced(link_id, due - timedelta(days=1), poll_cursor=int(due.timestamp()) - 86400)
            core.store.schedule_poll(link_id, due)
        transport.sent.clear()
        transport.statuses.clear()
        stop = anyio.Event()
        began = time.perf_counter()
        async with anyio.create_task_group() as group:
            group.start_soon(core.worker.run, stop)
            while True:
                await anyio.sleep(0.5)
                if polled(core, links.values(), due) == len(links):
                    break
            elapsed = time.perf_counter() - began
            stop.set()
            core.worker.wake()
        return {
            "seconds": elapsed,
            "requests": len(transport.sent),
            "busiest_minute": transport.busiest_minute(),
            "too_many": transport.statuses[601],
            "failed": sum(n for status, n in transport.statuses.items() if status not in (0, 601)),
        }
    finally:
        await core.aclose()
        await transport.aclose()


def polled(core: Core, link_ids: Iterable[int], since: datetime) -> int:
    """How many of the links have synced since ``since``."""
    synced = (core.store.link(link_id) for link_id in link_ids)
    return sum(1 for link in synced if link is not None and link.last_sync is not None and link.last_sync >= since)


async def measure(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="vk-portal-bench-"))
    url = prepare_database("sqlite", folder, accounts=args.users)
    client_id, secret, codes = seed_vitalkey(url, folder, args.users, args.rounds + 1)
    env = {"VITALKEY_WITHINGS_REQUESTS_PER_MINUTE": str(args.limit)}
    process, port, _ = start(url, folder, 1, env, log=folder / "server.log")
    try:
        rounds = [
            await first_sync(port, folder / f"first-{n}", client_id, secret, codes[1][n], args.limit)
            for n in range(args.rounds)
        ]
        seconds = [r[0] for r in rounds]
        print(
            f"\nFirst sync of 60 days (of 90) from three devices, {args.rounds} rounds: "
            f"median {statistics.median(seconds):.3f} s, max {max(seconds):.3f} s; "
            f"{rounds[0][1]} requests, {rounds[0][2]} measure groups stored"
        )
        cycle = await poll_cycle(
            port, folder / "poll", client_id, secret, {a: c[-1] for a, c in codes.items()}, args.limit
        )
        print(
            f"Poll cycle over {args.users:,} linked users at a limit of {args.limit:,} a minute: "
            f"{cycle['seconds']:.1f} s, {cycle['requests']:,} requests, busiest minute {cycle['busiest_minute']:,} "
            f"({cycle['busiest_minute'] / args.limit:.0%} of the limit), 601s: {cycle['too_many']}, "
            f"other failures: {cycle['failed']}"
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
        drop_database(url)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--limit", type=int, default=3000, help="the provider's requests per minute")
    parser.add_argument("--rounds", type=int, default=5, help="first syncs to time")
    parser.add_argument("--no-install", action="store_true", help="use bench/.venv-prod as it is")
    args = parser.parse_args()
    if not args.no_install:
        install_server()
    uvloop.run(measure(args))


if __name__ == "__main__":
    main()
