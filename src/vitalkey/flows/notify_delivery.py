"""The delivery of queued notifications to partners' callback URLs.

A worker claims the deliveries that are due (a lease in its name, so that several workers in
several processes never send one twice at once), POSTs each as its own task — one slow or dead
partner never holds up the others: the ``CallbackSender`` limits each destination's requests in
flight and each request's time — and records the outcome. Each try is signed with the app's
client secret (``VitalKey-Signature``: a timestamp and an HMAC-SHA256 of the raw body) and carries
the delivery's id (``VitalKey-Delivery``, the same on every try) for receivers that must not act
twice. A cycle is ``TRIES_PER_CYCLE`` tries; a failed cycle is tried again after the next wait of
``RETRY_SCHEDULE`` (with up to a tenth of jitter); when the last one fails, the delivery is given
up and its subscription marked failing (kept and listed as such, never deleted) until a delivery
to it succeeds or the partner updates it. Delivery is at least once: a worker that dies after
the partner answered but before recording it leaves the delivery to be sent again when its lease
ends, with the same delivery id.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from vitalkey.domain.notifications import (
    DELIVERY_HEADER,
    RETRY_SCHEDULE,
    SIGNATURE_HEADER,
    TRIES_PER_CYCLE,
    Delivery,
    form_of,
    signature,
)
from vitalkey.flows.deps import FlowDeps
from vitalkey.observability import NOTIFY_DELIVERIES, NOTIFY_LATENCY, NOTIFY_WAITING, logger
from vitalkey.ports import CallbackAnswer, CallbackSender, Sealer, Transaction

log = logger("vitalkey.notify")

# Longer than a worker takes to send what it claims, even to one dead partner: MAX_IN_FLIGHT
# deliveries, the sender's turns per destination at a time, each TRIES_PER_CYCLE × the time limit.
LEASE = timedelta(seconds=120)
MAX_IN_FLIGHT = 64  # deliveries being sent at once by one worker
KEPT = timedelta(days=7)  # delivered and given-up deliveries stay this long (the dev page, support)
PRUNE_EVERY = timedelta(hours=1)
GAUGE_EVERY = timedelta(seconds=1)  # how often the queue's length is counted for the metrics


def next_try(delivery: Delivery, now: datetime, jitter: Callable[[], float] = random.random) -> datetime | None:
    """When a delivery whose cycle just failed is tried again; None when that was the last."""
    if delivery.cycle >= len(RETRY_SCHEDULE):
        return None
    wait = RETRY_SCHEDULE[delivery.cycle]
    return now + wait + wait * 0.1 * jitter()


class DeliveryWorker:
    def __init__(self, deps: FlowDeps, sender: CallbackSender, sealer: Sealer, *, poll_s: float = 1.0) -> None:
        self.deps = deps
        self.sender = sender
        self.sealer = sealer
        self.poll_s = poll_s
        self.owner = secrets.token_hex(8)  # this worker's name on its leases
        self._in_flight: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._outcomes: list[tuple[Delivery, CallbackAnswer, datetime]] = []
        self._writing: asyncio.Future[None] | None = None
        self._next_prune = datetime.min.replace(tzinfo=UTC)
        self._next_gauge = datetime.min.replace(tzinfo=UTC)

    def wake(self) -> None:
        """Something was queued: look now rather than at the next poll."""
        self._wake.set()

    async def run_once(self) -> int:
        """Claim what is due (as much as there is room for) and start sending it; the number started."""
        room = MAX_IN_FLIGHT - len(self._in_flight)
        if room <= 0:
            return 0
        now = self.deps.clock.now()
        claimed, keys = await self.deps.uow.run(self._claim, now, room)
        for delivery in claimed:
            task = asyncio.create_task(self.deliver(delivery, keys.get(delivery.client_id, "")))
            self._in_flight.add(task)
            task.add_done_callback(self._finished)
        return len(claimed)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._wake.set()  # room for another: more may be due (a burst is claimed in rounds)

    async def drain(self) -> None:
        """Wait for the deliveries being sent (tests, shutdown)."""
        while self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def run_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._wake.clear()  # before looking: what is queued meanwhile wakes the next look
            try:
                started = await self.run_once()
            except Exception:  # the database may be away: try again at the next poll
                log.exception("notify.claim_failed")
                started = 0
            if started:
                continue
            waits = [asyncio.create_task(stop.wait()), asyncio.create_task(self._wake.wait())]
            await asyncio.wait(waits, timeout=self.poll_s, return_when=asyncio.FIRST_COMPLETED)
            for wait in waits:
                wait.cancel()
        await self.drain()

    def _claim(self, now: datetime, limit: int) -> tuple[list[Delivery], dict[str, str]]:
        """The deliveries claimed, and the secrets of their apps (read once per claim, not per
        delivery: a burst to one partner is many deliveries of one app)."""
        with self.deps.uow.begin() as tx:
            if now >= self._next_gauge:  # a count of the queue at every claim was a query per burst of commits
                self._next_gauge = now + GAUGE_EVERY
                NOTIFY_WAITING.set(tx.deliveries.waiting(now))
            if now >= self._next_prune:
                self._next_prune = now + PRUNE_EVERY
                tx.deliveries.prune(now - KEPT)
            claimed = tx.deliveries.claim(now, self.owner, LEASE, limit)
            apps = {client_id: tx.apps.get(client_id) for client_id in {d.client_id for d in claimed}}
        keys = {
            client_id: self.sealer.open(app.secret_sealed)
            for client_id, app in apps.items()
            if app is not None and app.secret_sealed
        }
        return claimed, keys

    async def deliver(self, delivery: Delivery, secret: str) -> None:
        """One cycle of tries (signed with ``secret``, the app's client secret; "" for a public
        client: unsigned), then the outcome recorded."""
        answer = CallbackAnswer(None, "invalid")
        for _ in range(TRIES_PER_CYCLE):
            answer = await self._try(delivery, secret)
            if answer.ok:
                break
        log.info(
            "notify.delivery",
            delivery=delivery.delivery_id,
            appli=int(delivery.appli),
            status=answer.status,
            error=answer.error,
            ms=round(answer.elapsed_ms, 1),
        )
        await self._record(delivery, answer, self.deps.clock.now())

    async def _try(self, delivery: Delivery, secret: str) -> CallbackAnswer:
        form = form_of(delivery)
        headers = {DELIVERY_HEADER: delivery.delivery_id}
        if secret:  # a public client has no secret to sign with
            body = urlencode(form).encode()  # exactly what the sender posts
            headers[SIGNATURE_HEADER] = signature(secret, int(self.deps.clock.now().timestamp()), body)
        return await self.sender.post(delivery.callbackurl, form, headers)

    async def _record(self, delivery: Delivery, answer: CallbackAnswer, now: datetime) -> None:
        """The outcomes of the tries that end together are written in one transaction (a burst
        to one partner finishes hundreds at once: a transaction each had been most of the cost)."""
        self._outcomes.append((delivery, answer, now))
        if self._writing is None:
            self._writing = asyncio.ensure_future(self._write_outcomes())
        await asyncio.shield(self._writing)

    async def _write_outcomes(self) -> None:
        await asyncio.sleep(0)  # the tries ending in this turn of the loop join the batch
        batch, self._outcomes, self._writing = self._outcomes, [], None
        kinds = await self.deps.uow.run(self._store_outcomes, batch)
        for (delivery, _, now), kind in zip(batch, kinds, strict=True):
            if kind == "delivered":
                NOTIFY_LATENCY.observe(max(0.0, (now - delivery.due).total_seconds()))
            elif kind == "failed":
                log.warning("notify.given_up", delivery=delivery.delivery_id, client=delivery.client_id)
            if kind != "lost":  # another worker took it over: it counts there
                NOTIFY_DELIVERIES.labels(client_id=delivery.client_id, outcome=kind).inc()

    def _store_outcomes(self, batch: list[tuple[Delivery, CallbackAnswer, datetime]]) -> list[str]:
        with self.deps.uow.begin() as tx:
            return [self._store_outcome(tx, *outcome) for outcome in batch]

    @staticmethod
    def _store_outcome(tx: Transaction, delivery: Delivery, answer: CallbackAnswer, now: datetime) -> str:
        """delivered, retried, failed (given up), or lost (the lease had passed to another worker)."""
        if answer.ok:
            assert answer.status is not None
            if not tx.deliveries.delivered(delivery, now, answer.status):
                return "lost"
            if delivery.subscription_id is not None:
                tx.subscriptions.mark_working(delivery.subscription_id)
            return "delivered"
        due = next_try(delivery, now)
        if due is not None:
            kept = tx.deliveries.retry(
                delivery, due, cycle=delivery.cycle + 1, status=answer.status, error=answer.error
            )
            return "retried" if kept else "lost"
        if not tx.deliveries.give_up(delivery, now, status=answer.status, error=answer.error):
            return "lost"
        if delivery.subscription_id is not None:
            tx.subscriptions.mark_failing(delivery.subscription_id, now)
        return "failed"


__all__ = ["LEASE", "MAX_IN_FLIGHT", "DeliveryWorker", "next_try"]
