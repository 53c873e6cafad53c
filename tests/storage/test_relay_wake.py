"""The unit of work wakes the relay after a commit that queued mail or a text: once per group
commit on SQLite, back on the event loop after a worker thread's commit on PostgreSQL, and
never for a rollback or for transactions that queued nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.storage.conftest import NOW
from vitalkey.adapters.db.engine import make_engine
from vitalkey.adapters.db.uow import SqlUnitOfWork
from vitalkey.domain.errors import WrongCode
from vitalkey.domain.flows import CountedRefusal
from vitalkey.ports import OutgoingMail, Pending, QueuedSms


class Wakes:
    def __init__(self) -> None:
        self.count = 0
        self.threads: set[bool] = set()  # whether each wake-up ran on the event loop's thread

    def __call__(self) -> None:
        self.count += 1
        try:
            asyncio.get_running_loop()
            self.threads.add(True)
        except RuntimeError:
            self.threads.add(False)


@pytest.fixture
def wakes() -> Wakes:
    return Wakes()


@pytest.fixture
def uow(database_url: str, wakes: Wakes) -> Iterator[SqlUnitOfWork]:
    engine = make_engine(database_url)
    yield SqlUnitOfWork(engine, on_outbox_commit=wakes)
    engine.dispose()


def queue_mail(uow: SqlUnitOfWork, key: str) -> None:
    with uow.begin() as tx:
        tx.outbox.enqueue(OutgoingMail("ann@example.org", "login_code", "en", {}, key), NOW)


def queue_sms_then_fail(uow: SqlUnitOfWork, key: str) -> None:
    with uow.begin() as tx:
        tx.outbox.enqueue_sms(QueuedSms("+33612345678", "sms_code", "en", {}, key), NOW)
        raise LookupError("refused")


def write_nothing_queued(uow: SqlUnitOfWork, event: str) -> None:
    with uow.begin() as tx:
        tx.audit.record(event, NOW)


def test_a_commit_that_queued_mail_wakes_the_relay_on_the_loop(uow: SqlUnitOfWork, wakes: Wakes) -> None:
    async def scenario() -> None:
        await uow.run(queue_mail, uow, "k1")
        assert wakes.count == 1
        await uow.run(write_nothing_queued, uow, "nothing")
        with pytest.raises(LookupError):
            await uow.run(queue_sms_then_fail, uow, "k2")
        assert wakes.count == 1

    asyncio.run(scenario())
    assert wakes.threads == {True}


def test_one_wake_up_per_group_commit_and_none_for_a_rolled_back_unit(sqlite_url: str, wakes: Wakes) -> None:
    engine = make_engine(sqlite_url)
    uow = SqlUnitOfWork(engine, on_outbox_commit=wakes)

    async def scenario() -> None:
        await asyncio.gather(*(uow.run(queue_mail, uow, f"k{i}") for i in range(5)))
        group = uow._group_commit(asyncio.get_running_loop())
        assert (group.commits, wakes.count) == (1, 1)
        results = await asyncio.gather(
            uow.run(queue_sms_then_fail, uow, "lost"),
            uow.run(write_nothing_queued, uow, "kept"),
            return_exceptions=True,
        )
        assert isinstance(results[0], LookupError)
        assert (group.commits, wakes.count) == (2, 1)  # the queued text was rolled back with its unit

    try:
        asyncio.run(scenario())
    finally:
        engine.dispose()


def test_work_outside_the_loop_wakes_after_its_commit(uow: SqlUnitOfWork, wakes: Wakes) -> None:
    queue_mail(uow, "k1")
    assert wakes.count == 1
    with pytest.raises(LookupError):
        queue_sms_then_fail(uow, "k2")
    assert wakes.count == 1


def test_a_pending_write_that_queued_mail_wakes_the_relay(uow: SqlUnitOfWork, wakes: Wakes) -> None:
    def prepare(key: str) -> Pending[None]:
        with uow.read() as tx:
            tx.flows.get("none")
        return Pending(lambda: queue_mail(uow, key))

    async def scenario() -> None:
        await uow.run_optimistic(prepare, "k1")

    asyncio.run(scenario())
    assert (wakes.count, wakes.threads) == (1, {True})


def queue_mail_then_refuse(uow: SqlUnitOfWork, key: str) -> None:
    """A refusal that keeps its writes (``CountedRefusal``) keeps the mail it queued, too."""
    with uow.begin() as tx:
        tx.outbox.enqueue(OutgoingMail("ann@example.org", "login_code", "en", {}, key), NOW)
        raise CountedRefusal(WrongCode())


def test_a_kept_refusal_that_queued_mail_wakes_the_relay(uow: SqlUnitOfWork, wakes: Wakes) -> None:
    async def scenario() -> None:
        with pytest.raises(WrongCode):
            await uow.run(queue_mail_then_refuse, uow, "k-refused")
        assert wakes.count == 1

    asyncio.run(scenario())
