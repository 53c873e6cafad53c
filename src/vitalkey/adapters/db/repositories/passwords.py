"""Passwords: their hashes (on the accounts), the failures counted per address, and the reset
links. Hand-written SQL: a password sign-in reads the hash and counts failures (see
``statements``); a reset revokes the links with the same statements."""

from __future__ import annotations

from datetime import datetime

from vitalkey.adapters.db.statements import Columns, Db, Row, Sql, at, us

HASH_GET = Sql("SELECT password_hash FROM accounts WHERE id = :id")
HASH_SET = Sql(
    "UPDATE accounts SET password_hash = :hash, password_changed_at = :now, updated_at = :now WHERE id = :id"
)
REHASH = Sql("UPDATE accounts SET password_hash = :hash WHERE id = :id AND password_hash = :old")

FAILURE_COUNT = Sql(
    "INSERT INTO password_failures (key, consecutive, blocked_until) VALUES (:key, 1, 0) "
    "ON CONFLICT (key) DO UPDATE SET consecutive = password_failures.consecutive + 1 "
    "RETURNING consecutive, blocked_until"
)
FAILURE_GET = Sql("SELECT consecutive, blocked_until FROM password_failures WHERE key = :key")
FAILURE_BLOCK = Sql("UPDATE password_failures SET blocked_until = :until WHERE key = :key")
FAILURE_CLEAR = Sql("DELETE FROM password_failures WHERE key = :key")

RESET_REVOKE_ALL = Sql("UPDATE password_resets SET used_at = :now WHERE account_id = :account_id AND used_at IS NULL")
RESET_INSERT = Sql(
    "INSERT INTO password_resets (token_digest, account_id, created_at, expires_at) "
    "VALUES (:digest, :account_id, :now, :expires_at)"
)
RESET_VALID = Sql(
    "SELECT account_id FROM password_resets WHERE token_digest = :digest AND used_at IS NULL AND expires_at > :now"
)
RESET_CONSUME = Sql(
    "UPDATE password_resets SET used_at = :now WHERE token_digest = :digest AND used_at IS NULL "
    "AND expires_at > :now RETURNING account_id"
)


class SqlPasswordHashes:
    def __init__(self, db: Db) -> None:
        self.db = db

    def get(self, account_id: int) -> str | None:
        return self.db.one(HASH_GET, {"id": account_id}, _hash)

    def set(self, account_id: int, password_hash: str, now: datetime) -> None:
        """A new password: every open "update password" link of the account dies with the old one."""
        self.db.run(HASH_SET, {"id": account_id, "hash": password_hash, "now": us(now)})
        self.db.run(RESET_REVOKE_ALL, {"account_id": account_id, "now": us(now)})

    def rehash(self, account_id: int, old_hash: str, new_hash: str) -> None:
        self.db.run(REHASH, {"id": account_id, "old": old_hash, "hash": new_hash})


class SqlPasswordFailures:
    def __init__(self, db: Db) -> None:
        self.db = db

    def count(self, key: str) -> tuple[int, datetime]:
        counted = self.db.one(FAILURE_COUNT, {"key": key}, _failures)
        assert counted is not None  # an upsert RETURNING always returns its row
        return counted

    def get(self, key: str) -> tuple[int, datetime]:
        return self.db.one(FAILURE_GET, {"key": key}, _failures) or (0, at(0))

    def block(self, key: str, until: datetime) -> None:
        self.db.run(FAILURE_BLOCK, {"key": key, "until": us(until)})

    def clear(self, key: str) -> None:
        self.db.run(FAILURE_CLEAR, {"key": key})


class SqlPasswordResets:
    def __init__(self, db: Db) -> None:
        self.db = db

    def add(self, token_digest: str, account_id: int, now: datetime, expires_at: datetime) -> None:
        """A new link; the account's older links die (only the newest works)."""
        self.db.run(RESET_REVOKE_ALL, {"account_id": account_id, "now": us(now)})
        params = {"digest": token_digest, "account_id": account_id, "now": us(now), "expires_at": us(expires_at)}
        self.db.run(RESET_INSERT, params)

    def account(self, token_digest: str, now: datetime) -> int | None:
        return self.db.one(RESET_VALID, {"digest": token_digest, "now": us(now)}, _account_id)

    def consume(self, token_digest: str, now: datetime) -> int | None:
        return self.db.one(RESET_CONSUME, {"digest": token_digest, "now": us(now)}, _account_id)


def _hash(row: Row, c: Columns) -> str | None:
    value: str | None = row[c["password_hash"]]
    return value


def _failures(row: Row, c: Columns) -> tuple[int, datetime]:
    return int(row[c["consecutive"]]), at(row[c["blocked_until"]])


def _account_id(row: Row, c: Columns) -> int:
    return int(row[c["account_id"]])
