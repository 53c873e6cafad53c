"""Deleting an account (issue #21 item 5, issue #19's ``action=delete``) on both engines with a
frozen clock: refused without a fresh sign-in, without the second factor or without the typed
address (nothing deleted then); once done, a partner's real receiver gets appli 46
``action=delete`` signed with its secret after the account is gone, the confirmation reaches a
real SMTP server, sessions and tokens no longer work, and a walk over every table and text column
of the schema finds nothing of the user."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import MetaData, insert, select

from tests.conftest import ContainerFactory, Mailbox, Receiver
from tests.flows.helpers import BROWSER, last_code
from tests.flows.test_health_ingest import PROFILE as OTHER
from tests.flows.test_health_ingest import T0, weight
from tests.flows.test_notify_delivery import SCOPES, secret_of, verify
from vitalkey.adapters.clock import FrozenClock
from vitalkey.adapters.db import schema as t
from vitalkey.adapters.db.schema import metadata
from vitalkey.adapters.mail.senders import SmtpSender
from vitalkey.container import Container
from vitalkey.domain.accounts import Profile, Sex, Units
from vitalkey.domain.apps import ClientType
from vitalkey.domain.errors import DeletionNotConfirmed, NotAuthenticated, ReauthenticationRequired
from vitalkey.domain.notifications import Appli
from vitalkey.domain.oauth import TokenRecord, join_token
from vitalkey.domain.tokens import token_digest
from vitalkey.flows.account_deletion import subject_digest
from vitalkey.flows.clients import NewClient
from vitalkey.flows.health_ingest import Batch
from vitalkey.flows.login import SecondFactorNeeded
from vitalkey.flows.sessions import Authenticated
from vitalkey.oauth.resource import BearerRefused

# Distinctive values, so that finding one anywhere in the database means it was left behind.
USER_ID = 7_654_321
EMAIL = "Zephyrine.Quixbury@example.org"
PHONE = "+33612345678"
PROFILE = Profile("Zephyrine", "Quixbury", date(1990, 5, 1), Sex.FEMALE, 168.0, Units.METRIC)
ACCESS_SECRET = "zq-access-secret-7f3a"
REFRESH_SECRET = "zq-refresh-secret-91c2"


@pytest.fixture
def container(make_container: ContainerFactory, clock: FrozenClock, smtp_sender: SmtpSender) -> Container:
    return make_container(clock=clock, sender=smtp_sender, notify_allow_http=True, notify_allow_local=True)


@dataclass
class User:
    client_id: str
    access: str
    token: str  # the session's
    auth: Authenticated


def sign_in(container: Container, email: str = EMAIL) -> tuple[str, Authenticated]:
    flow = container.login.start(email, BROWSER).flow
    result = container.login.submit_code(flow.id, last_code(container, email), BROWSER)
    if isinstance(result, SecondFactorNeeded):
        result = container.login.submit_sms(result.flow.id, last_code(container, PHONE), BROWSER)
    return result.token, container.sessions.authenticate(result.token)


def make_user(container: Container, receiver: Receiver, *, two_factor: bool = False) -> User:
    """An account with a partner app (consent, tokens, two subscriptions), health data, and a
    fresh session (after the 2FA set-up when asked)."""
    now = container.clock.now()
    client_id = container.apps.register(
        NewClient("Portal", ClientType.CONFIDENTIAL, ("https://p.example/cb",), SCOPES)
    ).app.client_id
    _insert_account(container)
    with container.uow.begin() as tx:
        tx.consents.allow(USER_ID, client_id, SCOPES, now)
        record = TokenRecord(
            0, "family", None, client_id, USER_ID, SCOPES, ",".join(SCOPES), now, now + timedelta(hours=3),
            now + timedelta(days=365), access_digest=token_digest(ACCESS_SECRET),
            refresh_digest=token_digest(REFRESH_SECRET),
        )  # fmt: skip
        token_id = tx.oauth_tokens.add(record)

    async def subscribe() -> None:
        for path, appli in (("/a", Appli.WEIGHT), ("/b", Appli.ACTIVITY)):
            await container.notify.subscribe(USER_ID, client_id, SCOPES, receiver.url + path, appli, "")

    asyncio.run(subscribe())
    container.health_ingest.ingest(USER_ID, "k1", "k1", Batch(measure_groups=(weight(T0),)))
    asyncio.run(container.data_exports.request(USER_ID))  # "Download my data": a ZIP naming the user
    if two_factor:
        _, auth = sign_in(container)
        view = container.two_factor.begin(auth, PHONE, "", BROWSER)
        container.two_factor.confirm(auth, view.flow.id, last_code(container, PHONE), BROWSER)
        container.two_factor.finish(auth, view.flow.id, BROWSER)
    token, auth = sign_in(container)
    return User(client_id, join_token(token_id, ACCESS_SECRET), token, auth)


def _insert_account(container: Container) -> None:
    now = container.clock.now()
    with container.engine.begin() as conn:
        conn.execute(
            insert(t.accounts).values(
                id=USER_ID, email=EMAIL, email_key=EMAIL.casefold(), language="en", first_name=PROFILE.first_name,
                last_name=PROFILE.last_name, birth_date=PROFILE.birth_date, sex="female", height_cm=168.0,
                units="metric", policy_version="2026-01", policy_accepted_at=now, created_at=now, updated_at=now,
            )
        )  # fmt: skip


def account_exists(container: Container) -> bool:
    with container.uow.read() as tx:
        return tx.accounts.get(USER_ID) is not None and bool(tx.subscriptions.of_account(USER_ID))


def deliver_everything(container: Container) -> None:
    async def rounds() -> None:
        await container.relay.run_once()
        await container.delivery_worker.run_once()
        await container.delivery_worker.drain()
        await container.callbacks.aclose()

    asyncio.run(rounds())


def test_refused_without_the_typed_address_and_nothing_is_deleted(container: Container, receiver: Receiver) -> None:
    user = make_user(container, receiver)
    for typed in ("", "someone@example.org", "Zephyrine", EMAIL + "x"):
        with pytest.raises(DeletionNotConfirmed) as refused:
            container.account_deletion.delete_account(user.auth, typed)
        assert refused.value.field_name == "confirmation"
    assert account_exists(container)
    assert container.sessions.authenticate(user.token).account.id == USER_ID


def test_refused_without_a_fresh_sign_in(container: Container, clock: FrozenClock, receiver: Receiver) -> None:
    user = make_user(container, receiver)
    clock.advance(seconds=5 * 60 + 1)
    with pytest.raises(ReauthenticationRequired):
        container.account_deletion.delete_account(user.auth, EMAIL)
    assert account_exists(container)
    _, fresh = sign_in(container)  # signing in again opens it
    assert container.account_deletion.delete_account(fresh, EMAIL.upper() + " ").apps_told == 2
    assert not account_exists(container)


def test_refused_when_the_session_did_not_pass_the_second_factor(container: Container, receiver: Receiver) -> None:
    """A session signed in before 2FA was turned on (in another session) lacks the factor."""
    _insert_account(container)
    _, before = sign_in(container)
    token, setup = sign_in(container)
    view = container.two_factor.begin(setup, PHONE, "", BROWSER)
    container.two_factor.confirm(setup, view.flow.id, last_code(container, PHONE), BROWSER)
    container.two_factor.finish(setup, view.flow.id, BROWSER)
    with pytest.raises(ReauthenticationRequired):
        container.account_deletion.delete_account(before, EMAIL)
    with container.uow.read() as tx:
        assert tx.accounts.get(USER_ID) is not None
    setup = container.sessions.authenticate(token)  # the set-up proved the factor in this session
    container.account_deletion.delete_account(setup, EMAIL)
    with container.uow.read() as tx:
        assert tx.accounts.get(USER_ID) is None


def test_deleted_the_partner_hears_action_delete_the_mail_arrives_and_nothing_of_the_user_remains(
    container: Container, receiver: Receiver, mailbox: Mailbox
) -> None:
    user = make_user(container, receiver, two_factor=True)
    bystander = make_bystander(container, receiver, user.client_id)
    receiver.received.clear()
    needles = [EMAIL, "zephyrine", "quixbury", PHONE, PHONE[3:], str(USER_ID), user.token, ACCESS_SECRET]
    before = {finding.split(".")[0] for finding in leftovers(container, needles)}
    assert before >= {  # the walk finds the user where the user is (so it can find what is left)
        "accounts", "sessions", "oauth_tokens", "oauth_consents", "authenticators", "notify_subscriptions",
        "measure_groups", "outbox", "flows", "audit", "data_exports",
    }  # fmt: skip
    assert container.account_deletion.delete_account(user.auth, EMAIL.lower()).apps_told == 2

    # Sessions and tokens no longer work, before anything is sent.
    with pytest.raises(NotAuthenticated):
        container.sessions.authenticate(user.token)
    with pytest.raises(BearerRefused):
        container.oauth.protector.bearer("GET", "/v2/measure", f"Bearer {user.access}", "user.metrics")

    deliver_everything(container)
    posts = sorted(receiver.of("POST"), key=lambda post: post["path"])
    expected = {"userid": str(USER_ID), "appli": "46", "action": "delete", "change": "delete", "backfill": "0"}
    assert [(post["path"], post["form"]) for post in posts] == [("/a", expected), ("/b", expected)]
    for post in posts:
        verify(post, secret_of(container, user.client_id))
    assert len({post["headers"]["vitalkey-delivery"] for post in posts}) == 2

    [mail] = [m for m in mailbox.messages if m["To"] == EMAIL]
    assert mail["Subject"] == "Your VitalKey account has been deleted"
    assert "all its health data were deleted" in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    assert leftovers(container, [*needles, REFRESH_SECRET]) == []
    # The client's network stays only in the per-network rate limits (shared by whoever uses it,
    # tied to no account, gone after two windows): deleting an account must not reset them.
    assert set(leftovers(container, [BROWSER.ip])) == {f"rate_counters.key ∋ {BROWSER.ip}"}
    with container.engine.connect() as conn:
        audit = conn.execute(select(t.audit)).mappings().all()
    assert [(row["event"], row["account_id"]) for row in audit if row["event"] == "account.deleted"] == [
        ("account.deleted", None)
    ]
    [deleted] = [row for row in audit if row["event"] == "account.deleted"]
    details = deleted["details"] if isinstance(deleted["details"], dict) else json.loads(deleted["details"])
    assert details == {"subject": subject_digest(container.deps.secret, USER_ID), "apps_told": 2}

    # Another user of the same app keeps everything.
    with container.uow.read() as tx:
        assert tx.accounts.get(bystander) is not None
        assert [s.callbackurl for s in tx.subscriptions.of_account(bystander)] == [receiver.url + "/other"]
        assert tx.consents.get(bystander, user.client_id) is not None


def make_bystander(container: Container, receiver: Receiver, client_id: str) -> int:
    now = container.clock.now()
    with container.uow.begin() as tx:
        other = tx.accounts.create("other@example.net", "other@example.net", "en", OTHER, "2026-01", now)
        assert other is not None
        tx.consents.allow(other.id, client_id, SCOPES, now)
    asyncio.run(container.notify.subscribe(other.id, client_id, SCOPES, receiver.url + "/other", Appli.WEIGHT, ""))
    return other.id


def leftovers(container: Container, needles: list[str]) -> list[str]:
    """Every table, every row: a text or JSON value holding a needle (any case), or a column that
    refers to an account holding the user's id."""
    found: list[str] = []
    lowered = [needle.lower() for needle in needles]
    stored = MetaData()
    stored.reflect(bind=container.engine)  # the tables the database has, not only those in code
    assert set(stored.tables) - {"alembic_version"} == set(metadata.tables)
    with container.engine.connect() as conn:
        for table in stored.sorted_tables:
            for row in conn.execute(select(table)).mappings():
                for column, value in row.items():
                    if column in ("account_id", "id") and table.name in _ACCOUNT_ID_COLUMNS.get(column, ()):
                        if value == USER_ID:
                            found.append(f"{table.name}.{column} = {value}")
                        continue
                    text = _as_text(value)
                    if text is not None:
                        found += [f"{table.name}.{column} ∋ {n}" for n in lowered if n in text.lower()]
    return found


def _as_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return None


# The integer columns that name an account (the id of ``accounts`` itself, and every account_id).
_ACCOUNT_ID_COLUMNS = {
    "id": ("accounts",),
    "account_id": tuple(table.name for table in metadata.sorted_tables if "account_id" in table.c),
}
