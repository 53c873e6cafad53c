"""Text messages out: an HTTP gateway speaking the request shape of Twilio's Messages API, and
a fail-over across providers (SPEC "SMS delivery and abuse"). Nothing here logs a message body:
it carries a code."""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from vitalkey.ports import OutgoingSms, SmsFailed, SmsSender


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
