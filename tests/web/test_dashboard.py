"""The Online Dashboard over real HTTP on SQLite and PostgreSQL: a new account's empty state, a
year of data shown in the user's range, units and language (the figures checked against the
data), the range and units kept per user, and bad choices refused with a 400 that names them."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
from starlette.testclient import TestClient

from tests.conftest import Mailbox
from tests.dashboard_seed import deep_s, seed_year, steps, temperature_dc, weight_g
from tests.health_records import a_day, a_device
from tests.web.conftest import ClientFactory, web_sign_in, web_sign_up
from vitalkey.adapters.clock import FrozenClock
from vitalkey.container import Container
from vitalkey.domain.health import Attrib, Category, Goals, Measure, MeasureGroup

# German short month names (CLDR's): dates read "1. Dez. 2026".
DE_MONTHS = ("Jan.", "Feb.", "März", "Apr.", "Mai", "Juni", "Juli", "Aug.", "Sept.", "Okt.", "Nov.", "Dez.")
EMPTY = "No measurements yet — step on your scale, or add one by hand"


def _container(client: TestClient) -> Container:
    container: Container = client.app.state.container  # type: ignore[attr-defined]
    return container


def _account_id(client: TestClient, email: str) -> int:
    container = _container(client)
    with container.uow.read() as tx:
        account = tx.accounts.by_email(email)
    assert account is not None
    return account.id


def _rows(html: str, key: str) -> list[list[str]]:
    """The table beside chart ``key``: each row's cells as shown, newest first."""
    section = html.split(f'id="card-{key}"')[1].split("</section>", maxsplit=1)[0]
    body = section.split("<tbody>")[1].split("</tbody>")[0]
    return [re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", row) for row in body.split("</tr>") if "<t" in row]


def _tile(html: str, key: str) -> str:
    return html.split(f'id="{key}"')[1].split("</div>", maxsplit=1)[0]


def test_sign_in_lands_on_the_empty_dashboard(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    client.cookies.delete("vk_session")
    landed = web_sign_in(client, mailbox, "ann@example.org", 2)
    assert landed.status_code == 200 and landed.url.path == "/dashboard"
    assert EMPTY in landed.text and "<svg" not in landed.text
    assert client.get("/", follow_redirects=False).headers["location"] == "/dashboard"


def test_signed_out_goes_to_sign_in(client: TestClient) -> None:
    answer = client.get("/dashboard?days=7", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/login"


def test_a_year_of_data_in_the_chosen_range_and_units(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    today = datetime.now(UTC).date()
    seed_year(_container(client), _account_id(client, "ann@example.org"), today)

    page = client.get("/dashboard").text  # 30 days until chosen
    assert 'aria-current="true">30 days<' in page and EMPTY not in page
    weights = _rows(page, "weight")
    assert len(weights) == 30
    assert weights[0] == [today.strftime("%b %-d, %Y"), f"{weight_g(0) / 1000:.1f} kg"]
    assert f"{weight_g(0) / 1000:.1f} kg" in _tile(page, "latest-weight")
    assert "168 cm" in _tile(page, "composition") and "Fat ratio" in _tile(page, "composition")
    trend = (weight_g(0) - weight_g(29)) / 1000
    assert trend < 0 and f"−{-trend:.1f} kg since" in page  # a minus sign, not a hyphen
    step_rows = _rows(page, "steps")
    assert step_rows[0][1] == f"{steps(0):,}" and step_rows[0][2] == ("Yes" if steps(0) >= 10_000 else "No")
    steps_svg = page.split('id="card-steps"')[1].split("</svg>")[0]
    assert 'aria-label="Steps chart with the goal of 10,000 steps a day;' in steps_svg  # the default goal
    assert re.search(r'class="major guide line"/?\s*/?><text[^>]*class="major">Goal 10,000</text>', steps_svg)
    assert _rows(page, "sleep")[0][1] == f"{deep_s(0) / 3600:.1f} h"
    assert len(_rows(page, "pressure")) == 10  # every third day of 30
    # Charts are inline SVG images with a label, with no script or inline style for the CSP.
    svg = page.split('id="card-weight"')[1].split("</svg>")[0]
    assert 'role="img"' in svg and "<script" not in svg and "style=" not in svg and "<style" not in svg

    year = client.get("/dashboard?days=365")
    assert year.status_code == 200 and len(_rows(year.text, "weight")) == 365
    # Beyond a month, steps are a line (with the goal's) and sleep stacked areas, not 1-px bars.
    assert "chart-line with-goal" in year.text.split('id="card-steps"')[1].split("</svg>")[0]
    assert "chart-area" in year.text.split('id="card-sleep"')[1].split("</svg>")[0]
    # A year's charts have one point a week (the week's mean) and say so; the 30 days' one a measure.
    year_weight = year.text.split('id="card-weight"')[1].split("</svg>")[0]
    assert "aria-label=\"Weight (kg) chart, one point a week (the week's mean);" in year_weight
    line = re.search(r'<path d="M([^"]*)"[^>]*class="line reactive', year_weight)
    assert line and 52 <= len(re.findall(r"[\d.]+ [\d.]+", line.group(1))) <= 53  # a point a week
    assert "one point a week" not in page  # 30 days: a point a measure
    # A year's page is sent gzipped to a browser that accepts it (decoded above by the client),
    # whole to one that does not; no other page is compressed (BREACH: see dashboard_pages).
    assert year.headers["content-encoding"] == "gzip" and int(year.headers["content-length"]) < len(year.content) / 4
    whole = client.get("/dashboard", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in whole.headers and whole.text == client.get("/dashboard").text
    assert "content-encoding" not in client.get("/account", headers={"accept-encoding": "gzip"}).headers
    again = client.get("/dashboard").text  # the range is kept
    assert 'aria-current="true">365 days<' in again and len(_rows(again, "steps")) == 365

    assert f"{temperature_dc(0) / 10:.1f} °C" in _tile(page, "temperature")
    pounds = client.get("/dashboard?units=us").text
    assert _rows(pounds, "weight")[0][1] == f"{weight_g(0) / 453.59237:.1f} lb"
    assert f"{temperature_dc(0) / 10 * 9 / 5 + 32:.1f} °F" in _tile(pounds, "temperature")
    assert "5′ 6″" in _tile(pounds, "composition")  # the profile's 168 cm
    stones = client.get("/dashboard?units=uk").text
    total_tenths = round(weight_g(0) / 453.59237 * 10)
    assert _rows(stones, "weight")[0][1] == f"{total_tenths // 140} st {total_tenths % 140 / 10:.1f} lb"
    assert 'aria-current="true">st/lb<' in client.get("/dashboard").text  # kept too


def test_numbers_and_dates_in_the_users_language(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    today = datetime.now(UTC).date()
    seed_year(_container(client), _account_id(client, "ann@example.org"), today)
    client.get("/lang/de")
    page = client.get("/dashboard?days=7").text
    assert "<h1>Übersicht</h1>" in page and 'aria-current="true">7 Tage<' in page
    kg = f"{weight_g(0) / 1000:.1f}".replace(".", ",")
    assert _rows(page, "weight")[0] == [f"{today.day}. {DE_MONTHS[today.month - 1]} {today.year}", f"{kg} kg"]
    assert _rows(page, "steps")[0][1] == f"{steps(0):,}".replace(",", ".")

    # The user's own goal: the line across the steps chart and the table's "goal reached" column.
    with _container(client).uow.begin() as tx:
        tx.goals.set(_account_id(client, "ann@example.org"), Goals(steps=8_000, modified=datetime.now(UTC)))
    page = client.get("/dashboard").text
    assert ">Ziel 8.000</text>" in page.split('id="card-steps"')[1].split("</svg>")[0]
    rows = _rows(page, "steps")
    assert [row[2] for row in rows] == ["Ja" if steps(n) >= 8_000 else "Nein" for n in range(7)]


@pytest.mark.parametrize("query", ["days=abc", "days=8", "days=", "days=1e3", "units=furlongs", "days=99999999999"])
def test_a_choice_outside_the_list_is_a_400_naming_the_choices(
    client: TestClient, mailbox: Mailbox, query: str
) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    answer = client.get(f"/dashboard?{query}")
    assert answer.status_code == 400
    expected = "Please choose 7, 30, 90 or 365 days." if query.startswith("days") else "Please choose kilograms"
    assert expected in answer.text and 'aria-current="true">30 days<' in answer.text  # nothing kept


def test_two_sources_of_one_day_show_its_larger_count_not_their_sum(client: TestClient, mailbox: Mailbox) -> None:
    """A tracker's day and the same day imported from a Withings export (no device) are one walk."""
    web_sign_up(client, mailbox, "ann@example.org")
    container, today = _container(client), datetime.now(UTC).date()
    owner = _account_id(client, "ann@example.org")
    with container.uow.begin() as tx:
        for deviceid, count in (("tracker", 6_200), (None, 7_450)):
            tx.activity.put(a_day(owner, today, data={"steps": count}, deviceid=deviceid, timezone="UTC"))
    assert _rows(client.get("/dashboard?days=7").text, "steps")[0][1] == "7,450"


def _weigh_in(account_id: int, at: datetime, zone: str, grams: int) -> MeasureGroup:
    return MeasureGroup(0, account_id, at, zone, Attrib.MANUAL, Category.REAL, (Measure(1, grams, -3),), at, at)


def _dashboard_at(make_client: ClientFactory, mailbox: Mailbox, now: datetime) -> tuple[TestClient, int]:
    client = make_client(clock=FrozenClock(now))
    web_sign_up(client, mailbox, "ann@example.org")
    return client, _account_id(client, "ann@example.org")


def test_a_tokyo_users_days_are_tokyos(make_client: ClientFactory, mailbox: Mailbox) -> None:
    """Her scale's zone is Tokyo: at 23:30 UTC it is already the next morning there, her 07:00
    weigh-in (22:00 UTC the day before) is on her today, and her 7 days start a day later than UTC's."""
    utc_day = datetime.now(UTC).date() - timedelta(days=1)
    now = datetime.combine(utc_day, time(23, 30), UTC)  # 08:30 the next day in Tokyo
    client, ann = _dashboard_at(make_client, mailbox, now)
    tokyo = "Asia/Tokyo"
    with _container(client).uow.begin() as tx:
        tx.devices.add(a_device(ann, timezone=tokyo, last_session=now - timedelta(hours=1)))
        tx.devices.add(a_device(ann, "old-scale", timezone="Europe/Paris", last_session=now - timedelta(days=3)))
        for at, grams in (
            (datetime.combine(utc_day, time(22), UTC), 70_100),  # 07:00 on Tokyo's today
            (datetime.combine(utc_day - timedelta(days=6), time(15, 30), UTC), 70_200),  # 00:30, the first day
            (datetime.combine(utc_day - timedelta(days=6), time(14), UTC), 70_300),  # 23:00 the day before
        ):
            tx.measure_groups.add(_weigh_in(ann, at, tokyo, grams))
        for day, count in ((utc_day + timedelta(days=1), 9_000), (utc_day - timedelta(days=6), 8_000)):
            tx.activity.put(a_day(ann, day, data={"steps": count}, deviceid=None, timezone=tokyo))
    page = client.get("/dashboard?days=7").text
    today, first = utc_day + timedelta(days=1), utc_day - timedelta(days=5)
    assert _rows(page, "weight") == [[_en(today), "70.1 kg"], [_en(first), "70.2 kg"]]
    assert f"{_en_long(first)}" in page and f"{_en_long(today)}" in page  # the range shown
    assert [row[:2] for row in _rows(page, "steps")] == [[_en(today), "9,000"]]
    assert _en(today) in _tile(page, "latest-weight")


def test_a_los_angeles_users_days_are_los_angeles(make_client: ClientFactory, mailbox: Mailbox) -> None:
    """No device: her latest measure's zone (Los Angeles) counts her days; a blood pressure at
    02:00 UTC is the evening before there."""
    utc_day = datetime.now(UTC).date() - timedelta(days=1)
    now = datetime.combine(utc_day, time(23, 30), UTC)  # the afternoon of the same day in Los Angeles
    client, ann = _dashboard_at(make_client, mailbox, now)
    la = "America/Los_Angeles"
    with _container(client).uow.begin() as tx:
        for at, systolic in (
            (datetime.combine(utc_day, time(2), UTC), 121),  # the evening before, there
            (datetime.combine(utc_day - timedelta(days=5), time(3), UTC), 122),  # the evening 6 days ago there
            (datetime.combine(utc_day - timedelta(days=6), time(5), UTC), 123),  # 7 days ago there
        ):
            pressure = (Measure(10, systolic, 0), Measure(9, 80, 0), Measure(11, 61, 0))
            tx.measure_groups.add(MeasureGroup(0, ann, at, la, Attrib.MANUAL, Category.REAL, pressure, at, at))
    page = client.get("/dashboard?days=7").text
    day = utc_day - timedelta(days=1)
    assert _rows(page, "pressure") == [[_en(day), "121", "80"], [_en(utc_day - timedelta(days=6)), "122", "80"]]
    assert [row[0] for row in _rows(page, "heart")] == [_en(day), _en(utc_day - timedelta(days=6))]
    assert _en_long(utc_day - timedelta(days=6)) in page and _en_long(utc_day) in page


def _en(day: date) -> str:
    return day.strftime("%b %-d, %Y")


def _en_long(day: date) -> str:
    return day.strftime("%B %-d, %Y")
