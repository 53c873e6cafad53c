"""Text messages out: an HTTP gateway speaking the request shape of Twilio's Messages API, and
a fail-over across providers (SPEC "SMS delivery and abuse"). Nothing here logs a message body:
it carries a code."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Engine, insert, select

from vitalkey.adapters.db import schema as t
from vitalkey.adapters.db.engine import writing
from vitalkey.i18n import translations
from vitalkey.ports import Clock, OutgoingSms, SmsFailed, SmsSender


class TwilioGateway:
    """POST To, From, Body as a form to ``{base}/2010-04-01/Accounts/{sid}/Messages.json`` with
    HTTP Basic auth (the account SID and token), as Twilio and compatible gateways take it."""

    def __init__(
        self,
        base_url: str,
        account_sid: str,
        auth_token: str,
        sender: str,
        *,
        timeout_s: float = 10.0,
        name: str = "sms",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.sender = sender
        self.path = f"/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            auth=(account_sid, auth_token),
            timeout=timeout_s,
            transport=transport,
            follow_redirects=False,
        )

    async def send(self, sms: OutgoingSms) -> str:
        try:
            answer = await self.client.post(
                self.path,
                data={"To": sms.to, "From": self.sender, "Body": sms.body},
                headers={"I-Twilio-Idempotency-Token": sms.idempotency_key},
            )
        except httpx.TimeoutException as exc:
            raise SmsFailed(f"{self.name}: timed out", temporary=True) from exc
        except httpx.TransportError as exc:
            raise SmsFailed(f"{self.name}: {type(exc).__name__}", temporary=True) from exc
        if answer.status_code in (200, 201):
            return str(_json(answer).get("sid", ""))
        error_code = _json(answer).get("code", "")
        temporary = answer.status_code == 429 or answer.status_code >= 500
        raise SmsFailed(f"{self.name}: HTTP {answer.status_code} {error_code}".rstrip(), temporary=temporary)

    async def aclose(self) -> None:
        await self.client.aclose()


def _json(answer: httpx.Response) -> dict[str, object]:
    try:
        value = answer.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class FailoverSms:
    """Try each provider in turn until one accepts the message. The failure is temporary if any
    provider's was: another try later may succeed."""

    def __init__(self, senders: Sequence[SmsSender]) -> None:
        if not senders:
            raise ValueError("at least one SMS provider")
        self.senders = list(senders)

    async def send(self, sms: OutgoingSms) -> str:
        failures: list[SmsFailed] = []
        for sender in self.senders:
            try:
                return await sender.send(sms)
            except SmsFailed as failure:
                failures.append(failure)
        raise SmsFailed("; ".join(str(f) for f in failures), temporary=any(f.temporary for f in failures))


class SmsRenderer:
    """The text of a queued SMS in the user's language. Its last line binds the code to our site
    (``@host #123456``, the origin-bound format browsers read to fill the code in)."""

    def __init__(self, brand: str, public_url: str) -> None:
        self.brand = brand
        self.host = urlsplit(public_url).hostname or "localhost"

    def render(self, template: str, language: str, context: dict[str, Any]) -> str:
        if template != "sms_code":
            raise ValueError(f"no SMS template {template!r}")
        ngettext = translations(language).ngettext
        minutes = int(context["minutes"])
        values = {"code": context["code"], "brand": self.brand, "minutes": minutes}
        if context.get("purpose") == "setup":
            text = ngettext(
                "%(code)s is your %(brand)s code to confirm this number for two-factor authentication. "
                "It expires in %(minutes)s minute.",
                "%(code)s is your %(brand)s code to confirm this number for two-factor authentication. "
                "It expires in %(minutes)s minutes.",
                minutes,
            )
        else:
            text = ngettext(
                "%(code)s is your %(brand)s security code. It expires in %(minutes)s minute. "
                "Never share it: %(brand)s will never ask you for it.",
                "%(code)s is your %(brand)s security code. It expires in %(minutes)s minutes. "
                "Never share it: %(brand)s will never ask you for it.",
                minutes,
            )
        return f"{text % values}\n\n@{self.host} #{context['code']}"


class DevSmsOutbox:
    """Dev mode without a gateway: texts are kept in the database and shown at /dev/sms."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine, self.clock = engine, clock

    async def send(self, sms: OutgoingSms) -> str:
        return await asyncio.to_thread(self._store, sms)  # never wait for the write lock on the loop

    def _store(self, sms: OutgoingSms) -> str:
        with writing(self.engine), self.engine.begin() as conn:
            row = {"recipient": sms.to, "body": sms.body, "created_at": self.clock.now()}
            key = conn.execute(insert(t.dev_sms).values(row)).inserted_primary_key
            return f"dev-{key[0] if key else ''}"

    def newest(self, to: str = "", limit: int = 100) -> list[dict[str, Any]]:
        query = select(t.dev_sms).order_by(t.dev_sms.c.id.desc()).limit(limit)
        if to:
            query = query.where(t.dev_sms.c.recipient == to)
        with self.engine.connect().execution_options(vitalkey_read=True) as conn:
            return [dict(row) for row in conn.execute(query).mappings()]
