"""50 parallel submissions of the right code give exactly one session (both engines)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from tests.flows.helpers import BROWSER, last_code
from tests.flows.test_login_flow import make_account
from vitalkey.adapters.db import schema as t
from vitalkey.container import Container
from vitalkey.domain.errors import DomainError


def test_fifty_parallel_right_codes_one_session(container: Container) -> None:
    make_account(container)
    flow = container.login.start("ann@example.org", BROWSER).flow
    code = last_code(container, "ann@example.org")

    def submit(_: int) -> str:
        try:
            return container.login.submit_code(flow.id, code, BROWSER).token
        except DomainError as error:
            return error.code

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(submit, range(50)))
    tokens = [r for r in results if len(r) > 40]
    assert len(tokens) == 1, results
    assert set(results) - set(tokens) <= {"code_used", "flow_dead", "wrong_state"}
    with container.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.sessions)).scalar_one() == 1
