"""A server killed while it hands a mail to the SMTP server: after a restart on the same data the
mail arrives within seconds, once, and its code still works (a real server process, kill -9,
a real aiosmtpd server that holds its answer to the first DATA)."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, select

from tests.conftest import code_in, free_port, start_server, stop_server
from tests.test_live_server import call
from vitalkey.adapters.db import schema as t


@dataclass
class HoldingMailbox:
    """Holds its answer to the first DATA until released; accepts (250) and keeps the rest."""

    arrived: threading.Event = field(default_factory=threading.Event)  # the first DATA is in
    release: threading.Event = field(default_factory=threading.Event)
    held: list[EmailMessage] = field(default_factory=list)  # received, never accepted
    accepted: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            hold = not self.arrived.is_set()
            (self.held if hold else self.accepted).append(message)
            self.arrived.set()
        if hold:
            transport = server.transport
            try:
                await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)
            finally:
                # The client died: aiosmtpd cancels this handler on the EOF but leaves the socket open.
                transport.close()
            return "451 4.3.0 Never answered in time"  # the client is gone by now
        return "250 OK"


@pytest.fixture
def holding_smtp() -> Iterator[tuple[HoldingMailbox, int]]:
    mailbox, port = HoldingMailbox(), free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    mailbox.release.set()
    controller.stop()


def test_a_mail_held_by_a_killed_server_arrives_after_restart_once_with_a_working_code(
    tmp_path: Path, sqlite_url: str, holding_smtp: tuple[HoldingMailbox, int]
) -> None:
    mailbox, smtp_port = holding_smtp
    env = {
        "VITALKEY_DATABASE_URL": sqlite_url,
        "VITALKEY_SMTP_HOST": "127.0.0.1",
        "VITALKEY_SMTP_PORT": str(smtp_port),
        "VITALKEY_SMTP_SECURITY": "none",
        "VITALKEY_SMTP_TIMEOUT_S": "60",  # the relay is still waiting for the answer when it dies
        "VITALKEY_RELAY_POLL_S": "0.2",
    }
    first = start_server(tmp_path / "live", free_port(), env)
    try:
        status, flow = call(first.url + "/api/v1/signup", {"email": "ann@example.org"})
        assert status == 201
        assert mailbox.arrived.wait(10), "the relay did not hand the mail over"
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
    finally:
        first.log_handle.close()
    mailbox.release.set()  # the old connection is gone: this answer reaches nobody

    killed_at = time.monotonic()
    second = start_server(tmp_path / "live", free_port(), env)
    try:
        engine = create_engine(sqlite_url)
        try:
            while not _sent(engine):
                assert time.monotonic() - killed_at < 30, "the mail stayed claimed by the dead relay"
                time.sleep(0.1)
        finally:
            engine.dispose()
        # Marked sent: no relay hands it over again, so what was accepted is all there will be.
        with mailbox.lock:
            [delivered], [held] = mailbox.accepted, mailbox.held
        assert delivered["Message-ID"] == held["Message-ID"]  # a repeat the receiver can recognise
        status, answer = call(f"{second.url}/api/v1/signup/{flow['id']}/code", {"code": code_in(delivered)})
        assert status == 200, answer
    finally:
        stop_server(second)


def _sent(engine: Any) -> bool:
    with engine.connect() as conn:
        row = conn.execute(select(t.outbox.c.sent_at).where(t.outbox.c.recipient == "ann@example.org")).one()
    return row.sent_at is not None
