"""GoalRepository."""

from __future__ import annotations

import pytest

from tests.storage.conftest import LATER, NOW, an_account
from vitalkey.adapters.db.uow import SqlUnitOfWork
from vitalkey.domain.health import Goals, WeightGoal


def test_goals_are_the_defaults_until_set_then_replaced(store: SqlUnitOfWork) -> None:
    ann, bob = an_account(store).id, an_account(store, "bob@example.org").id
    with store.begin() as tx:
        assert tx.goals.get(ann) == Goals(10_000, 28_800, None, None)
        tx.goals.set(ann, Goals(12_500, 27_000, WeightGoal(68250, -3), NOW))
        assert tx.goals.get(ann) == Goals(12_500, 27_000, WeightGoal(68250, -3), NOW)
        tx.goals.set(ann, Goals(8_000, 30_600, None, LATER))
        assert tx.goals.get(ann) == Goals(8_000, 30_600, None, LATER)
        assert tx.goals.get(bob) == Goals()


def test_goals_set_without_a_time_are_refused(store: SqlUnitOfWork) -> None:
    ann = an_account(store).id
    with pytest.raises(ValueError, match="modified"), store.begin() as tx:
        tx.goals.set(ann, Goals(5_000))
