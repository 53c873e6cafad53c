"""The dashboard's kept choices (Core): one row once the user chose; the defaults until then."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from vitalkey.adapters.db.schema import dashboard_prefs
from vitalkey.adapters.db.statements import Columns, Db, Row, core
from vitalkey.domain.dashboard import DashboardPrefs, DisplayUnits

_c = dashboard_prefs.c


def _set(insert: Any) -> Any:
    statement = insert(dashboard_prefs).values({name: bindparam(name) for name in ("account_id", "days", "units")})
    return statement.on_conflict_do_update(
        index_elements=[_c.account_id], set_={"days": statement.excluded.days, "units": statement.excluded.units}
    )


SET = core(_set(sqlite.insert), _set(postgresql.insert))
GET = core(select(_c.days, _c.units).where(_c.account_id == bindparam("account_id")))


class SqlDashboardPrefs:
    def __init__(self, db: Db) -> None:
        self.db = db

    def get(self, account_id: int) -> DashboardPrefs:
        return self.db.one(GET, {"account_id": account_id}, _prefs) or DashboardPrefs()

    def set(self, account_id: int, prefs: DashboardPrefs) -> None:
        units = None if prefs.units is None else prefs.units.value
        self.db.run(SET, {"account_id": account_id, "days": prefs.days, "units": units})


def _prefs(row: Row, c: Columns) -> DashboardPrefs:
    units = row[c["units"]]
    return DashboardPrefs(int(row[c["days"]]), None if units is None else DisplayUnits(units))
