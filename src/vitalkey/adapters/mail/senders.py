"""Where rendered mail goes: an SMTP server, the dev outbox table, the console."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any, Protocol

import aiosmtplib
import idna
from sqlalchemy import Engine, insert, select

from vitalkey.adapters.db import schema as t
from vitalkey.adapters.db.engine import writing
from vitalkey.ports import RenderedMail


class MailSender(Protocol):
    async def deliver(self, mails: Sequence[RenderedMail], now: datetime) -> list[str | None]:
        """Deliver each mail; the answer holds, per mail, None or why it failed."""
        ...


def to_email_message(mail: RenderedMail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = mail.sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = mail.message_id
    message["X-Idempotency-Key"] = mail.message_id.strip("<>").split("@")[0]
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    return message


class SmtpSender:
    """One connection per batch; STARTTLS, implicit TLS or plain, with optional credentials."""

    def __init__(
        self,
        host: str,
        port: int,
        security: str = "starttls",
        username: str = "",
        password: str = "",
        timeout: float = 10.0,
        ca_file: str = "",
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self.username, self.password, self.timeout = username, password, timeout
        # The system's trust store, or a private CA; certificates and host names are always checked.
        self.tls_context = ssl.create_default_context(cafile=ca_file or None)

    async def deliver(self, mails: Sequence[RenderedMail], now: datetime) -> list[str | None]:
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            timeout=self.timeout,
            use_tls=self.security == "tls",
            start_tls=self.security == "starttls",
            tls_context=self.tls_context if self.security != "none" else None,
        )
        try:
            await client.connect()
            if self.username:
                await client.login(self.username, self.password)
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()  # a refused login leaves the connection open
            return [_reason(exc)] * len(mails)
        results: list[str | None] = []
        try:
            for mail in mails:
                try:
                    # The envelope names the validated address itself, never what a header parser
                    # makes of the To header.
                    await client.send_message(
                        to_email_message(mail), sender=_envelope(mail.sender), recipients=[ascii_domain(mail.to)]
                    )
                    results.append(None)
                except Exception as exc:  # one bad mail must not stop the others
                    results.append(_reason(exc))
        finally:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.quit()
            client.close()
        results.extend(["connection lost"] * (len(mails) - len(results)))
        return results


def _envelope(sender: str) -> str:
    return ascii_domain(parseaddr(sender)[1] or sender)


def ascii_domain(address: str) -> str:
    """An internationalised domain in its ASCII form, which every SMTP server accepts."""
    local, _, domain = address.rpartition("@")
    try:
        return f"{local}@{idna.encode(domain).decode('ascii')}" if not domain.isascii() else address
    except idna.IDNAError:
        return address


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


class DevMailbox:
    """Dev mode: keeps delivered mail in the database, shown at /dev/mail."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def deliver(self, mails: Sequence[RenderedMail], now: datetime) -> list[str | None]:
        rows = [
            {
                "message_id": m.message_id,
                "recipient": m.to,
                "subject": m.subject,
                "text": m.text,
                "html": m.html,
                "created_at": now,
            }
            for m in mails
        ]
        if rows:
            await asyncio.to_thread(self._store, rows)  # never wait for the write lock on the loop
        return [None] * len(mails)

    def _store(self, rows: list[dict[str, Any]]) -> None:
        with writing(self.engine), self.engine.begin() as conn:
            conn.execute(insert(t.dev_mail), rows)

    def newest(self, to: str = "", limit: int = 100) -> list[dict[str, Any]]:
        query = select(t.dev_mail).order_by(t.dev_mail.c.id.desc()).limit(limit)
        if to:
            query = query.where(t.dev_mail.c.recipient == to)
        with self.engine.connect().execution_options(vitalkey_read=True) as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def html(self, mail_id: int) -> str | None:
        with self.engine.connect().execution_options(vitalkey_read=True) as conn:
            found: str | None = conn.execute(select(t.dev_mail.c.html).where(t.dev_mail.c.id == mail_id)).scalar()
        return found


class ConsoleSender:
    """Dev mode: prints each mail's text part to the console (a mail sink, not a log)."""

    async def deliver(self, mails: Sequence[RenderedMail], now: datetime) -> list[str | None]:
        for mail in mails:
            sys.stdout.write(f"\n--- mail to {mail.to}: {mail.subject}\n{mail.text}---\n")
        sys.stdout.flush()
        return [None] * len(mails)


class FanOut:
    """Delivers to every sender; a mail counts as delivered when all of them took it."""

    def __init__(self, *senders: MailSender) -> None:
        self.senders = senders

    async def deliver(self, mails: Sequence[RenderedMail], now: datetime) -> list[str | None]:
        results: list[str | None] = [None] * len(mails)
        for sender in self.senders:
            for index, error in enumerate(await sender.deliver(mails, now)):
                results[index] = results[index] or error
        return results
