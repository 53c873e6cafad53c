"""Statements built once: SQLAlchemy then only looks up its compiled form (a fraction of the cost
of building ``insert(...).values(...)`` on every call)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from vitalkey.adapters.db import schema as t

FLOW_INSERT = insert(t.flows)
FLOW_GET = select(t.flows).where(t.flows.c.id == bindparam("p_id"))
FLOW_SAVE = (
    update(t.flows)
    .where(t.flows.c.id == bindparam("p_flow_id"), t.flows.c.state == bindparam("p_expected_state"))
    .values(state=bindparam("p_state"), email=bindparam("p_email"), context=bindparam("p_context"))
)

_code_key = and_(t.codes.c.flow_id == bindparam("p_flow_id"), t.codes.c.purpose == bindparam("p_purpose"))
CODE_INSERT = insert(t.codes)
CODE_GET = select(t.codes).where(_code_key)
CODE_COUNT_ATTEMPT = (
    update(t.codes)
    .where(_code_key, t.codes.c.used_at.is_(None))
    .values(attempts=t.codes.c.attempts + 1)
    .returning(*t.codes.c)
)
CODE_CONSUME = (
    update(t.codes)
    .where(
        _code_key,
        t.codes.c.used_at.is_(None),
        t.codes.c.expires_at > bindparam("p_now"),
        t.codes.c.attempts <= bindparam("p_max_attempts"),
    )
    .values(used_at=bindparam("p_now"))
)
CODE_REPLACE = (
    update(t.codes)
    .where(_code_key, t.codes.c.used_at.is_(None))
    .values(
        code_hmac=bindparam("p_code_hmac"),
        expires_at=bindparam("p_expires_at"),
        sends=t.codes.c.sends + 1,
        last_sent_at=bindparam("p_now"),
    )
)

ACCOUNT_BY_EMAIL = select(t.accounts).where(t.accounts.c.email_key == bindparam("p_email_key"))
ACCOUNT_GET = select(t.accounts).where(t.accounts.c.id == bindparam("p_id"))
ACCOUNT_UPDATE = update(t.accounts).where(t.accounts.c.id == bindparam("p_account_id"))

SESSION_INSERT = insert(t.sessions)
SESSION_GET = select(t.sessions).where(t.sessions.c.id == bindparam("p_id"), t.sessions.c.revoked_at.is_(None))
SESSION_TOUCH = (
    update(t.sessions).where(t.sessions.c.id == bindparam("p_session_id")).values(last_seen_at=bindparam("p_now"))
)
SESSION_FOR_ACCOUNT = (
    select(t.sessions)
    .where(
        t.sessions.c.account_id == bindparam("p_account_id"),
        t.sessions.c.revoked_at.is_(None),
        t.sessions.c.expires_at > bindparam("p_now"),
    )
    .order_by(t.sessions.c.last_seen_at.desc())
)
SESSION_REVOKE = (
    update(t.sessions)
    .where(
        t.sessions.c.id == bindparam("p_session_id"),
        t.sessions.c.account_id == bindparam("p_account_id"),
        t.sessions.c.revoked_at.is_(None),
    )
    .values(revoked_at=bindparam("p_now"))
)
SESSION_REVOKE_OTHERS = (
    update(t.sessions)
    .where(
        t.sessions.c.account_id == bindparam("p_account_id"),
        t.sessions.c.revoked_at.is_(None),
        t.sessions.c.id != bindparam("p_keep_id"),
    )
    .values(revoked_at=bindparam("p_now"))
)

OUTBOX_INSERT = insert(t.outbox)
AUDIT_INSERT = insert(t.audit)


def _counter_upsert(dialect_insert: Any) -> Any:
    stmt = dialect_insert(t.rate_counters).values(
        key=bindparam("p_key"), window_start=bindparam("p_window_start"), count=1
    )
    return stmt.on_conflict_do_update(
        index_elements=["key", "window_start"], set_={"count": t.rate_counters.c.count + 1}
    ).returning(t.rate_counters.c.count)


def _account_create(dialect_insert: Any) -> Any:
    return dialect_insert(t.accounts).on_conflict_do_nothing(index_elements=["email_key"]).returning(t.accounts.c.id)


COUNTER_HIT = {"sqlite": _counter_upsert(sqlite.insert), "postgresql": _counter_upsert(postgresql.insert)}
ACCOUNT_CREATE = {"sqlite": _account_create(sqlite.insert), "postgresql": _account_create(postgresql.insert)}
