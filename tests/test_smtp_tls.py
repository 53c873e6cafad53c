"""Delivery over STARTTLS and implicit TLS with credentials, to a real aiosmtpd server with a
certificate from a private CA; a wrong password or an untrusted certificate keeps the mail."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.conftest import ContainerFactory, Mailbox, free_port, text_of
from tests.flows.helpers import BROWSER, queued
from vitalkey.adapters.clock import FrozenClock
from vitalkey.adapters.mail.senders import SmtpSender


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    authority = trustme.CA()
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    authority.cert_pem.write_to_path(str(path))
    return authority, path


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"relay" and auth_data.password == b"s3cret"
    return AuthResult(success=ok)


@pytest.fixture(params=["starttls", "tls"])
def tls_server(request: pytest.FixtureRequest, ca: tuple[trustme.CA, Path]) -> Iterator[tuple[str, int, Mailbox]]:
    authority, _ = ca
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    mailbox = Mailbox()
    port = free_port()
    options: dict[str, Any] = {"authenticator": authenticate, "auth_require_tls": True}
    if request.param == "starttls":
        controller = Controller(
            mailbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True, **options
        )
    else:  # the whole connection is TLS; aiosmtpd only tracks STARTTLS for auth_require_tls
        controller = Controller(
            mailbox,
            hostname="127.0.0.1",
            port=port,
            ssl_context=context,
            server_hostname="127.0.0.1",
            **{**options, "auth_require_tls": False},
        )
    controller.start()
    yield request.param, port, mailbox
    controller.stop()


def test_delivery_over_tls_with_credentials(
    tls_server: tuple[str, int, Mailbox],
    ca: tuple[trustme.CA, Path],
    make_container: ContainerFactory,
    clock: FrozenClock,
) -> None:
    security, port, mailbox = tls_server
    sender = SmtpSender("127.0.0.1", port, security, "relay", "s3cret", timeout=5, ca_file=str(ca[1]))
    container = make_container(clock=clock, sender=sender)
    container.login.start("ann@example.org", BROWSER)
    assert asyncio.run(container.relay.run_once()) == 1
    assert "no account uses this address" in text_of(mailbox.wait_for("ann@example.org"))


def test_wrong_password_or_untrusted_certificate_keeps_the_mail(
    tls_server: tuple[str, int, Mailbox],
    ca: tuple[trustme.CA, Path],
    make_container: ContainerFactory,
    clock: FrozenClock,
) -> None:
    security, port, mailbox = tls_server
    for sender in (
        SmtpSender("127.0.0.1", port, security, "relay", "wrong", timeout=5, ca_file=str(ca[1])),
        SmtpSender("127.0.0.1", port, security, "relay", "s3cret", timeout=5),  # system trust: refuses the cert
    ):
        container = make_container(clock=clock, sender=sender)
        container.login.start("bo@example.org", BROWSER)
        asyncio.run(container.relay.run_once())
        row = queued(container, "bo@example.org")[-1]
        assert row["sent_at"] is None and row["attempts"] == 1 and row["last_error"]
    assert mailbox.to("bo@example.org") == []
