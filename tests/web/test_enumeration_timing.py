"""Known and unknown addresses take the same time (within a few milliseconds over many tries)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.conftest import make_settings
from tests.flows.test_login_flow import make_account
from tests.web.conftest import csrf_of
from vitalkey.container import build
from vitalkey.web.app import create_app

SAMPLES = 200
TOLERANCE_MS = 3.0


@pytest.fixture
def quiet_client(tmp_path: Path, sqlite_url: str) -> TestClient:
    # No relay: the request path alone is measured. Limits raised: this measures timing, not limits.
    container = build(
        make_settings(
            tmp_path,
            sqlite_url,
            relay_in_process=False,
            mail_limit_per_address="100000/60",
            mail_limit_per_ip="100000/60",
            password_attempts_per_ip="100000/60",
        )
    )
    make_account(container, "known@example.org")
    stored = container.deps.hasher.hasher.hash("the right password 1")  # type: ignore[attr-defined]
    for index in range(SAMPLES):  # one account per sample: a wrong password each stays under the throttle
        account_id = make_account(container, f"pw{index}@example.org")
        with container.uow.begin() as tx:
            tx.password_hashes.set(account_id, stored, container.clock.now())
    return TestClient(create_app(container, run_relay=False))


def _medians(send: object) -> tuple[float, float]:
    known: list[float] = []
    unknown: list[float] = []
    for index in range(SAMPLES * 2):
        address, bucket = ("known@example.org", known) if index % 2 == 0 else (f"nobody{index}@example.org", unknown)
        started = time.perf_counter()
        status = send(address)  # type: ignore[operator]
        bucket.append((time.perf_counter() - started) * 1000)
        assert status in (201, 303)
    return statistics.median(known), statistics.median(unknown)


@pytest.mark.slow
def test_api_sign_in_start_timing(quiet_client: TestClient) -> None:
    known, unknown = _medians(lambda a: quiet_client.post("/api/v1/login", json={"email": a}).status_code)
    assert abs(known - unknown) < TOLERANCE_MS, (known, unknown)


@pytest.mark.slow
def test_page_sign_in_and_sign_up_start_timing(quiet_client: TestClient) -> None:
    token = csrf_of(quiet_client.get("/login").text)
    for url in ("/login", "/signup"):
        known, unknown = _medians(
            lambda a, url=url: (
                quiet_client.post(url, data={"email": a, "csrf_token": token}, follow_redirects=False).status_code
            )
        )
        assert abs(known - unknown) < TOLERANCE_MS, (url, known, unknown)


def _at_password_stage(client: TestClient, address: str) -> str:
    flow = client.post("/api/v1/login", json={"email": address}).json()["id"]
    assert client.post(f"/api/v1/login/{flow}/password-instead").status_code == 200
    return str(flow)


def _timed(client: TestClient, path: str, body: dict[str, str] | None) -> tuple[float, int]:
    started = time.perf_counter()
    status = client.post(path, json=body).status_code if body is not None else client.post(path).status_code
    return (time.perf_counter() - started) * 1000, status


@pytest.mark.slow
def test_password_sign_in_timing_known_and_unknown(quiet_client: TestClient) -> None:
    """A wrong password for an account that has one, and any password for an address without an
    account: the same argon2id work, the same answer, the same time."""
    known: list[float] = []
    unknown: list[float] = []
    for index in range(SAMPLES):
        for address, bucket in ((f"pw{index}@example.org", known), (f"nobody-pw{index}@example.org", unknown)):
            flow = _at_password_stage(quiet_client, address)
            elapsed, status = _timed(quiet_client, f"/api/v1/login/{flow}/password", {"password": "a wrong guess 1"})
            assert status == 400
            bucket.append(elapsed)
    known_ms, unknown_ms = statistics.median(known), statistics.median(unknown)
    assert abs(known_ms - unknown_ms) < TOLERANCE_MS + 0.05 * known_ms, (known_ms, unknown_ms)


@pytest.mark.slow
def test_password_reset_request_timing_known_and_unknown(quiet_client: TestClient) -> None:
    known: list[float] = []
    unknown: list[float] = []
    for index in range(SAMPLES):
        for address, bucket in (("known@example.org", known), (f"nobody-reset{index}@example.org", unknown)):
            flow = _at_password_stage(quiet_client, address)
            elapsed, status = _timed(quiet_client, f"/api/v1/login/{flow}/password-reset", None)
            assert status == 200
            bucket.append(elapsed)
    known_ms, unknown_ms = statistics.median(known), statistics.median(unknown)
    assert abs(known_ms - unknown_ms) < TOLERANCE_MS, (known_ms, unknown_ms)
