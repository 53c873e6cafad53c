"""Steps that several browser tests take the same way (the seed's sign-up, as a user types it)."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.conftest import Mailbox, code_in


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
