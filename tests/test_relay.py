"""The outbox relay delivers to a real SMTP server (aiosmtpd), retries, and forgets codes once sent."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from tests.conftest import ContainerFactory, Mailbox, code_in, html_of, text_of
from tests.flows.helpers import BROWSER, queued
from vitalkey.adapters.clock import FrozenClock
from vitalkey.adapters.db import schema as t
from vitalkey.adapters.mail.senders import SmtpSender


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


def test_a_claim_outlasts_the_slowest_batch(make_container: ContainerFactory, clock: FrozenClock) -> None:
    """Rows claimed by one relay are not taken again by another while they may still be sending."""
    container = make_container(clock=clock, relay_batch=10, smtp_timeout_s=5, sms_timeout_s=2)
    container.login.start("ann@example.org", BROWSER)
    assert len(container.relay.claim()) == 1
    row = queued(container, "ann@example.org")[0]
    assert row["claimed_until"] == clock.now() + timedelta(seconds=60 + 10 * 5)
    clock.advance(seconds=60 + 10 * 5 - 1)
    assert container.relay.claim() == []  # still someone else's
    clock.advance(seconds=2)
    assert len(container.relay.claim()) == 1  # the lease ran out: the mail is not lost
