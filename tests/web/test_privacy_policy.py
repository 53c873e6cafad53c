"""The operator's privacy policy: a plain-text file per language in ``privacy_policy_dir``, shown at
the sign-up step and at /privacy in the visitor's language (else in English), its configured version
recorded on the account."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.conftest import Mailbox, code_in, make_settings
from tests.web.conftest import ClientFactory, post_form, web_sign_up
from vitalkey.domain.emails import account_key
from vitalkey.settings import SettingsError

VERSION = "2026-11-30"


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "policy"
    folder.mkdir()
    (folder / "en.txt").write_text(
        "Acme Health keeps your data in Lyon.\n\nWrite to <dpo@acme.example>.\nWe answer in a week.\n"
    )
    (folder / "fr.txt").write_text("Acme Santé conserve vos données à Lyon.\n\nÉcrivez à <dpo@acme.example>.\n")
    return folder


def _policy_step(client: TestClient, mailbox: Mailbox, email: str) -> tuple[str, str]:
    response = post_form(client, "/signup", {"email": email})
    flow_url = str(response.url.path)
    step = post_form(client, flow_url, {"action": "code", "code": code_in(mailbox.wait_for(email))})
    return flow_url, step.text


def test_sign_up_shows_the_operators_policy_in_the_users_language(
    make_client: ClientFactory, mailbox: Mailbox, policy_dir: Path
) -> None:
    client = make_client(privacy_policy_dir=str(policy_dir), privacy_policy_version=VERSION)
    client.get("/lang/fr")
    _, step = _policy_step(client, mailbox, "ann@example.org")
    assert "<p>Acme Santé conserve vos données à Lyon.</p>" in step
    assert "<p>Écrivez à &lt;dpo@acme.example&gt;.</p>" in step  # plain text, escaped
    assert f"Version {VERSION}" in step and "Acme Health" not in step
    assert "ne vendons jamais" not in step  # the built-in text is replaced
    assert "Acme Santé conserve" in client.get("/privacy").text


def test_the_configured_version_is_recorded_on_the_account(
    make_client: ClientFactory, mailbox: Mailbox, policy_dir: Path
) -> None:
    client = make_client(privacy_policy_dir=str(policy_dir), privacy_policy_version=VERSION)
    web_sign_up(client, mailbox, "ann@example.org")
    container = client.app.state.container  # type: ignore[attr-defined]
    with container.uow.begin() as tx:
        account = tx.accounts.by_email(account_key("ann@example.org"))
    assert account.policy_version == VERSION
    assert account.policy_accepted_at == account.created_at  # accepted at the sign-up


def test_a_language_without_its_file_gets_the_english_text(
    make_client: ClientFactory, mailbox: Mailbox, policy_dir: Path
) -> None:
    client = make_client(privacy_policy_dir=str(policy_dir), privacy_policy_version=VERSION)
    client.get("/lang/ja")
    _, step = _policy_step(client, mailbox, "ann@example.org")
    assert "<p>Acme Health keeps your data in Lyon.</p>" in step
    assert "<p>Write to &lt;dpo@acme.example&gt;.<br>We answer in a week.</p>" in step
    page = client.get("/privacy")
    assert (
        page.status_code == 200 and "Acme Health keeps your data" in page.text and "プライバシーポリシー" in page.text
    )


def test_the_built_in_policy_without_a_folder(client: TestClient, mailbox: Mailbox) -> None:
    client.get("/lang/de")
    _, step = _policy_step(client, mailbox, "ann@example.org")
    assert "Was wir speichern: Ihre E-Mail-Adresse" in step and "Version 2026-01" in step
    page = client.get("/privacy").text
    assert "Was wir speichern" in page and '<a href="/privacy">Datenschutzrichtlinie</a>' in page


def test_settings_validation(tmp_path: Path, policy_dir: Path) -> None:
    with pytest.raises(SettingsError, match="is not a folder"):
        make_settings(tmp_path, "sqlite://", privacy_policy_dir=str(tmp_path / "nowhere"))
    (policy_dir / "en.txt").unlink()
    with pytest.raises(SettingsError, match=r"en\.txt is missing"):
        make_settings(tmp_path, "sqlite://", privacy_policy_dir=str(policy_dir))
    with pytest.raises(SettingsError, match="privacy_policy_version"):
        make_settings(tmp_path, "sqlite://", privacy_policy_version="x" * 33)


def test_unreadable_policy_stops_the_start(make_client: ClientFactory, policy_dir: Path) -> None:
    (policy_dir / "de.txt").write_bytes(b"\xff\xfe not UTF-8")
    with pytest.raises(SettingsError, match=r"de\.txt as UTF-8"):
        make_client(privacy_policy_dir=str(policy_dir))
