"""Account & Security → Connected apps: the apps a user allowed, what they read, when they were
first allowed and last used, and "Remove access", which revokes their tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vitalkey.domain.apps import App
from vitalkey.domain.errors import ConnectedAppNotFound
from vitalkey.domain.oauth import Consent
from vitalkey.flows.deps import FlowDeps
from vitalkey.flows.notify_outbox import unlinked
from vitalkey.ports import Transaction


@dataclass(frozen=True, slots=True)
class ConnectedApp:
    app: App
    scopes: tuple[str, ...]
    first_allowed_at: datetime
    last_used_at: datetime | None
    notified: bool = False  # it subscribed to notifications of the user's data


class ConnectedApps:
    def __init__(self, deps: FlowDeps) -> None:
        self.deps = deps

    def for_account(self, account_id: int) -> list[ConnectedApp]:
        with self.deps.uow.read() as tx:
            return connected(tx, account_id)

    def remove(self, account_id: int, client_id: str) -> None:
        """Forget the consent, revoke every token and unused code of the app, and remove its
        notification subscriptions (the partner hears appli 46 ``unlink``)."""
        now = self.deps.clock.now()
        with self.deps.uow.begin() as tx:
            if not tx.consents.forget(account_id, client_id):
                raise ConnectedAppNotFound()
            revoked = tx.oauth_tokens.revoke_app(account_id, client_id, now)
            unlinked(tx, account_id, client_id, now)
            tx.audit.record("oauth.access_removed", now, account_id, client_id=client_id, tokens=revoked)


def connected(tx: Transaction, account_id: int) -> list[ConnectedApp]:
    """The apps the user allowed, the first allowed first (the page and "Download my data")."""
    consents = tx.consents.for_account(account_id)
    apps = {consent.client_id: tx.apps.get(consent.client_id) for consent in consents}
    notified = {c.client_id for c in consents if tx.subscriptions.of_app(account_id, c.client_id)}
    return [
        _connected(consent, app, consent.client_id in notified)
        for consent in consents
        if (app := apps[consent.client_id]) is not None
    ]


def _connected(consent: Consent, app: App, notified: bool) -> ConnectedApp:
    return ConnectedApp(app, consent.scopes, consent.first_allowed_at, consent.last_used_at, notified)


__all__ = ["ConnectedApp", "ConnectedApps", "connected"]
