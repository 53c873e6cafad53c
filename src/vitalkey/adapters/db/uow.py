"""The unit of work and the repositories, on SQLAlchemy Core (one connection per transaction)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from vitalkey.adapters.db import schema as t
from vitalkey.domain.accounts import Account, Profile, Sex, Units
from vitalkey.domain.codes import StoredCode
from vitalkey.domain.flows import Channel, Flow, FlowKind
from vitalkey.domain.sessions import Session, SessionKind
from vitalkey.ports import OutgoingMail


class SqlFlows:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, flow: Flow) -> None:
        self.conn.execute(insert(t.flows).values(**_flow_row(flow)))

    def get(self, flow_id: str) -> Flow | None:
        row = self.conn.execute(select(t.flows).where(t.flows.c.id == flow_id)).mappings().first()
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
        values = _flow_row(flow)
        del values["id"]
        result = self.conn.execute(
            update(t.flows).where(t.flows.c.id == flow.id, t.flows.c.state == expected_state).values(**values)
        )
        return result.rowcount == 1


def _flow_row(flow: Flow) -> dict[str, Any]:
    return {
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
    }


class SqlCodes:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, code: StoredCode) -> None:
        self.conn.execute(
            insert(t.codes).values(
                flow_id=code.flow_id,
                purpose=code.purpose,
                code_hmac=code.code_hmac,
                expires_at=code.expires_at,
                attempts=code.attempts,
                sends=code.sends,
                last_sent_at=code.last_sent_at,
                used_at=code.used_at,
            )
        )

    def get(self, flow_id: str, purpose: str) -> StoredCode | None:
        row = self.conn.execute(select(t.codes).where(*_code_key(flow_id, purpose))).mappings().first()
        return _code(row)

    def count_attempt(self, flow_id: str, purpose: str) -> StoredCode | None:
        row = (
            self.conn.execute(
                update(t.codes)
                .where(*_code_key(flow_id, purpose), t.codes.c.used_at.is_(None))
                .values(attempts=t.codes.c.attempts + 1)
                .returning(*t.codes.c)
            )
            .mappings()
            .first()
        )
        return _code(row)

    def consume(self, flow_id: str, purpose: str, now: datetime, max_attempts: int) -> bool:
        result = self.conn.execute(
            update(t.codes)
            .where(
                *_code_key(flow_id, purpose),
                t.codes.c.used_at.is_(None),
                t.codes.c.expires_at > now,
                t.codes.c.attempts <= max_attempts,
            )
            .values(used_at=now)
        )
        return result.rowcount == 1

    def replace(self, flow_id: str, purpose: str, code_hmac: str, expires_at: datetime, now: datetime) -> None:
        self.conn.execute(
            update(t.codes)
            .where(*_code_key(flow_id, purpose), t.codes.c.used_at.is_(None))
            .values(code_hmac=code_hmac, expires_at=expires_at, sends=t.codes.c.sends + 1, last_sent_at=now)
        )


def _code_key(flow_id: str, purpose: str) -> tuple[Any, Any]:
    return (t.codes.c.flow_id == flow_id, t.codes.c.purpose == purpose)


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
        row = self.conn.execute(select(t.accounts).where(t.accounts.c.email_key == email_key)).mappings().first()
        return _account(row)

    def get(self, account_id: int) -> Account | None:
        row = self.conn.execute(select(t.accounts).where(t.accounts.c.id == account_id)).mappings().first()
        return _account(row)

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
        stmt = _insert(self.conn)(t.accounts).values(**values).on_conflict_do_nothing(index_elements=["email_key"])
        row = self.conn.execute(stmt.returning(t.accounts.c.id)).first()
        return None if row is None else self.get(int(row[0]))

    def update_profile(self, account_id: int, profile: Profile, now: datetime) -> None:
        self.conn.execute(
            update(t.accounts).where(t.accounts.c.id == account_id).values(updated_at=now, **_profile_row(profile))
        )

    def set_language(self, account_id: int, language: str) -> None:
        self.conn.execute(update(t.accounts).where(t.accounts.c.id == account_id).values(language=language))


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
            insert(t.sessions).values(
                id=session.id,
                account_id=session.account_id,
                kind=session.kind.value,
                methods=",".join(session.methods),
                user_agent=session.user_agent,
                ip=session.ip,
                created_at=session.created_at,
                last_seen_at=session.last_seen_at,
                expires_at=session.expires_at,
            )
        )

    def get(self, session_id: str) -> Session | None:
        row = (
            self.conn.execute(
                select(t.sessions).where(t.sessions.c.id == session_id, t.sessions.c.revoked_at.is_(None))
            )
            .mappings()
            .first()
        )
        return _session(row)

    def touch(self, session_id: str, now: datetime) -> None:
        self.conn.execute(update(t.sessions).where(t.sessions.c.id == session_id).values(last_seen_at=now))

    def for_account(self, account_id: int, now: datetime) -> list[Session]:
        rows = self.conn.execute(
            select(t.sessions)
            .where(
                t.sessions.c.account_id == account_id, t.sessions.c.revoked_at.is_(None), t.sessions.c.expires_at > now
            )
            .order_by(t.sessions.c.last_seen_at.desc())
        ).mappings()
        return [s for s in (_session(row) for row in rows) if s is not None]

    def revoke(self, account_id: int, session_id: str, now: datetime) -> bool:
        result = self.conn.execute(
            update(t.sessions)
            .where(
                t.sessions.c.id == session_id, t.sessions.c.account_id == account_id, t.sessions.c.revoked_at.is_(None)
            )
            .values(revoked_at=now)
        )
        return result.rowcount == 1

    def revoke_all_except(self, account_id: int, keep_id: str | None, now: datetime) -> int:
        conditions = [t.sessions.c.account_id == account_id, t.sessions.c.revoked_at.is_(None)]
        if keep_id is not None:
            conditions.append(t.sessions.c.id != keep_id)
        return int(self.conn.execute(update(t.sessions).where(and_(*conditions)).values(revoked_at=now)).rowcount)


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
            insert(t.outbox).values(
                channel="email",
                recipient=mail.to,
                template=mail.template,
                language=mail.language,
                payload=mail.context,
                idempotency_key=mail.idempotency_key,
                created_at=now,
                next_attempt_at=now,
                attempts=0,
            )
        )


class SqlAudit:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def record(self, event: str, now: datetime, account_id: int | None = None, **details: Any) -> None:
        self.conn.execute(
            insert(t.audit).values(
                at=now, account_id=account_id, event=event, details=json.loads(json.dumps(details, default=str))
            )
        )


class SqlCounters:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def hit(self, key: str, window_start: datetime) -> int:
        stmt = _insert(self.conn)(t.rate_counters).values(key=key, window_start=window_start, count=1)
        stmt = stmt.on_conflict_do_update(
            index_elements=["key", "window_start"], set_={"count": t.rate_counters.c.count + 1}
        ).returning(t.rate_counters.c.count)
        return int(self.conn.execute(stmt).scalar_one())


def _insert(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


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

    @contextmanager
    def begin(self) -> Iterator[SqlTransaction]:
        with self.engine.begin() as conn:
            yield SqlTransaction(conn)

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(select(func.count()).select_from(t.accounts).where(t.accounts.c.id == 0))
