""" "Download my data" in Debian's Chromium on a real server process with a real SMTP server: the
Profile menu leads to the page, the button saves a ZIP (no script needed) that holds the JSON copy
and the CSV files of the account, and the page then says until when the download is ready."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import LiveServer, Mailbox
from tests.e2e.conftest import CHROMIUM
from tests.e2e.test_account_deletion_browser import EMAIL, sign_up
from vitalkey.flows.export_format import from_json

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]


def test_download_my_data_from_the_profile_menu(
    page: Page, live_server: LiveServer, mailbox: Mailbox, tmp_path: Path
) -> None:
    sign_up(page, live_server, mailbox, 1)
    page.locator(".profile-menu > summary").click()
    page.locator(".menu-panel").get_by_role("link", name="Download my data").click()
    expect(page.get_by_role("heading", name="Download my data")).to_be_visible()
    assert page.url == live_server.url + "/account/data"

    with page.expect_download() as started:
        page.get_by_role("button", name="Prepare my download").click()
    download = started.value
    assert download.suggested_filename.startswith("vitalkey-data-") and download.suggested_filename.endswith(".zip")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    with zipfile.ZipFile(saved) as archive:
        assert from_json(archive.read("vitalkey.json")).profile.email == EMAIL
        profile = {
            row["Field"]: row["Value"] for row in csv.DictReader(io.StringIO(archive.read("profile.csv").decode()))
        }
        assert (profile["First name"], profile["Last name"], profile["Height"]) == ("Dana", "Scully", "160 cm")
        assert "weight.csv" in archive.namelist()

    page.reload()
    expect(page.locator("#export-ready")).to_contain_text("Your download is ready until")
    expect(page.get_by_role("link", name="Download the ZIP file")).to_be_visible()
