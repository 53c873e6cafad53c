"""Names in the user's order (姓 before 名 in Japanese and Chinese) and a birth-date field whose hint
does not contradict the browser's own date format."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from starlette.testclient import TestClient

from tests.conftest import Mailbox, html_of, text_of
from tests.web.conftest import post_form, web_sign_up
from vitalkey.domain.accounts import Account, Profile, Sex, Units, display_name, greeting_name
from vitalkey.oauth.server import user_info


def _field_order(html: str) -> list[str]:
    return re.findall(r'<input id="f-(first_name|last_name)"', html)


@pytest.mark.parametrize(
    ("lang", "order"),
    [
        ("ja", ["last_name", "first_name"]),
        ("zh-Hans", ["last_name", "first_name"]),
        ("en", ["first_name", "last_name"]),
        ("de", ["first_name", "last_name"]),
        ("fr", ["first_name", "last_name"]),
    ],
)
def test_name_fields_in_the_local_order(client: TestClient, mailbox: Mailbox, lang: str, order: list[str]) -> None:
    client.get(f"/lang/{lang}")
    web_sign_up(client, mailbox, "ann@example.org")
    account = client.get("/account").text
    assert _field_order(account) == order
    if lang in ("ja", "zh-Hans"):  # the labels read 姓, then 名
        labels = re.findall(r'<label for="f-(?:first|last)_name">([^<]+)</label>', account)
        assert labels == ["姓", "名"]


def test_birth_date_hint_names_no_format(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    page = client.get("/account").text
    field = page.split('<label for="f-birth_date">')[1].split("</div>")[0]
    # the browser shows its own format (mm/dd/yyyy…): no visible hint may say another one;
    # the placeholder only shows on the text box of a browser without a date picker
    assert 'id="h-birth_date"' not in field and 'aria-describedby="h-birth_date"' not in field
    assert 'type="date"' in field and 'placeholder="YYYY-MM-DD"' in field
    assert "YYYY" not in re.sub(r'placeholder="[^"]*"', "", field)


def test_text_box_fallback_still_accepts_iso_dates(client: TestClient, mailbox: Mailbox) -> None:
    assert web_sign_up(client, mailbox, "ann@example.org", birth_date="1990-05-01").status_code == 200
    assert 'value="1990-05-01"' in client.get("/account").text


@pytest.mark.parametrize(
    ("lang", "greeting"),
    [("ja", "山田 太郎 様"), ("zh-Hans", "山田太郎，您好："), ("en", "Hello 太郎,")],
)
def test_mail_greets_in_the_local_name_order(client: TestClient, mailbox: Mailbox, lang: str, greeting: str) -> None:
    client.get(f"/lang/{lang}")
    web_sign_up(client, mailbox, "ann@example.org", first_name="太郎", last_name="山田")
    client.cookies.clear()  # signed out; signs in again in the same language
    client.get(f"/lang/{lang}")
    post_form(client, "/login", {"email": "ann@example.org"})
    mail = mailbox.wait_for("ann@example.org", 2)
    assert text_of(mail).strip().splitlines()[0] == greeting
    assert f"<p>{greeting}</p>" in html_of(mail)


def test_display_name() -> None:
    assert display_name("Ann", "Lee", "en") == display_name("Ann", "Lee", "de") == "Ann Lee"
    assert display_name("太郎", "山田", "ja") == "山田 太郎"
    assert display_name("伟", "张", "zh-Hans") == "张伟"
    assert display_name("John", "Smith", "zh-Hans") == "Smith John"  # Latin letters keep their space
    assert display_name("Ann", "", "ja") == "Ann"
    assert greeting_name("Ann", "Lee", "fr") == "Ann" and greeting_name("伟", "张", "zh-Hans") == "张伟"


@pytest.mark.parametrize(("language", "name"), [("ja", "山田 太郎"), ("zh-Hans", "山田太郎"), ("de", "太郎 山田")])
def test_oidc_name_claim_in_the_accounts_order(language: str, name: str) -> None:
    profile = Profile("太郎", "山田", date(1990, 5, 1), Sex.MALE, 170.0, Units.METRIC)
    account = Account(1, "t@example.org", datetime(2026, 1, 1, tzinfo=UTC), language, profile, "2026-01", None)
    claims = user_info(account, "openid profile")
    assert claims["name"] == name and claims["given_name"] == "太郎" and claims["family_name"] == "山田"
