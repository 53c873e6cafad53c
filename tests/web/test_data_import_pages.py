"""Importing over real HTTP on SQLite and PostgreSQL: the browser's multipart upload to
``POST /account/data/import`` (CSRF checked, the report page in the user's language, refusals as
form messages) and the JSON API ``POST /api/v1/account/import`` (the report, idempotency, 4xx
refusals, never a 500)."""

from __future__ import annotations

import io
import re
import zipfile

from starlette.testclient import TestClient

from tests.conftest import Mailbox
from tests.flows.test_data_import import BP_CSV, WEIGHT_CSV, withings_zip
from tests.web.conftest import ClientFactory, csrf_of, web_sign_up
from tests.web.test_dashboard import _account_id, _container
from tests.web.test_health_api import signed_in

IMPORT = "/account/data/import"
API = "/api/v1/account/import"


def _upload(client: TestClient, name: str, content: bytes, kind: str, timezone: str = "Europe/Paris") -> object:
    token = csrf_of(client.get("/dashboard").text)  # any page of a signed-in user carries the token
    return client.post(IMPORT, data={"csrf_token": token, "timezone": timezone}, files={"file": (name, content, kind)})


def _weights(client: TestClient, email: str) -> dict[int, set[tuple[int, int, int]]]:
    from tests.flows.test_data_import import groups

    return groups(_container(client), _account_id(client, email))


def test_the_page_imports_a_withings_zip_and_reports_in_the_users_language(
    client: TestClient, mailbox: Mailbox
) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    answer = _upload(client, "withings.zip", withings_zip(), "application/zip")
    assert answer.status_code == 200, answer.text
    html = answer.text
    assert "Import report" in html and "8 items imported, 4 skipped." in html
    assert re.search(r"Measurements \(weight, body composition, blood pressure, …\)</td><td>4</td>", html)
    assert "data_PET_123/weight.csv, line 4: This date is in the future." in html
    assert "This value is outside the plausible range of weight (kg) (0.5 to 700)." in html
    assert "data_PET_123/raw_tracker_steps.csv" in html  # not imported, and said so
    assert 'href="/dashboard"' in html and 'action="/account/data/import"' in html  # back, or another file
    assert len(_weights(client, "ann@example.org")) == 4

    client.cookies.set("vk_lang", "de")
    again = _upload(client, "bp.csv", BP_CSV.encode(), "text/csv")
    assert again.status_code == 200
    assert "Importbericht" in again.text and "0 Einträge importiert, 2 übersprungen." in again.text
    assert "bp.csv, Zeile 2: Bereits in Ihrem Konto." in again.text
    assert "bp.csv, Zeile 3: Bereits in Ihrem Konto." in again.text
    assert len(_weights(client, "ann@example.org")) == 4


def test_the_page_refuses_without_a_token_or_a_file_and_over_the_limits(
    make_client: ClientFactory, mailbox: Mailbox
) -> None:
    client = make_client(import_max_bytes=4096, import_max_unpacked_bytes=100_000)
    web_sign_up(client, mailbox, "ann@example.org")
    forged = client.post(
        IMPORT, data={"csrf_token": "x" * 40}, files={"file": ("weight.csv", WEIGHT_CSV.encode(), "text/csv")}
    )
    assert forged.status_code == 403 and _weights(client, "ann@example.org") == {}

    empty = _upload(client, "", b"", "application/octet-stream")
    assert empty.status_code == 400 and "Please choose a file to import." in empty.text

    big = _upload(client, "weight.csv", WEIGHT_CSV.encode() * 20, "text/csv")
    assert big.status_code == 413 and "This file is too large to import" in big.text

    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("weight.csv", b"0" * 2_000_000)
    exploded = _upload(client, "bomb.zip", bomb.getvalue(), "application/zip")
    assert exploded.status_code == 413 and "too large to import once unpacked" in exploded.text

    zone = _upload(client, "weight.csv", WEIGHT_CSV.encode(), "text/csv", timezone="Mars/Olympus")
    assert zone.status_code == 400 and 'id="e-timezone"' in zone.text
    assert _weights(client, "ann@example.org") == {}


def test_the_json_api_imports_and_reports(make_client: ClientFactory) -> None:
    client = make_client(import_max_bytes=8192)
    auth = signed_in(client, "ann@example.org")
    answer = client.post(
        f"{API}?timezone=Europe/Paris&filename=weight.csv",
        content=WEIGHT_CSV.encode(),
        headers={**auth, "content-type": "text/csv"},
    )
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["source"] == "withings" and report["imported"]["measure_groups"] == 2
    assert report["skipped_counts"] == {"unreadable_date": 1, "empty_row": 1, "in_future": 1, "implausible_value": 1}
    assert report["skipped"][0] == {
        "file": "weight.csv",
        "reason": "unreadable_date",
        "message": "“yesterday” is not a date and time that can be read.",
        "line": 6,
        "item": None,
    }
    again = client.post(
        API, content=WEIGHT_CSV.encode(), headers={**auth, "content-type": "text/csv", "x-filename": "weight.csv",
                                                   "x-timezone": "Europe/Paris"},
    ).json()  # fmt: skip
    assert again["imported_total"] == 0 and again["skipped_counts"]["already_stored"] == 2

    def refused(content: bytes, kind: str, query: str = "") -> tuple[int, str]:
        answer = client.post(f"{API}{query}", content=content, headers={**auth, "content-type": kind})
        return answer.status_code, answer.json()["error"]

    assert refused(b"x", "image/png") == (415, "unsupported_media_type")
    assert refused(WEIGHT_CSV.encode(), "text/csv", "?timezone=Mars/Olympus") == (400, "unknown_timezone")
    assert refused(b"date,value\n" + b"2026-01-01,1\n" * 1000, "text/csv") == (413, "import_too_large")
    assert refused(b"{not json", "application/json") == (400, "unreadable_export")
    assert refused(b"PK\x03\x04broken", "application/zip") == (400, "unreadable_import")
    assert refused(b"\x00" * 2_000_000, "application/zip")[0] == 413  # past the edge's limit
    unsigned = client.post(API, content=b"", headers={"content-type": "text/csv"})
    assert unsigned.status_code == 401
