"""The bearer-token check of every resource endpoint (oauth/resource.BearerProtector): a live access
token issued for the scope the endpoint requires, and its owner; anything else refused, with the
reason the web edge renders (invalid_request, invalid_token, insufficient_scope)."""

from __future__ import annotations

import logging
from datetime import date, timedelta

import pytest

from vitalkey.adapters.clock import FrozenClock
from vitalkey.container import Container
from vitalkey.domain.accounts import Profile, Sex, Units
from vitalkey.domain.apps import ClientType
from vitalkey.domain.oauth import TokenRecord, join_token
from vitalkey.domain.tokens import token_digest
from vitalkey.flows.clients import NewClient
from vitalkey.oauth.resource import Bearer, BearerRefused

PROFILE = Profile("Ann", "Lee", date(1990, 5, 1), Sex.FEMALE, 168.0, Units.METRIC)


class Issued:
    """One generation issued to an app for a user: ``access`` and ``refresh`` as the client has them."""

    def __init__(
        self, container: Container, scopes: tuple[str, ...] = ("user.metrics", "openid"), email: str = "ann@example.org"
    ) -> None:
        registered = container.apps.register(
            NewClient("Portal", ClientType.CONFIDENTIAL, ("https://p.example/cb",), scopes)
        )
        self.container, self.client_id = container, registered.app.client_id
        now = container.clock.now()
        with container.uow.begin() as tx:
            account = tx.accounts.create(email, email, "en", PROFILE, "2026-01", now)
            assert account is not None
            self.account_id = account.id
            record = TokenRecord(
                0, "family", None, self.client_id, account.id, scopes, ",".join(scopes), now,
                now + timedelta(hours=3), now + timedelta(days=365), access_digest=token_digest("access-secret"),
                refresh_digest=token_digest("refresh-secret"),
            )  # fmt: skip
            self.token_id = tx.oauth_tokens.add(record)
        self.access = join_token(self.token_id, "access-secret")
        self.refresh = join_token(self.token_id, "refresh-secret")

    def check(self, authorization: str, scope: str = "user.metrics") -> Bearer:
        return self.container.oauth.protector.bearer("GET", "/v2/measure", authorization, scope)

    def refused(self, authorization: str, scope: str = "user.metrics") -> str:
        with pytest.raises(BearerRefused) as refused:
            self.check(authorization, scope)
        assert refused.value.scope == scope
        return refused.value.error

    def record(self) -> TokenRecord:
        with self.container.uow.read() as tx:
            found = tx.oauth_tokens.get(self.token_id)
        assert found is not None
        return found


def test_the_right_scope_gives_the_token_and_its_owner(container: Container) -> None:
    issued = Issued(container)
    bearer = issued.check(f"Bearer {issued.access}")
    assert bearer.account.id == issued.account_id and bearer.account.email == "ann@example.org"
    assert bearer.token.id == issued.token_id and bearer.token.client_id == issued.client_id
    assert issued.record().access_used_at is not None  # the app's last use is counted
    assert issued.check(f"bearer  {issued.access}").account.id == issued.account_id  # the scheme in any case


@pytest.mark.parametrize("authorization", ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "Bearerabc"])
def test_no_bearer_token_is_invalid_request(container: Container, authorization: str) -> None:
    assert Issued(container).refused(authorization) == "invalid_request"


@pytest.mark.parametrize("token", ["unknown", "1.unknown", "999999.access-secret", "x" * 500, "1." + "y" * 300])
def test_an_unknown_token_is_invalid_token(container: Container, token: str) -> None:
    assert Issued(container).refused(f"Bearer {token}") == "invalid_token"


def test_a_refresh_token_is_not_an_access_token(container: Container) -> None:
    issued = Issued(container)
    assert issued.refused(f"Bearer {issued.refresh}") == "invalid_token"


def test_an_expired_token_is_invalid_token(container: Container, clock: FrozenClock) -> None:
    issued = Issued(container)
    clock.advance(hours=2, minutes=59)
    assert issued.check(f"Bearer {issued.access}").account.id == issued.account_id
    clock.advance(minutes=1)
    assert issued.refused(f"Bearer {issued.access}") == "invalid_token"


def test_a_revoked_token_is_invalid_token(container: Container) -> None:
    issued = Issued(container)
    with container.uow.begin() as tx:
        tx.oauth_tokens.revoke_app(issued.account_id, issued.client_id, container.clock.now())
    assert issued.refused(f"Bearer {issued.access}") == "invalid_token"


def test_a_missing_scope_is_insufficient_scope_and_still_a_use(container: Container) -> None:
    """403 rather than 401: the token is good, the app asked for less. Its use counts (its first use
    retires the refresh token it replaced, whatever the endpoint)."""
    issued = Issued(container, scopes=("user.info",))
    assert issued.refused(f"Bearer {issued.access}", "user.metrics") == "insufficient_scope"
    assert issued.record().access_used_at is not None
    assert issued.check(f"Bearer {issued.access}", "user.info").account.id == issued.account_id


def test_a_read_only_check_writes_nothing_and_says_the_first_use_is_due(container: Container) -> None:
    """For work that reads only: the same refusals, no write; the caller records the first use."""
    issued = Issued(container, scopes=("user.info",))
    check = container.oauth.protector.check
    with pytest.raises(BearerRefused) as refused:
        check("GET", "/v2/user", f"Bearer {issued.access}", "user.metrics", record_use=False)
    assert refused.value.error == "insufficient_scope" and refused.value.first_use
    bearer = check("GET", "/v2/user", f"Bearer {issued.access}", "user.info", record_use=False)
    assert bearer.first_use and issued.record().access_used_at is None
    container.oauth.protector.validator.record_use(bearer)
    assert issued.record().access_used_at is not None
    assert not check("GET", "/v2/user", f"Bearer {issued.access}", "user.info", record_use=False).first_use


def test_the_token_is_never_logged(container: Container, caplog: pytest.LogCaptureFixture) -> None:
    issued = Issued(container, scopes=("user.info",))
    with caplog.at_level(logging.DEBUG):
        issued.check(f"Bearer {issued.access}", "user.info")
        for authorization, scope in [
            (f"Bearer {issued.access}", "user.metrics"),
            (f"Bearer {issued.access}x", "user.info"),
            (f"Basic {issued.access}", "user.info"),
        ]:
            with pytest.raises(BearerRefused):
                issued.check(authorization, scope)
    assert "access-secret" not in caplog.text and issued.access not in caplog.text
