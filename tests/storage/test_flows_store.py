"""FlowRepository."""

from __future__ import annotations

from tests.storage.conftest import a_flow
from vitalkey.adapters.db.uow import SqlUnitOfWork


def test_round_trip_and_the_conditional_save(store: SqlUnitOfWork) -> None:
    flow = a_flow(store)
    with store.read() as tx:
        assert tx.flows.get(flow.id) == flow
        assert tx.flows.get("other") is None
    moved = flow.moved("done", attempts=2, nested={"a": [1, "b"]})
    with store.begin() as tx:
        assert tx.flows.save(moved, expected_state="code_sent")
        assert not tx.flows.save(moved.moved("again"), expected_state="code_sent")  # it moved on
    with store.read() as tx:
        assert tx.flows.get(flow.id) == moved
