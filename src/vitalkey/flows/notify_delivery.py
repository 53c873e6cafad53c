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
from datetime import datetime, timedelta
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
from vitalkey.ports import CallbackAnswer, CallbackSender, Sealer

log = logger("vitalkey.notify")

LEASE = timedelta(seconds=60)  # longer than a cycle's tries take: TRIES_PER_CYCLE × the time limit
MAX_IN_FLIGHT = 64  # deliveries being sent at once by one worker


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

    def wake(self) -> None:
        """Something was queued: look now rather than at the next poll."""
        self._wake.set()

    async def run_once(self) -> int:
        """Claim what is due (as much as there is room for) and start sending it; the number started."""
        room = MAX_IN_FLIGHT - len(self._in_flight)
        if room <= 0:
            return 0
        now = self.deps.clock.now()
        claimed: list[Delivery] = await self.deps.uow.run(self._claim, now, room)
        for delivery in claimed:
            task = asyncio.create_task(self.deliver(delivery))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        return len(claimed)

    async def drain(self) -> None:
        """Wait for the deliveries being sent (tests, shutdown)."""
        while self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def run_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                started = await self.run_once()
            except Exception:  # the database may be away: try again at the next poll
                log.exception("notify.claim_failed")
                started = 0
            if started:
                continue
            self._wake.clear()
            waits = [asyncio.create_task(stop.wait()), asyncio.create_task(self._wake.wait())]
            await asyncio.wait(waits, timeout=self.poll_s, return_when=asyncio.FIRST_COMPLETED)
            for wait in waits:
                wait.cancel()
        await self.drain()

    def _claim(self, now: datetime, limit: int) -> list[Delivery]:
        with self.deps.uow.begin() as tx:
            NOTIFY_WAITING.set(tx.deliveries.waiting(now))
            return tx.deliveries.claim(now, self.owner, LEASE, limit)

    async def deliver(self, delivery: Delivery) -> None:
        """One cycle of tries, then the outcome recorded."""
        secret = await self.deps.uow.run_optimistic(self._secret_of, delivery.client_id)
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
        await self.deps.uow.run(self._record, delivery, answer, self.deps.clock.now())

    async def _try(self, delivery: Delivery, secret: str) -> CallbackAnswer:
        form = form_of(delivery)
        headers = {DELIVERY_HEADER: delivery.delivery_id}
        if secret:  # a public client has no secret to sign with
            body = urlencode(form).encode()  # exactly what the sender posts
            headers[SIGNATURE_HEADER] = signature(secret, int(self.deps.clock.now().timestamp()), body)
        return await self.sender.post(delivery.callbackurl, form, headers)

    def _secret_of(self, client_id: str) -> str:
        with self.deps.uow.read() as tx:
            app = tx.apps.get(client_id)
        return self.sealer.open(app.secret_sealed) if app is not None and app.secret_sealed else ""

    def _record(self, delivery: Delivery, answer: CallbackAnswer, now: datetime) -> None:
        with self.deps.uow.begin() as tx:
            if answer.ok:
                assert answer.status is not None
                if tx.deliveries.delivered(delivery, now, answer.status) and delivery.subscription_id is not None:
                    tx.subscriptions.mark_working(delivery.subscription_id)
                NOTIFY_DELIVERIES.labels(client_id=delivery.client_id, outcome="delivered").inc()
                NOTIFY_LATENCY.observe(max(0.0, (now - delivery.due).total_seconds()))
                return
            due = next_try(delivery, now)
            if due is not None:
                tx.deliveries.retry(delivery, due, cycle=delivery.cycle + 1, status=answer.status, error=answer.error)
                return
            if tx.deliveries.give_up(delivery, now, status=answer.status, error=answer.error):
                if delivery.subscription_id is not None:
                    tx.subscriptions.mark_failing(delivery.subscription_id, now)
                log.warning("notify.given_up", delivery=delivery.delivery_id, client=delivery.client_id)
            NOTIFY_DELIVERIES.labels(client_id=delivery.client_id, outcome="failed").inc()


__all__ = ["LEASE", "MAX_IN_FLIGHT", "DeliveryWorker", "next_try"]
