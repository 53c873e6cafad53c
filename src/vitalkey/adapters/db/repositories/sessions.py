"""Sessions. Hand-written SQL for what every request and sign-in does (make, read, touch; see
``statements``); Core for listing and ending them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select, update

from vitalkey.adapters.db.schema import sessions
from vitalkey.adapters.db.statements import Columns, Db, Row, Sql, at, core, us
from vitalkey.domain.sessions import Session, SessionKind

_COLUMNS = "id, account_id, kind, methods, user_agent, ip, created_at, last_seen_at, expires_at, authenticated_at"
INSERT = Sql(
    f"INSERT INTO sessions ({_COLUMNS}) VALUES (:id, :account_id, :kind, :methods, :user_agent, :ip, :created_at, "
    ":last_seen_at, :expires_at, :authenticated_at)"
)
GET = Sql(f"SELECT {_COLUMNS} FROM sessions WHERE id = :id AND revoked_at IS NULL")
TOUCH = Sql("UPDATE sessions SET last_seen_at = :now WHERE id = :id")
# A factor proved within the session: counted from now, and the session ends no later than a
# sign-in with that factor would (CASE: portable MIN).
ADD_FACTOR = Sql(
    "UPDATE sessions SET methods = :methods, authenticated_at = :now, "
    "expires_at = CASE WHEN expires_at > :expires_by THEN :expires_by ELSE expires_at END "
    "WHERE id = :id AND revoked_at IS NULL"
)

_live = sessions.c.revoked_at.is_(None)
FOR_ACCOUNT = core(
    select(*(sessions.c[name] for name in _COLUMNS.split(", ")))
    .where(sessions.c.account_id == bindparam("account_id"), _live, sessions.c.expires_at > bindparam("now"))
    .order_by(sessions.c.last_seen_at.desc())
)
REVOKE = core(
    update(sessions)
    .where(sessions.c.id == bindparam("id"), sessions.c.account_id == bindparam("account_id"), _live)
    .values(revoked_at=bindparam("now"))
)
REVOKE_OTHERS = core(
    update(sessions)
    .where(sessions.c.account_id == bindparam("account_id"), _live, sessions.c.id != bindparam("keep_id"))
    .values(revoked_at=bindparam("now"))
)


class SqlSessions:
    def __init__(self, db: Db) -> None:
        self.db = db

    def add(self, session: Session) -> None:
        self.db.run(
            INSERT,
            {
                "id": session.id,
                "account_id": session.account_id,
                "kind": session.kind.value,
                "methods": ",".join(session.methods),
                "user_agent": session.user_agent,
                "ip": session.ip,
                "created_at": us(session.created_at),
                "last_seen_at": us(session.last_seen_at),
                "expires_at": us(session.expires_at),
                "authenticated_at": us(session.authenticated_at) if session.authenticated_at else None,
            },
        )

    def add_factor(self, session: Session, method: str, now: datetime, expires_by: datetime) -> None:
        methods = ",".join(dict.fromkeys((*session.methods, method)))
        self.db.run(ADD_FACTOR, {"id": session.id, "methods": methods, "now": us(now), "expires_by": us(expires_by)})

    def get(self, session_id: str) -> Session | None:
        return self.db.one(GET, {"id": session_id}, _session)

    def touch(self, session_id: str, now: datetime) -> None:
        self.db.run(TOUCH, {"id": session_id, "now": us(now)})

    def for_account(self, account_id: int, now: datetime) -> list[Session]:
        return self.db.all(FOR_ACCOUNT, {"account_id": account_id, "now": us(now)}, _session)

    def revoke(self, account_id: int, session_id: str, now: datetime) -> bool:
        return self.db.run(REVOKE, {"id": session_id, "account_id": account_id, "now": us(now)}) == 1

    def revoke_all_except(self, account_id: int, keep_id: str | None, now: datetime) -> int:
        return self.db.run(REVOKE_OTHERS, {"account_id": account_id, "keep_id": keep_id or "", "now": us(now)})


def _session(row: Row, c: Columns) -> Session:
    authenticated_at = row[c["authenticated_at"]]
    return Session(
        id=row[c["id"]],
        account_id=int(row[c["account_id"]]),
        kind=SessionKind(row[c["kind"]]),
        created_at=at(row[c["created_at"]]),
        last_seen_at=at(row[c["last_seen_at"]]),
        expires_at=at(row[c["expires_at"]]),
        user_agent=row[c["user_agent"]],
        ip=row[c["ip"]],
        methods=tuple(m for m in row[c["methods"]].split(",") if m),
        authenticated_at=None if authenticated_at is None else at(authenticated_at),
    )
