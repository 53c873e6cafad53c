"""The outbox relay delivers to a real SMTP server (aiosmtpd), retries, and forgets codes once sent."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select

from tests.conftest import ContainerFactory, Mailbox, code_in, html_of, text_of
from tests.flows.helpers import BROWSER, queued
from vitalkey.adapters.clock import FrozenClock
from vitalkey.adapters.db import schema as t
from vitalkey.adapters.mail.senders import SmtpSender
from vitalkey.adapters.relay import LEASE_S, OutboxRelay
from vitalkey.container import Container
from vitalkey.ports import RenderedMail


def test_mail_is_delivered_over_smtp_with_text_and_html(
    make_container: ContainerFactory, clock: FrozenClock, mailbox: Mailbox, smtp_sender: SmtpSender
) -> None:
    container = make_container(clock=clock, sender=smtp_sender)
    container.login.start("ann@example.org", BROWSER)
    assert asyncio.run(container.relay.run_once()) == 1
    message = mailbox.wait_for("ann@example.org")
    assert message["Subject"] == "Sign-in attempt to VitalKey"
    assert "no account uses this address" in text_of(message)
    assert "<a href=" in html_of(message) and "/signup" in html_of(message)
    assert mailbox.envelopes[-1] == ("no-reply@vitalkey.localhost", ["ann@example.org"])
    row = queued(container, "ann@example.org")[0]
    # The keyed digest that texts carry too: the receiver learns none of our ids (the flow's).
    key = container.relay.delivery_key(row["idempotency_key"])
    assert message["X-Idempotency-Key"] == key and message["Message-ID"] == f"<{key}@vitalkey.localhost>"
    assert row["idempotency_key"].split(":")[1] not in message.as_string()
    assert row["sent_at"] == clock.now() and row["payload"] == {}


def test_failed_delivery_is_retried_with_backoff_and_same_message_id(
    make_container: ContainerFactory, clock: FrozenClock, mailbox: Mailbox, smtp_sender: SmtpSender
) -> None:
    container = make_container(clock=clock, sender=smtp_sender)
    container.signup.start("bo@example.org", BROWSER)
    mailbox.refuse = 1
    asyncio.run(container.relay.run_once())
    assert mailbox.to("bo@example.org") == []
    row = queued(container, "bo@example.org")[0]
    assert row["attempts"] == 1 and row["sent_at"] is None and row["next_attempt_at"] > clock.now()
    assert "451" in row["last_error"] and "code" in row["payload"]
    assert asyncio.run(container.relay.run_once()) == 0  # not before its time
    clock.advance(seconds=10)
    assert asyncio.run(container.relay.run_once()) == 1
    message = mailbox.wait_for("bo@example.org")
    assert len(code_in(message)) == 6
    assert queued(container, "bo@example.org")[0]["payload"] == {}


def test_unreachable_smtp_server_keeps_the_mail(make_container: ContainerFactory, clock: FrozenClock) -> None:
    dead = SmtpSender("127.0.0.1", 1, security="none", timeout=1)
    container = make_container(clock=clock, sender=dead, relay_max_attempts=2)
    container.login.start("ann@example.org", BROWSER)
    asyncio.run(container.relay.run_once())
    clock.advance(minutes=5)
    asyncio.run(container.relay.run_once())
    row = queued(container, "ann@example.org")[0]
    assert row["attempts"] == 2 and row["failed_at"] is not None and row["payload"] == {}


def test_dev_mailbox_keeps_delivered_mail(make_container: ContainerFactory, clock: FrozenClock) -> None:
    container = make_container(clock=clock)
    container.signup.start("bo@example.org", BROWSER)
    asyncio.run(container.relay.run_once())
    with container.engine.connect() as conn:
        row = conn.execute(select(t.dev_mail)).mappings().one()
    assert row["recipient"] == "bo@example.org" and row["subject"] == "Your VitalKey confirmation code"
    assert "valid for 10 minutes" in row["text"]


def test_two_relays_never_deliver_a_mail_twice(
    make_container: ContainerFactory, clock: FrozenClock, mailbox: Mailbox, smtp_sender: SmtpSender
) -> None:
    first = make_container(clock=clock, sender=smtp_sender)
    second = make_container(clock=clock, sender=smtp_sender)
    for n in range(20):
        first.signup.start(f"user{n}@example.org", BROWSER)

    async def both() -> None:
        await asyncio.gather(first.relay.run_once(), second.relay.run_once())

    asyncio.run(both())
    assert len(mailbox.messages) == 20


class BrokenSender:
    async def deliver(self, mails: object, now: object) -> list[str | None]:
        raise RuntimeError("a bug in a sender")


def test_a_sender_that_raises_does_not_stop_the_relay(make_container: ContainerFactory, clock: FrozenClock) -> None:
    container = make_container(clock=clock, sender=BrokenSender())
    container.login.start("ann@example.org", BROWSER)
    container.login.start("bo@example.org", BROWSER)
    assert asyncio.run(container.relay.run_once()) == 2
    rows = queued(container, "ann@example.org") + queued(container, "bo@example.org")
    assert all(r["attempts"] == 1 and r["sent_at"] is None and "RuntimeError" in r["last_error"] for r in rows)
    assert all(r["claimed_until"] is None for r in rows)  # released for the retry, not left claimed


def test_international_domains_are_delivered_in_ascii_form(
    make_container: ContainerFactory, clock: FrozenClock, mailbox: Mailbox, smtp_sender: SmtpSender
) -> None:
    container = make_container(clock=clock, sender=smtp_sender)
    container.login.start("ann@bücher.example", BROWSER)
    asyncio.run(container.relay.run_once())
    assert mailbox.envelopes[-1][1] == ["ann@xn--bcher-kva.example"]
    assert queued(container, "ann@bücher.example")[0]["sent_at"] is not None


def test_a_dead_relays_claim_is_taken_once_its_lease_runs_out(
    make_container: ContainerFactory, clock: FrozenClock
) -> None:
    """The longest a crashed relay keeps a message from the others: one lease."""
    first, second = make_container(clock=clock), make_container(clock=clock)
    first.login.start("ann@example.org", BROWSER)
    assert len(first.relay.claim()) == 1
    row = queued(first, "ann@example.org")[0]
    assert row["claimed_by"] == first.relay.relay_id
    assert row["claimed_until"] == clock.now() + timedelta(seconds=LEASE_S)
    clock.advance(seconds=LEASE_S - 1)
    assert second.relay.claim() == []  # still the first relay's
    clock.advance(seconds=2)  # the first relay died: nothing renewed its lease
    assert len(second.relay.claim()) == 1
    assert queued(first, "ann@example.org")[0]["claimed_by"] == second.relay.relay_id


def test_a_renewed_lease_is_not_taken_and_a_lost_one_is_not_taken_back(
    make_container: ContainerFactory, clock: FrozenClock
) -> None:
    first, second = make_container(clock=clock), make_container(clock=clock)
    first.login.start("ann@example.org", BROWSER)
    [item] = first.relay.claim()
    clock.advance(seconds=LEASE_S - 2)
    assert first.relay.renew([item.id]) == 1
    clock.advance(seconds=LEASE_S - 2)
    assert second.relay.claim() == []  # past the first lease, but renewed
    clock.advance(seconds=3)
    assert len(second.relay.claim()) == 1  # the renewals stopped
    # The first relay, late, neither renews nor releases (by failing) what the second has now.
    assert first.relay.renew([item.id]) == 0
    first.relay.mark([], [(item, "timed out")])
    row = queued(first, "ann@example.org")[0]
    assert row["claimed_by"] == second.relay.relay_id and row["attempts"] == 0 and row["last_error"] is None


class HeldSender:
    """A delivery that lasts until the test lets it finish."""

    def __init__(self) -> None:
        self.started, self.finish = asyncio.Event(), asyncio.Event()

    async def deliver(self, mails: Sequence[RenderedMail], now: datetime) -> list[str | None]:
        self.started.set()
        await self.finish.wait()
        return [None] * len(mails)


def test_a_live_relays_slow_delivery_is_never_taken_from_it(
    make_container: ContainerFactory, clock: FrozenClock
) -> None:
    """The relay renews its lease while it works: three leases' time later, the row is still its own."""
    container, other = make_container(clock=clock), make_container(clock=clock)
    container.login.start("ann@example.org", BROWSER)
    lease = timedelta(seconds=0.4)

    async def scenario() -> None:
        sender = HeldSender()
        relay = OutboxRelay(container.engine, container.relay.renderer, sender, clock, key=b"k", lease_s=0.4)
        working = asyncio.create_task(relay.run_once())
        await sender.started.wait()
        for _ in range(3):
            clock.advance(seconds=0.3)
            await claimed_until(container, clock.now() + lease)  # the heartbeat renewed it
            assert await asyncio.to_thread(other.relay.claim) == []
        sender.finish.set()
        assert await working == 1

    asyncio.run(scenario())
    row = queued(container, "ann@example.org")[0]
    assert row["sent_at"] is not None and row["attempts"] == 1 and row["claimed_by"] is None


async def claimed_until(container: Container, expected: datetime) -> None:
    deadline = asyncio.get_running_loop().time() + 5
    while (await asyncio.to_thread(queued, container, "ann@example.org"))[0]["claimed_until"] != expected:
        assert asyncio.get_running_loop().time() < deadline, "the lease was not renewed"
        await asyncio.sleep(0.01)
