"""An app with its relay running inside, delivering to the test SMTP server."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import ContainerFactory, Mailbox, code_in
from vitalkey.adapters.mail.senders import SmtpSender
from vitalkey.web.app import create_app

ClientFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(make_container: ContainerFactory, smtp_sender: SmtpSender) -> Iterator[ClientFactory]:
    clients: list[TestClient] = []

    def factory(**overrides: Any) -> TestClient:
        overrides.setdefault("sender", smtp_sender)
        container = make_container(**overrides)
        client = TestClient(create_app(container), base_url=container.settings.public_url)
        client.__enter__()
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: ClientFactory) -> TestClient:
    return make_client()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def post_form(client: TestClient, page_url: str, data: dict[str, str], action_url: str | None = None, **kw: Any) -> Any:
    page = client.get(page_url)
    return client.post(action_url or page_url, data={"csrf_token": csrf_of(page.text), **data}, **kw)


# The sign-up details form as a browser posts it.
DETAILS_FORM = {
    "first_name": "Ann",
    "last_name": "Lee",
    "birth_date": "1990-05-01",
    "sex": "female",
    "units": "metric",
    "height_cm": "168",
}


def web_sign_up(client: TestClient, mailbox: Mailbox, email: str, **details: str) -> Any:
    response = post_form(client, "/signup", {"email": email})
    flow_url = str(response.url.path)
    code = code_in(mailbox.wait_for(email))
    post_form(client, flow_url, {"action": "code", "code": code})
    post_form(client, flow_url, {"action": "policy", "accept": "yes"})
    post_form(client, flow_url, {"action": "details", **DETAILS_FORM, **details})
    return post_form(client, flow_url, {"action": "skip_two_factor"})


def web_sign_in(client: TestClient, mailbox: Mailbox, email: str, mail_number: int) -> Any:
    response = post_form(client, "/login", {"email": email})
    code = code_in(mailbox.wait_for(email, mail_number))
    return post_form(client, str(response.url.path), {"action": "code", "code": code})
