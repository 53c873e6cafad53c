"""Flows (sign-up, sign-in, …). Hand-written SQL: every step of a sign-in reads and saves its
flow (see ``statements``)."""

from __future__ import annotations

import json
from typing import Any

from vitalkey.adapters.db.statements import Columns, Db, Row, Sql, at, us
from vitalkey.domain.flows import Channel, Flow, FlowKind

_COLUMNS = "id, kind, channel, state, email, language, browser_binding, context, created_at, expires_at"
INSERT = Sql(
    f"INSERT INTO flows ({_COLUMNS}) VALUES (:id, :kind, :channel, :state, :email, :language, :browser_binding, "
    ":context, :created_at, :expires_at)"
)
GET = Sql(f"SELECT {_COLUMNS} FROM flows WHERE id = :id")
SAVE = Sql(
    "UPDATE flows SET state = :state, email = :email, context = :context WHERE id = :id AND state = :expected_state"
)
# Codes go with their flow (ON DELETE CASCADE).
FORGET_ADDRESS = Sql("DELETE FROM flows WHERE LOWER(email) = :email_key")


class SqlFlows:
    def __init__(self, db: Db) -> None:
        self.db = db

    def add(self, flow: Flow) -> None:
        self.db.run(
            INSERT,
            {
                "id": flow.id,
                "kind": flow.kind.value,
                "channel": flow.channel.value,
                "state": flow.state,
                "email": flow.email,
                "language": flow.language,
                "browser_binding": flow.browser_binding,
                "context": json.dumps(flow.context),
                "created_at": us(flow.created_at),
                "expires_at": us(flow.expires_at),
            },
        )

    def get(self, flow_id: str) -> Flow | None:
        return self.db.one(GET, {"id": flow_id}, _flow)

    def save(self, flow: Flow, expected_state: str) -> bool:
        params = {
            "id": flow.id,
            "expected_state": expected_state,
            "state": flow.state,
            "email": flow.email,
            "context": json.dumps(flow.context),
        }
        return self.db.run(SAVE, params) == 1

    def forget_address(self, email_key: str) -> int:
        return self.db.run(FORGET_ADDRESS, {"email_key": email_key.lower()})


def _json(value: Any) -> Any:
    """JSON columns come back as text from SQLite, decoded from PostgreSQL."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def _flow(row: Row, c: Columns) -> Flow:
    return Flow(
        id=row[c["id"]],
        kind=FlowKind(row[c["kind"]]),
        channel=Channel(row[c["channel"]]),
        state=row[c["state"]],
        created_at=at(row[c["created_at"]]),
        expires_at=at(row[c["expires_at"]]),
        language=row[c["language"]],
        email=row[c["email"]],
        browser_binding=row[c["browser_binding"]],
        context=dict(_json(row[c["context"]])),
    )
