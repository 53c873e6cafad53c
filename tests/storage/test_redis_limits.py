"""Rate limits in Redis (the scale-out setting) hold across limiter instances, like processes."""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime

import pytest
import redis

from vitalkey.adapters.ratelimit import RedisRateLimiter

REDIS_URL = os.environ.get("VITALKEY_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis is expected at {REDIS_URL} in CI: {exc}")
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    return REDIS_URL


def test_limits_are_shared_between_processes(redis_url: str) -> None:
    first, second = RedisRateLimiter(redis_url), RedisRateLimiter(redis_url)
    key = f"test:{secrets.token_hex(6)}"
    now = datetime.now(UTC)
    assert first.hit(None, key, 3, 60, now)  # type: ignore[arg-type]
    assert second.hit(None, key, 3, 60, now)  # type: ignore[arg-type]
    assert not first.exceeded(None, key, 3, 60, now)  # type: ignore[arg-type]
    assert second.hit(None, key, 3, 60, now)  # type: ignore[arg-type]
    assert first.exceeded(None, key, 3, 60, now)  # type: ignore[arg-type]
    assert not second.hit(None, key, 3, 60, now)  # type: ignore[arg-type]


def test_a_container_with_redis_limits_mail(tmp_path: object, sqlite_url: str, redis_url: str) -> None:
    from tests.conftest import make_settings
    from tests.flows.helpers import BROWSER
    from vitalkey.container import build
    from vitalkey.domain.errors import RateLimited

    address = f"r{secrets.token_hex(4)}@example.org"
    container = build(make_settings(tmp_path, sqlite_url, redis_url=redis_url, mail_limit_per_address="2/3600"))  # type: ignore[arg-type]
    try:
        container.login.start(address, BROWSER)
        container.login.start(address, BROWSER)
        with pytest.raises(RateLimited):
            container.login.start(address, BROWSER)
    finally:
        container.close()
