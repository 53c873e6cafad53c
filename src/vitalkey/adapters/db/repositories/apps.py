"""Apps (OAuth clients) and app passwords. Hand-written SQL for what sign-ins and token grants
do (look an app up, use an app password; see ``statements``); Core for managing them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from vitalkey.adapters.db.schema import app_passwords, apps
from vitalkey.adapters.db.statements import Columns, Db, Row, Sql, at, at_or_none, core, us
from vitalkey.domain.apps import App, ClientType
from vitalkey.domain.two_factor import AppPassword

_APP_COLUMNS = (
    "client_id",
    "name",
    "first_party",
    "supports_2fa",
    "created_at",
    "client_type",
    "redirect_uris",
    "scopes",
    "logo_url",
    "policy_url",
    "secret_digest",
    "secret_sealed",
)
GET = Sql(f"SELECT {', '.join(_APP_COLUMNS)} FROM apps WHERE client_id = :client_id")
ALL = core(select(*(apps.c[name] for name in _APP_COLUMNS)).order_by(apps.c.first_party.desc(), apps.c.name))
_new_app: dict[str, Any] = {name: bindparam(name) for name in _APP_COLUMNS}
ADD = core(
    sqlite.insert(apps).values(_new_app).on_conflict_do_nothing(index_elements=["client_id"]),
    postgresql.insert(apps).values(_new_app).on_conflict_do_nothing(index_elements=["client_id"]),
)
_client = apps.c.client_id == bindparam("client_id")
SET_SECRET = core(
    update(apps)
    .where(_client, apps.c.client_type == ClientType.CONFIDENTIAL.value)
    .values(secret_digest=bindparam("secret_digest"), secret_sealed=bindparam("secret_sealed"))
)
DELETE = core(delete(apps).where(_client))

_PASSWORD_COLUMNS = ("id", "account_id", "app_id", "name", "created_at", "last_used_at")
USE_PASSWORD = Sql(
    "UPDATE app_passwords SET last_used_at = :now WHERE account_id = :account_id AND app_id = :app_id "
    f"AND digest = :digest AND revoked_at IS NULL RETURNING {', '.join(_PASSWORD_COLUMNS)}"
)
_owned = app_passwords.c.account_id == bindparam("account_id")
_live = app_passwords.c.revoked_at.is_(None)
PASSWORDS = core(
    select(*(app_passwords.c[name] for name in _PASSWORD_COLUMNS))
    .where(_owned, _live)
    .order_by(app_passwords.c.created_at)
)
ADD_PASSWORD = core(
    insert(app_passwords).values(
        {name: bindparam(name) for name in ("id", "account_id", "app_id", "name", "created_at", "digest")}
    )
)
REVOKE_PASSWORD = core(
    update(app_passwords)
    .where(app_passwords.c.id == bindparam("id"), _owned, _live)
    .values(revoked_at=bindparam("now"))
)
REVOKE_PASSWORDS = core(update(app_passwords).where(_owned, _live).values(revoked_at=bindparam("now")))


class SqlApps:
    def __init__(self, db: Db) -> None:
        self.db = db
        self.known: dict[str, App | None] = db.memo.setdefault("apps", {})

    def get(self, client_id: str) -> App | None:
        if client_id in self.known:
            return self.known[client_id]
        app = self.known[client_id] = self.db.one(GET, {"client_id": client_id}, _app)
        return app

    def all(self) -> list[App]:
        return self.db.all(ALL, {}, _app)

    def add(self, app: App) -> bool:
        params = {
            "client_id": app.client_id,
            "name": app.name,
            "first_party": app.first_party,
            "supports_2fa": app.supports_2fa,
            "created_at": us(app.created_at),
            "client_type": app.client_type.value,
            "redirect_uris": " ".join(app.redirect_uris),
            "scopes": " ".join(app.scopes),
            "logo_url": app.logo_url,
            "policy_url": app.policy_url,
            "secret_digest": app.secret_digest,
            "secret_sealed": app.secret_sealed,
        }
        self.known.clear()
        return self.db.run(ADD, params) == 1

    def set_secret(self, client_id: str, secret_digest: str, secret_sealed: str) -> bool:
        params = {"client_id": client_id, "secret_digest": secret_digest, "secret_sealed": secret_sealed}
        self.known.clear()
        return self.db.run(SET_SECRET, params) == 1

    def delete(self, client_id: str) -> bool:
        self.known.clear()
        return self.db.run(DELETE, {"client_id": client_id}) == 1


class SqlAppPasswords:
    def __init__(self, db: Db) -> None:
        self.db = db

    def for_account(self, account_id: int) -> list[AppPassword]:
        return self.db.all(PASSWORDS, {"account_id": account_id}, _app_password)

    def add(self, password: AppPassword, digest: str) -> None:
        params = {
            "id": password.id,
            "account_id": password.account_id,
            "app_id": password.app_id,
            "name": password.name,
            "created_at": us(password.created_at),
            "digest": digest,
        }
        self.db.run(ADD_PASSWORD, params)

    def use(self, account_id: int, app_id: str, digest: str, now: datetime) -> AppPassword | None:
        params = {"account_id": account_id, "app_id": app_id, "digest": digest, "now": us(now)}
        return self.db.one(USE_PASSWORD, params, _app_password)

    def revoke(self, account_id: int, password_id: str, now: datetime) -> bool:
        return self.db.run(REVOKE_PASSWORD, {"account_id": account_id, "id": password_id, "now": us(now)}) == 1

    def revoke_all(self, account_id: int, now: datetime) -> int:
        return self.db.run(REVOKE_PASSWORDS, {"account_id": account_id, "now": us(now)})


def _app(row: Row, c: Columns) -> App:
    return App(
        client_id=row[c["client_id"]],
        name=row[c["name"]],
        first_party=bool(row[c["first_party"]]),
        supports_2fa=bool(row[c["supports_2fa"]]),
        created_at=at(row[c["created_at"]]),
        client_type=ClientType(row[c["client_type"]]),
        redirect_uris=tuple(row[c["redirect_uris"]].split()),
        scopes=tuple(row[c["scopes"]].split()),
        logo_url=row[c["logo_url"]],
        policy_url=row[c["policy_url"]],
        secret_digest=row[c["secret_digest"]],
        secret_sealed=row[c["secret_sealed"]],
    )


def _app_password(row: Row, c: Columns) -> AppPassword:
    return AppPassword(
        id=row[c["id"]],
        account_id=int(row[c["account_id"]]),
        app_id=row[c["app_id"]],
        name=row[c["name"]],
        created_at=at(row[c["created_at"]]),
        last_used_at=at_or_none(row[c["last_used_at"]]),
    )
