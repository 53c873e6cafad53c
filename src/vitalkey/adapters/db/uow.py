"""The unit of work and the repositories, on SQLAlchemy Core (one connection per transaction)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, text

from vitalkey.adapters.db import statements as q
from vitalkey.adapters.db.engine import SqliteWriteLock, is_sqlite
from vitalkey.domain.accounts import Account, Profile, Sex, Units
from vitalkey.domain.codes import StoredCode
from vitalkey.domain.flows import Channel, Flow, FlowKind
from vitalkey.domain.sessions import Session, SessionKind
from vitalkey.ports import OutgoingMail


def _p(params: dict[str, Any]) -> dict[str, Any]:
    """Bind names are prefixed in statements.py: SQLAlchemy reserves column names in UPDATEs."""
    return {f"p_{key}": value for key, value in params.items()}


class SqlFlows:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, flow: Flow) -> None:
        self.conn.execute(
            q.FLOW_INSERT,
            {
                "id": flow.id,
                "kind": flow.kind.value,
                "channel": flow.channel.value,
                "state": flow.state,
                "email": flow.email,
                "language": flow.language,
                "browser_binding": flow.browser_binding,
                "context": flow.context,
                "created_at": flow.created_at,
                "expires_at": flow.expires_at,
            },
        )

    def get(self, flow_id: str) -> Flow | None:
        row = self.conn.execute(q.FLOW_GET, _p({"id": flow_id})).mappings().first()
        if row is None:
            return None
        return Flow(
            id=row["id"],
            kind=FlowKind(row["kind"]),
            channel=Channel(row["channel"]),
            state=row["state"],
            created_at=row["created_at"],
            expires_at=row["expires_at"],
            language=row["language"],
            email=row["email"],
            browser_binding=row["browser_binding"],
            context=dict(row["context"]),
        )

    def save(self, flow: Flow, expected_state: str) -> bool:
        result = self.conn.execute(
            q.FLOW_SAVE,
            _p(
                {
                    "flow_id": flow.id,
                    "expected_state": expected_state,
                    "state": flow.state,
                    "email": flow.email,
                    "context": flow.context,
                }
            ),
        )
        return result.rowcount == 1


class SqlCodes:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, code: StoredCode) -> None:
        self.conn.execute(
            q.CODE_INSERT,
            {
                "flow_id": code.flow_id,
                "purpose": code.purpose,
                "code_hmac": code.code_hmac,
                "expires_at": code.expires_at,
                "attempts": code.attempts,
                "sends": code.sends,
                "last_sent_at": code.last_sent_at,
                "used_at": code.used_at,
            },
        )

    def get(self, flow_id: str, purpose: str) -> StoredCode | None:
        return _code(self.conn.execute(q.CODE_GET, _p({"flow_id": flow_id, "purpose": purpose})).mappings().first())

    def count_attempt(self, flow_id: str, purpose: str) -> StoredCode | None:
        row = self.conn.execute(q.CODE_COUNT_ATTEMPT, _p({"flow_id": flow_id, "purpose": purpose})).mappings().first()
        return _code(row)

    def consume(self, flow_id: str, purpose: str, now: datetime, max_attempts: int) -> bool:
        result = self.conn.execute(
            q.CODE_CONSUME, _p({"flow_id": flow_id, "purpose": purpose, "now": now, "max_attempts": max_attempts})
        )
        return result.rowcount == 1

    def replace(self, flow_id: str, purpose: str, code_hmac: str, expires_at: datetime, now: datetime) -> None:
        self.conn.execute(
            q.CODE_REPLACE,
            _p(
                {
                    "flow_id": flow_id,
                    "purpose": purpose,
                    "code_hmac": code_hmac,
                    "expires_at": expires_at,
                    "now": now,
                }
            ),
        )


def _code(row: Any) -> StoredCode | None:
    if row is None:
        return None
    return StoredCode(
        flow_id=row["flow_id"],
        purpose=row["purpose"],
        code_hmac=row["code_hmac"],
        expires_at=row["expires_at"],
        attempts=row["attempts"],
        sends=row["sends"],
        last_sent_at=row["last_sent_at"],
        used_at=row["used_at"],
    )


class SqlAccounts:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def by_email(self, email_key: str) -> Account | None:
        return _account(self.conn.execute(q.ACCOUNT_BY_EMAIL, _p({"email_key": email_key})).mappings().first())

    def get(self, account_id: int) -> Account | None:
        return _account(self.conn.execute(q.ACCOUNT_GET, _p({"id": account_id})).mappings().first())

    def create(
        self, email: str, email_key: str, language: str, profile: Profile, policy_version: str, now: datetime
    ) -> Account | None:
        values = {
            "email": email,
            "email_key": email_key,
            "language": language,
            "policy_version": policy_version,
            "policy_accepted_at": now,
            "created_at": now,
            "updated_at": now,
            **_profile_row(profile),
        }
        row = self.conn.execute(q.ACCOUNT_CREATE[self.conn.dialect.name], values).first()
        return None if row is None else self.get(int(row[0]))

    def update_profile(self, account_id: int, profile: Profile, now: datetime) -> None:
        self.conn.execute(
            q.ACCOUNT_UPDATE.values(updated_at=now, **_profile_row(profile)), {"p_account_id": account_id}
        )

    def set_language(self, account_id: int, language: str) -> None:
        self.conn.execute(q.ACCOUNT_UPDATE.values(language=language), {"p_account_id": account_id})


def _profile_row(profile: Profile) -> dict[str, Any]:
    return {
        "first_name": profile.first_name,
        "last_name": profile.last_name,
        "birth_date": profile.birth_date,
        "sex": profile.sex.value,
        "height_cm": profile.height_cm,
        "units": profile.units.value,
    }


def _account(row: Any) -> Account | None:
    if row is None:
        return None
    profile = None
    if row["first_name"] is not None:
        born = row["birth_date"]
        profile = Profile(
            first_name=row["first_name"],
            last_name=row["last_name"],
            birth_date=born if isinstance(born, date) else date.fromisoformat(str(born)),
            sex=Sex(row["sex"]),
            height_cm=float(row["height_cm"]),
            units=Units(row["units"]),
        )
    return Account(
        id=int(row["id"]),
        email=row["email"],
        created_at=row["created_at"],
        language=row["language"],
        profile=profile,
        policy_version=row["policy_version"],
        policy_accepted_at=row["policy_accepted_at"],
    )


class SqlSessions:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, session: Session) -> None:
        self.conn.execute(
            q.SESSION_INSERT,
            {
                "id": session.id,
                "account_id": session.account_id,
                "kind": session.kind.value,
                "methods": ",".join(session.methods),
                "user_agent": session.user_agent,
                "ip": session.ip,
                "created_at": session.created_at,
                "last_seen_at": session.last_seen_at,
                "expires_at": session.expires_at,
                "revoked_at": None,
            },
        )

    def get(self, session_id: str) -> Session | None:
        return _session(self.conn.execute(q.SESSION_GET, _p({"id": session_id})).mappings().first())

    def touch(self, session_id: str, now: datetime) -> None:
        self.conn.execute(q.SESSION_TOUCH, _p({"session_id": session_id, "now": now}))

    def for_account(self, account_id: int, now: datetime) -> list[Session]:
        rows = self.conn.execute(q.SESSION_FOR_ACCOUNT, _p({"account_id": account_id, "now": now})).mappings()
        return [s for s in (_session(row) for row in rows) if s is not None]

    def revoke(self, account_id: int, session_id: str, now: datetime) -> bool:
        result = self.conn.execute(
            q.SESSION_REVOKE, _p({"session_id": session_id, "account_id": account_id, "now": now})
        )
        return result.rowcount == 1

    def revoke_all_except(self, account_id: int, keep_id: str | None, now: datetime) -> int:
        result = self.conn.execute(
            q.SESSION_REVOKE_OTHERS, _p({"account_id": account_id, "keep_id": keep_id or "", "now": now})
        )
        return int(result.rowcount)


def _session(row: Any) -> Session | None:
    if row is None:
        return None
    return Session(
        id=row["id"],
        account_id=int(row["account_id"]),
        kind=SessionKind(row["kind"]),
        created_at=row["created_at"],
        last_seen_at=row["last_seen_at"],
        expires_at=row["expires_at"],
        user_agent=row["user_agent"],
        ip=row["ip"],
        methods=tuple(m for m in row["methods"].split(",") if m),
    )


class SqlOutbox:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def enqueue(self, mail: OutgoingMail, now: datetime) -> None:
        self.conn.execute(
            q.OUTBOX_INSERT,
            {
                "channel": "email",
                "recipient": mail.to,
                "template": mail.template,
                "language": mail.language,
                "payload": mail.context,
                "idempotency_key": mail.idempotency_key,
                "created_at": now,
                "next_attempt_at": now,
                "attempts": 0,
            },
        )


class SqlAudit:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def record(self, event: str, now: datetime, account_id: int | None = None, **details: Any) -> None:
        self.conn.execute(
            q.AUDIT_INSERT,
            {
                "at": now,
                "account_id": account_id,
                "event": event,
                "details": json.loads(json.dumps(details, default=str)),
            },
        )


class SqlCounters:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def hit(self, key: str, window_start: datetime) -> int:
        result = self.conn.execute(
            q.COUNTER_HIT[self.conn.dialect.name], {"p_key": key, "p_window_start": window_start}
        )
        return int(result.scalar_one())


class SqlTransaction:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.flows = SqlFlows(conn)
        self.codes = SqlCodes(conn)
        self.accounts = SqlAccounts(conn)
        self.sessions = SqlSessions(conn)
        self.outbox = SqlOutbox(conn)
        self.audit = SqlAudit(conn)
        self.counters = SqlCounters(conn)


class SqlUnitOfWork:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # SQLite has one writer at a time: queue writers on a lock (threads and processes) instead
        # of letting SQLite's busy handler sleep and retry, which collapses under load.
        self.write_lock = SqliteWriteLock(engine) if is_sqlite(engine) else None

    @contextmanager
    def begin(self) -> Iterator[SqlTransaction]:
        if self.write_lock is None:
            with self.engine.begin() as conn:
                yield SqlTransaction(conn)
            return
        with self.write_lock, self.engine.begin() as conn:
            yield SqlTransaction(conn)

    @contextmanager
    def read(self) -> Iterator[SqlTransaction]:
        with self.engine.connect() as raw:
            conn = raw.execution_options(vitalkey_read=True)
            with conn.begin():
                yield SqlTransaction(conn)

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
