"""The outbox of mail and texts. Hand-written SQL: every sign-in queues its code (see
``statements``)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from vitalkey.adapters.db.statements import Db, Sql, us
from vitalkey.ports import OutgoingMail, QueuedSms

_INSERT = (
    "INSERT INTO outbox (channel, recipient, template, language, payload, idempotency_key, created_at, "
    "next_attempt_at, attempts) VALUES ('{channel}', :recipient, :template, :language, :payload, :idempotency_key, "
    ":now, :now, 0)"
)
INSERT_MAIL = Sql(_INSERT.format(channel="email"))
INSERT_SMS = Sql(_INSERT.format(channel="sms"))
FORGET = Sql("DELETE FROM outbox WHERE recipient = :recipient")


class SqlOutbox:
    def __init__(self, db: Db) -> None:
        self.db = db

    def forget_recipients(self, recipients: list[str]) -> int:
        return sum(self.db.run(FORGET, {"recipient": recipient}) for recipient in recipients)

    def enqueue(self, mail: OutgoingMail, now: datetime) -> None:
        self._insert(INSERT_MAIL, mail.to, mail.template, mail.language, mail.context, mail.idempotency_key, now)

    def enqueue_sms(self, sms: QueuedSms, now: datetime) -> None:
        self._insert(INSERT_SMS, sms.to, sms.template, sms.language, sms.context, sms.idempotency_key, now)

    def _insert(
        self, statement: Sql, to: str, template: str, language: str, context: dict[str, Any], key: str, now: datetime
    ) -> None:
        params = {
            "recipient": to,
            "template": template,
            "language": language,
            "payload": json.dumps(context),
            "idempotency_key": key,
            "now": us(now),
        }
        self.db.run(statement, params)
        self.db.enqueued = True  # the unit of work wakes the relay once this commits
