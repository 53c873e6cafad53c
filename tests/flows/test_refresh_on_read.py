"""A refresh grant is checked on a read transaction and only its new generation is written, in a
write transaction that checks again that the parent is still live: what changed in between (a
revocation, a retirement, a deleted app) makes it run again whole, with the answer a serial run
would give."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest

from vitalkey.adapters.clock import FrozenClock
from vitalkey.container import Container
from vitalkey.domain.accounts import Profile, Sex, Units
from vitalkey.domain.apps import ClientType
from vitalkey.domain.oauth import TokenRecord, join_token, split_token
from vitalkey.domain.tokens import token_digest
from vitalkey.flows.clients import NewClient
from vitalkey.oauth.provider import TokenAnswer
from vitalkey.oauth.withings import token_envelope
from vitalkey.ports import Pending

PROFILE = Profile("Ann", "Lee", date(1990, 5, 1), Sex.FEMALE, 168.0, Units.METRIC)
SCOPES = ("user.metrics",)


class Grant:
    """A confidential client and a user's first generation (refresh token ``refresh``)."""

    def __init__(self, container: Container) -> None:
        registered = container.apps.register(
            NewClient("Portal", ClientType.CONFIDENTIAL, ("https://p.example/cb",), SCOPES)
        )
        assert registered.secret is not None
        self.container, self.client_id, self.secret = container, registered.app.client_id, registered.secret
        now = container.clock.now()
        with container.uow.begin() as tx:
            account = tx.accounts.create("ann@example.org", "ann@example.org", "en", PROFILE, "2026-01", now)
            assert account is not None
            self.account_id = account.id
            tx.consents.allow(account.id, self.client_id, SCOPES, now)
            first = TokenRecord(
                0, "family", None, self.client_id, account.id, SCOPES, "user.metrics", now,
                now + timedelta(hours=3), now + timedelta(days=365), access_digest=token_digest("a0"),
                refresh_digest=token_digest("r0"),
            )  # fmt: skip
            self.first_id = tx.oauth_tokens.add(first)
        self.refresh = join_token(self.first_id, "r0")

    def values(self, token: str, secret: str | None = None) -> list[tuple[str, str]]:
        return [
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", self.client_id),
            ("client_secret", secret or self.secret),
        ]

    def prepare(self, token: str, secret: str | None = None) -> TokenAnswer | Pending[TokenAnswer]:
        return self.container.oauth.prepare_token(self.values(token, secret), {})

    def generations(self) -> list[TokenRecord]:
        with self.container.uow.read() as tx:
            found = [tx.oauth_tokens.get(token_id) for token_id in range(self.first_id, self.first_id + 10)]
        return [record for record in found if record is not None]


def settle(outcome: TokenAnswer | Pending[TokenAnswer]) -> TokenAnswer:
    return outcome.write() if isinstance(outcome, Pending) else outcome


def test_a_refresh_checked_on_a_read_writes_nothing_until_its_pending_write_runs(container: Container) -> None:
    grant = Grant(container)
    outcome = grant.prepare(grant.refresh)
    assert isinstance(outcome, Pending)
    assert [(g.id, g.retire_at) for g in grant.generations()] == [(grant.first_id, None)]  # nothing written yet

    answer = outcome.write().answer
    assert answer.status == 200
    child_id, _ = split_token(answer.body["refresh_token"])
    assert child_id is not None and split_token(answer.body["access_token"])[0] == child_id
    first, child = grant.generations()
    assert child.id == child_id and child.parent_id == grant.first_id and child.family_id == "family"
    assert first.retire_at == container.clock.now() + container.oauth.policy.refresh_grace
    assert settle(grant.prepare(answer.body["refresh_token"])).answer.status == 200  # the new token works


def test_a_refused_refresh_is_answered_from_the_read_without_a_write(container: Container) -> None:
    grant = Grant(container)
    for outcome, error in (
        (grant.prepare(grant.refresh, secret="wrong"), "invalid_client"),
        (grant.prepare(join_token(grant.first_id, "not-the-secret")), "invalid_grant"),
        (grant.prepare("unknown"), "invalid_grant"),
    ):
        assert isinstance(outcome, TokenAnswer)
        assert outcome.answer.status in (400, 401) and outcome.answer.body["error"] == error
    assert [(g.id, g.retire_at, g.revoked_at) for g in grant.generations()] == [(grant.first_id, None, None)]


def test_a_grant_revoked_between_the_read_and_the_write_is_refused(container: Container) -> None:
    grant = Grant(container)
    outcome = grant.prepare(grant.refresh)
    assert isinstance(outcome, Pending)
    with container.uow.begin() as tx:  # the user removes the app's access meanwhile
        tx.oauth_tokens.revoke_app(grant.account_id, grant.client_id, container.clock.now())

    answer = outcome.write().answer
    assert answer.status == 400 and answer.body["error"] == "invalid_grant"
    assert len(grant.generations()) == 1  # no generation issued


def test_a_token_retired_between_the_read_and_the_write_counts_as_a_replay(container: Container) -> None:
    """Two refreshes with the same token, read together: the first is stored and its access token
    used (which retires the parent); the second then finds the parent retired, as it would have
    run after them: a replay, so the whole family is revoked."""
    grant = Grant(container)
    first, second = grant.prepare(grant.refresh), grant.prepare(grant.refresh)
    assert isinstance(first, Pending) and isinstance(second, Pending)
    issued = first.write().answer.body
    authorization = f"Bearer {issued['access_token']}"
    container.oauth.protector.bearer(
        "GET", "/v2/measure", authorization, "user.metrics"
    )  # its first use retires the parent

    answer = second.write().answer
    assert answer.status == 400 and answer.body["error"] == "invalid_grant"
    assert all(g.revoked_at is not None for g in grant.generations())


def test_two_refreshes_within_the_grace_period_both_succeed(container: Container, clock: FrozenClock) -> None:
    """The Withings rule: the old refresh token stays valid until the new access token is used,
    even when both requests were read before either was written."""
    grant = Grant(container)
    first, second = grant.prepare(grant.refresh), grant.prepare(grant.refresh)
    assert isinstance(first, Pending) and isinstance(second, Pending)
    assert first.write().answer.status == 200
    clock.advance(minutes=1)
    assert second.write().answer.status == 200
    parent = grant.generations()[0]
    assert parent.retire_at == clock.now() - timedelta(minutes=1) + container.oauth.policy.refresh_grace


def test_a_refresh_that_must_write_more_is_run_whole(container: Container, clock: FrozenClock) -> None:
    """A retired token presented again must revoke its family: that is a write, so the read hands
    the request to a write transaction whole."""
    grant = Grant(container)
    settle(grant.prepare(grant.refresh))
    clock.advance(seconds=container.oauth.policy.refresh_grace.total_seconds() + 1)
    outcome = grant.prepare(grant.refresh)
    assert isinstance(outcome, Pending)
    assert all(g.revoked_at is None for g in grant.generations())  # the read revoked nothing
    assert outcome.write().answer.body["error"] == "invalid_grant"
    assert all(g.revoked_at is not None for g in grant.generations())


def test_the_withings_envelope_is_made_after_the_write(container: Container) -> None:
    grant = Grant(container)
    values = [("action", "requesttoken"), *grant.values(grant.refresh)]
    outcome = container.withings.prepare_oauth2(values, {})
    assert isinstance(outcome, Pending)
    answer = outcome.write()
    assert answer["status"] == 0 and answer["body"]["userid"] == grant.account_id
    assert split_token(answer["body"]["refresh_token"])[0] == grant.generations()[1].id
    assert token_envelope(settle(grant.prepare("unknown")))["status"] == 503


def test_through_the_unit_of_work_the_read_and_the_write_take_one_connection_on_postgresql(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite: the read joins the turn's read batch, the write the group commit. PostgreSQL: one
    transaction on one connection (no writer lock to spare there, and each costs round trips)."""
    grant = Grant(container)
    engine = container.engine
    checkouts = []
    monkeypatch.setattr(engine, "raw_connection", lambda: checkouts.append(1) or type(engine).raw_connection(engine))

    async def refresh(token: str) -> TokenAnswer:
        return await container.uow.run_optimistic(container.oauth.prepare_token, grant.values(token), {})

    answer = asyncio.run(refresh(grant.refresh)).answer
    assert answer.status == 200 and len(grant.generations()) == 2
    if engine.dialect.name == "postgresql":
        assert len(checkouts) == 2  # the refresh, then the read of generations() above
    refused = asyncio.run(refresh(join_token(grant.first_id, "wrong"))).answer
    assert refused.status == 400 and len(grant.generations()) == 2
