"""What users allowed apps. Hand-written SQL for what the authorization and token requests do
(read, widen, mark used; see ``statements``); Core for listing and forgetting."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, select

from vitalkey.adapters.db.schema import oauth_consents
from vitalkey.adapters.db.statements import Columns, Db, Row, Sql, at, at_or_none, core, us
from vitalkey.domain.oauth import Consent

_COLUMNS = ("account_id", "client_id", "scopes", "first_allowed_at", "last_used_at")
GET = Sql(f"SELECT {', '.join(_COLUMNS)} FROM oauth_consents WHERE account_id = :account_id AND client_id = :client_id")
ALLOW = Sql(
    f"INSERT INTO oauth_consents ({', '.join(_COLUMNS)}) VALUES (:account_id, :client_id, :scopes, :now, NULL) "
    "ON CONFLICT (account_id, client_id) DO UPDATE SET scopes = :scopes"
)
USED = Sql(
    "UPDATE oauth_consents SET last_used_at = :now WHERE account_id = :account_id AND client_id = :client_id "
    "AND (last_used_at IS NULL OR last_used_at <= :since)"
)
_account = oauth_consents.c.account_id == bindparam("account_id")
FOR_ACCOUNT = core(
    select(*(oauth_consents.c[name] for name in _COLUMNS)).where(_account).order_by(oauth_consents.c.first_allowed_at)
)
FORGET = core(delete(oauth_consents).where(_account, oauth_consents.c.client_id == bindparam("client_id")))


class SqlConsents:
    def __init__(self, db: Db) -> None:
        self.db = db

    def get(self, account_id: int, client_id: str) -> Consent | None:
        return self.db.one(GET, {"account_id": account_id, "client_id": client_id}, _consent)

    def for_account(self, account_id: int) -> list[Consent]:
        return self.db.all(FOR_ACCOUNT, {"account_id": account_id}, _consent)

    def allow(self, account_id: int, client_id: str, scopes: tuple[str, ...], now: datetime) -> None:
        params = {"account_id": account_id, "client_id": client_id, "scopes": " ".join(scopes), "now": us(now)}
        self.db.run(ALLOW, params)

    def used(self, account_id: int, client_id: str, now: datetime, precision: timedelta) -> None:
        params = {"account_id": account_id, "client_id": client_id, "now": us(now), "since": us(now - precision)}
        self.db.run(USED, params)

    def forget(self, account_id: int, client_id: str) -> bool:
        return self.db.run(FORGET, {"account_id": account_id, "client_id": client_id}) == 1


def _consent(row: Row, c: Columns) -> Consent:
    return Consent(
        account_id=int(row[c["account_id"]]),
        client_id=row[c["client_id"]],
        scopes=tuple(row[c["scopes"]].split()),
        first_allowed_at=at(row[c["first_allowed_at"]]),
        last_used_at=at_or_none(row[c["last_used_at"]]),
    )
