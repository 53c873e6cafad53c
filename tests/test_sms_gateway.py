"""The SMS gateway adapter against a real local HTTP server playing a Twilio-compatible gateway:
the request shape, its failures and time-outs, and the fail-over to a second provider."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.conftest import free_port
from vitalkey.adapters.sms import FailoverSms, TwilioGateway
from vitalkey.ports import OutgoingSms, SmsFailed

SMS = OutgoingSms(to="+33612345678", body="Your VitalKey code: 123456", idempotency_key="sms:flow:1")


@dataclass
class Gateway:
    """What the fake gateway received, and how it answers the next requests."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    status: int = 201
    delay_s: float = 0.0


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    port = free_port()
    state = Gateway(url=f"http://127.0.0.1:{port}")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["content-length"])
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            user, _, secret = base64.b64decode(self.headers["authorization"].split()[1]).decode().partition(":")
            state.received.append(
                {
                    "path": self.path,
                    "form": form,
                    "auth": (user, secret),
                    "idempotency": self.headers.get("i-twilio-idempotency-token"),
                    "content_type": self.headers["content-type"],
                }
            )
            time.sleep(state.delay_s)
            body = {"sid": "SM0001", "status": "queued"} if state.status < 300 else {"code": 21211, "message": "bad"}
            payload = json.dumps(body).encode()
            self.send_response(state.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


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
