"""The account's goals (Core): one row once set; the defaults until then."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from vitalkey.adapters.db.schema import goals
from vitalkey.adapters.db.statements import Columns, Db, Row, at, core, us
from vitalkey.domain.health import Goals, WeightGoal

_c = goals.c
_SET = ("steps", "sleep", "weight_value", "weight_unit", "modified")


def _set(insert: Any) -> Any:
    statement = insert(goals).values({name: bindparam(name) for name in ("account_id", "created", *_SET)})
    return statement.on_conflict_do_update(
        index_elements=[_c.account_id], set_={name: statement.excluded[name] for name in _SET}
    )


SET = core(_set(sqlite.insert), _set(postgresql.insert))
GET = core(select(goals).where(_c.account_id == bindparam("account_id")))


class SqlGoals:
    def __init__(self, db: Db) -> None:
        self.db = db

    def get(self, account_id: int) -> Goals:
        return self.db.one(GET, {"account_id": account_id}, _goals) or Goals()

    def set(self, account_id: int, goals: Goals) -> None:
        if goals.modified is None:
            raise ValueError("goals being set need their modified time")
        weight = goals.weight
        params = {
            "account_id": account_id,
            "steps": goals.steps,
            "sleep": goals.sleep,
            "weight_value": None if weight is None else weight.value,
            "weight_unit": None if weight is None else weight.unit,
            "created": us(goals.modified),
            "modified": us(goals.modified),
        }
        self.db.run(SET, params)


def _goals(row: Row, c: Columns) -> Goals:
    value, unit = row[c["weight_value"]], row[c["weight_unit"]]
    return Goals(
        steps=int(row[c["steps"]]),
        sleep=int(row[c["sleep"]]),
        weight=None if value is None else WeightGoal(int(value), int(unit)),
        modified=at(row[c["modified"]]),
    )
