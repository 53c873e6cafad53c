"""Benchmark: the health data of issue 18 — partner reads (GET /measure?action=getmeas, 60 days of
one user, an OAuth access token with user.metrics) on a database of ~10 million measures, and
ingestion (POST /api/v1/health/batches, batches of 500 measure groups) against the raw insert
rate of the same engine; SQLite and PostgreSQL, 1 and 2 server processes.

References, measured in the same run: GET /healthz requests per second against the same server
with the same client and concurrency, in rounds alternating with the reads (reads), and beside them
getgoals (``GET /v2/user?action=getgoals``: the token's check and one small row, the floor under
any partner read); the raw insert rate of the same engine, measured by
this script on a fresh database of the same engine just before the server starts and just after
it stops (ingestion).

The data (``Shape``): ``--users`` accounts (default 100,000), each with one Scale and a weigh-in
every 14 days over a year (each user's own day of the fortnight, between 06:00 and 10:00 UTC),
each weigh-in one measure group of 4 measures: weight (1), fat-free mass (5), fat ratio (6), fat
mass (8), in grams or thousandths of a percent (unit -3). 100,000 users: 2.6 million groups, 10.4
million measures. Groups are written day by day across all users (grpids in the order data would
arrive, so one user's groups are spread over the table as in real use). The generated database is
kept in bench/.cache/health-<key>/ (git-ignored; the key is a digest of the shape, the
generator's version and the migrations' text): SQLite as ``health.sqlite3`` there, PostgreSQL as the
database ``vk_bench_health_<key>_<checkout>`` (noted in ``postgresql.json`` there; ``<checkout>``
tells the working copies apart: each keeps its own cache, and one must not drop another's). A second run reuses it;
``--regenerate`` makes it again. Reads add their OAuth client and tokens to it.

    .venv/bin/python bench/health_data.py [--users 100000] [--engines sqlite,postgresql]
        [--processes 1,2] [--seconds 10] [--rounds 4] [--concurrency 64] [--light-concurrency 4]
        [--tokens 1000] [--ingest-apps 8] [--parts reads,ingest|generate] [--limits redis] [--regenerate]

Results and what each figure means: bench/RESULTS.md, "Health data (issue #18)".
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import uvloop
from sqlalchemy import Engine, create_engine, insert, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.schema import AddConstraint, DropConstraint

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.httpclient import Connection
from bench.oauth_grants import REDIRECT_URI, seed_vitalkey
from bench.signin import (
    PG_ADMIN,
    add_accounts,
    cpu_seconds,
    create_database,
    drop_database,
    healthz_rate,
    install_server,
    open_connections,
    prepare_database,
    rss_mb,
    start,
)
from vitalkey.adapters.db import schema as t
from vitalkey.adapters.db.engine import make_engine
from vitalkey.container import build
from vitalkey.domain.flows import Channel, Requester
from vitalkey.flows.sessions import start as start_session
from vitalkey.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache"
MIGRATIONS = ROOT / "src" / "vitalkey" / "adapters" / "db" / "migrations" / "versions"
GENERATOR_VERSION = 1
CHECKOUT = hashlib.sha256(str(ROOT).encode()).hexdigest()[:6]  # this working copy's PostgreSQL cache
END = datetime(2026, 11, 30, tzinfo=UTC)  # the generated year ends here (fixed: the same data every time)
DAY_S = 86_400
READ_DAYS = 60
TIMEZONES = ("Europe/Paris", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney")
WEIGHT, FAT_FREE_MASS, FAT_RATIO, FAT_MASS = 1, 5, 6, 8
MEASURES_PER_GROUP = 4
# The server's settings for the runs: the per-app limit of the Withings API (default 120 requests
# a minute) would refuse almost every read, so it is raised; it is still counted on every read.
SERVER_ENV = {"VITALKEY_WITHINGS_REQUESTS_PER_MINUTE": "100000000"}
REDIS_URL = "redis://127.0.0.1:6379/0"


def server_env(args: argparse.Namespace) -> dict[str, str]:
    """``--limits redis``: the rate limits counted in Redis (under a prefix of this run's own)
    instead of the database."""
    if args.limits == "redis":
        return {**SERVER_ENV, "VITALKEY_REDIS_URL": REDIS_URL, "VITALKEY_REDIS_PREFIX": f"vkbench:{uuid.uuid4().hex}:"}
    return SERVER_ENV


def label(engine_name: str, args: argparse.Namespace) -> str:
    return f"{engine_name} (limits in Redis)" if args.limits == "redis" else engine_name


@dataclass(frozen=True)
class Shape:
    """What the generator makes (see the module's docstring)."""

    users: int
    days: int = 365
    every_days: int = 14
    seed: int = 18

    @property
    def key(self) -> str:
        migrations = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(MIGRATIONS.glob("*.py")))).hexdigest()
        text_ = json.dumps([asdict(self), GENERATOR_VERSION, migrations], sort_keys=True)
        return hashlib.sha256(text_.encode()).hexdigest()[:12]

    @property
    def first_day(self) -> int:
        return int(END.timestamp()) - self.days * DAY_S


# Generation -------------------------------------------------------------------------------------
GROUP_COLUMNS = (
    "grpid",
    "account_id",
    "date",
    "timezone",
    "attrib",
    "category",
    "deviceid",
    "comment",
    "created",
    "modified",
    "deleted",
)
MEASURE_COLUMNS = ("grpid", "position", "type", "value", "unit")
DEVICE_COLUMNS = (
    "id",
    "account_id",
    "deviceid",
    "hash_deviceid",
    "type",
    "model",
    "model_id",
    "battery",
    "timezone",
    "first_session",
    "last_session",
    "created",
    "modified",
    "deleted",
)
Rows = list[tuple[Any, ...]]


def device_ids(seed: int, user: int) -> tuple[str, str]:
    """Opaque ids of the form the server makes (40 hex digits), derived from the seed."""
    made = hashlib.sha256(f"{seed}:{user}".encode()).hexdigest()
    return made[:40], made[24:64]


def generate(shape: Shape, chunk: int = 200_000) -> Iterator[tuple[Rows, Rows]]:
    """Chunks of (group rows, measure rows), day by day across all users; deterministic."""
    rng = random.Random(shape.seed)
    users = range(1, shape.users + 1)
    weight = [0] + [rng.randint(50_000, 110_000) for _ in users]  # grams
    fat = [0] + [rng.randint(12_000, 38_000) for _ in users]  # thousandths of a percent
    zone = [""] + [TIMEZONES[rng.randrange(len(TIMEZONES))] for _ in users]
    device = [""] + [device_ids(shape.seed, user)[0] for user in users]
    phase = [0] + [rng.randrange(shape.every_days) for _ in users]
    by_phase: list[list[int]] = [[] for _ in range(shape.every_days)]
    for user in users:
        by_phase[phase[user]].append(user)
    groups: Rows = []
    measures: Rows = []
    grpid = 0
    for day in range(shape.days):
        midnight = shape.first_day + day * DAY_S
        for user in by_phase[day % shape.every_days]:
            grpid += 1
            moment = (midnight + 6 * 3600 + rng.randrange(4 * 3600)) * 1_000_000
            synced = moment + 60_000_000
            grams = weight[user] + rng.randint(-1_500, 1_500)
            ratio = fat[user] + rng.randint(-500, 500)
            fat_grams = grams * ratio // 100_000
            groups.append((grpid, user, moment, zone[user], 0, 1, device[user], None, synced, synced, None))
            measures.append((grpid, 0, WEIGHT, grams, -3))
            measures.append((grpid, 1, FAT_FREE_MASS, grams - fat_grams, -3))
            measures.append((grpid, 2, FAT_RATIO, ratio, -3))
            measures.append((grpid, 3, FAT_MASS, fat_grams, -3))
            if len(groups) >= chunk:
                yield groups, measures
                groups, measures = [], []
    if groups:
        yield groups, measures


def device_rows(shape: Shape) -> Rows:
    first = shape.first_day * 1_000_000
    last = int(END.timestamp()) * 1_000_000
    rows = []
    for user in range(1, shape.users + 1):
        deviceid, hashed = device_ids(shape.seed, user)
        zone = "Europe/Paris"
        rows.append((user, user, deviceid, hashed, "Scale", "Body+", 13, "high", zone, first, last, first, last, None))
    return rows


def fill(url: str, shape: Shape) -> dict[str, float]:
    """Devices, measure groups and measures straight into the tables: secondary indexes (and on
    PostgreSQL the foreign keys) dropped during the load and made again after it, then ANALYZE.
    SQLite: executemany through SQLAlchemy's connection, a transaction per ~1M groups;
    PostgreSQL: COPY."""
    engine = make_engine(url)
    began = time.perf_counter()
    indexes = [*t.measure_groups.indexes]
    foreign_keys = [*t.measure_groups.foreign_key_constraints, *t.measures.foreign_key_constraints]
    postgresql = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        for index in indexes:
            index.drop(conn)
        if postgresql:
            for constraint in foreign_keys:
                conn.execute(DropConstraint(constraint))
    counts = {"groups": 0, "measures": 0}

    def load(conn: Any, table: str, columns: tuple[str, ...], rows: Rows) -> None:
        if postgresql:
            raw = conn.connection.driver_connection
            with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(columns))
            conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    with engine.begin() as conn:
        load(conn, "devices", DEVICE_COLUMNS, device_rows(shape))
    conn_cm = engine.begin()
    conn = conn_cm.__enter__()
    for groups, measures in generate(shape):
        load(conn, "measure_groups", GROUP_COLUMNS, groups)
        load(conn, "measures", MEASURE_COLUMNS, measures)
        counts["groups"] += len(groups)
        counts["measures"] += len(measures)
        if counts["groups"] % 1_000_000 < len(groups):  # a transaction per ~1M groups
            conn_cm.__exit__(None, None, None)
            conn_cm = engine.begin()
            conn = conn_cm.__enter__()
        print(f"  generated {counts['groups']:,} groups, {counts['measures']:,} measures", end="\r", flush=True)
    conn_cm.__exit__(None, None, None)
    loaded = time.perf_counter()
    with engine.begin() as conn:
        for index in indexes:
            index.create(conn)
        if postgresql:
            for constraint in foreign_keys:
                conn.execute(AddConstraint(constraint))
            for table, column in (("measure_groups", "grpid"), ("devices", "id")):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), (SELECT MAX({column}) FROM {table}))"
                    )
                )
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    if not postgresql:
        checkpoint(url)
    done = time.perf_counter()
    print()
    return {**counts, "load_s": loaded - began, "index_s": done - loaded}


def checkpoint(url: str) -> None:
    """SQLite: the write-ahead log folded into the file (its size is then the database's)."""
    with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def pg_database_exists(name: str) -> bool:
    admin = create_engine(PG_ADMIN.replace("postgresql://", "postgresql+psycopg://"))
    with admin.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
    admin.dispose()
    return found is not None


def cached_database(engine_name: str, shape: Shape, regenerate: bool) -> tuple[str, Path, dict[str, Any]]:
    """The generated database of ``shape`` on ``engine_name``: made once, then found again."""
    folder = CACHE / f"health-{shape.key}"
    marker = folder / f"{engine_name}.json"
    name = f"vk_bench_health_{shape.key}_{CHECKOUT}" if engine_name == "postgresql" else "health.sqlite3"
    if marker.exists() and not regenerate:
        info: dict[str, Any] = json.loads(marker.read_text())
        if engine_name == "sqlite" or pg_database_exists(name):
            print(f"  {engine_name}: the generated database is reused ({info['url']})", flush=True)
            return str(info["url"]), folder, info
    folder.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    if engine_name == "postgresql":
        drop_database(PG_ADMIN.rsplit("/", 1)[0] + "/" + name)
    else:
        for leftover in folder.glob(name + "*"):
            leftover.unlink()
    began = time.perf_counter()
    url = create_database(engine_name, folder, name)
    add_accounts(url, shape.users)
    stats = fill(url, shape)
    info = {"url": url, "shape": asdict(shape), **stats, "total_s": time.perf_counter() - began}
    marker.write_text(json.dumps(info, indent=1))
    print(f"  {engine_name}: generated in {info['total_s']:.0f} s ({url})", flush=True)
    return url, folder, info


def database_size(url: str) -> tuple[float, float]:
    """MB: the whole database, and the measure tables with their indexes."""
    engine = make_engine(url)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            whole = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
            tables = conn.execute(
                text("SELECT pg_total_relation_size('measure_groups') + pg_total_relation_size('measures')")
            ).scalar_one()
        else:
            checkpoint(url)
            whole = Path(url.removeprefix("sqlite:///")).stat().st_size
            try:  # the dbstat table, when SQLite was built with it
                tables = conn.exec_driver_sql(
                    "SELECT SUM(pgsize) FROM dbstat WHERE name IN ('measure_groups', 'measures',"
                    " 'ix_measure_groups_account_date', 'ix_measure_groups_account_modified')"
                ).scalar_one()
            except OperationalError:  # dbstat not built in: the whole file only
                tables = None
    engine.dispose()
    return whole / 2**20, (tables or 0) / 2**20


# Partner reads ----------------------------------------------------------------------------------
@dataclass
class Tally:
    done: int = 0
    failures: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    items: int = 0  # measure groups (reads) or measures (ingestion) in the answers
    first_failure: str = ""

    def fail(self, status: int, body: object) -> None:
        self.failures += 1
        if not self.first_failure:
            self.first_failure = f"HTTP {status} {json.dumps(body)[:300]}"

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed else 0.0

    def add(self, other: Tally) -> None:
        self.done += other.done
        self.failures += other.failures
        self.elapsed += other.elapsed
        self.latencies += other.latencies
        self.items += other.items
        self.first_failure = self.first_failure or other.first_failure

    def percentile(self, share: float) -> float:
        """ms"""
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000 if ordered else 0.0


def token_sample(shape: Shape, count: int) -> list[int]:
    return sorted(random.Random(shape.seed + 1).sample(range(1, shape.users + 1), min(count, shape.users)))


async def redeem_codes(port: int, client_id: str, secret: str, codes: list[str]) -> list[str]:
    """Access tokens through the real token endpoint (authorization-code grants), 8 at a time."""
    tokens: list[str] = []

    async def worker(share: list[str]) -> None:
        connection = Connection("127.0.0.1", port)
        for code in share:
            status, body = await connection.request(
                "POST",
                "/oauth2/token",
                form={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": REDIRECT_URI,
                    "client_id": client_id,
                    "client_secret": secret,
                },
            )
            assert status == 200, (status, body)
            tokens.append(str(body["access_token"]))
        await connection.close()

    await asyncio.gather(*(worker(codes[n::8]) for n in range(8)))
    return tokens


async def timed_run(
    port: int, seconds: float, concurrency: int, next_request: Callable[[], tuple[str, dict[str, str]]]
) -> Tally:
    """``concurrency`` clients on keep-alive connections, each sending ``next_request()`` (a GET:
    path and headers) again and again; each answer's latency is kept. ``items``: measure groups
    in getmeas answers."""
    tally = Tally()
    connections = await open_connections(port, concurrency)

    async def client(connection: Connection) -> None:
        while time.perf_counter() < deadline:
            path, headers = next_request()
            sent = time.perf_counter()
            status, body = await connection.request("GET", path, headers=headers)
            tally.latencies.append(time.perf_counter() - sent)
            if status == 200 and body.get("status") in (0, "ok"):
                tally.done += 1
                tally.items += len(body["body"].get("measuregrps", ())) if "body" in body else 0
            else:
                tally.fail(status, body)

    began = time.perf_counter()
    deadline = began + seconds
    await asyncio.gather(*(client(c) for c in connections))
    tally.elapsed = time.perf_counter() - began
    for connection in connections:
        await connection.close()
    return tally


def getmeas_requests(shape: Shape, tokens: list[str]) -> Callable[[], tuple[str, dict[str, str]]]:
    """getmeas of 60 days (a random window of the generated year) of a random user of the sample."""
    rng = random.Random(shape.seed + 2)
    span = READ_DAYS * DAY_S

    def next_request() -> tuple[str, dict[str, str]]:
        token = tokens[rng.randrange(len(tokens))]
        start_s = shape.first_day + rng.randrange((shape.days - READ_DAYS) * DAY_S)
        path = f"/measure?action=getmeas&startdate={start_s}&enddate={start_s + span}"
        return path, {"Authorization": f"Bearer {token}"}

    return next_request


def getgoals_requests(shape: Shape, tokens: list[str]) -> Callable[[], tuple[str, dict[str, str]]]:
    """getgoals of a random user of the sample: the token's check and one small row, the least
    that any partner read costs (the floor under getmeas)."""
    rng = random.Random(shape.seed + 3)

    def next_request() -> tuple[str, dict[str, str]]:
        return "/v2/user?action=getgoals", {"Authorization": f"Bearer {tokens[rng.randrange(len(tokens))]}"}

    return next_request


def healthz_requests() -> tuple[str, dict[str, str]]:
    return "/healthz", {}


def largest_worker_rss(pid: int) -> float:
    memory = rss_mb(pid)
    return max(memory[1:] or memory)


def reads(engine_name: str, shape: Shape, args: argparse.Namespace) -> list[str]:
    url, folder, info = cached_database(engine_name, shape, args.regenerate)
    whole_mb, tables_mb = database_size(url)
    print(
        f"  {engine_name}: {info['measures']:,} measures in {info['groups']:,} groups; database {whole_mb:,.0f} MB "
        f"({whole_mb / info['measures'] * 1e6:.1f} MB per million measures)"
        + (
            f"; measure tables and their indexes {tables_mb:,.0f} MB ({tables_mb / info['measures'] * 1e6:.1f} MB per million)"
            if tables_mb
            else ""
        ),
        flush=True,
    )
    sample = token_sample(shape, args.tokens)
    client_id, secret, codes = seed_vitalkey(url, folder, len(sample), sample)
    rows = []
    tokens: list[str] = []
    for workers in (int(n) for n in args.processes.split(",")):
        process, port, ready_s = start(url, folder, workers, server_env(args), log=folder / "server.log")
        try:
            tokens = tokens or uvloop.run(redeem_codes(port, client_id, secret, codes))  # codes are single-use
            getmeas = getmeas_requests(shape, tokens)
            getgoals = getgoals_requests(shape, tokens)
            uvloop.run(timed_run(port, 1.0, args.concurrency, getmeas))  # warm up
            # healthz, getgoals and getmeas take turns (A B C, C B A, …): the machine's speed drifts
            references: list[float] = []
            tally, floor, cpu_s = Tally(), Tally(), 0.0
            for round_ in range(args.rounds):
                order = ("healthz", "getgoals", "getmeas")
                for part in order if round_ % 2 == 0 else order[::-1]:
                    if part == "healthz":
                        references.append(uvloop.run(healthz_rate(port, args.seconds / args.rounds, args.concurrency)))
                        continue
                    if part == "getgoals":
                        floor.add(uvloop.run(timed_run(port, args.seconds / args.rounds, args.concurrency, getgoals)))
                        continue
                    server_before, _ = cpu_seconds(process.pid)
                    tally.add(uvloop.run(timed_run(port, args.seconds / args.rounds, args.concurrency, getmeas)))
                    cpu_s += cpu_seconds(process.pid)[0] - server_before
            reference = sum(references) / len(references)  # rounds of equal length
            light = uvloop.run(timed_run(port, args.seconds / 2, args.light_concurrency, getmeas))
            light_healthz = uvloop.run(timed_run(port, args.seconds / 2, args.light_concurrency, healthz_requests))
            rss = largest_worker_rss(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=10)
        cpu_ms = cpu_s * 1000 / max(tally.done, 1)
        for run in (tally, floor, light, light_healthz):
            if run.first_failure:
                print(f"  first failure: {run.first_failure}", flush=True)
        rows.append(
            f"| {label(engine_name, args)} | {workers} | {tally.rate:,.0f} | {reference:,.0f} | {tally.rate / reference:.3f} | "
            f"{floor.rate:,.0f} ({floor.rate / reference:.3f}) | "
            f"{tally.percentile(0.5):.1f} / {tally.percentile(0.99):.1f} | "
            f"{light.rate:,.0f} at {light.percentile(0.5):.1f} / {light.percentile(0.99):.1f} | "
            f"{light_healthz.percentile(0.5):.1f} / {light_healthz.percentile(0.99):.1f} | "
            f"{tally.items / max(tally.done, 1):.1f} | {cpu_ms:.2f} | {rss:.0f} | {ready_s:.2f} | "
            f"{tally.failures + floor.failures + light.failures + light_healthz.failures} |"
        )
        print(rows[-1], flush=True)
    return rows


# Ingestion --------------------------------------------------------------------------------------
BATCH_GROUPS = 500


def batch_groups(user: int, batch: int, deviceid: str | None, now_s: int) -> list[dict[str, Any]]:
    """500 weigh-ins of the same shape as the generated ones, one minute apart, going back in time."""
    rng = random.Random(user * 1_000_003 + batch)
    groups = []
    for n in range(BATCH_GROUPS):
        grams = rng.randint(50_000, 110_000)
        ratio = rng.randint(12_000, 38_000)
        fat_grams = grams * ratio // 100_000
        groups.append(
            {
                "date": now_s - 60 * (batch * BATCH_GROUPS + n + 1),
                "timezone": "Europe/Paris",
                **({"deviceid": deviceid} if deviceid else {}),
                "measures": [
                    {"type": WEIGHT, "value": grams, "unit": -3},
                    {"type": FAT_FREE_MASS, "value": grams - fat_grams, "unit": -3},
                    {"type": FAT_RATIO, "value": ratio, "unit": -3},
                    {"type": FAT_MASS, "value": fat_grams, "unit": -3},
                ],
            }
        )
    return groups


def raw_insert_rate(engine_name: str, seconds: float) -> float:
    """Measures per second stored by the engine alone, in the API's batches: SQLAlchemy Core on one
    connection, each batch its own transaction — the 500 groups in one INSERT … RETURNING (their
    grpids), then their 2,000 measures in one executemany. A fresh database with one account."""
    folder = Path(tempfile.mkdtemp(prefix="vk-health-raw-"))
    url = prepare_database(engine_name, folder, accounts=1)
    engine: Engine = make_engine(url)
    add_group = insert(t.measure_groups).returning(t.measure_groups.c.grpid, sort_by_parameter_order=True)
    stored = batch = 0
    now = datetime.now(UTC)
    now_s = int(now.timestamp())
    try:
        began = time.perf_counter()
        while time.perf_counter() - began < seconds:
            groups = batch_groups(1, batch, None, now_s)
            batch += 1
            rows = [
                {
                    "account_id": 1,
                    "date": datetime.fromtimestamp(g["date"], UTC),
                    "timezone": g["timezone"],
                    "attrib": 0,
                    "category": 1,
                    "deviceid": "",
                    "comment": None,
                    "created": now,
                    "modified": now,
                }
                for g in groups
            ]
            with engine.begin() as conn:
                grpids = conn.execute(add_group, rows).scalars().all()
                measures = [
                    {"grpid": grpid, "position": p, "type": m["type"], "value": m["value"], "unit": m["unit"]}
                    for grpid, g in zip(grpids, groups, strict=True)
                    for p, m in enumerate(g["measures"])
                ]
                conn.execute(insert(t.measures), measures)
            stored += len(measures)
        elapsed = time.perf_counter() - began
    finally:
        engine.dispose()
        drop_database(url)
        shutil.rmtree(folder, ignore_errors=True)
    return stored / elapsed


def bearer_sessions(url: str, folder: Path, accounts: int) -> list[str]:
    """A signed-in API session for each account (made by the server's own sessions flow)."""
    container = build(load_settings(environ={"VITALKEY_DATABASE_URL": url, "VITALKEY_DATA_DIR": str(folder)}))
    tokens = []
    try:
        requester = Requester("127.0.0.1", "bench", "en", Channel.API)
        with container.uow.begin() as tx:
            for account_id in range(1, accounts + 1):
                account = tx.accounts.get(account_id)
                assert account is not None
                tokens.append(start_session(container.deps, tx, account, requester, ("email_code",)).token)
    finally:
        container.close()
    return tokens


async def ingest_run(port: int, sessions: list[str], seconds: float) -> Tally:
    """One companion app per session, each pairing a scale, then sending batches of 500 measure
    groups (2,000 measures) one after the other, each with its own Idempotency-Key."""
    tally = Tally()
    connections = await open_connections(port, len(sessions))
    devices = []
    for connection, session in zip(connections, sessions, strict=True):
        body = {"type": "Scale", "model": "Body+", "model_id": 13, "timezone": "Europe/Paris"}
        status, answer = await connection.request(
            "POST", "/api/v1/health/devices", body, headers={"Authorization": f"Bearer {session}"}
        )
        assert status == 201, (status, answer)
        devices.append(str(answer["deviceid"]))
    now_s = int(time.time())
    encoder = msgspec.json.Encoder()

    async def app(user: int, connection: Connection, session: str, deviceid: str) -> None:
        batch = 0
        while time.perf_counter() < deadline:
            body = encoder.encode({"measure_groups": batch_groups(user, batch, deviceid, now_s)})
            batch += 1
            headers = {"Authorization": f"Bearer {session}", "Idempotency-Key": str(uuid.uuid4())}
            sent = time.perf_counter()
            status, answer = await connection.request("POST", "/api/v1/health/batches", body, headers=headers)
            tally.latencies.append(time.perf_counter() - sent)
            if status == 201 and len(answer["grpids"]) == BATCH_GROUPS:
                tally.done += 1
                tally.items += BATCH_GROUPS * MEASURES_PER_GROUP
            else:
                tally.fail(status, answer)

    began = time.perf_counter()
    deadline = began + seconds
    work = zip(connections, sessions, devices, strict=True)
    await asyncio.gather(*(app(n + 1, c, s, d) for n, (c, s, d) in enumerate(work)))
    tally.elapsed = time.perf_counter() - began
    for connection in connections:
        await connection.close()
    return tally


def ingestion(engine_name: str, args: argparse.Namespace) -> list[str]:
    rows = []
    for workers in (int(n) for n in args.processes.split(",")):
        raw_before = raw_insert_rate(engine_name, args.seconds / 2)
        folder = Path(tempfile.mkdtemp(prefix="vk-health-ingest-"))
        url = prepare_database(engine_name, folder, accounts=args.ingest_apps)
        sessions = bearer_sessions(url, folder, args.ingest_apps)
        process, port, _ = start(url, folder, workers, server_env(args), log=folder / "server.log")
        try:
            uvloop.run(ingest_run(port, sessions[:1], 1.0))  # warm up
            server_before, _ = cpu_seconds(process.pid)
            tally = uvloop.run(ingest_run(port, sessions, args.seconds))
            server_after, _ = cpu_seconds(process.pid)
            rss = largest_worker_rss(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=10)
            drop_database(url)
        raw_after = raw_insert_rate(engine_name, args.seconds / 2)
        if tally.first_failure:
            print(f"  first failure: {tally.first_failure}; server output in {folder / 'server.log'}", flush=True)
        else:
            shutil.rmtree(folder, ignore_errors=True)
        raw = (raw_before + raw_after) / 2
        measures_rate = tally.items / tally.elapsed
        cpu_us = (server_after - server_before) * 1e6 / max(tally.items, 1)
        rows.append(
            f"| {label(engine_name, args)} | {workers} | {measures_rate:,.0f} | {raw:,.0f} ({raw_before:,.0f} / {raw_after:,.0f}) | "
            f"{measures_rate / raw:.2f} | {tally.percentile(0.5):.0f} / {tally.percentile(0.99):.0f} | "
            f"{cpu_us:.1f} | {rss:.0f} | {tally.failures} |"
        )
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100_000, help="accounts of the generated database")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--processes", default="1,2")
    parser.add_argument("--parts", default="reads,ingest", help="reads, ingest, generate (the database only)")
    parser.add_argument("--seconds", type=float, default=10, help="per measurement (reads: over all rounds)")
    parser.add_argument("--concurrency", type=int, default=64, help="partners reading at once (and healthz)")
    parser.add_argument("--rounds", type=int, default=4, help="reads: healthz and getmeas alternate this many times")
    parser.add_argument("--light-concurrency", type=int, default=4, help="partners reading at once, light load")
    parser.add_argument("--tokens", type=int, default=1000, help="users with an access token (the reads' sample)")
    parser.add_argument("--ingest-apps", type=int, default=8, help="companion apps sending batches at once")
    parser.add_argument("--limits", choices=("database", "redis"), default="database", help="where rate limits count")
    parser.add_argument("--regenerate", action="store_true", help="make the generated database again")
    parser.add_argument("--no-install", action="store_true", help="use bench/.venv-prod as it is")
    args = parser.parse_args()
    if not args.no_install:
        install_server()
    shape = Shape(args.users)
    parts = args.parts.split(",")
    print(f"{args.seconds:.0f} s per measurement; shape {asdict(shape)} (key {shape.key})", flush=True)
    read_rows: list[str] = []
    ingest_rows: list[str] = []
    for engine_name in args.engines.split(","):
        if "generate" in parts:  # only make (or find) the generated database
            cached_database(engine_name, shape, args.regenerate)
        if "reads" in parts:
            read_rows += reads(engine_name, shape, args)
        if "ingest" in parts:
            ingest_rows += ingestion(engine_name, args)
    if read_rows:
        print(
            f"\n| engine | processes | getmeas/s ({args.concurrency} partners) | healthz req/s (reference) | "
            f"getmeas / reference | getgoals/s (/ reference) | p50 / p99 ms | {args.light_concurrency} partners: getmeas/s at p50 / p99 ms | "
            f"{args.light_concurrency} clients: healthz p50 / p99 ms | groups per answer | server CPU ms / getmeas | RSS per process (MB) | start→ready (s) | failures |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        print("\n".join(read_rows))
    if ingest_rows:
        print(
            f"\n| engine | processes | measures/s through the API ({args.ingest_apps} apps) | raw inserts/s, "
            "mean (before / after) | API / raw | batch p50 / p99 ms | server CPU µs / measure | "
            "RSS per process (MB) | failures |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        print("\n".join(ingest_rows))


if __name__ == "__main__":
    main()
