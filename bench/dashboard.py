"""Benchmark: the Online Dashboard of issue 21 — ``GET /dashboard`` for a signed-in user with a
year of data from four devices, over 7, 30, 90 and 365 days: time to render (p50, p99) and bytes
sent, next to ``GET /healthz`` measured in the same run against the same server by the same
client; SQLite and PostgreSQL, one server process, one request at a time.

The data (``seed``), stored through the repositories in units of work as ingestion stores it,
ending today (the server reads its real clock):
  - a scale with body composition: a weigh-in every morning (weight, fat-free mass, fat ratio, fat
    mass, muscle, water, bone) and a second one in the evening every fourth day;
  - an activity tracker: every day's totals (steps, distance, calories, heart rate) and intraday
    samples every 5 minutes from 07:00 to 23:00 (steps and heart rate);
  - a blood-pressure monitor: a reading every morning and evening (systolic, diastolic, pulse);
  - a sleep monitor: a session every night with its states, a heart-rate series and its summary;
  - goals (10,000 steps a day).

Measured, for each range: the user's range is chosen once (``?days=N``, kept per user, as a
user's link does), then in ``--rounds`` rounds, ``--requests`` ``GET /dashboard`` (with
``Accept-Encoding: gzip``, as browsers send, so the times include the compression when the server
compresses) and as many ``GET /healthz``, one at a time on one keep-alive connection. "client" is the time from
sending the request to the last byte of the answer; "server" is the time the server's own
request log reports (its edge middleware, from the request's arrival to the answer's last byte
handed to uvicorn; the log level is raised to ``info`` for it: the same log line for both
routes). Bytes: the answer's body, without and with ``Accept-Encoding: gzip``. The account is
one of 1,000; the others hold no health data.

    .venv/bin/python bench/dashboard.py [--engines sqlite,postgresql] [--rounds 3] [--requests 100]
        [--ranges 7,30,90,365]

Results: bench/RESULTS.md, "Online Dashboard (issue #21)".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import uvloop
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.signin import drop_database, install_server, prepare_database, start
from vitalkey.adapters.db.engine import make_engine
from vitalkey.container import Container, build
from vitalkey.domain.flows import Channel, Requester
from vitalkey.domain.health import (
    ActivityDay,
    Attrib,
    Battery,
    Category,
    Device,
    DeviceType,
    Goals,
    IntradaySample,
    Measure,
    MeasureGroup,
    SleepSession,
    SleepStage,
    SleepState,
    new_device_ids,
)
from vitalkey.flows.sessions import start as start_session
from vitalkey.settings import load_settings

DAYS = 365
ZONE = "Europe/Paris"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
WEIGHT, FAT_FREE, FAT_RATIO, FAT_MASS, DIASTOLIC, SYSTOLIC, PULSE = 1, 5, 6, 8, 9, 10, 11
MUSCLE, HYDRATION, BONE = 76, 77, 88


def _device(account_id: int, kind: DeviceType, model: str, model_id: int, paired: datetime) -> Device:
    deviceid, hashed = new_device_ids()
    return Device(deviceid, hashed, account_id, kind, model, model_id, Battery.HIGH, ZONE, paired, paired, paired)


def _weigh_in(account_id: int, deviceid: str, at: datetime, n: int) -> MeasureGroup:
    grams = 82_000 - 12 * n + (n * 37) % 900  # a slow loss with day-to-day noise
    ratio = 2_400 - n + (n * 13) % 150  # hundredths of a percent
    fat = grams * ratio // 10_000
    measures = (
        Measure(WEIGHT, grams, -3),
        Measure(FAT_FREE, grams - fat, -3),
        Measure(FAT_RATIO, ratio, -2),
        Measure(FAT_MASS, fat, -3),
        Measure(MUSCLE, (grams - fat) * 93 // 100, -3),
        Measure(HYDRATION, (grams - fat) * 70 // 100, -3),
        Measure(BONE, 3_100 + n % 40, -3),
    )
    return MeasureGroup(0, account_id, at, ZONE, Attrib.DEVICE, Category.REAL, measures, at, at, deviceid)


def _pressure(account_id: int, deviceid: str, at: datetime, n: int) -> MeasureGroup:
    measures = (Measure(SYSTOLIC, 112 + n % 17, 0), Measure(DIASTOLIC, 72 + n % 11, 0), Measure(PULSE, 58 + n % 19, 0))
    return MeasureGroup(0, account_id, at, ZONE, Attrib.DEVICE, Category.REAL, measures, at, at, deviceid)


def _night(account_id: int, deviceid: str, day: date, n: int) -> SleepSession:
    """The night ending on ``day``: 23:00 to ~07:00 in cycles of light, deep, light and REM."""
    start = datetime.combine(day - timedelta(days=1), datetime.min.time(), UTC) + timedelta(hours=22, minutes=n % 30)
    states: list[SleepState] = [SleepState(start, start + timedelta(minutes=15), SleepStage.AWAKE)]
    moment = start + timedelta(minutes=15)
    for cycle in range(5):
        for stage, minutes in ((SleepStage.LIGHT, 35), (SleepStage.DEEP, 20 + (n + cycle) % 15), (SleepStage.REM, 25)):
            states.append(SleepState(moment, moment + timedelta(minutes=minutes), stage))
            moment += timedelta(minutes=minutes)
    end = moment + timedelta(minutes=10)
    states.append(SleepState(moment, end, SleepStage.AWAKE))
    seconds = {stage: 0 for stage in SleepStage}
    for state in states:
        seconds[state.state] += int((state.enddate - state.startdate).total_seconds())
    first = int(start.timestamp())
    series = {"hr": {first + 600 * i: 50 + (i * 7) % 15 for i in range(int((end - start).total_seconds()) // 600)}}
    summary = {
        "deepsleepduration": seconds[SleepStage.DEEP],
        "lightsleepduration": seconds[SleepStage.LIGHT],
        "remsleepduration": seconds[SleepStage.REM],
        "wakeupduration": seconds[SleepStage.AWAKE],
        "wakeupcount": 2,
        "total_timeinbed": int((end - start).total_seconds()),
        "sleep_score": 70 + n % 25,
        "hr_average": 56,
    }
    return SleepSession(0, account_id, start, end, day, ZONE, tuple(states), series, summary, end, end, deviceid)


def seed(container: Container, account_id: int, today: date) -> dict[str, int]:
    """A year of the four devices' data for ``account_id`` (see the module's docstring); counts."""
    paired = datetime.combine(today - timedelta(days=DAYS + 1), datetime.min.time(), UTC)
    scale = _device(account_id, DeviceType.SCALE, "Body Comp", 9, paired)
    tracker = _device(account_id, DeviceType.ACTIVITY_TRACKER, "ScanWatch 2", 93, paired)
    monitor = _device(account_id, DeviceType.BLOOD_PRESSURE_MONITOR, "BPM Connect", 44, paired)
    sleeper = _device(account_id, DeviceType.SLEEP_MONITOR, "Sleep Analyzer", 63, paired)
    counts = {"measure groups": 0, "activity days": 0, "intraday samples": 0, "nights": 0}
    with container.uow.begin() as tx:
        for device in (scale, tracker, monitor, sleeper):
            tx.devices.add(device)
        tx.goals.set(account_id, Goals(steps=10_000, modified=paired))
    for n in range(DAYS):  # n days ago; a unit of work per day, as a day's syncs would be
        day = today - timedelta(days=n)
        midnight = datetime.combine(day, datetime.min.time(), UTC)
        groups = [
            _weigh_in(account_id, scale.deviceid, midnight + timedelta(hours=6, minutes=40 + n % 20), n),
            _pressure(account_id, monitor.deviceid, midnight + timedelta(hours=7, minutes=5), n),
            _pressure(account_id, monitor.deviceid, midnight + timedelta(hours=21, minutes=30), n + 3),
        ]
        if n % 4 == 0:
            groups.append(_weigh_in(account_id, scale.deviceid, midnight + timedelta(hours=19), n + 1))
        steps = 4_000 + (n * 2_741) % 11_000
        samples = [
            IntradaySample(
                account_id,
                tracker.deviceid,
                midnight + timedelta(hours=7, minutes=5 * i),
                {"steps": steps // 192, "heart_rate": 62 + (i * 11) % 40},
            )
            for i in range(192)
        ]
        activity = {
            "steps": steps,
            "distance": steps * 0.75,
            "elevation": n % 12,
            "calories": steps * 0.04,
            "totalcalories": 2_100 + steps * 0.04,
            "hr_average": 71,
            "hr_min": 52,
            "hr_max": 140,
        }
        with container.uow.begin() as tx:
            tx.measure_groups.add_many(groups)
            tx.activity.put(ActivityDay(0, account_id, day, ZONE, activity, midnight, midnight, tracker.deviceid))
            tx.intraday.put(samples)
            tx.sleep.add(_night(account_id, sleeper.deviceid, day, n))
        counts["measure groups"] += len(groups)
        counts["activity days"] += 1
        counts["intraday samples"] += len(samples)
        counts["nights"] += 1
    return counts


def prepare(url: str, folder: Path) -> tuple[str, dict[str, int]]:
    """The year of data for account 1, and a browser session of it: its cookie's value."""
    container = build(load_settings(environ={"VITALKEY_DATABASE_URL": url, "VITALKEY_DATA_DIR": str(folder)}))
    try:
        counts = seed(container, 1, datetime.now(UTC).date())
        requester = Requester("127.0.0.1", USER_AGENT, "en", Channel.BROWSER)
        with container.uow.begin() as tx:
            account = tx.accounts.get(1)
            assert account is not None
            token = start_session(container.deps, tx, account, requester, ("email_code",)).token
        analyze(url)
        return token, counts
    finally:
        container.close()


def analyze(url: str) -> None:
    """PostgreSQL: the planner's statistics of the year just stored, as autovacuum would gather
    them within its minute in a running deployment. Measured at once without them, the planner
    takes the new tables for empty and sorts every match of a "latest value" read (the year's
    page: ~2 ms per read instead of 0.2)."""
    if not url.startswith("postgresql"):
        return
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    finally:
        engine.dispose()


class Client:
    """One keep-alive HTTP/1.1 connection that reads any answer whole (a length or chunks)."""

    def __init__(self, port: int, cookie: str) -> None:
        self.port, self.cookie = port, cookie
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str, gzip: bool = False) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        encoding = "Accept-Encoding: gzip\r\n" if gzip else ""
        self.writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUser-Agent: {USER_AGENT}\r\n"
            f"Cookie: vk_session={self.cookie}\r\n{encoding}\r\n".encode()
        )
        status = int((await self.reader.readline()).split()[1])
        headers: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            return status, headers, await self.reader.readexactly(int(headers["content-length"]))
        body = b""
        while size := int((await self.reader.readline()).strip(), 16):
            body += await self.reader.readexactly(size)
            await self.reader.readline()
        await self.reader.readline()
        return status, headers, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


async def timed(client: Client, path: str, count: int, into: list[float], gzip: bool = False) -> bytes:
    body = b""
    for _ in range(count):
        began = time.perf_counter()
        status, _headers, body = await client.get(path, gzip)
        into.append((time.perf_counter() - began) * 1000)
        if status != 200:
            raise RuntimeError(f"{path}: {status}")
    return body


def server_times(log: Path) -> dict[str, list[float]]:
    """The server's own time per request (ms) by route, from its request log."""
    found: dict[str, list[float]] = {}
    for line in log.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == "request" and entry.get("status") == 200:
            found.setdefault(entry["route"], []).append(float(entry["ms"]))
    return found


async def measure(
    engine_name: str, port: int, cookie: str, ranges: list[int], rounds: int, requests: int, log: Path
) -> list[str]:
    client = Client(port, cookie)
    rows = []
    try:
        for days in ranges:
            status, _h, _b = await client.get(f"/dashboard?days={days}")  # the user's link: keeps the range
            assert status == 200, status
            await timed(client, "/dashboard", 20, [], gzip=True)  # warm-up
            await timed(client, "/healthz", 20, [])
            log.write_text("")
            page_ms: list[float] = []
            healthz_ms: list[float] = []
            for _ in range(rounds):
                await timed(client, "/healthz", requests, healthz_ms)
                await timed(client, "/dashboard", requests, page_ms, gzip=True)  # as a browser asks
            await asyncio.sleep(0.3)  # the log's last lines
            by_route = server_times(log)
            _s, _h, body = await client.get("/dashboard")
            _s, headers, zipped = await client.get("/dashboard", gzip=True)
            gzip_size = len(zipped) if headers.get("content-encoding") == "gzip" else None
            server = by_route.get("/dashboard", [])
            server_healthz = by_route.get("/healthz", [])
            rows.append(
                f"| {engine_name} | {days} | {percentile(page_ms, 0.5):.1f} | {percentile(page_ms, 0.99):.1f} | "
                f"{percentile(server, 0.5):.1f} | {percentile(server, 0.99):.1f} | "
                f"{percentile(healthz_ms, 0.5):.2f} | {percentile(healthz_ms, 0.99):.2f} | "
                f"{percentile(server_healthz, 0.5):.2f} | "
                f"{percentile(page_ms, 0.5) / percentile(healthz_ms, 0.5):.0f} | "
                f"{len(body) / 1000:.1f} | {'—' if gzip_size is None else f'{gzip_size / 1000:.1f}'} | "
                f"{len(page_ms)} |"
            )
            print(rows[-1], flush=True)
    finally:
        await client.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--ranges", default="7,30,90,365")
    parser.add_argument("--no-install", action="store_true", help="use bench/.venv-prod as it is")
    args = parser.parse_args()
    if not args.no_install:
        install_server()
    ranges = [int(n) for n in args.ranges.split(",")]
    print(
        "| engine | range (days) | client p50 (ms) | client p99 (ms) | server p50 (ms) | server p99 (ms) "
        "| healthz client p50 (ms) | healthz client p99 (ms) | healthz server p50 (ms) | page / healthz (p50) "
        "| KB sent | KB sent, gzip | requests |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for engine_name in args.engines.split(","):
        folder = Path(tempfile.mkdtemp(prefix="vk-bench-dash-"))
        url = prepare_database(engine_name, folder, accounts=1_000)
        began = time.perf_counter()
        cookie, counts = prepare(url, folder)
        print(f"{engine_name}: seeded {counts} in {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
        log = folder / "server.log"
        process, port, _ready = start(url, folder, 1, {"VITALKEY_LOG_LEVEL": "info"}, log)
        try:
            try:
                uvloop.run(measure(engine_name, port, cookie, ranges, args.rounds, args.requests, log))
            except Exception:  # the server's last words say why (a 500 is logged with its traceback)
                print(log.read_text()[-3000:], file=sys.stderr)
                raise
        finally:
            process.terminate()
            process.wait(timeout=10)
            drop_database(url)
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
