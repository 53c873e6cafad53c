"""Account & Security → Delete account: everything of the user goes, in one transaction.

It needs what every change of the second factor needs — a sign-in within ``reauth_window``
(5 minutes) with the account's second factor when it has one (``second_factor.require_fresh``) —
and the user's email address typed out as the confirmation (any case, spaces around it ignored).
Then, together or not at all: each partner app's subscriptions go and every callback URL they
named hears appli 46 ``action=delete`` (those deliveries have no foreign key to the account, so
they outlive it; the worker signs them with the client's secret as usual); the account row goes,
and with it by ON DELETE CASCADE its sessions (browser and API), OAuth tokens, codes and consents,
app passwords, second factor, password links and health data; what names the user elsewhere goes
too (flows and codes of the address, mails and texts to it, earlier deliveries and audit records,
rate-limit keys holding the id); a confirmation mail is queued (the outbox has no foreign key
either), and one audit record is written that names the account only by a keyed digest.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from vitalkey.domain.emails import account_key
from vitalkey.domain.errors import DeletionNotConfirmed, NotAuthenticated
from vitalkey.domain.notifications import UserAction
from vitalkey.domain.tokens import keyed_digest, new_token, same
from vitalkey.flows import second_factor
from vitalkey.flows.deps import FlowDeps
from vitalkey.flows.notify_outbox import user_left
from vitalkey.flows.sessions import Authenticated
from vitalkey.ports import OutgoingMail

MAIL_TEMPLATE = "account_deleted"


@dataclass(frozen=True, slots=True)
class Deleted:
    """What the deletion did (counts only: nothing that names the user)."""

    apps_told: int  # callback URLs that will hear action=delete


def confirmed(typed: str, email: str) -> bool:
    """The typed confirmation is the account's address (any case, surrounding spaces ignored)."""
    given = account_key(unicodedata.normalize("NFC", typed.strip()))
    return same(given, account_key(email))


def subject_digest(secret: bytes, account_id: int) -> str:
    """How the audit record names a deleted account: a keyed digest, no use without the server key."""
    return keyed_digest(secret, f"account-deleted:{account_id}")


class AccountDeletion:
    def __init__(self, deps: FlowDeps) -> None:
        self.deps = deps

    def delete_account(self, auth: Authenticated, confirmation: str) -> Deleted:
        now = self.deps.clock.now()
        with self.deps.uow.begin() as tx:
            factor = second_factor.require_fresh(self.deps, tx, auth)
            account = tx.accounts.get(auth.account.id)
            if account is None:
                raise NotAuthenticated()
            if not confirmed(confirmation, account.email):
                raise DeletionNotConfirmed()
            tx.deliveries.forget_account(account.id)  # earlier notices about the user, sent or not
            told = 0
            for client_id in sorted({s.client_id for s in tx.subscriptions.of_account(account.id)}):
                told += user_left(tx, account.id, client_id, now, UserAction.DELETE)
            tx.audit.forget_account(account.id)
            tx.flows.forget_address(account_key(account.email))
            tx.outbox.forget_recipients([account.email] + ([factor.phone] if factor and factor.phone else []))
            for key in (f"sms:account:{account.id}", f"recovery:fail:{account.id}"):
                tx.counters.forget(key)
            # Sessions, tokens, consents, codes, app passwords, 2FA and health data: CASCADE.
            if not tx.accounts.delete(account.id):
                raise NotAuthenticated()
            tx.outbox.enqueue(
                OutgoingMail(
                    to=account.email,
                    template=MAIL_TEMPLATE,
                    language=account.language,
                    context={"when": now.strftime("%Y-%m-%d %H:%M UTC")},
                    idempotency_key=f"{MAIL_TEMPLATE}:{new_token(12)}",
                ),
                now,
            )
            tx.audit.record(
                "account.deleted", now, None, subject=subject_digest(self.deps.secret, account.id), apps_told=told
            )
        return Deleted(apps_told=told)


__all__ = ["MAIL_TEMPLATE", "AccountDeletion", "Deleted", "confirmed", "subject_digest"]
