"""The SMS gateway adapter against a real local HTTP server playing a Twilio-compatible gateway:
the request shape, its failures and time-outs, and the fail-over to a second provider."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.conftest import Gateway, free_port
from vitalkey.adapters.sms import FailoverSms, TwilioGateway
from vitalkey.ports import OutgoingSms, SmsFailed

SMS = OutgoingSms(to="+33612345678", body="Your VitalKey code: 123456", idempotency_key="sms:flow:1")


def gateway_client(url: str, name: str = "primary", timeout_s: float = 2.0) -> TwilioGateway:
    return TwilioGateway(url, "AC123", "secret-token", "+15005550006", timeout_s=timeout_s, name=name)


def send(sender: Any, sms: OutgoingSms = SMS) -> str:
    async def run() -> str:
        try:
            return str(await sender.send(sms))
        finally:
            for client in getattr(sender, "senders", [sender]):
                await client.aclose()

    return asyncio.run(run())


def test_the_request_has_twilios_shape(gateway: Gateway) -> None:
    assert send(gateway_client(gateway.url)) == "SM0001"
    [request] = gateway.received
    assert request["path"] == "/2010-04-01/Accounts/AC123/Messages.json"
    assert request["form"] == {"To": "+33612345678", "From": "+15005550006", "Body": SMS.body}
    assert request["auth"] == ("AC123", "secret-token")
    assert request["idempotency"] == "sms:flow:1"
    assert request["content_type"] == "application/x-www-form-urlencoded"


@pytest.mark.parametrize(("status", "temporary"), [(500, True), (503, True), (429, True), (400, False), (401, False)])
def test_refusals_say_whether_to_try_again(gateway: Gateway, status: int, temporary: bool) -> None:
    gateway.status = status
    with pytest.raises(SmsFailed) as failed:
        send(gateway_client(gateway.url))
    assert failed.value.temporary is temporary and str(status) in str(failed.value)
    assert SMS.body not in str(failed.value) and "123456" not in str(failed.value)  # never the code


def test_a_time_out_is_temporary(gateway: Gateway) -> None:
    gateway.delay_s = 1.0
    began = time.perf_counter()
    with pytest.raises(SmsFailed, match="timed out") as failed:
        send(gateway_client(gateway.url, timeout_s=0.2))
    assert failed.value.temporary and time.perf_counter() - began < 0.9


def test_an_unreachable_gateway_is_temporary() -> None:
    with pytest.raises(SmsFailed) as failed:
        send(gateway_client(f"http://127.0.0.1:{free_port()}"))
    assert failed.value.temporary


def test_the_second_provider_takes_over_when_the_first_fails(gateway: Gateway) -> None:
    dead = gateway_client(f"http://127.0.0.1:{free_port()}", "primary")
    assert send(FailoverSms([dead, gateway_client(gateway.url, "secondary")])) == "SM0001"
    assert len(gateway.received) == 1


def test_when_every_provider_fails_the_reasons_are_kept(gateway: Gateway) -> None:
    gateway.status = 400
    dead = gateway_client(f"http://127.0.0.1:{free_port()}", "primary")
    with pytest.raises(SmsFailed) as failed:
        send(FailoverSms([dead, gateway_client(gateway.url, "secondary")]))
    assert "primary" in str(failed.value) and "secondary: HTTP 400 21211" in str(failed.value)
    assert failed.value.temporary  # the primary may be back later
