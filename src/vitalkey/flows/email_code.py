"""Emailed one-time codes for any flow: send, resend, check, consume (SPEC "One-time codes")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from vitalkey.domain import codes
from vitalkey.domain.addresses import network_of
from vitalkey.domain.codes import StoredCode
from vitalkey.domain.emails import account_key
from vitalkey.domain.errors import (
    CodeExpired,
    CodeUsed,
    FlowDead,
    RateLimited,
    ResendTooSoon,
    WrongCode,
)
from vitalkey.domain.flows import Flow, Requester
from vitalkey.domain.tokens import keyed_digest
from vitalkey.flows import rate_limits
from vitalkey.flows.deps import FlowDeps
from vitalkey.ports import OutgoingMail, Transaction

PURPOSE = "email"


def check_mail_limits(deps: FlowDeps, tx: Transaction, address: str, requester: Requester, now: datetime) -> None:
    """Count one mail against the address and the IP; refuse when either is used up."""
    address_key = "mail:addr:" + keyed_digest(deps.secret, account_key(address))
    rate_limits.take(deps, tx, address_key, deps.mail_limits.per_address, now, RateLimited)
    rate_limits.take(deps, tx, "mail:ip:" + network_of(requester.ip), deps.mail_limits.per_ip, now, RateLimited)


def send_first(
    deps: FlowDeps,
    tx: Transaction,
    flow: Flow,
    requester: Requester,
    template: str,
    mail_context: dict[str, Any],
    *,
    include_code: bool,
) -> StoredCode:
    """Create the flow's code and queue its mail. Without ``include_code`` the mail omits it,
    but the same work is done so that the answer's timing does not tell the two apart."""
    now = deps.clock.now()
    check_mail_limits(deps, tx, flow.email, requester, now)
    code, stored = issue(deps, tx, flow, PURPOSE, now)
    _queue(deps, tx, flow, template, mail_context, code if include_code else None, sends=1, now=now)
    return stored


def issue(deps: FlowDeps, tx: Transaction, flow: Flow, purpose: str, now: datetime) -> tuple[str, StoredCode]:
    """A flow's first code for ``purpose``: the code (to send) and what is stored of it."""
    code = codes.new_code()
    stored = StoredCode(
        flow_id=flow.id,
        purpose=purpose,
        code_hmac=codes.code_hmac(deps.secret, flow.id, purpose, code),
        expires_at=now + deps.code_policy.ttl,
        attempts=0,
        sends=1,
        last_sent_at=now,
        used_at=None,
    )
    tx.codes.add(stored)
    return code, stored


def reissue(
    deps: FlowDeps, tx: Transaction, flow: Flow, purpose: str, now: datetime, count_send: Callable[[], None]
) -> tuple[str, int]:
    """A resend: (the new code, its send number). Past the cooldown and the resend cap only, and
    never after the flow's attempts are used up; the attempts already made stay counted.
    ``count_send`` counts the message against the channel's limits before anything changes."""
    stored = tx.codes.get(flow.id, purpose)
    if stored is None or stored.used_at is not None:
        raise CodeUsed()
    if stored.attempts >= deps.code_policy.max_attempts:
        raise FlowDead()
    codes.check_resend(deps.code_policy, stored, now)
    count_send()
    code = codes.new_code()
    code_hmac = codes.code_hmac(deps.secret, flow.id, purpose, code)
    if not tx.codes.replace(flow.id, purpose, code_hmac, now + deps.code_policy.ttl, now, stored.sends):
        raise ResendTooSoon(seconds=int(deps.code_policy.resend_cooldown.total_seconds()))  # a parallel resend won
    return code, stored.sends + 1


def resend(
    deps: FlowDeps,
    tx: Transaction,
    flow: Flow,
    requester: Requester,
    template: str,
    mail_context: dict[str, Any],
    *,
    include_code: bool,
) -> None:
    now = deps.clock.now()
    code, sends = reissue(deps, tx, flow, PURPOSE, now, lambda: check_mail_limits(deps, tx, flow.email, requester, now))
    _queue(deps, tx, flow, template, mail_context, code if include_code else None, sends=sends, now=now)


def _queue(
    deps: FlowDeps,
    tx: Transaction,
    flow: Flow,
    template: str,
    mail_context: dict[str, Any],
    code: str | None,
    *,
    sends: int,
    now: datetime,
) -> None:
    context = {**mail_context, "minutes": int(deps.code_policy.ttl.total_seconds() // 60)}
    if code is not None:
        context["code"] = code
    tx.outbox.enqueue(
        OutgoingMail(
            to=flow.email,
            template=template,
            language=flow.language,
            context=context,
            idempotency_key=f"{flow.kind}:{flow.id}:{PURPOSE}:{sends}",
        ),
        now,
    )
    tx.audit.record("code.sent", now, None, flow_kind=flow.kind.value, template=template, send=sends)


def judge(deps: FlowDeps, stored: StoredCode | None, code: str, now: datetime) -> None:
    """Decide on an attempt already counted (``tx.codes.count_attempt``, its own statement, run
    before this comparison). Returns when the code is right; the caller then consumes it with
    :func:`consume` together with its state change."""
    if stored is None:
        raise CodeUsed()
    policy = deps.code_policy
    if stored.attempts > policy.max_attempts:
        raise FlowDead()
    if now >= stored.expires_at:
        raise CodeExpired()
    if not codes.matches(deps.secret, stored, code):
        remaining = policy.max_attempts - stored.attempts
        if remaining <= 0:
            raise FlowDead()
        raise WrongCode(remaining=remaining)


def consume(deps: FlowDeps, tx: Transaction, flow: Flow, purpose: str = PURPOSE) -> None:
    if not tx.codes.consume(flow.id, purpose, deps.clock.now(), deps.code_policy.max_attempts):
        raise CodeUsed()


def status(deps: FlowDeps, stored: StoredCode | None) -> dict[str, Any]:
    """What a page or an API client may know about the flow's code (never the code)."""
    if stored is None:
        return {}
    return {
        "code_expires_at": stored.expires_at,
        "resend_available_at": codes.resend_available_at(deps.code_policy, stored),
        "attempts_left": max(0, deps.code_policy.max_attempts - stored.attempts),
    }
