"""Texted one-time codes: the rules of the mailed ones (``email_code``) plus toll-fraud limits
(SPEC "SMS delivery and abuse"). Flows never send a text: they queue it in the outbox."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from vitalkey.domain.addresses import network_of
from vitalkey.domain.codes import StoredCode
from vitalkey.domain.errors import SmsLimited, SmsUnavailable
from vitalkey.domain.flows import Flow, Requester
from vitalkey.domain.phones import range_of, region_of
from vitalkey.domain.tokens import keyed_digest
from vitalkey.flows import email_code, rate_limits
from vitalkey.flows.deps import FlowDeps
from vitalkey.ports import QueuedSms, Transaction

PURPOSE = "sms"
DAY = 86400
REFUSALS = (SmsLimited, SmsUnavailable)  # a text not sent: the other second factors stay open


def check_limits(
    deps: FlowDeps, tx: Transaction, phone: str, account_id: int, requester: Requester, now: datetime
) -> None:
    """Count one text against every limit; refuse (and send nothing) when one is used up. With the
    SQL limiter a refusal rolls the other counts back with the transaction. The error's ``limit``
    names the limit for the metrics (never for the user: it would help an attacker tune)."""
    limits = deps.two_factor.sms_limits
    number = keyed_digest(deps.secret, phone)
    checks = [
        ("sms:number:" + number, limits.per_number),
        ("sms:range:" + keyed_digest(deps.secret, range_of(phone)), limits.per_range),
        ("sms:country:" + region_of(phone), limits.per_country),
        ("sms:ip:" + network_of(requester.ip), limits.per_ip),
        (f"sms:account:{account_id}", limits.per_account),
    ]
    for key, limit in checks:
        rate_limits.take(deps, tx, key, limit, now, SmsLimited, limit=key.split(":")[1])
    # "A day" as a sliding 24 hours, like every other limit: no midnight that opens a fresh day.
    rate_limits.take(deps, tx, "sms:all", (limits.daily_cap, DAY), now, SmsUnavailable, limit="daily_cap")


def count_refusal(deps: FlowDeps, refused: SmsLimited | SmsUnavailable) -> None:
    deps.events.sms_refused(str(refused.params["limit"]))


@contextmanager
def refusals_counted(deps: FlowDeps) -> Iterator[None]:
    """Count a text refused at a limit as the refusal leaves a step (its transaction rolled
    back: never twice, should the unit of work run it again)."""
    try:
        yield
    except REFUSALS as refused:
        count_refusal(deps, refused)
        raise


def send_first(
    deps: FlowDeps, tx: Transaction, flow: Flow, phone: str, account_id: int, requester: Requester, purpose: str
) -> StoredCode:
    """Create the flow's SMS code and queue the text. ``purpose`` names the text's wording."""
    now = deps.clock.now()
    check_limits(deps, tx, phone, account_id, requester, now)
    code, stored = email_code.issue(deps, tx, flow, PURPOSE, now)
    _queue(deps, tx, flow, phone, code, purpose, account_id, sends=1, now=now)
    return stored


def resend(
    deps: FlowDeps, tx: Transaction, flow: Flow, phone: str, account_id: int, requester: Requester, purpose: str
) -> StoredCode:
    """A new code after the cooldown; the attempts already made stay counted."""
    now = deps.clock.now()
    code, sends = email_code.reissue(
        deps, tx, flow, PURPOSE, now, lambda: check_limits(deps, tx, phone, account_id, requester, now)
    )
    _queue(deps, tx, flow, phone, code, purpose, account_id, sends=sends, now=now)
    replaced = tx.codes.get(flow.id, PURPOSE)
    assert replaced is not None
    return replaced


def _queue(
    deps: FlowDeps,
    tx: Transaction,
    flow: Flow,
    phone: str,
    code: str,
    purpose: str,
    account_id: int,
    *,
    sends: int,
    now: datetime,
) -> None:
    expires_at = now + deps.code_policy.ttl
    tx.outbox.enqueue_sms(
        QueuedSms(
            to=phone,
            template="sms_code",
            language=flow.language,
            context={
                "code": code,
                "purpose": purpose,
                "minutes": int(deps.code_policy.ttl.total_seconds() // 60),
                # A text that arrives after its code expired is worthless: the relay gives up then.
                "expires_at": (expires_at - timedelta(seconds=5)).isoformat(),
            },
            idempotency_key=f"{flow.kind}:{flow.id}:{PURPOSE}:{sends}",
        ),
        now,
    )
    tx.audit.record("sms.queued", now, account_id, flow_kind=flow.kind.value, purpose=purpose, send=sends)
