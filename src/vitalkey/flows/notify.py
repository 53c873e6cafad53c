"""The ``/notify`` service: a partner app's subscriptions for one user, with that user's token.

``subscribe`` checks the callback URL (Withings' rules, then a HEAD that must answer below 400
within the time limit, through the ``CallbackSender``, which never connects to an internal
address) and needs the scope that reads the appli's data. ``update`` checks a new URL the same
way. A subscription that already exists is kept (its comment replaced), so subscribing twice is
harmless, as partners do on every link.
"""

from __future__ import annotations

from datetime import datetime

from vitalkey.domain.errors import DomainError
from vitalkey.domain.i18n import N_
from vitalkey.domain.notifications import (
    APPLI_SCOPES,
    MAX_COMMENT,
    Appli,
    CallbackPolicy,
    CallbackRefused,
    Delivery,
    Subscription,
    check_callback_url,
)
from vitalkey.flows.deps import FlowDeps
from vitalkey.observability import logger
from vitalkey.ports import CallbackSender

log = logger("vitalkey.notify")


class ScopeMissing(DomainError):
    """The token cannot read the appli's data, so it cannot subscribe to it."""

    code = "scope_missing"
    message = N_("The access token does not carry the %(scope)s scope.")


class NoSuchSubscription(DomainError):
    code = "no_such_subscription"
    message = N_("No notification matching the criteria was found.")


class CommentTooLong(DomainError):
    code = "comment_too_long"
    message = N_("At most %(limit)s characters.")
    field = "comment"


class NotifyService:
    def __init__(self, deps: FlowDeps, sender: CallbackSender, policy: CallbackPolicy) -> None:
        self.deps = deps
        self.sender = sender
        self.policy = policy

    def may_subscribe(self, scopes: tuple[str, ...], appli: Appli) -> None:
        """:class:`ScopeMissing` unless a token of ``scopes`` reads ``appli``'s data."""
        scope = APPLI_SCOPES[appli]
        if scope not in scopes:
            raise ScopeMissing(scope=scope)

    async def subscribe(
        self, account_id: int, client_id: str, scopes: tuple[str, ...], callbackurl: str, appli: Appli, comment: str
    ) -> Subscription:
        self.may_subscribe(scopes, appli)
        _check_comment(comment)
        await self._check_url(callbackurl)
        now = self.deps.clock.now()
        new = Subscription(0, account_id, client_id, appli, callbackurl, comment, now, now)
        stored: Subscription = await self.deps.uow.run(self._add, new)
        return stored

    def _add(self, subscription: Subscription) -> Subscription:
        with self.deps.uow.begin() as tx:
            return tx.subscriptions.add(subscription)

    def get(self, account_id: int, client_id: str, callbackurl: str, appli: Appli) -> Subscription:
        with self.deps.uow.read() as tx:
            found = tx.subscriptions.get(account_id, client_id, appli, callbackurl)
        if found is None:
            raise NoSuchSubscription()
        return found

    def of_app(self, account_id: int, client_id: str, appli: Appli | None) -> list[Subscription]:
        with self.deps.uow.read() as tx:
            return tx.subscriptions.of_app(account_id, client_id, appli)

    async def update(
        self,
        account_id: int,
        client_id: str,
        scopes: tuple[str, ...],
        callbackurl: str,
        appli: Appli,
        *,
        new_callbackurl: str | None,
        new_appli: Appli | None,
        comment: str | None,
    ) -> Subscription:
        """Moves a subscription to another URL or appli, or gives it a new comment; it counts as
        working again (a partner fixes a failing one this way)."""
        current = await self.deps.uow.run(self.get, account_id, client_id, callbackurl, appli)
        target_url, target_appli = new_callbackurl or callbackurl, new_appli or appli
        if target_appli is not appli:
            self.may_subscribe(scopes, target_appli)
        if comment is not None:
            _check_comment(comment)
        if target_url != callbackurl:
            await self._check_url(target_url)
        now = self.deps.clock.now()
        updated: Subscription | None = await self.deps.uow.run(
            self._update, current.id, target_url, target_appli, current.comment if comment is None else comment, now
        )
        if updated is None:  # another subscription has that place, or this one was revoked meanwhile
            raise NoSuchSubscription()
        return updated

    def _update(self, subscription_id: int, url: str, appli: Appli, comment: str, now: datetime) -> Subscription | None:
        with self.deps.uow.begin() as tx:
            return tx.subscriptions.update(subscription_id, callbackurl=url, appli=appli, comment=comment, now=now)

    def revoke(
        self, account_id: int, client_id: str, callbackurl: str | None, appli: Appli | None
    ) -> list[Subscription]:
        """One subscription (URL and appli), one URL's for every appli, one appli's, or all the
        app's for the user; :class:`NoSuchSubscription` when none matched."""
        with self.deps.uow.begin() as tx:
            if callbackurl is None or appli is not None:
                removed = tx.subscriptions.remove(account_id, client_id, appli, callbackurl)
            else:
                removed = [
                    gone
                    for subscription in tx.subscriptions.of_app(account_id, client_id)
                    if subscription.callbackurl == callbackurl
                    for gone in tx.subscriptions.remove(account_id, client_id, subscription.appli, callbackurl)
                ]
        if not removed:
            raise NoSuchSubscription()
        return removed

    def recent_deliveries(self, limit: int) -> list[Delivery]:
        """The newest deliveries of every app (the dev page)."""
        with self.deps.uow.read() as tx:
            return tx.deliveries.recent(limit)

    def of_client(self, client_id: str) -> list[Subscription]:
        """Every user's subscriptions of an app, failing ones first (the admin API)."""
        with self.deps.uow.read() as tx:
            return tx.subscriptions.of_client(client_id)

    async def _check_url(self, url: str) -> None:
        target = check_callback_url(url, self.policy)
        answer = await self.sender.probe(target.url)
        if not answer.ok:
            log.info("notify.callback_refused", host=target.host, status=answer.status, error=answer.error)
            raise CallbackRefused("probe")


def _check_comment(comment: str) -> None:
    if len(comment) > MAX_COMMENT:
        raise CommentTooLong(limit=MAX_COMMENT)


__all__ = ["CommentTooLong", "NoSuchSubscription", "NotifyService", "ScopeMissing"]
