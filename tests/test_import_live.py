"""Importing through a real server process over real HTTP: a browser-like multipart upload of a
Withings export to the page, and a large CSV file (12,000 weighings: three batches) to the JSON
API, imported once and then skipped whole."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.conftest import LiveServer, Mailbox, code_in
from tests.flows.test_data_import import withings_zip
from tests.web.conftest import csrf_of, web_sign_up

ROWS = 12_000


def _weighings() -> bytes:
    """Every half hour from 2025-01-01: 60.0 to 99.9 kg."""
    start = datetime(2025, 1, 1)
    rows = [f"{start + timedelta(minutes=30 * n):%Y-%m-%d %H:%M:%S},{600 + n % 400}e-1\n" for n in range(ROWS)]
    return ("Date,Weight (kg)\n" + "".join(rows)).encode()


def test_uploads_over_http(live_server: LiveServer, mailbox: Mailbox) -> None:
    with httpx.Client(base_url=live_server.url, follow_redirects=True, timeout=120) as browser:
        web_sign_up(browser, mailbox, "ann@example.org")  # type: ignore[arg-type]
        token = csrf_of(browser.get("/dashboard").text)
        page = browser.post(
            "/account/data/import",
            data={"csrf_token": token, "timezone": "Europe/Paris"},
            files={"file": ("withings.zip", withings_zip(), "application/zip")},
        )
        assert page.status_code == 200, page.text
        assert "8 items imported, 4 skipped." in page.text

    with httpx.Client(base_url=live_server.url, timeout=120) as app:
        signed: Any = app.post("/api/v1/login", json={"email": "ann@example.org"}).json()
        code = code_in(mailbox.wait_for("ann@example.org", 2))
        session = app.post(f"/api/v1/login/{signed['id']}/code", json={"code": code}).json()
        auth = {"authorization": f"Bearer {session['session_token']}", "content-type": "text/csv"}
        first = app.post("/api/v1/account/import?filename=weight.csv&timezone=UTC", content=_weighings(), headers=auth)
        assert first.status_code == 200, first.text
        assert (first.json()["imported"]["measure_groups"], first.json()["skipped_total"]) == (ROWS, 0)
        again = app.post("/api/v1/account/import?filename=weight.csv&timezone=UTC", content=_weighings(), headers=auth)
        assert again.json()["imported_total"] == 0
        assert again.json()["skipped_counts"] == {"already_stored": ROWS}
