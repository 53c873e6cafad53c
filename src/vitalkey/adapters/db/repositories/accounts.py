"""Accounts. Hand-written SQL: every sign-in reads its account (see ``statements``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from vitalkey.adapters.db.statements import Columns, Db, Row, Sql, at, at_or_none, us
from vitalkey.domain.accounts import Account, Profile, Sex, Units

COLUMNS = (
    "id",
    "email",
    "language",
    "first_name",
    "last_name",
    "birth_date",
    "sex",
    "height_cm",
    "units",
    "policy_version",
    "policy_accepted_at",
    "created_at",
    "password_changed_at",
)
_COLUMNS = ", ".join(COLUMNS)
BY_EMAIL = Sql(f"SELECT {_COLUMNS} FROM accounts WHERE email_key = :email_key")
GET = Sql(f"SELECT {_COLUMNS} FROM accounts WHERE id = :id")
CREATE = Sql(
    "INSERT INTO accounts (email, email_key, language, first_name, last_name, birth_date, sex, height_cm, units, "
    "policy_version, policy_accepted_at, created_at, updated_at) VALUES (:email, :email_key, :language, "
    ":first_name, :last_name, :birth_date, :sex, :height_cm, :units, :policy_version, :now, :now, :now) "
    "ON CONFLICT (email_key) DO NOTHING RETURNING id"
)
UPDATE_PROFILE = Sql(
    "UPDATE accounts SET first_name = :first_name, last_name = :last_name, birth_date = :birth_date, sex = :sex, "
    "height_cm = :height_cm, units = :units, updated_at = :now WHERE id = :id"
)
SET_LANGUAGE = Sql("UPDATE accounts SET language = :language WHERE id = :id")
DELETE = Sql("DELETE FROM accounts WHERE id = :id")  # its rows elsewhere go by ON DELETE CASCADE


class SqlAccounts:
    def __init__(self, db: Db) -> None:
        self.db = db

    def by_email(self, email_key: str) -> Account | None:
        return self.db.one(BY_EMAIL, {"email_key": email_key}, read_account)

    def get(self, account_id: int) -> Account | None:
        return self.db.one(GET, {"id": account_id}, read_account)

    def create(
        self, email: str, email_key: str, language: str, profile: Profile, policy_version: str, now: datetime
    ) -> Account | None:
        params = {
            "email": email,
            "email_key": email_key,
            "language": language,
            "policy_version": policy_version,
            "now": us(now),
            **_profile_params(profile),
        }
        account_id = self.db.one(CREATE, params, _id)
        return None if account_id is None else self.get(account_id)

    def update_profile(self, account_id: int, profile: Profile, now: datetime) -> None:
        self.db.run(UPDATE_PROFILE, {"id": account_id, "now": us(now), **_profile_params(profile)})

    def set_language(self, account_id: int, language: str) -> None:
        self.db.run(SET_LANGUAGE, {"id": account_id, "language": language})

    def delete(self, account_id: int) -> bool:
        return self.db.run(DELETE, {"id": account_id}) == 1


def _profile_params(profile: Profile) -> dict[str, Any]:
    return {
        "first_name": profile.first_name,
        "last_name": profile.last_name,
        "birth_date": profile.birth_date.isoformat(),
        "sex": profile.sex.value,
        "height_cm": profile.height_cm,
        "units": profile.units.value,
    }


def _id(row: Row, c: Columns) -> int:
    return int(row[c["id"]])


def read_account(row: Row, c: Columns) -> Account:
    """An account from a row holding :data:`COLUMNS` (``c``: their positions by those names)."""
    profile = None
    if row[c["first_name"]] is not None:
        born = row[c["birth_date"]]
        profile = Profile(
            first_name=row[c["first_name"]],
            last_name=row[c["last_name"]],
            birth_date=born if isinstance(born, date) else date.fromisoformat(born),
            sex=Sex(row[c["sex"]]),
            height_cm=float(row[c["height_cm"]]),
            units=Units(row[c["units"]]),
        )
    return Account(
        id=int(row[c["id"]]),
        email=row[c["email"]],
        created_at=at(row[c["created_at"]]),
        language=row[c["language"]],
        profile=profile,
        policy_version=row[c["policy_version"]],
        policy_accepted_at=at_or_none(row[c["policy_accepted_at"]]),
        password_changed_at=at_or_none(row[c["password_changed_at"]]),
    )
