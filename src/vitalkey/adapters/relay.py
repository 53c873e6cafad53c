"""The outbox relay: claims pending messages, renders and delivers them, retries with backoff.

Mail goes to the mail sender in one batch; texts (channel ``sms``) go one by one to the SMS
sender, and are given up once the code they carry has expired. Delivery is at least once; a
keyed digest of the outbox row's idempotency key becomes the Message-ID (and the gateway's
idempotency token), so a repeated delivery after a crash is recognisable.

Several relays may run at once: rows are claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL
(SQLite serialises writers anyway). A claim is a short lease in the relay's name, renewed while
the relay works on the rows: a relay that dies leaves them to the next one within the lease, and
a live relay's slow delivery is never taken from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, case, delete, or_, select, update

from vitalkey.adapters.db import schema as t
from vitalkey.adapters.db.engine import writing
from vitalkey.adapters.db.unavailable import reason, unreachable
from vitalkey.adapters.mail.render import MailRenderer
from vitalkey.adapters.mail.senders import MailSender
from vitalkey.adapters.sms import SmsRenderer
from vitalkey.domain.phones import region_of
from vitalkey.domain.tokens import keyed_digest
from vitalkey.flows.account_deletion import MAIL_TEMPLATE as ACCOUNT_DELETED
from vitalkey.observability import MAIL_FAILURES, MAILS_SENT, SMS_FAILURES, SMS_SENT, logger
from vitalkey.ports import Clock, OutgoingSms, RenderedMail, SmsFailed, SmsSender

log = logger("vitalkey.relay")

# How long a claim lasts unless renewed: the longest a dead relay keeps a message from the others.
LEASE_S = 10.0


def delivery_key(key: bytes, outbox_key: str) -> str:
    """The idempotency key a receiver sees (the Message-ID's local part, the SMS gateway's token):
    a keyed digest of the outbox row's key, so that it names none of our ids (the flow's) and is
    the same for every attempt at one message."""
    return keyed_digest(key, outbox_key)[:32]


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    channel: str
    recipient: str
    template: str
    language: str
    payload: dict[str, Any]
    idempotency_key: str
    attempts: int


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s … up to one hour, with jitter so that retries spread out."""
    seconds = min(5 * 2 ** max(attempts - 1, 0), 3600)
    return timedelta(seconds=seconds * random.uniform(0.8, 1.2))


class OutboxRelay:
    def __init__(
        self,
        engine: Engine,
        renderer: MailRenderer,
        sender: MailSender,
        clock: Clock,
        key: bytes,
        sms_sender: SmsSender | None = None,
        sms_renderer: SmsRenderer | None = None,
        batch: int = 100,
        max_attempts: int = 12,
        poll_s: float = 1.0,
        lease_s: float = LEASE_S,
        rate_counts_kept: timedelta = timedelta(days=1),
    ) -> None:
        self.rate_counts_kept = rate_counts_kept
        self.engine, self.renderer, self.sender, self.clock = engine, renderer, sender, clock
        self.key = key
        self.sms_sender, self.sms_renderer = sms_sender, sms_renderer
        self.batch, self.max_attempts, self.poll_s = batch, max_attempts, poll_s
        self.lease = timedelta(seconds=lease_s)
        # Renewed four times a lease: a renewal may be late or fail twice before the lease runs out.
        self.renew_every_s = lease_s / 4
        self.relay_id = secrets.token_hex(8)  # whose claim a row is: renew and release only our own
        self._wake: asyncio.Event | None = None

    def delivery_key(self, outbox_key: str) -> str:
        return delivery_key(self.key, outbox_key)

    # Claiming and marking (blocking; run in a thread from the loop) ----------------
    def claim(self) -> list[Claimed]:
        now = self.clock.now()
        pending = and_(
            t.outbox.c.sent_at.is_(None),
            t.outbox.c.failed_at.is_(None),
            t.outbox.c.next_attempt_at <= now,
            or_(t.outbox.c.claimed_until.is_(None), t.outbox.c.claimed_until < now),
        )
        query = select(t.outbox).where(pending).order_by(t.outbox.c.id).limit(self.batch)
        with writing(self.engine), self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = conn.execute(query).mappings().all()
            if not rows:
                return []
            ids = [row["id"] for row in rows]
            conn.execute(
                update(t.outbox)
                .where(t.outbox.c.id.in_(ids))
                .values(claimed_by=self.relay_id, claimed_until=now + self.lease)
            )
        return [
            Claimed(
                id=row["id"],
                channel=row["channel"],
                recipient=row["recipient"],
                template=row["template"],
                language=row["language"],
                payload=dict(row["payload"]),
                idempotency_key=row["idempotency_key"],
                attempts=row["attempts"],
            )
            for row in rows
        ]

    def renew(self, ids: Sequence[int]) -> int:
        """Extend our claim on rows still being worked on; a row another relay took (our lease
        ran out) stays theirs. Returns how many rows are still ours."""
        ours = and_(t.outbox.c.id.in_(ids), t.outbox.c.claimed_by == self.relay_id)
        with writing(self.engine), self.engine.begin() as conn:
            renewed = conn.execute(update(t.outbox).where(ours).values(claimed_until=self.clock.now() + self.lease))
        return renewed.rowcount

    # The address of a deleted account is kept only until its last mail is settled.
    _settled_recipient = case((t.outbox.c.template == ACCOUNT_DELETED, ""), else_=t.outbox.c.recipient)

    def mark(
        self,
        delivered: list[int],
        failed: list[tuple[Claimed, str]],
        given_up: Sequence[tuple[Claimed, str]] = (),
    ) -> None:
        now = self.clock.now()
        with writing(self.engine), self.engine.begin() as conn:
            if delivered:
                # The payload may hold a one-time code: drop it as soon as it has been delivered.
                conn.execute(
                    update(t.outbox)
                    .where(t.outbox.c.id.in_(delivered))
                    .values(
                        sent_at=now,
                        payload={},
                        recipient=self._settled_recipient,
                        claimed_by=None,
                        claimed_until=None,
                        attempts=t.outbox.c.attempts + 1,
                    )
                )
            # A failure is ours to record only while the row is ours: if our lease ran out,
            # another relay has it now, and releasing it would let a third take it as well.
            released = {"claimed_by": None, "claimed_until": None}
            for item, error in failed:
                attempts = item.attempts + 1
                values: dict[str, Any] = {"attempts": attempts, "last_error": error, **released}
                if attempts >= self.max_attempts:
                    values.update(failed_at=now, payload={}, recipient=self._settled_recipient)
                else:
                    values["next_attempt_at"] = now + backoff(attempts)
                conn.execute(update(t.outbox).where(self._ours(item.id)).values(**values))
            for item, error in given_up:  # no later try can succeed (refused, or the code expired)
                values = {"attempts": item.attempts + 1, "last_error": error, **released}
                values["recipient"] = self._settled_recipient
                conn.execute(update(t.outbox).where(self._ours(item.id)).values(failed_at=now, payload={}, **values))

    def _ours(self, row_id: int) -> Any:
        return and_(t.outbox.c.id == row_id, t.outbox.c.claimed_by == self.relay_id)

    def housekeeping(self) -> None:
        """Forget what nobody needs any more: old flows, rate-limit windows, delivered rows."""
        now = self.clock.now()
        with writing(self.engine), self.engine.begin() as conn:
            conn.execute(delete(t.flows).where(t.flows.c.expires_at < now - timedelta(days=1)))
            # Buckets older than the longest window and its oldest bucket count for nothing.
            kept_since = now - 2 * self.rate_counts_kept
            conn.execute(delete(t.rate_counters).where(t.rate_counters.c.window_start < kept_since))
            conn.execute(delete(t.outbox).where(t.outbox.c.sent_at < now - timedelta(days=30)))
            conn.execute(delete(t.dev_sms).where(t.dev_sms.c.created_at < now - timedelta(days=7)))

    # Delivering -------------------------------------------------------------------
    async def run_once(self) -> int:
        claimed = await asyncio.to_thread(self.claim)
        if not claimed:
            return 0
        async with self._holding([item.id for item in claimed]):
            texts = [item for item in claimed if item.channel == "sms"]
            delivered, failed, given_up = await self._send_texts(texts)
            mails = [item for item in claimed if item.channel != "sms"]
            mails_delivered, mails_failed = await self._send_mails(mails)
        # Still ours: the last renewal left most of a lease.
        await asyncio.to_thread(self.mark, delivered + mails_delivered, failed + mails_failed, given_up)
        return len(claimed)

    @contextlib.asynccontextmanager
    async def _holding(self, ids: list[int]) -> AsyncIterator[None]:
        """Renew the lease on ``ids`` while the body runs (the heartbeat of a live relay)."""

        async def heartbeat() -> None:
            while True:
                await asyncio.sleep(self.renew_every_s)
                try:
                    kept = await asyncio.to_thread(self.renew, ids)
                except Exception as exc:  # the database may be briefly away: try again at the next beat
                    log.warning("relay.renew_failed", error=type(exc).__name__)
                    continue
                if kept < len(ids):
                    log.warning("relay.lease_lost", rows=len(ids) - kept)

        beating = asyncio.create_task(heartbeat())
        try:
            yield
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating

    async def _send_mails(self, claimed: list[Claimed]) -> tuple[list[int], list[tuple[Claimed, str]]]:
        if not claimed:
            return [], []
        rendered: list[tuple[Claimed, RenderedMail]] = []
        failed: list[tuple[Claimed, str]] = []
        for item in claimed:
            try:
                mail = self.renderer.render(
                    item.template, item.language, item.recipient, item.payload, self.delivery_key(item.idempotency_key)
                )
            except Exception as exc:  # a broken template must not stop the other mails
                failed.append((item, f"render: {type(exc).__name__}"))
                continue
            rendered.append((item, mail))
        try:
            results = await self.sender.deliver([mail for _, mail in rendered], self.clock.now())
        except Exception as exc:  # a sender bug: count a failed attempt for each mail, retry later
            results = [f"deliver: {type(exc).__name__}"] * len(rendered)
        delivered = []
        for (item, _mail), error in zip(rendered, results, strict=True):
            if error is None:
                delivered.append(item.id)
                MAILS_SENT.labels(template=item.template).inc()
            else:
                failed.append((item, error))
                MAIL_FAILURES.inc()
                log.warning("mail.failed", outbox_id=item.id, attempts=item.attempts + 1, error=error)
        return delivered, failed

    async def _send_texts(
        self, claimed: list[Claimed]
    ) -> tuple[list[int], list[tuple[Claimed, str]], list[tuple[Claimed, str]]]:
        delivered: list[int] = []
        failed: list[tuple[Claimed, str]] = []
        given_up: list[tuple[Claimed, str]] = []
        if not claimed:
            return delivered, failed, given_up
        if self.sms_sender is None or self.sms_renderer is None:
            return [], [], [(item, "no SMS gateway configured") for item in claimed]
        outcomes = await asyncio.gather(*(self._send_text(item) for item in claimed))
        for item, (outcome, error) in zip(claimed, outcomes, strict=True):
            if outcome == "sent":
                delivered.append(item.id)
            elif outcome == "retry":
                failed.append((item, error))
            else:
                given_up.append((item, error))
        return delivered, failed, given_up

    async def _send_text(self, item: Claimed) -> tuple[str, str]:
        """("sent" | "retry" | "give_up", why). The log names the row, never the body or number."""
        assert self.sms_sender is not None and self.sms_renderer is not None
        expires = item.payload.get("expires_at")
        if expires and datetime.fromisoformat(expires) <= self.clock.now():
            SMS_FAILURES.labels(kind="expired").inc()
            return "give_up", "expired before it could be sent"
        try:
            body = self.sms_renderer.render(item.template, item.language, item.payload)
            await self.sms_sender.send(OutgoingSms(item.recipient, body, self.delivery_key(item.idempotency_key)))
        except SmsFailed as failure:
            SMS_FAILURES.labels(kind="temporary" if failure.temporary else "refused").inc()
            log.warning("sms.failed", outbox_id=item.id, attempts=item.attempts + 1, error=str(failure)[:200])
            return ("retry" if failure.temporary else "give_up"), str(failure)[:300]
        except Exception as exc:  # a sender or template bug: retry later like a failed attempt
            SMS_FAILURES.labels(kind="error").inc()
            log.error("sms.error", outbox_id=item.id, error=type(exc).__name__, exc_info=exc)
            return "retry", f"send: {type(exc).__name__}"
        SMS_SENT.labels(purpose=str(item.payload.get("purpose", "")), country=region_of(item.recipient)).inc()
        return "sent", ""

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def run_forever(self, stop: asyncio.Event) -> None:
        self._wake = asyncio.Event()
        rounds = 0
        while not stop.is_set():
            try:
                done = await self.run_once()
                rounds += 1
                if rounds % 600 == 0:
                    await asyncio.to_thread(self.housekeeping)
            except Exception as exc:  # the database may be briefly away: keep the relay alive
                if unreachable(exc):
                    log.warning("relay.storage_unavailable", reason=reason(exc))
                else:
                    log.error("relay.error", error=type(exc).__name__, exc_info=exc)
                done = 0
            if done >= self.batch:
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
