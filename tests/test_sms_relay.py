"""Texts through the transactional outbox: the relay renders them and hands them to the gateway
(a real local HTTP server) with the idempotency key; gives up on refusals and expired codes,
retries time-outs; in dev mode without a gateway they land in the dev SMS outbox."""

from __future__ import annotations

import asyncio
import hashlib
import re

from sqlalchemy import select

from tests.conftest import ContainerFactory, Gateway, free_port
from tests.flows.helpers import BROWSER, queued
from tests.flows.test_login_flow import make_account
from tests.flows.test_two_factor import PHONE, signed_in
from vitalkey.adapters.clock import FrozenClock
from vitalkey.adapters.db import schema as t
from vitalkey.adapters.sms import TwilioGateway
from vitalkey.container import Container


def gateway_container(make_container: ContainerFactory, clock: FrozenClock, gateway: Gateway) -> Container:
    sender = TwilioGateway(gateway.url, "AC123", "token", "+15005550006", timeout_s=1.0)
    return make_container(clock=clock, sms_sender=sender)


def queue_setup_text(container: Container) -> dict[str, object]:
    make_account(container)
    auth = signed_in(container)
    container.two_factor.begin(auth, PHONE, "", BROWSER)
    return queued(container, PHONE)[-1]


def test_a_queued_text_reaches_the_gateway_once_with_its_idempotency_key(
    make_container: ContainerFactory, clock: FrozenClock, gateway: Gateway
) -> None:
    container = gateway_container(make_container, clock, gateway)
    row = queue_setup_text(container)
    code = row["payload"]["code"]  # type: ignore[index]
    assert asyncio.run(container.relay.run_once()) >= 1
    [request] = gateway.received
    assert request["path"] == "/2010-04-01/Accounts/AC123/Messages.json"
    assert request["form"]["To"] == PHONE and request["form"]["From"] == "+15005550006"
    assert code in request["form"]["Body"] and request["form"]["Body"].endswith(f"@127.0.0.1 #{code}")
    assert request["idempotency"] == container.relay.delivery_key(row["idempotency_key"])  # type: ignore[arg-type]
    sent = queued(container, PHONE)[-1]
    assert sent["sent_at"] is not None and sent["payload"] == {}  # the code is not kept
    assert asyncio.run(container.relay.run_once()) == 0 and len(gateway.received) == 1


def test_the_gateway_learns_none_of_our_ids_and_a_retry_carries_the_same_key(
    make_container: ContainerFactory, clock: FrozenClock, gateway: Gateway
) -> None:
    """The outbox key names the flow (``two_factor:<flow id>:sms:1``); the gateway gets a keyed
    digest of it: the same for every try of one text, another for the next text."""
    container = gateway_container(make_container, clock, gateway)
    row = queue_setup_text(container)
    outbox_key = str(row["idempotency_key"])
    flow_id = outbox_key.split(":")[1]
    gateway.status = 503
    asyncio.run(container.relay.run_once())
    gateway.status = 201
    clock.advance(seconds=10)
    asyncio.run(container.relay.run_once())
    first, retry = gateway.received
    key = first["idempotency"]
    assert key == retry["idempotency"]
    assert re.fullmatch(r"[0-9a-f]{32}", key) and flow_id not in key
    assert key != hashlib.sha256(outbox_key.encode()).hexdigest()[:32]  # keyed: nobody can check a guess
    other = make_container(clock=clock, secret_key="another-server-key-0123456789abcdef")
    assert other.relay.delivery_key(outbox_key) != key


def test_a_text_is_in_the_language_of_the_account(
    make_container: ContainerFactory, clock: FrozenClock, gateway: Gateway
) -> None:
    container = gateway_container(make_container, clock, gateway)
    make_account(container)
    with container.uow.begin() as tx:
        tx.accounts.set_language(1, "fr")
    auth = signed_in(container)
    container.two_factor.begin(auth, PHONE, "", BROWSER)
    asyncio.run(container.relay.run_once())
    body = gateway.received[-1]["form"]["Body"]
    assert "code" in body and "minutes" in body and "expires" not in body


def test_refused_texts_are_given_up_and_time_outs_retried(
    make_container: ContainerFactory, clock: FrozenClock, gateway: Gateway
) -> None:
    container = gateway_container(make_container, clock, gateway)
    queue_setup_text(container)
    gateway.status = 503
    asyncio.run(container.relay.run_once())
    row = queued(container, PHONE)[-1]
    assert row["sent_at"] is None and row["failed_at"] is None and row["attempts"] == 1
    assert "503" in row["last_error"] and row["payload"]["code"]  # kept for the retry
    clock.advance(seconds=10)
    gateway.status = 400  # e.g. a number the provider cannot reach: no retry helps
    asyncio.run(container.relay.run_once())
    row = queued(container, PHONE)[-1]
    assert row["failed_at"] is not None and row["payload"] == {} and "400" in row["last_error"]


def test_a_text_whose_code_expired_is_not_sent(
    make_container: ContainerFactory, clock: FrozenClock, gateway: Gateway
) -> None:
    container = gateway_container(make_container, clock, gateway)
    queue_setup_text(container)
    clock.advance(minutes=10)
    asyncio.run(container.relay.run_once())
    assert gateway.received == []
    row = queued(container, PHONE)[-1]
    assert row["failed_at"] is not None and row["last_error"] == "expired before it could be sent"


def test_dev_mode_without_a_gateway_keeps_texts_in_the_dev_outbox(container: Container) -> None:
    queue_setup_text(container)
    asyncio.run(container.relay.run_once())
    assert container.dev_sms is not None
    [text] = container.dev_sms.newest(PHONE)
    assert text["recipient"] == PHONE and "#" in text["body"]
    with container.engine.connect() as conn:
        assert conn.execute(select(t.dev_sms.c.body)).scalar_one() == text["body"]


def test_the_configured_second_gateway_takes_over_when_the_first_is_down(
    make_container: ContainerFactory, clock: FrozenClock, gateway: Gateway
) -> None:
    """The settings' gateways, as `build` wires them: the first unreachable, the second a real server."""
    container = make_container(
        clock=clock,
        sms_provider_url=f"http://127.0.0.1:{free_port()}",
        sms_account_sid="ACdown",
        sms_auth_token="t1",
        sms_from="+15005550006",
        sms_fallback_url=gateway.url,
        sms_fallback_account_sid="ACup",
        sms_fallback_auth_token="t2",
        sms_fallback_from="+15005550007",
        sms_timeout_s=1,
    )
    assert container.dev_sms is None  # a gateway is configured: no dev outbox
    queue_setup_text(container)
    asyncio.run(container.relay.run_once())
    [request] = gateway.received
    assert request["path"] == "/2010-04-01/Accounts/ACup/Messages.json" and request["auth"] == ("ACup", "t2")
    assert request["form"]["From"] == "+15005550007" and request["form"]["To"] == PHONE
    assert queued(container, PHONE)[-1]["sent_at"] is not None
