"""Receipts of ingestion batches (Core): what a batch sent with an idempotency key was answered,
kept for a while (``prune`` by ``created``, on ``ix_ingest_receipts_created``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from vitalkey.adapters.db.repositories.health_rows import dumps, loads
from vitalkey.adapters.db.schema import ingest_receipts
from vitalkey.adapters.db.statements import Columns, Db, Row, at, core, us
from vitalkey.ports import Receipt

_c = ingest_receipts.c


def _add(insert: Any) -> Any:
    return (
        insert(ingest_receipts)
        .values({name: bindparam(name) for name in ("account_id", "key", "digest", "answer", "created")})
        .on_conflict_do_nothing(index_elements=[_c.account_id, _c.key])
    )


ADD = core(_add(sqlite.insert), _add(postgresql.insert))
GET = core(select(ingest_receipts).where(_c.account_id == bindparam("account_id"), _c.key == bindparam("key")))
PRUNE = core(delete(ingest_receipts).where(_c.created < bindparam("before")))


class SqlReceipts:
    def __init__(self, db: Db) -> None:
        self.db = db

    def get(self, account_id: int, key: str) -> Receipt | None:
        return self.db.one(GET, {"account_id": account_id, "key": key}, _receipt)

    def add(self, receipt: Receipt) -> bool:
        params = {
            "account_id": receipt.account_id,
            "key": receipt.key,
            "digest": receipt.digest,
            "answer": dumps(receipt.answer),
            "created": us(receipt.created),
        }
        return self.db.run(ADD, params) == 1

    def prune(self, before: datetime) -> int:
        return self.db.run(PRUNE, {"before": us(before)})


def _receipt(row: Row, c: Columns) -> Receipt:
    return Receipt(
        account_id=int(row[c["account_id"]]),
        key=row[c["key"]],
        digest=row[c["digest"]],
        answer=loads(row[c["answer"]]),
        created=at(row[c["created"]]),
    )
