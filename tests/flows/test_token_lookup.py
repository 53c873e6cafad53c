"""Tokens carry their generation's row id (``<id>.<secret>``): found by it, checked against the
digest of the secret; tokens issued before (plain, found by digest) keep working."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import text

from vitalkey.container import Container
from vitalkey.domain.accounts import Profile, Sex, Units
from vitalkey.domain.apps import ClientType
from vitalkey.domain.oauth import TokenRecord, join_token, split_token
from vitalkey.domain.tokens import token_digest
from vitalkey.flows.clients import NewClient

PROFILE = Profile("Ann", "Lee", date(1990, 5, 1), Sex.FEMALE, 168.0, Units.METRIC)
SCOPES = ("user.metrics",)


def test_split_token_reads_only_canonical_row_ids() -> None:
    assert split_token(join_token(42, "s3cret")) == (42, "s3cret")
    for older in ("plain-token", "42.", ".s3cret", "042.s3cret", "-1.s3cret", "4²." + "s", "1" * 19 + ".s"):
        assert split_token(older) == (None, older)


def refresh(container: Container, client_id: str, secret: str, token: str) -> tuple[int, dict[str, str]]:
    values = [("grant_type", "refresh_token"), ("refresh_token", token), ("client_id", client_id)]
    answer = container.oauth.token([*values, ("client_secret", secret)], {}).answer
    return answer.status, answer.body


def test_tokens_are_found_by_row_id_and_secret_and_older_tokens_by_digest(container: Container) -> None:
    registered = container.apps.register(
        NewClient("Portal", ClientType.CONFIDENTIAL, ("https://p.example/cb",), SCOPES)
    )
    client_id, secret = registered.app.client_id, registered.secret
    assert secret is not None
    now = container.clock.now()
    with container.uow.begin() as tx:  # a generation issued before tokens carried their row id
        account = tx.accounts.create("ann@example.org", "ann@example.org", "en", PROFILE, "2026-01", now)
        assert account is not None
        tx.consents.allow(account.id, client_id, SCOPES, now)
        older = TokenRecord(
            0, "family", None, client_id, account.id, SCOPES, "user.metrics", now, now + timedelta(hours=3),
            now + timedelta(days=365), access_digest=token_digest("old-access"),
            refresh_digest=token_digest("old-refresh"),
        )  # fmt: skip
        older_id = tx.oauth_tokens.add(older)
    with container.engine.begin() as conn:
        for digest in (older.access_digest, older.refresh_digest):
            conn.execute(text("INSERT INTO oauth_legacy_tokens VALUES (:d, :i)"), {"d": digest, "i": older_id})

    assert refresh(container, client_id, secret, "old-access")[1]["error"] == "invalid_grant"  # not a refresh token
    status, issued = refresh(container, client_id, secret, "old-refresh")
    assert status == 200
    new_id, refresh_secret = split_token(issued["refresh_token"])
    assert new_id is not None and new_id != older_id and split_token(issued["access_token"])[0] == new_id
    for forged in (
        join_token(new_id, "not-the-secret"),
        join_token(new_id, split_token(issued["access_token"])[1]),  # the access secret
        join_token(older_id, refresh_secret),  # the right secret on another row
        "0" + issued["refresh_token"],
        refresh_secret,  # the secret alone
    ):
        assert refresh(container, client_id, secret, forged)[1]["error"] == "invalid_grant", forged
    assert refresh(container, client_id, secret, issued["refresh_token"])[0] == 200
