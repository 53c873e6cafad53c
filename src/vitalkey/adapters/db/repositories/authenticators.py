"""Authenticators. Hand-written SQL: every sign-in with 2FA reads an account's rows, and the
writes that guard a secret (``advance``, ``swap_secret``) are single conditional statements."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from vitalkey.adapters.db.statements import Columns, Db, Row, Sql, at, at_or_none, us
from vitalkey.domain.authenticators import RECOVERY_CODE, StoredAuthenticator

_COLUMNS = "id, account_id, kind, name, created_at, last_used_at, is_default, lookup, counter, data, sealed"
_NEW = "account_id, kind, name, created_at, last_used_at, is_default, lookup, counter, data, sealed"
# No conflict target: any of the unique indexes (one per kind, one default, one lookup) refuses.
ADD = Sql(
    f"INSERT INTO authenticators ({_NEW}) VALUES (:account_id, :kind, :name, :created_at, :last_used_at, "
    ":is_default, :lookup, :counter, :data, :sealed) ON CONFLICT DO NOTHING RETURNING id"
)
FOR_ACCOUNT = Sql(f"SELECT {_COLUMNS} FROM authenticators WHERE account_id = :account_id ORDER BY id")
GET = Sql(f"SELECT {_COLUMNS} FROM authenticators WHERE id = :id AND account_id = :account_id")
BY_LOOKUP = Sql(f"SELECT {_COLUMNS} FROM authenticators WHERE kind = :kind AND lookup = :lookup")
ADVANCE = Sql("UPDATE authenticators SET counter = :counter, last_used_at = :now WHERE id = :id AND counter < :counter")
TOUCH = Sql("UPDATE authenticators SET last_used_at = :now WHERE id = :id")
SET_DATA = Sql("UPDATE authenticators SET data = :data WHERE id = :id")
SWAP_SECRET = Sql(
    "UPDATE authenticators SET lookup = :lookup, sealed = :sealed, created_at = :now "
    "WHERE id = :id AND lookup = :old_lookup"
)
RENAME = Sql("UPDATE authenticators SET name = :name WHERE id = :id AND account_id = :account_id")
# Two statements, the old default cleared first: a unique index is checked row by row.
CLEAR_DEFAULT = Sql(
    "UPDATE authenticators SET is_default = false WHERE account_id = :account_id AND is_default AND id <> :id "
    "AND EXISTS (SELECT 1 FROM authenticators a WHERE a.id = :id AND a.account_id = :account_id "
    f"AND a.kind <> '{RECOVERY_CODE}')"
)
SET_DEFAULT = Sql(
    "UPDATE authenticators SET is_default = true WHERE id = :id AND account_id = :account_id "
    f"AND kind <> '{RECOVERY_CODE}'"
)
REMOVE = Sql("DELETE FROM authenticators WHERE id = :id AND account_id = :account_id")
REMOVE_KIND = Sql("DELETE FROM authenticators WHERE account_id = :account_id AND kind = :kind")
# Row locks on every row of the account (PostgreSQL; SQLite has one writer at a time anyway): a
# second writer waits here until the first commits, then sees what it left.
LOCK_ACCOUNT = Sql("UPDATE authenticators SET counter = counter WHERE account_id = :account_id")


class SqlAuthenticators:
    def __init__(self, db: Db) -> None:
        self.db = db

    def for_account(self, account_id: int) -> list[StoredAuthenticator]:
        return self.db.all(FOR_ACCOUNT, {"account_id": account_id}, _authenticator)

    def get(self, account_id: int, authenticator_id: int) -> StoredAuthenticator | None:
        return self.db.one(GET, {"id": authenticator_id, "account_id": account_id}, _authenticator)

    def by_lookup(self, kind: str, lookup: str) -> StoredAuthenticator | None:
        return self.db.one(BY_LOOKUP, {"kind": kind, "lookup": lookup}, _authenticator)

    def add(self, authenticator: StoredAuthenticator) -> StoredAuthenticator | None:
        a = authenticator
        params = {
            "account_id": a.account_id,
            "kind": a.kind,
            "name": a.name,
            "created_at": us(a.created_at),
            "last_used_at": us(a.last_used_at) if a.last_used_at else None,
            "is_default": a.is_default,
            "lookup": a.lookup,
            "counter": a.counter,
            "data": json.dumps(dict(a.data)),
            "sealed": a.sealed,
        }
        new_id = self.db.one(ADD, params, lambda row, c: int(row[c["id"]]))
        if new_id is None:
            return None
        return StoredAuthenticator(
            new_id, a.account_id, a.kind, a.created_at, a.name, a.last_used_at, a.is_default, a.lookup, a.counter,
            dict(a.data), a.sealed,
        )  # fmt: skip

    def advance(self, authenticator_id: int, counter: int, now: datetime) -> bool:
        return self.db.run(ADVANCE, {"id": authenticator_id, "counter": counter, "now": us(now)}) == 1

    def touch(self, authenticator_id: int, now: datetime) -> bool:
        return self.db.run(TOUCH, {"id": authenticator_id, "now": us(now)}) == 1

    def set_data(self, authenticator_id: int, data: Mapping[str, Any]) -> bool:
        return self.db.run(SET_DATA, {"id": authenticator_id, "data": json.dumps(dict(data))}) == 1

    def swap_secret(self, authenticator_id: int, old_lookup: str, lookup: str, sealed: str, now: datetime) -> bool:
        params = {"id": authenticator_id, "old_lookup": old_lookup, "lookup": lookup, "sealed": sealed, "now": us(now)}
        return self.db.run(SWAP_SECRET, params) == 1

    def rename(self, account_id: int, authenticator_id: int, name: str) -> bool:
        return self.db.run(RENAME, {"id": authenticator_id, "account_id": account_id, "name": name}) == 1

    def set_default(self, account_id: int, authenticator_id: int) -> bool:
        params = {"id": authenticator_id, "account_id": account_id}
        self.db.run(CLEAR_DEFAULT, params)
        return self.db.run(SET_DEFAULT, params) == 1

    def remove(self, account_id: int, authenticator_id: int) -> bool:
        return self.db.run(REMOVE, {"id": authenticator_id, "account_id": account_id}) == 1

    def remove_kind(self, account_id: int, kind: str) -> int:
        return self.db.run(REMOVE_KIND, {"account_id": account_id, "kind": kind})

    def lock_account(self, account_id: int) -> None:
        self.db.run(LOCK_ACCOUNT, {"account_id": account_id})


def _json(value: Any) -> dict[str, Any]:
    """JSON columns come back as text from SQLite, decoded from PostgreSQL."""
    return dict(json.loads(value) if isinstance(value, str | bytes) else value)


def _authenticator(row: Row, c: Columns) -> StoredAuthenticator:
    return StoredAuthenticator(
        id=int(row[c["id"]]),
        account_id=int(row[c["account_id"]]),
        kind=row[c["kind"]],
        created_at=at(row[c["created_at"]]),
        name=row[c["name"]],
        last_used_at=at_or_none(row[c["last_used_at"]]),
        is_default=bool(row[c["is_default"]]),
        lookup=row[c["lookup"]],
        counter=int(row[c["counter"]]),
        data=_json(row[c["data"]]),
        sealed=row[c["sealed"]],
    )
