"""Deleting an account deletes all its health data (and nobody else's)."""

from __future__ import annotations

from sqlalchemy import delete

from tests.storage.conftest import NOW, an_account
from tests.storage.health_records import a_day, a_device, a_group, a_recording, a_session, a_workout, rows_of
from vitalkey.adapters.db import schema as t
from vitalkey.adapters.db.uow import SqlUnitOfWork
from vitalkey.domain.health import Goals, IntradaySample
from vitalkey.ports import Receipt

HEALTH_TABLES = (
    "devices", "measure_groups", "measures", "activity_days", "intraday_samples", "workouts", "sleep_sessions",
    "heart_recordings", "goals", "ingest_receipts",
)  # fmt: skip


def fill(store: SqlUnitOfWork, account_id: int) -> None:
    with store.begin() as tx:
        tx.devices.add(a_device(account_id, f"dev-{account_id}"))
        tx.measure_groups.add(a_group(account_id))
        tx.measure_groups.delete(account_id, tx.measure_groups.add(a_group(account_id)), NOW)  # a tombstone too
        tx.activity.put(a_day(account_id))
        tx.intraday.put([IntradaySample(account_id, "dev-1", NOW, {"steps": 3})])
        tx.workouts.add(a_workout(account_id))
        tx.sleep.add(a_session(account_id))
        tx.heart.add(a_recording(account_id))
        tx.goals.set(account_id, Goals(modified=NOW))
        tx.receipts.add(Receipt(account_id, "k", "d", {}, NOW))


def test_deleting_an_account_deletes_its_health_data(store: SqlUnitOfWork) -> None:
    ann, bob = an_account(store).id, an_account(store, "bob@example.org").id
    fill(store, ann)
    fill(store, bob)
    before = {name: rows_of(store, name) for name in HEALTH_TABLES}
    assert all(count >= 2 for count in before.values())
    with store.engine.begin() as conn:
        conn.execute(delete(t.accounts).where(t.accounts.c.id == ann))
    after = {name: rows_of(store, name) for name in HEALTH_TABLES}
    assert after == {"measures": 3, **{name: count // 2 for name, count in before.items() if name != "measures"}}
    with store.engine.connect() as conn:
        for name in HEALTH_TABLES:
            table = t.metadata.tables[name]
            if "account_id" in table.c:
                owners = {row[0] for row in conn.execute(table.select().with_only_columns(table.c.account_id))}
                assert owners == {bob}, name
