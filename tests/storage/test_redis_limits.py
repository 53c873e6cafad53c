"""Rate limits in Redis (the scale-out setting) hold across limiter instances, like processes."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vitalkey.adapters.ratelimit import RedisRateLimiter


def test_limits_are_shared_between_processes(redis_url: str) -> None:
    prefix = f"test:{secrets.token_hex(6)}:"
    first, second = RedisRateLimiter(redis_url, prefix), RedisRateLimiter(redis_url, prefix)
    now = datetime.now(UTC)
    assert first.hit(None, "k", 3, 60, now) is None  # type: ignore[arg-type]
    assert second.hit(None, "k", 3, 60, now) is None  # type: ignore[arg-type]
    assert first.hit(None, "k", 3, 60, now) is None  # type: ignore[arg-type]
    assert second.hit(None, "k", 3, 60, now) is not None  # type: ignore[arg-type]


def test_a_hit_of_cost_n_counts_like_n_hits_across_processes(redis_url: str) -> None:
    prefix = f"test:{secrets.token_hex(6)}:"
    first, second = RedisRateLimiter(redis_url, prefix), RedisRateLimiter(redis_url, prefix)
    now = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
    assert first.hit(None, "k", 5, 60, now, cost=3) is None  # type: ignore[arg-type]
    assert second.hit(None, "k", 5, 60, now, cost=3) == now + timedelta(seconds=61)  # type: ignore[arg-type]
    assert second.hit(None, "k", 5, 60, now, cost=2) is None  # type: ignore[arg-type]  # the refusal counted nothing
    assert first.hit(None, "k", 5, 60, now) is not None  # type: ignore[arg-type]


def test_a_container_with_redis_limits_mail(tmp_path: Path, sqlite_url: str, redis_url: str) -> None:
    from tests.conftest import make_settings
    from tests.flows.helpers import BROWSER
    from vitalkey.container import build
    from vitalkey.domain.errors import RateLimited

    address = f"r{secrets.token_hex(4)}@example.org"
    limits = {"redis_url": redis_url, "mail_limit_per_address": "2/3600", "secret_key": "k" * 32}
    container = build(make_settings(tmp_path, sqlite_url, redis_prefix=f"t:{secrets.token_hex(6)}:", **limits))
    other = build(make_settings(tmp_path, sqlite_url, redis_prefix=f"t:{secrets.token_hex(6)}:", **limits))
    try:
        container.login.start(address, BROWSER)
        container.login.start(address, BROWSER)
        with pytest.raises(RateLimited):
            container.login.start(address, BROWSER)
        assert other.login.start(address, BROWSER)  # another prefix: another installation's counts
    finally:
        container.close()
        other.close()
