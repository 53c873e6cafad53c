"""The repositories' contract suites: each runs on SQLite and on PostgreSQL (``database_url``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from vitalkey.adapters.db.engine import make_engine
from vitalkey.adapters.db.uow import SqlUnitOfWork
from vitalkey.domain.accounts import Account, Profile, Sex, Units
from vitalkey.domain.apps import App, ClientType
from vitalkey.domain.flows import Channel, Flow, FlowKind
from vitalkey.domain.oauth import AuthorizationCode, TokenRecord

NOW = datetime(2026, 11, 21, 12, 0, 0, 123456, tzinfo=UTC)
LATER = NOW + timedelta(minutes=1)
PROFILE = Profile("Ann", "Lee", date(1990, 5, 1), Sex.FEMALE, 168.0, Units.METRIC)


@pytest.fixture
def store(database_url: str) -> Iterator[SqlUnitOfWork]:
    engine = make_engine(database_url)
    yield SqlUnitOfWork(engine)
    engine.dispose()


def an_account(store: SqlUnitOfWork, email: str = "ann@example.org") -> Account:
    with store.begin() as tx:
        account = tx.accounts.create(email, email, "en", PROFILE, "2026-01", NOW)
    assert account is not None
    return account


def a_flow(store: SqlUnitOfWork, flow_id: str = "flow-1") -> Flow:
    flow = Flow(flow_id, FlowKind.LOGIN, Channel.API, "code_sent", NOW, NOW + timedelta(minutes=10), "en")
    with store.begin() as tx:
        tx.flows.add(flow)
    return flow


COACH = App("coach", "Coach", False, False, NOW, ClientType.CONFIDENTIAL, ("https://coach.example/cb",))


def an_app(store: SqlUnitOfWork, app: App = COACH) -> App:
    with store.begin() as tx:
        assert tx.apps.add(app)
    return app


def an_authorization_code(account_id: int, digest: str = "c1") -> AuthorizationCode:
    return AuthorizationCode(
        digest, "coach", account_id, "https://coach.example/cb", ("openid", "user.metrics"), "openid user.metrics",
        "n-1", "challenge", "S256", NOW, ("email", "sms"), "family-1", NOW, NOW + timedelta(minutes=5),
    )  # fmt: skip


def a_token_generation(account_id: int, parent_id: int | None = None, family_id: str = "family-1") -> TokenRecord:
    return TokenRecord(
        0, family_id, parent_id, "coach", account_id, ("user.metrics",), "user.metrics", NOW,
        NOW + timedelta(hours=1), NOW + timedelta(days=30), access_digest="a", refresh_digest="r",
    )  # fmt: skip
