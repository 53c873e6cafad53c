"""Every 429 says, in Retry-After, the real wait: a retry one second earlier is refused, one at
that time succeeds (issue #15, item 12). The clock is frozen, the limits are small."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from starlette.testclient import TestClient

from tests.web.conftest import ClientFactory, post_form
from vitalkey.adapters.clock import FrozenClock
from vitalkey.domain import errors
from vitalkey.web.errors import STATUS, retry_after


def real_wait(clock: FrozenClock, attempt: Callable[[], httpx.Response], refused_code: str) -> int:
    """The refusal's Retry-After, checked: still refused a second before it, not at it."""
    refused = attempt()
    assert refused.status_code == 429 and refused.json()["error"] == refused_code
    wait = int(refused.headers["retry-after"])
    clock.advance(seconds=wait - 1)
    early = attempt()
    assert early.status_code == 429 and int(early.headers["retry-after"]) == 1
    clock.advance(seconds=1)
    assert attempt().status_code != 429
    return wait


def test_the_mail_limit_per_address_answers_its_real_wait(make_client: ClientFactory, clock: FrozenClock) -> None:
    client = make_client(clock=clock, mail_limit_per_address="2/3600")
    start = lambda: client.post("/api/v1/login", json={"email": "ann@example.org"})  # noqa: E731
    start()
    clock.advance(minutes=10)
    start()
    assert real_wait(clock, start, "rate_limited") == 51 * 60  # not 60: the first mail's minute leaves the hour


def test_the_mail_limit_per_ip_answers_its_real_wait(make_client: ClientFactory, clock: FrozenClock) -> None:
    client = make_client(clock=clock, mail_limit_per_ip="2/3600")
    addresses = iter(f"user{n}@example.org" for n in range(10))
    start = lambda: client.post("/api/v1/login", json={"email": next(addresses)})  # noqa: E731
    start()
    start()
    assert real_wait(clock, start, "rate_limited") == 3600 + 60


def test_the_password_limit_per_ip_answers_its_real_wait(make_client: ClientFactory, clock: FrozenClock) -> None:
    client = make_client(clock=clock, password_attempts_per_ip="2/3600")

    def attempt() -> httpx.Response:
        flow = client.post("/api/v1/login", json={"email": "ann@example.org", "method": "password"}).json()
        return client.post(f"/api/v1/login/{flow['id']}/password", json={"password": "not the one at all"})

    for _ in range(2):
        attempt()
        clock.advance(seconds=5)  # past the first growing waits of the address
    assert real_wait(clock, attempt, "rate_limited") == 3600 + 60 - 10


def test_too_many_wrong_codes_answer_the_real_wait(make_client: ClientFactory, clock: FrozenClock) -> None:
    client = make_client(clock=clock, code_failures_per_address="2/86400", mail_limit_per_address="100/3600")

    def attempt() -> httpx.Response:
        """A code for an address without an account: wrong (400) unless the address is refused."""
        flow = client.post("/api/v1/login", json={"email": "nobody@example.org"}).json()
        answer = client.post(f"/api/v1/login/{flow['id']}/code", json={"code": "123456"})
        assert answer.status_code in (400, 429)
        return answer

    assert attempt().json()["error"] == "wrong_code"
    assert attempt().json()["error"] == "wrong_code"
    assert 86400 < real_wait(clock, attempt, "too_many_code_failures") <= 86400 + 24 * 60


def test_a_refused_page_carries_retry_after(make_client: ClientFactory, clock: FrozenClock) -> None:
    client: TestClient = make_client(clock=clock, mail_limit_per_address="1/3600")
    post_form(client, "/login", {"email": "ann@example.org"})
    refused = post_form(client, "/login", {"email": "ann@example.org"})
    assert refused.status_code == 429 and refused.headers["retry-after"] == str(3600 + 60)


@pytest.mark.parametrize("code", sorted(code for code, status in STATUS.items() if status == 429))
def test_every_429_error_carries_its_wait(code: str) -> None:
    """Each refusal answered with 429 has a wait to give (the flows set ``seconds``)."""
    error_class = next(cls for cls in vars(errors).values() if getattr(cls, "code", None) == code)
    assert retry_after(error_class(seconds=7)) == "7"
