"""Group commit on SQLite: the units of work that are ready together share one transaction and
one COMMIT, each is answered only after that COMMIT, and a failing unit loses only its own writes."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from vitalkey.adapters.db.batch import joined
from vitalkey.adapters.db.engine import make_engine, write_lock
from vitalkey.adapters.db.uow import SqlUnitOfWork
from vitalkey.domain.accounts import Profile, Sex, Units
from vitalkey.domain.apps import App, ClientType
from vitalkey.ports import Pending

NOW = datetime(2026, 11, 21, tzinfo=UTC)


def record(uow: SqlUnitOfWork, event: str) -> str:
    with uow.begin() as tx:
        tx.audit.record(event, NOW)
    return event


def committed_events(url: str) -> list[str]:
    """What another connection (another process) sees: only committed rows."""
    with sqlite3.connect(url.removeprefix("sqlite:///")) as other:
        return sorted(row[0] for row in other.execute("SELECT event FROM audit"))


@pytest.fixture
def uow(sqlite_url: str) -> SqlUnitOfWork:
    return SqlUnitOfWork(make_engine(sqlite_url))


def test_units_ready_together_share_one_commit_and_return_after_it(uow: SqlUnitOfWork, sqlite_url: str) -> None:
    async def scenario() -> None:
        async def one(i: int) -> None:
            await uow.run(record, uow, f"e{i:02}")
            assert f"e{i:02}" in committed_events(sqlite_url)  # durable before the caller goes on

        await asyncio.gather(*(one(i) for i in range(20)))
        group = uow._group_commit(asyncio.get_running_loop())
        assert (group.units, group.commits) == (20, 1)

    asyncio.run(scenario())
    assert committed_events(sqlite_url) == [f"e{i:02}" for i in range(20)]


def test_a_failing_unit_rolls_back_alone_and_its_caller_gets_the_error(uow: SqlUnitOfWork, sqlite_url: str) -> None:
    def fail_after_writing() -> None:
        with uow.begin() as tx:
            tx.audit.record("lost", NOW)
            raise ValueError("refused")

    async def scenario() -> list[object]:
        return await asyncio.gather(
            uow.run(record, uow, "kept-1"),
            uow.run(fail_after_writing),
            uow.run(record, uow, "kept-2"),
            return_exceptions=True,
        )

    results = asyncio.run(scenario())
    assert results[0] == "kept-1" and results[2] == "kept-2"
    assert isinstance(results[1], ValueError)
    assert committed_events(sqlite_url) == ["kept-1", "kept-2"]


def test_units_in_a_batch_see_the_writes_before_them(uow: SqlUnitOfWork) -> None:
    profile = Profile("Ada", "Lovelace", date(1990, 1, 1), Sex.FEMALE, 170.0, Units.METRIC)

    def create() -> int:
        with uow.begin() as tx:
            account = tx.accounts.create("ada@example.org", "ada@example.org", "en", profile, "2026-01", NOW)
            assert account is not None
            return account.id

    def find() -> int | None:
        with uow.read() as tx:
            account = tx.accounts.by_email("ada@example.org")
            return None if account is None else account.id

    async def scenario() -> list[int | None]:
        return list(await asyncio.gather(uow.run(find), uow.run(create), uow.run(find)))

    before, created, after = asyncio.run(scenario())
    assert before is None and after == created


def test_a_failed_commit_fails_every_unit_of_the_batch_and_frees_the_lock(uow: SqlUnitOfWork, sqlite_url: str) -> None:
    def break_the_commit() -> None:
        batch = joined.get()
        assert batch is not None
        batch.connection.execute("PRAGMA defer_foreign_keys = ON")
        batch.connection.execute(  # a session of no account: checked, and refused, at COMMIT
            "INSERT INTO sessions (id, account_id, kind, methods, user_agent, ip, created_at, last_seen_at, "
            "expires_at) VALUES ('s', 999999, 'web', '', '', '', 0, 0, 0)"
        )

    async def scenario() -> tuple[list[object], str]:
        results = await asyncio.gather(uow.run(record, uow, "x"), uow.run(break_the_commit), return_exceptions=True)
        after = await uow.run(record, uow, "after")
        return results, after

    results, after = asyncio.run(scenario())
    assert all(isinstance(r, sqlite3.IntegrityError) for r in results)
    assert after == "after"
    assert committed_events(sqlite_url) == ["after"]


def test_writes_on_the_loop_outside_run_are_refused_while_a_batch_holds_the_lock(uow: SqlUnitOfWork) -> None:
    async def scenario() -> None:
        async def sneaky() -> None:
            with pytest.raises(RuntimeError, match=r"UnitOfWork\.run"):
                record(uow, "outside")

        await asyncio.gather(uow.run(record, uow, "inside"), sneaky())

    asyncio.run(scenario())


def test_waiting_for_a_lock_held_elsewhere_keeps_the_loop_running_and_survives_cancellation(
    uow: SqlUnitOfWork, sqlite_url: str
) -> None:
    lock = write_lock(uow.engine)
    held = threading.Event()

    def hold_lock() -> None:  # another writer (the relay thread, another process) holds it a while
        with lock:
            held.set()
            time.sleep(0.3)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    held.wait()

    async def scenario() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while holder.is_alive():
                ticks += 1
                await asyncio.sleep(0.01)

        ticking = asyncio.create_task(ticker())
        waiting = [asyncio.create_task(uow.run(record, uow, f"w{i}")) for i in range(5)]
        await asyncio.sleep(0.05)
        waiting[2].cancel()
        results = await asyncio.gather(*waiting, return_exceptions=True)
        await ticking
        assert isinstance(results[2], asyncio.CancelledError)
        return ticks

    assert asyncio.run(scenario()) >= 10  # the loop went on while the lock was held elsewhere
    holder.join()
    assert committed_events(sqlite_url) == ["w0", "w1", "w3", "w4"]


def _writer_process(url: str, name: str, count: int) -> None:
    uow = SqlUnitOfWork(make_engine(url))

    async def scenario() -> None:
        for start in range(0, count, 25):
            await asyncio.gather(*(uow.run(record, uow, f"{name}-{i:03}") for i in range(start, start + 25)))

    asyncio.run(scenario())


def test_two_processes_writing_together_lose_nothing(sqlite_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer_process, args=(sqlite_url, name, 200)) for name in ("p1", "p2")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    events = committed_events(sqlite_url)
    assert len(events) == 400 and len(set(events)) == 400
    assert Path(sqlite_url.removeprefix("sqlite:///") + ".lock").exists()


def test_units_in_a_batch_share_the_apps_read_and_never_a_stale_or_rolled_back_one(uow: SqlUnitOfWork) -> None:
    """The batch remembers the apps it read (every token request looks its client up), and
    forgets them when a unit changes an app or rolls back."""
    with uow.begin() as tx:
        tx.apps.add(App("portal", "Portal", False, False, NOW, ClientType.CONFIDENTIAL, secret_digest="first"))

    def secret() -> str | None:
        with uow.read() as tx:
            app = tx.apps.get("portal")
        return None if app is None else app.secret_digest

    def rotate() -> None:
        with uow.begin() as tx:
            assert tx.apps.set_secret("portal", "second", "")

    def delete_then_fail() -> None:
        with uow.begin() as tx:
            tx.apps.delete("portal")
            assert tx.apps.get("portal") is None
            raise ValueError("refused")

    async def scenario() -> list[object]:
        return await asyncio.gather(
            uow.run(secret),
            uow.run(rotate),
            uow.run(secret),
            uow.run(delete_then_fail),
            uow.run(secret),
            return_exceptions=True,
        )

    results = asyncio.run(scenario())
    assert results[0] == "first" and results[2] == "second" and results[4] == "second"
    assert isinstance(results[3], ValueError)
    group = next(iter(uow._group_commits.values()))
    assert group.commits == 1  # all in one transaction


def test_optimistic_work_reads_together_without_the_lock_and_writes_only_what_is_pending(
    uow: SqlUnitOfWork, sqlite_url: str
) -> None:
    """The reads of a turn share one read transaction, taken while another process holds the
    write lock; only the answers that are :class:`Pending` go on to the group commit."""
    record(uow, "seen")

    def prepare(event: str) -> str | Pending[str]:
        with uow.read() as tx:
            assert tx.apps.get("none") is None
        if event.startswith("read-only"):
            return event
        return Pending(lambda: record(uow, event))

    def write_in_a_read() -> str:
        with uow.begin() as tx:
            tx.audit.record("never", NOW)
        return "written"

    async def scenario() -> list[object]:
        lock = write_lock(uow.engine)
        await asyncio.to_thread(lock.acquire)  # as if another process were writing
        prepared = [
            asyncio.ensure_future(uow.run_optimistic(prepare, name)) for name in ("read-only-1", "w1", "read-only-2")
        ]
        refused = asyncio.ensure_future(uow.run_optimistic(write_in_a_read))
        await asyncio.sleep(0.05)
        reads = uow._group_reads[asyncio.get_running_loop()]
        assert (reads.commits, reads.units) == (1, 4)  # one read transaction, lock or no lock
        assert prepared[0].result() == "read-only-1" and prepared[2].result() == "read-only-2"
        assert not prepared[1].done()  # its write waits for the lock
        lock.release()
        return [*await asyncio.gather(*prepared), *await asyncio.gather(refused, return_exceptions=True)]

    results = asyncio.run(scenario())
    assert results[:3] == ["read-only-1", "w1", "read-only-2"]
    assert isinstance(results[3], RuntimeError)
    assert committed_events(sqlite_url) == ["seen", "w1"]
