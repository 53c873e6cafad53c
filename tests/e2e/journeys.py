"""Steps and settings that several browser tests share (the seed's sign-up, as a user types it;
a live server whose mail and texts reach the tests)."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.conftest import Gateway, Mailbox, code_in


def sign_up_to_the_last_step(
    page: Page,
    base_url: str,
    mailbox: Mailbox,
    email: str,
    *,
    name: tuple[str, str] = ("Erin", "Brockovich"),
    birth_date: str = "1960-06-22",
    height_cm: str = "170",
) -> None:
    """Address, emailed code, privacy policy and details: the page that offers two-factor
    authentication ("Activate two-factor authentication" or "Skip for now") is left open."""
    page.goto(base_url + "/signup")
    page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Next").click()
    page.get_by_label("6-digit code").fill(code_in(mailbox.wait_for(email)))
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("I agree to the privacy policy").check()
    page.get_by_role("button", name="Next").click()
    page.get_by_label("First name").fill(name[0])
    page.get_by_label("Last name").fill(name[1])
    page.get_by_label("Birth date").fill(birth_date)
    page.get_by_label("Female", exact=True).check()
    page.get_by_label("Height (cm)").fill(height_cm)
    page.get_by_role("button", name="Next").click()


def sms_server_env(database_url: str, smtp_port: int, gateway: Gateway) -> dict[str, str]:
    """A live server's settings for mail to the tests' SMTP server and texts to their gateway."""
    return {
        "VITALKEY_DATABASE_URL": database_url,
        "VITALKEY_SMTP_HOST": "127.0.0.1",
        "VITALKEY_SMTP_PORT": str(smtp_port),
        "VITALKEY_SMTP_SECURITY": "none",
        "VITALKEY_RELAY_POLL_S": "0.05",
        "VITALKEY_SMS_PROVIDER_URL": gateway.url,
        "VITALKEY_SMS_ACCOUNT_SID": "AC0123456789",
        "VITALKEY_SMS_AUTH_TOKEN": "gateway-secret",
        "VITALKEY_SMS_FROM": "+15005550006",
    }
