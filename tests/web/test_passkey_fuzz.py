"""Schemathesis over the passkey endpoints on a server whose address has passkeys
(http://localhost), with real flows to answer: whatever the credential, never a 5xx, and the
answers follow the schema (a malformed WebAuthn answer is a 400)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import ignored_auth, positive_data_acceptance
from starlette.applications import Starlette

from tests.conftest import make_settings
from vitalkey.adapters.clock import SystemClock
from vitalkey.container import build
from vitalkey.domain.accounts import Profile, Sex, Units
from vitalkey.domain.authenticators import PASSKEY
from vitalkey.domain.flows import Channel, Requester
from vitalkey.flows.sessions import start
from vitalkey.web import passkey_api
from vitalkey.web.app import create_app

SEEDED: dict[str, str] = {}
API = Requester("127.0.0.1", "fuzz", "en", Channel.API)


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Starlette]:
    folder = tmp_path_factory.mktemp("passkey-fuzz")
    database = folder / "vk.sqlite3"
    database.write_bytes(sqlite_template.read_bytes())
    container = build(
        make_settings(
            folder,
            f"sqlite:///{database}",
            relay_in_process=False,
            mail_limit_per_ip="100000/60",
            public_url="http://localhost:8123",
        ),
        clock=SystemClock(),
    )
    now = container.clock.now()
    profile = Profile("F", "Z", now.date().replace(year=1990), Sex.MALE, 180.0, Units.METRIC)
    with container.uow.begin() as tx:
        account = tx.accounts.create("fuzz@example.org", "fuzz@example.org", "en", profile, "2026-01", now)
        assert account is not None
        token = start(container.deps, tx, account, API, ("email_code",)).token
    SEEDED["token"] = token
    SEEDED["login"] = container.login.start_with(PASSKEY, "", API).flow.id
    auth = container.sessions.authenticate(token)
    SEEDED["enrolment"] = container.passkey_enrolment.begin(auth, "Fuzz", API).flow.id
    yield create_app(container, run_relay=False)
    container.close()


OPERATIONS = [(endpoint.described.method, endpoint.described.path) for endpoint in passkey_api.endpoints()]


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_passkey_endpoints_never_fail_and_follow_their_schema(fuzzed_app: Starlette, method: str, path: str) -> None:
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", fuzzed_app)
    operation = schema[path][method.upper()]
    secured = bool(operation.definition.raw.get("security"))

    @given(case=operation.as_strategy())
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case: schemathesis.Case) -> None:
        if secured:
            case.headers = {**(case.headers or {}), "authorization": f"Bearer {SEEDED['token']}"}
        if "{flow_id}" in path:
            flow = SEEDED["enrolment"] if "authenticators" in path else SEEDED["login"]
            case.path_parameters = {**(case.path_parameters or {}), "flow_id": flow}
        case.call_and_validate(excluded_checks=[positive_data_acceptance, ignored_auth])

    check()
