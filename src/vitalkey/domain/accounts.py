"""Accounts and the user details asked for at sign-up."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypeVar

from vitalkey.domain.errors import InvalidFields, InvalidInput
from vitalkey.domain.i18n import N_

T = TypeVar("T")
NAME_MAX = 100
MIN_AGE_YEARS = 13
MAX_AGE_YEARS = 120
HEIGHT_CM_RANGE = (50.0, 250.0)
INCH_CM = 2.54


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"


class Units(StrEnum):
    METRIC = "metric"
    IMPERIAL = "imperial"


@dataclass(frozen=True, slots=True)
class Profile:
    first_name: str
    last_name: str
    birth_date: date
    sex: Sex
    height_cm: float
    units: Units


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    email: str
    created_at: datetime
    language: str
    profile: Profile | None
    policy_version: str | None
    policy_accepted_at: datetime | None
    password_changed_at: datetime | None = None  # None: the account has no password


# Languages whose users write the family name first (姓 before 名): their forms ask for it first,
# and their mails and pages name the user family name first.
FAMILY_NAME_FIRST = frozenset({"ja", "zh-Hans"})


def family_name_first(language: str) -> bool:
    return language in FAMILY_NAME_FIRST


def display_name(first: str, last: str, language: str) -> str:
    """The full name in the order of ``language``: "Ann Lee" in en/de/fr, "山田 太郎" in Japanese,
    "张伟" in Chinese (written without a space, unless a name is in Latin letters)."""
    if not family_name_first(language):
        return f"{first} {last}".strip()
    latin = any(ch.isascii() and ch.isalpha() for ch in first + last)
    separator = "" if language == "zh-Hans" and not latin else " "
    return separator.join(part for part in (last, first) if part)


def greeting_name(first: str, last: str, language: str) -> str:
    """Whom a mail greets: the given name in en/de/fr ("Hello Ann,"), the full name in Japanese
    and Chinese, where greeting by the given name alone is too familiar ("山田 太郎 様")."""
    return display_name(first, last, language) if family_name_first(language) else first or last


def mail_names(account: Account | None) -> dict[str, str]:
    """The names a mail greets the user with; the mail renderer orders them for its language."""
    profile = account.profile if account else None
    return {"first_name": profile.first_name, "last_name": profile.last_name} if profile else {}


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


_MISSING_NAME = {"first_name": N_("Please enter your first name."), "last_name": N_("Please enter your last name.")}


def clean_name(raw: Any, field: str) -> str:
    text = unicodedata.normalize("NFC", str(raw or "")).strip()
    if not text:
        raise InvalidInput(_MISSING_NAME.get(field, N_("Please enter your name.")), field=field)
    if len(text) > NAME_MAX:
        raise InvalidInput(N_("This name is too long (at most 100 characters)."), field=field)
    if _CONTROL.search(text) or "<" in text or ">" in text:
        raise InvalidInput(N_("This name contains characters that are not allowed."), field=field)
    return text


def clean_birth_date(raw: Any, today: date) -> date:
    if isinstance(raw, date):
        born = raw
    elif not str(raw or "").strip():  # the date picker sends nothing until a date is chosen
        raise InvalidInput(N_("Please enter your birth date."), field="birth_date")
    else:
        try:
            born = date.fromisoformat(str(raw or "").strip())
        except ValueError as exc:
            raise InvalidInput(N_("Please enter your birth date as YYYY-MM-DD."), field="birth_date") from exc
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if born > today:
        raise InvalidInput(N_("The birth date cannot be in the future."), field="birth_date")
    if age < MIN_AGE_YEARS:
        raise InvalidInput(N_("You must be at least 13 years old to create an account."), field="birth_date")
    if age > MAX_AGE_YEARS:
        raise InvalidInput(N_("Please check the year of your birth date."), field="birth_date")
    return born


def clean_sex(raw: Any) -> Sex:
    try:
        return Sex(str(raw or ""))
    except ValueError as exc:
        raise InvalidInput(N_("Please choose female or male."), field="sex") from exc


def clean_units(raw: Any) -> Units:
    try:
        return Units(str(raw or ""))
    except ValueError as exc:
        raise InvalidInput(N_("Please choose metric or imperial units."), field="units") from exc


def _number(raw: Any, field: str) -> float:
    try:
        value = float(str(raw).strip().replace(",", "."))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(N_("Please enter your height as a number."), field=field) from exc
    if not math.isfinite(value):
        raise InvalidInput(N_("Please enter your height as a number."), field=field)
    return value


def clean_height_cm(cm: Any = None, feet: Any = None, inches: Any = None, *, units: Units) -> float:
    """Height from centimetres (metric) or feet and inches (imperial), stored in cm."""
    if units is Units.IMPERIAL and (feet not in (None, "") or inches not in (None, "")):
        ft = _number(feet if feet not in (None, "") else 0, "height_ft")
        inch = _number(inches if inches not in (None, "") else 0, "height_in")
        if ft < 0 or inch < 0 or inch >= 12:
            raise InvalidInput(N_("Please enter feet, and inches from 0 to 11."), field="height_ft")
        value = (ft * 12 + inch) * INCH_CM
        field = "height_ft"
    else:
        if cm in (None, ""):
            raise InvalidInput(N_("Please enter your height."), field="height_cm")
        value = _number(cm, "height_cm")
        field = "height_cm"
    low, high = HEIGHT_CM_RANGE
    if not low <= value <= high:
        raise InvalidInput(N_("Please enter a height between 50 and 250 cm (1 ft 8 in and 8 ft 2 in)."), field=field)
    return round(value, 1)


def feet_inches(height_cm: float) -> tuple[int, int]:
    total = round(height_cm / INCH_CM)
    return total // 12, total % 12


def clean_profile(data: dict[str, Any], today: date) -> Profile:
    """The profile, or every wrong field at once (``InvalidFields``), not only the first."""
    problems: list[InvalidInput] = []

    def checked(clean: Callable[[], T]) -> T | None:
        try:
            return clean()
        except InvalidInput as problem:
            problems.append(problem)
            return None

    units = checked(lambda: clean_units(data.get("units")))
    first_name = checked(lambda: clean_name(data.get("first_name"), "first_name"))
    last_name = checked(lambda: clean_name(data.get("last_name"), "last_name"))
    birth_date = checked(lambda: clean_birth_date(data.get("birth_date"), today))
    sex = checked(lambda: clean_sex(data.get("sex")))
    height_cm = checked(
        lambda: clean_height_cm(
            data.get("height_cm"), data.get("height_ft"), data.get("height_in"), units=units or Units.METRIC
        )
    )
    if problems:
        raise problems[0] if len(problems) == 1 else InvalidFields(problems)
    values = (first_name, last_name, birth_date, sex, height_cm, units)
    assert all(value is not None for value in values)  # each was checked above
    return Profile(*values)  # type: ignore[arg-type]
