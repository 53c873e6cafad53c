"""Reading what the flows queued, without a relay: the outbox payload holds the code until delivery."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from vitalkey.adapters.db import schema as t
from vitalkey.container import Container
from vitalkey.domain.flows import Channel, Requester

BROWSER = Requester(ip="203.0.113.7", user_agent="pytest", language="en", channel=Channel.API)


def queued(container: Container, to: str) -> list[dict[str, Any]]:
    with container.engine.connect() as conn:
        rows = conn.execute(select(t.outbox).where(t.outbox.c.recipient == to).order_by(t.outbox.c.id)).mappings()
        return [dict(row) for row in rows]


def last_code(container: Container, to: str) -> str:
    payload = queued(container, to)[-1]["payload"]
    return str(payload["code"])
