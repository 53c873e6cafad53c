"""The "Update password" link (SPEC "Password (optional) and reset"; SECURITY "Passwords").

A link is 256 random bits, kept only as a digest; it is valid one day, works once, and dies
when a newer link is sent or the password changes. It is built from the configured public URL,
never from the request. Using it sets the password, ends the other sessions unless the user
keeps them, mails the user, and does not sign in: the next sign-in goes through every factor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vitalkey.domain.accounts import Account, mail_names
from vitalkey.domain.emails import account_key
from vitalkey.domain.errors import ResetLinkInvalid
from vitalkey.domain.flows import Flow, Requester
from vitalkey.domain.tokens import is_token, new_token, token_digest
from vitalkey.flows import password
from vitalkey.flows.deps import FlowDeps
from vitalkey.flows.email_code import check_mail_limits
from vitalkey.ports import OutgoingMail, Transaction

LINK_PATH = "/password/reset/"
AUTHORIZE_PATH = "/oauth2/authorize/"  # + the id of a kept authorization request (web/pages.py)


@dataclass(frozen=True, slots=True)
class ResetDone:
    account: Account
    sessions_ended: int


def _waiting_query(flow: Flow) -> str:
    """The OAuth request a sign-in was started for (its ``return_to``), as ``?continue=<id>``: the
    link keeps it, so that signing in after the new password still ends at the app."""
    return_to = str(flow.context.get("return_to") or "")
    return "?continue=" + return_to.removeprefix(AUTHORIZE_PATH) if return_to.startswith(AUTHORIZE_PATH) else ""


def send_link(deps: FlowDeps, tx: Transaction, flow: Flow, requester: Requester, now: datetime) -> None:
    """Mail the flow's address a link, or, when no account uses it, a mail saying so: the same
    statements run for both, so neither the answer nor its timing tells them apart."""
    check_mail_limits(deps, tx, flow.email, requester, now)
    account = tx.accounts.by_email(account_key(flow.email))
    waiting = _waiting_query(flow)
    token = new_token(32)
    if account is not None:
        tx.password_resets.add(token_digest(token), account.id, now, now + deps.password_policy.reset_ttl)
        template = "password_reset"
        context = {
            "link": deps.public_url + LINK_PATH + token + waiting,
            **mail_names(account),
        }
    else:
        template, context = "password_reset_unknown", {"signup_url": f"{deps.public_url}/signup{waiting}"}
    tx.outbox.enqueue(
        OutgoingMail(
            to=flow.email,
            template=template,
            language=flow.language,
            context=context,
            idempotency_key=f"password_reset:{token_digest(token)[:24]}",
        ),
        now,
    )
    tx.audit.record("password.reset_requested", now, None, flow_kind=flow.kind.value, ip=requester.ip)


class PasswordResets:
    def __init__(self, deps: FlowDeps) -> None:
        self.deps = deps

    def account_of(self, token: str) -> Account:
        """The account a live link belongs to (the link is not used up by looking)."""
        with self.deps.uow.read() as tx:
            account_id = (
                tx.password_resets.account(token_digest(token), self.deps.clock.now()) if is_token(token) else None
            )
            account = tx.accounts.get(account_id) if account_id is not None else None
        if account is None:
            raise ResetLinkInvalid()
        return account

    async def complete(self, token: str, new_password: str, *, end_sessions: bool) -> ResetDone:
        """Set the new password with the link, once. argon2id runs off the event loop, before
        the transaction that uses the link up (a conditional UPDATE: one winner in a race)."""
        account = await self.deps.uow.run(self.account_of, token)
        normalized = await password.check_new_password(self.deps, new_password, account)
        hashed = await self.deps.hasher.hash(normalized)
        ended = await self.deps.uow.run(self._use, token, account, hashed, end_sessions)
        return ResetDone(account=account, sessions_ended=ended)

    def _use(self, token: str, account: Account, hashed: str, end_sessions: bool) -> int:
        now = self.deps.clock.now()
        with self.deps.uow.begin() as tx:
            if tx.password_resets.consume(token_digest(token), now) != account.id:
                raise ResetLinkInvalid()
            tx.password_hashes.set(account.id, hashed, now)
            password.succeeded(self.deps, tx, account.email)  # the mailbox is proved: the password opens
            ended = tx.sessions.revoke_all_except(account.id, None, now) if end_sessions else 0
            password.notify_changed(self.deps, tx, account, "reset", now, sessions_ended=ended > 0)
        return ended
