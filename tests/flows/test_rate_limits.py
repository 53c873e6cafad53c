"""Sliding-window rate limits, the same on SQLite, PostgreSQL and Redis (issue #15, items 9, 10, 12):
no limit restarts on a calendar boundary, no window-length interval holds more than the limit,
failures are counted across every factor, and a refusal says when the next attempt can succeed."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.flows.helpers import BROWSER, last_code
from tests.flows.test_login_flow import make_account
from tests.flows.test_password_login import set_password
from vitalkey.adapters.clock import FrozenClock
from vitalkey.adapters.ratelimit import Buckets
from vitalkey.container import Container
from vitalkey.domain.errors import (
    DomainError,
    FlowDead,
    PasswordThrottled,
    RateLimited,
    TooManyCodeFailures,
    WrongCode,
    WrongPassword,
)
from vitalkey.flows.app_quota import AppQuota, TooManyRequests

ContainerFactory = Callable[..., Container]
EMAIL = "ann@example.org"
LATE = datetime(2026, 1, 15, 23, 50, tzinfo=UTC)


def hit(container: Container, key: str, limit: int, window_s: int, at: datetime) -> datetime | None:
    with container.uow.begin() as tx:
        return container.deps.limiter.hit(tx, key, limit, window_s, at)


# The limiter itself --------------------------------------------------------------------------
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    limit=st.integers(1, 6),
    window_s=st.sampled_from([60, 100, 3600]),
    gaps_ms=st.lists(st.integers(0, 40_000), min_size=1, max_size=30),
)
def test_no_window_length_interval_holds_more_than_the_limit(
    make_limited_container: ContainerFactory, limit: int, window_s: int, gaps_ms: list[int]
) -> None:
    """Bursts around any boundary: never more than ``limit`` hits in ``window_s`` seconds; a
    refusal names a later moment; and the limiter refuses no longer than one bucket too long."""
    container = make_limited_container()
    key, start = f"k:{secrets.token_hex(6)}", LATE
    width = timedelta(microseconds=Buckets.of(window_s).width_us)
    window = timedelta(seconds=window_s)
    allowed: list[datetime] = []
    at = start
    for gap in gaps_ms:
        at += timedelta(milliseconds=gap)
        retry_at = hit(container, key, limit, window_s, at)
        if retry_at is None:
            allowed.append(at)
            assert sum(1 for t in allowed if at - window < t <= at) <= limit
        else:
            assert retry_at > at
            assert sum(1 for t in allowed if at - window - width < t <= at) >= limit  # conservative by a bucket at most


def test_the_retry_time_is_when_the_next_hit_succeeds(make_limited_container: ContainerFactory) -> None:
    container = make_limited_container()
    key = f"k:{secrets.token_hex(6)}"
    for minutes in (0, 10, 20):
        assert hit(container, key, 3, 3600, LATE + timedelta(minutes=minutes)) is None
    retry_at = hit(container, key, 3, 3600, LATE + timedelta(minutes=30))
    assert retry_at == LATE + timedelta(hours=1, minutes=1)  # the first hit's one-minute bucket has left
    assert hit(container, key, 3, 3600, retry_at - timedelta(seconds=1)) == retry_at  # refusals count nothing
    assert hit(container, key, 3, 3600, retry_at) is None
    assert hit(container, key, 3, 3600, retry_at) == LATE + timedelta(hours=1, minutes=11)


def test_a_hit_of_cost_n_counts_like_n_hits_and_a_refusal_counts_nothing(
    make_limited_container: ContainerFactory,
) -> None:
    container = make_limited_container()
    key, limiter = f"k:{secrets.token_hex(6)}", container.deps.limiter
    with container.uow.begin() as tx:
        assert limiter.hit(tx, key, 10, 60, LATE, cost=6) is None
        assert limiter.hit(tx, key, 10, 60, LATE, cost=5) == LATE + timedelta(seconds=61)  # 6 + 5 > 10
        assert limiter.hit(tx, key, 10, 60, LATE, cost=4) is None  # the refusal counted nothing
        assert limiter.hit(tx, key, 10, 60, LATE) == LATE + timedelta(seconds=61)
        limiter.forgive(tx, key, 60, LATE, cost=4)  # what was left of a reservation
        assert limiter.hit(tx, key, 10, 60, LATE, cost=4) is None
        limiter.forgive(tx, key, 60, LATE, cost=20)  # never below none: all 10 taken back
        assert limiter.hit(tx, key, 10, 60, LATE, cost=10) is None
        with pytest.raises(ValueError, match="costs 1 to the limit"):
            limiter.hit(tx, key, 10, 60, LATE, cost=11)
    assert limiter.spend_by(60, LATE + timedelta(milliseconds=300)) == LATE + timedelta(seconds=1)


def test_reservations_of_two_processes_never_let_more_than_the_limit_through(
    make_limited_container: ContainerFactory,
) -> None:
    """Two processes reserve shares of one app's 40 a minute (2 at a time) and spend them while
    requests come every 150 ms to each: no minute ever holds more than 40 admitted requests, a
    reservation is not spent after its one-second bucket, and the app is refused, then admitted
    again, as time passes."""
    clock = FrozenClock(LATE)
    quotas = [AppQuota(make_limited_container(clock=clock).deps, 40) for _ in range(2)]
    assert quotas[0].share == 2
    key = f"withings-app:{secrets.token_hex(6)}"
    admitted: list[datetime] = []
    refusals = 0
    for step in range(2000):  # 150 seconds, the two processes in turn
        clock.advance(milliseconds=75)
        try:
            quotas[step % 2].admit(key)
        except TooManyRequests as refused:
            assert 1 <= refused.seconds <= 61
            refusals += 1
            continue
        admitted.append(clock.now())
        assert sum(1 for t in admitted if clock.now() - timedelta(seconds=60) < t) <= 40
    assert refusals > 0
    assert len(admitted) >= 80  # the limit, again in later minutes (less what expired unspent)


def test_a_reservation_expires_with_its_bucket_and_what_is_left_is_given_back(
    make_limited_container: ContainerFactory,
) -> None:
    clock = FrozenClock(LATE)
    quota = AppQuota(make_limited_container(clock=clock).deps, 120)
    key = f"withings-app:{secrets.token_hex(6)}"
    quota.admit(key)  # reserves 6: this request's and 5 more
    assert [quota.spend_reserved(key) for _ in range(6)] == [True] * 5 + [False]
    quota.admit(key)  # 6 more: 7 requests admitted, 12 counted
    clock.advance(seconds=1)  # the next bucket: the 5 left are not spent any more
    assert not quota.spend_reserved(key)
    for _ in range(18):  # the first of these gives the 5 back: 7 counted, then 108 more as 18 shares
        quota.admit(key)
        for _ in range(5):
            assert quota.spend_reserved(key)
    for _ in range(5):  # 115 of 120: a share no longer fits, so each request is counted alone
        quota.admit(key)
        assert not quota.spend_reserved(key)
    with pytest.raises(TooManyRequests) as refused:
        quota.admit(key)  # exactly 120 admitted in the minute
    assert refused.value.seconds == 60  # when the first bucket (the first second's 7) has left


def test_a_day_is_a_sliding_24_hours(make_limited_container: ContainerFactory) -> None:
    """The SMS cap's "a day", as every other limit: no midnight that opens a fresh day."""
    container = make_limited_container()
    key = f"k:{secrets.token_hex(6)}"
    assert hit(container, key, 2, 86400, LATE) is None
    assert hit(container, key, 2, 86400, LATE) is None
    assert hit(container, key, 2, 86400, LATE + timedelta(minutes=20)) is not None  # past midnight
    assert hit(container, key, 2, 86400, LATE + timedelta(hours=23)) is not None
    assert hit(container, key, 2, 86400, LATE + timedelta(hours=24, minutes=24)) is None


# Wrong codes per address: no reset at midnight (item 9) -------------------------------------
def wrong_code(container: Container, flow_id: str) -> DomainError:
    right = last_code(container, EMAIL)
    try:
        container.login.submit_code(flow_id, "000000" if right != "000000" else "111111", BROWSER)
    except DomainError as error:
        return error
    raise AssertionError("a wrong code was accepted")


def wrong_codes(container: Container, count: int) -> None:
    """``count`` wrong codes, five per sign-in (the per-flow cap)."""
    while count > 0:
        flow = container.login.start(EMAIL, BROWSER).flow
        for _ in range(min(5, count)):
            assert isinstance(wrong_code(container, flow.id), WrongCode | FlowDead)
            count -= 1


def right_code(container: Container) -> object:
    flow = container.login.start(EMAIL, BROWSER).flow
    return container.login.submit_code(flow.id, last_code(container, EMAIL), BROWSER)


def test_wrong_codes_late_in_the_evening_still_count_after_midnight(make_limited_container: ContainerFactory) -> None:
    clock = FrozenClock(LATE)
    container = make_limited_container(clock=clock, mail_limit_per_address="1000/3600")
    make_account(container)
    wrong_codes(container, 100)
    clock.advance(minutes=20)  # 00:10, the next day
    with pytest.raises(TooManyCodeFailures) as refused:
        right_code(container)
    wait = refused.value.params["seconds"]
    assert timedelta(hours=23, minutes=40) <= timedelta(seconds=wait) <= timedelta(hours=24)
    clock.advance(seconds=wait - 1)
    with pytest.raises(TooManyCodeFailures):
        right_code(container)
    clock.advance(seconds=1)  # 24 h (and the last bucket) after the failures: open again
    assert right_code(container).token  # type: ignore[attr-defined]


# One count across the factors (item 10) -----------------------------------------------------
def wrong_passwords(container: Container, clock: FrozenClock, count: int) -> None:
    for _ in range(count):
        flow = container.login.begin(EMAIL, BROWSER, method="password").flow
        try:
            asyncio.run(container.login.submit_password(flow.id, "not the password at all", BROWSER))
        except PasswordThrottled as wait:
            raise AssertionError("the test waits out every wait") from wait
        except WrongPassword:
            pass
        clock.advance(minutes=16)  # past the growing wait (at most 15 min)


@pytest.mark.parametrize(("passwords", "refused"), [(50, True), (49, False)])
def test_wrong_passwords_and_wrong_codes_are_counted_together(
    make_limited_container: ContainerFactory, passwords: int, refused: bool
) -> None:
    clock = FrozenClock(LATE)
    container = make_limited_container(clock=clock, mail_limit_per_address="1000/3600")
    set_password(container, make_account(container), "violet tram umbrella 42")
    wrong_passwords(container, clock, passwords)
    wrong_codes(container, 50)
    if refused:
        with pytest.raises(TooManyCodeFailures):
            right_code(container)
        return
    flow = container.login.begin(EMAIL, BROWSER, method="password").flow  # the 100th attempt, and right
    assert asyncio.run(container.login.submit_password(flow.id, "violet tram umbrella 42", BROWSER)).token
    assert right_code(container).token  # type: ignore[attr-defined]  # a right answer counts nothing


def test_a_success_does_not_clear_the_failures(make_limited_container: ContainerFactory) -> None:
    clock = FrozenClock(LATE)
    container = make_limited_container(clock=clock, mail_limit_per_address="1000/3600")
    make_account(container)
    wrong_codes(container, 99)
    assert right_code(container).token  # type: ignore[attr-defined]
    wrong_codes(container, 1)
    with pytest.raises(TooManyCodeFailures):
        right_code(container)


# Every refusal carries the real wait (item 12) ----------------------------------------------
def test_a_mail_refusal_says_when_the_next_mail_can_go(make_limited_container: ContainerFactory) -> None:
    clock = FrozenClock(LATE)
    container = make_limited_container(clock=clock, mail_limit_per_address="2/3600")
    container.login.start(EMAIL, BROWSER)
    clock.advance(minutes=30)
    container.login.start(EMAIL, BROWSER)
    with pytest.raises(RateLimited) as refused:
        container.login.start(EMAIL, BROWSER)
    assert refused.value.params["seconds"] == 31 * 60  # the first mail's minute leaves the hour
    clock.advance(seconds=refused.value.params["seconds"] - 1)
    with pytest.raises(RateLimited):
        container.login.start(EMAIL, BROWSER)
    clock.advance(seconds=1)
    container.login.start(EMAIL, BROWSER)
