"""Link Device: the OAuth authorization code flow with PKCE S256 and a single-use state, the
one-wearable rule, the notification subscriptions, the first sync, and unlinking."""

from __future__ import annotations

import base64
import hashlib
import logging
import random
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from vitalkey_portal.db.store import JobKind, Store, Tokens
from vitalkey_portal.ports import Linked, LinkFailed, LinkOutcome, NeedsConfirmation
from vitalkey_portal.providers import Provider
from vitalkey_portal.records import Link, LinkState, ProviderSection, UnlinkReason
from vitalkey_portal.syncing import FIRST_PARTS, LinkGone, Syncer, has_wearable, tokens_of
from vitalkey_portal.withings import WithingsClient, WithingsError

log = logging.getLogger("vitalkey_portal.linking")

DEFAULT_RETURN = "/link-device"
SUBSCRIBED_APPLIS = (1, 4, 16, 44, 46)  # weight, blood pressure, activity, sleep, unlink/delete


def redirect_uri(public_url: str, slug: str) -> str:
    """Where the provider sends the browser back (the web layer routes exactly this path)."""
    return f"{public_url}/link-device/{slug}/callback"


def callback_url(public_url: str, slug: str) -> str:
    """Where the provider POSTs its notifications (the web layer routes exactly this path)."""
    return f"{public_url}/notify/{slug}"


def code_challenge(verifier: str) -> str:
    """PKCE S256 (RFC 7636): base64url of the verifier's SHA-256, without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def safe_return(return_to: str) -> str:
    """Only a path of this site (never another origin) is a place to come back to."""
    if not return_to.startswith("/") or return_to.startswith("//") or "\\" in return_to or len(return_to) > 200:
        return DEFAULT_RETURN
    return return_to


@dataclass
class LinkingService:
    store: Store
    providers: Mapping[str, Provider]  # by slug, in the configuration's order
    clients: Mapping[str, WithingsClient]
    syncer: Syncer
    public_url: str
    brand: str
    poll_interval: timedelta
    now: Callable[[], datetime]
    wake: Callable[[], None]  # starts the sync worker at once

    def sections(self, user_id: int) -> list[ProviderSection]:
        return [
            ProviderSection(provider, self.store.link_of(user_id, slug)) for slug, provider in self.providers.items()
        ]

    def begin(self, user_id: int, provider: str, return_to: str) -> str:
        chosen = self.providers[provider]  # KeyError: an unknown provider
        state, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(64)
        self.store.put_state(state, user_id, chosen.slug, verifier, safe_return(return_to), self.now())
        query = urlencode(
            {
                "response_type": "code",
                "client_id": chosen.client_id,
                "redirect_uri": redirect_uri(self.public_url, chosen.slug),
                "scope": ",".join(chosen.scopes),
                "state": state,
                "code_challenge": code_challenge(verifier),
                "code_challenge_method": "S256",
            }
        )
        return f"{chosen.authorize_url}?{query}"

    async def complete(
        self, user_id: int, provider: str, code: str | None, state: str, error: str | None
    ) -> LinkOutcome:
        chosen = self.providers.get(provider)
        kept = self.store.take_state(state, self.now()) if state else None
        if chosen is None or kept is None or kept.user_id != user_id or kept.provider != provider:
            return LinkFailed(
                "This link request has expired or is not yours. Please press Link Device again.", DEFAULT_RETURN
            )
        back = kept.return_to
        if error or not code:
            return LinkFailed(f"{chosen.name} did not allow the link. Nothing was changed.", back)
        client = self.clients[provider]
        try:
            grant = await client.exchange_code(code, kept.code_verifier, redirect_uri(self.public_url, provider))
            devices = await client.get_devices(grant.access_token)
        except WithingsError as failed:
            log.warning("link failed at the provider", extra={"provider": provider, "error": type(failed).__name__})
            return LinkFailed(f"{chosen.name} could not complete the link. Please try again in a moment.", back)
        tokens = tokens_of(grant, self.now())
        wearable = has_wearable(devices)
        before = self.store.link_of(user_id, provider)
        if before is not None and before.state is not LinkState.UNLINKED and before.provider_userid != grant.userid:
            await self._end_at_provider(before)  # another account in this section: the old one is let go
        other = self.store.wearable_link(user_id, other_than=provider) if wearable else None
        if other is not None:
            pending = self.store.save_link(
                user_id, provider, grant.userid, LinkState.PENDING, wearable, grant.scope, tokens, self.now()
            )
            return NeedsConfirmation(pending, other, back)
        again = before is not None and before.state is LinkState.LINKED and before.provider_userid == grant.userid
        link = self.store.save_link(
            user_id, provider, grant.userid, LinkState.LINKED, wearable, grant.scope, tokens, self.now()
        )
        if again:  # the same account linked again: new tokens, nothing else to do
            return Linked(ProviderSection(chosen, link), back)
        await self._started(link, tokens)
        return Linked(ProviderSection(chosen, self.store.link(link.id) or link), back)

    async def confirm(self, user_id: int, pending_id: int, replace: bool) -> LinkOutcome:
        pending = self.store.link(pending_id)
        if pending is None or pending.user_id != user_id or pending.state is not LinkState.PENDING:
            return LinkFailed("There is no link waiting for your answer.", DEFAULT_RETURN)
        chosen = self.providers[pending.provider]
        if not replace:
            await self._end_at_provider(pending)
            self.store.unlink(pending.id, UnlinkReason.REFUSED, self.now())
            kept = self.store.wearable_link(user_id, other_than=pending.provider)
            section = ProviderSection(self.providers[kept.provider], kept) if kept else self._section(pending.id)
            return Linked(section, DEFAULT_RETURN)
        old = self.store.wearable_link(user_id, other_than=pending.provider)
        if old is not None:
            await self._end_at_provider(old)
            self.store.unlink(old.id, UnlinkReason.REPLACED, self.now())
        self.store.activate(pending.id, self.now())
        tokens = self.store.tokens(pending.id)
        if tokens is not None:
            await self._started(pending, tokens)
        return Linked(ProviderSection(chosen, self.store.link(pending.id)), DEFAULT_RETURN)

    async def unlink(self, user_id: int, provider: str) -> None:
        link = self.store.link_of(user_id, provider)
        if link is None or link.state is LinkState.UNLINKED:
            return
        await self._end_at_provider(link)
        self.store.unlink(link.id, UnlinkReason.USER, self.now())

    # Steps -----------------------------------------------------------------------------------
    def _section(self, link_id: int) -> ProviderSection:
        link = self.store.link(link_id)
        assert link is not None
        return ProviderSection(self.providers[link.provider], link)

    async def _started(self, link: Link, tokens: Tokens) -> None:
        """A new link: subscribe to its notifications, queue the first sync (due now, the
        worker woken), and place its polls somewhere in the poll interval (spread)."""
        client, url = self.clients[link.provider], callback_url(self.public_url, link.provider)
        for appli in SUBSCRIBED_APPLIS:
            try:
                await client.subscribe(tokens.access_token, url, appli, f"{self.brand} link {link.id}")
            except WithingsError as refused:  # polling covers what notifications would have said
                log.warning(
                    "subscription refused", extra={"link_id": link.id, "appli": appli, "error": str(refused)[:120]}
                )
        now = self.now()
        self.store.add_jobs((link.id, JobKind.FIRST, now, part, None, None, None) for part in FIRST_PARTS)
        spread = timedelta(seconds=random.uniform(0, self.poll_interval.total_seconds()))
        self.store.schedule_poll(link.id, now + spread)
        self.wake()

    async def _end_at_provider(self, link: Link) -> None:
        """Remove the subscriptions, then revoke the tokens at the provider. The provider being
        unreachable does not keep the link: it is let go here all the same (and logged)."""
        tokens = self.store.tokens(link.id)
        if tokens is None:
            return
        client, url = self.clients[link.provider], callback_url(self.public_url, link.provider)
        try:
            access = await self.syncer.access_token(link) if link.state is LinkState.LINKED else tokens.access_token
            await client.unsubscribe(access, url)
        except LinkGone:
            return  # the provider had ended it already (a refused refresh)
        except WithingsError as failed:
            log.warning(
                "could not remove the subscriptions", extra={"link_id": link.id, "error": type(failed).__name__}
            )
        current = self.store.tokens(link.id) or tokens
        try:
            await client.revoke(link.provider_userid, current.refresh_token)
        except WithingsError as failed:
            log.warning(
                "the provider could not be told: unlinked here only",
                extra={"link_id": link.id, "error": type(failed).__name__},
            )
