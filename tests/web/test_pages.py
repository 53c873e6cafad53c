"""The HTML pages, driven through the app as a browser would (forms, cookies, redirects)."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from tests.conftest import PROD_SMS, Mailbox, text_of
from tests.web.conftest import ClientFactory, csrf_of, post_form, web_sign_in, web_sign_up
from vitalkey.web.render import TEMPLATES


def test_sign_up_end_to_end(client: TestClient, mailbox: Mailbox) -> None:
    page = client.get("/signup")
    assert page.status_code == 200 and "Create your account" in page.text
    response = post_form(client, "/signup", {"email": "ann@example.org"})
    assert "Confirm your email address" in response.text and "ann@example.org" in response.text
    mail = mailbox.wait_for("ann@example.org")
    assert mail["Subject"] == "Your VitalKey confirmation code"
    flow_url = str(response.url.path)
    wrong = post_form(client, flow_url, {"action": "code", "code": "12"})
    assert wrong.status_code == 400 and "The code has 6 digits." in wrong.text
    from tests.conftest import code_in

    policy = post_form(client, flow_url, {"action": "code", "code": code_in(mail)})
    assert "Privacy policy" in policy.text
    refused = post_form(client, flow_url, {"action": "policy"})
    assert refused.status_code == 400 and "Please accept the privacy policy" in refused.text
    details = post_form(client, flow_url, {"action": "policy", "accept": "yes"})
    assert "Your details" in details.text
    bad = post_form(
        client,
        flow_url,
        {
            "action": "details",
            "first_name": "Ann",
            "last_name": "Lee",
            "birth_date": "2030-01-01",
            "sex": "female",
            "units": "metric",
            "height_cm": "168",
        },
    )
    assert bad.status_code == 400 and "cannot be in the future" in bad.text
    assert 'value="Ann"' in bad.text  # what was typed is kept
    offer = post_form(
        client,
        flow_url,
        {
            "action": "details",
            "first_name": "Ann",
            "last_name": "Lee",
            "birth_date": "1990-05-01",
            "sex": "female",
            "units": "metric",
            "height_cm": "168",
        },
    )
    assert "Protect your account" in offer.text and "Skip for now" in offer.text
    done = post_form(client, flow_url, {"action": "skip_two_factor"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].startswith("/account")
    cookie = done.headers["set-cookie"]
    assert "vk_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    account = client.get(done.headers["location"])
    assert "Welcome! Your account is ready." in account.text and 'value="Lee"' in account.text


def test_existing_address_gets_the_same_pages(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    client.cookies.clear()
    known = post_form(client, "/signup", {"email": "ann@example.org"})
    fresh = post_form(client, "/signup", {"email": "new@example.org"})
    assert known.status_code == fresh.status_code == 200
    assert (
        known.text.replace("ann@example.org", "X").split("<main")[1].split("/signup/")[0]
        == fresh.text.replace("new@example.org", "X").split("<main")[1].split("/signup/")[0]
    )
    notice = mailbox.wait_for("ann@example.org", 2)
    assert "Someone tried to create" in notice["Subject"] and "/login" in text_of(notice)


def test_sign_in_and_out(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    client.cookies.clear()
    page = post_form(client, "/login", {"email": "ann@example.org"})
    assert "temporary identification code" in page.text
    mail = mailbox.wait_for("ann@example.org", 2)
    assert mail["Subject"] == "Your VitalKey temporary identification code"
    assert "Hello Ann," in text_of(mail)
    from tests.conftest import code_in

    signed_in = post_form(client, str(page.url.path), {"action": "code", "code": code_in(mail)})
    assert "Account & Security" in signed_in.text
    out = post_form(client, "/account", {}, action_url="/account/logout")
    assert "You are signed out." in out.text
    assert client.get("/account", follow_redirects=False).headers["location"] == "/login"


def test_unknown_address_sign_in_looks_the_same(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    client.cookies.clear()
    known = post_form(client, "/login", {"email": "ann@example.org"})
    unknown = post_form(client, "/login", {"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 200
    strip = lambda r, e: r.text.replace(e, "X").split("/login/")[0]  # noqa: E731
    assert strip(known, "ann@example.org") == strip(unknown, "nobody@example.org")
    mail = mailbox.wait_for("nobody@example.org")
    assert "no account uses this address" in text_of(mail) and "/signup" in text_of(mail)


def test_typo_suggestion_page(client: TestClient, mailbox: Mailbox) -> None:
    page = post_form(client, "/login", {"email": "ann@gnail.com"})
    assert "Did you mean ann@gmail.com?" in page.text
    assert mailbox.to("ann@gnail.com") == [] and mailbox.to("ann@gmail.com") == []
    accepted = post_form(client, str(page.url.path), {"action": "accept_suggestion"})
    assert "ann@gmail.com" in accepted.text and "temporary identification code" in accepted.text
    assert mailbox.wait_for("ann@gmail.com")


def test_sessions_listed_and_ended(make_client: ClientFactory, mailbox: Mailbox) -> None:
    first = make_client()
    web_sign_up(first, mailbox, "ann@example.org")
    second = TestClient(first.app, base_url=str(first.base_url))
    web_sign_in(second, mailbox, "ann@example.org", 2)
    account = second.get("/account")
    assert account.text.count('name="session_id"') == 2 and "This device" in account.text
    ended = post_form(second, "/account", {}, action_url="/account/end-others")
    assert "All other sessions have been signed out." in ended.text
    assert first.get("/account", follow_redirects=False).status_code == 303  # the first browser is out
    assert second.get("/account").status_code == 200


def test_profile_edit(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    data = {
        "first_name": "Anna",
        "last_name": "Lee",
        "birth_date": "1990-05-01",
        "sex": "female",
        "units": "imperial",
        "height_ft": "5",
        "height_in": "6",
        "language": "en",
    }
    saved = post_form(client, "/account", data, action_url="/account/profile")
    assert 'value="Anna"' in saved.text and 'value="167.6"' in saved.text
    bad = post_form(client, "/account", {**data, "first_name": ""}, action_url="/account/profile")
    assert bad.status_code == 400 and "Please enter your first name." in bad.text
    assert 'value="Anna"' in client.get("/account").text  # nothing was lost


def test_language_chooser_and_accept_language(client: TestClient) -> None:
    assert "Anmelden" in client.get("/login", headers={"accept-language": "de-DE,de;q=0.9"}).text
    chosen = client.get("/lang/ja?next=/signup", follow_redirects=False)
    assert chosen.status_code == 303 and chosen.headers["location"] == "/signup"
    assert "vk_lang=ja" in chosen.headers["set-cookie"]
    assert "アカウント" in client.get("/signup", headers={"accept-language": "de"}).text  # the choice wins
    evil = client.get("/lang/fr?next=//evil.example/", follow_redirects=False)
    assert evil.headers["location"] == "/"


def test_every_language_renders_every_start_page(client: TestClient) -> None:
    for lang in ("en", "de", "fr", "ja", "zh-Hans"):
        client.get(f"/lang/{lang}")
        for url in ("/login", "/signup"):
            page = client.get(url)
            assert page.status_code == 200 and f'<html lang="{lang}">' in page.text


def test_session_cookie_is_rotated_at_each_sign_in(client: TestClient, mailbox: Mailbox) -> None:
    web_sign_up(client, mailbox, "ann@example.org")
    first = client.cookies.get("vk_session")
    client.cookies.delete("vk_session")
    web_sign_in(client, mailbox, "ann@example.org", 2)
    second = client.cookies.get("vk_session")
    assert second not in (None, first) and len(second or "") >= 43


def test_https_deployment_uses_host_prefixed_secure_cookies(make_client: ClientFactory) -> None:
    client = make_client(public_url="https://id.example.org", dev_mode=False, smtp_host="127.0.0.1", **PROD_SMS)
    page = client.get("/login")
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("__Host-vk_csrf=") and "Secure" in cookie and "Path=/" in cookie
    assert "max-age=63072000" in page.headers["strict-transport-security"]


def test_csrf_token_required(client: TestClient, mailbox: Mailbox) -> None:
    client.get("/login")
    missing = client.post("/login", data={"email": "ann@example.org"})
    assert missing.status_code == 403 and "Your form has expired" in missing.text
    forged = client.post("/login", data={"email": "ann@example.org", "csrf_token": "x" * 64})
    assert forged.status_code == 403
    fresh = TestClient(client.app, base_url=str(client.base_url))
    token = csrf_of(client.get("/login").text)
    assert fresh.post("/login", data={"email": "ann@example.org", "csrf_token": token}).status_code == 403
    assert mailbox.to("ann@example.org") == []


def test_flow_of_another_browser_is_not_found(client: TestClient) -> None:
    page = post_form(client, "/login", {"email": "ann@example.org"})
    other = TestClient(client.app, base_url=str(client.base_url))
    stolen = other.get(str(page.url.path))
    assert stolen.status_code == 404 and "Please start again" in stolen.text


def test_security_headers_on_pages(client: TestClient) -> None:
    page = client.get("/login")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    assert page.headers["x-request-id"]


def test_an_empty_details_form_shows_every_fields_error_beside_it(client: TestClient, mailbox: Mailbox) -> None:
    """Each wrong field says what is wrong next to it, and a summary at the top links to each."""
    from tests.conftest import code_in

    flow = post_form(client, "/signup", {"email": "all@example.org"})
    post_form(client, str(flow.url.path), {"action": "code", "code": code_in(mailbox.wait_for("all@example.org"))})
    post_form(client, str(flow.url.path), {"action": "policy", "accept": "yes"})
    empty = post_form(client, str(flow.url.path), {"action": "details", "units": "metric"})
    assert empty.status_code == 400
    wanted = {
        "first_name": "Please enter your first name.",
        "last_name": "Please enter your last name.",
        "birth_date": "Please enter your birth date",
        "sex": "Please choose female or male.",
        "height_cm": "Please enter your height.",
    }
    for name, message in wanted.items():
        beside = re.search(rf'<p class="field-error" id="e-{name}">([^<]*)</p>', empty.text)
        assert beside and beside.group(1).startswith(message), name
        assert f'<li><a href="#f-{name}">' in empty.text, name  # in the summary, linked
        assert f'id="f-{name}"' in empty.text
    assert 'aria-describedby="e-first_name"' in empty.text and 'aria-invalid="true"' in empty.text
    translated = post_form(
        client, str(flow.url.path), {"action": "details", "units": "metric"}, headers={"accept-language": "de"}
    )
    assert translated.text.count('class="field-error"') == 5


def test_footer_contact_link_on_every_page_and_dev_links_only_in_dev_mode(make_client: ClientFactory) -> None:
    """The seeds' "Contact us button at the bottom of the page", to the configured support."""
    dev = make_client(support_url="https://help.example.com/contact")
    for url in ("/login", "/signup", "/no-such-page", "/account/connected-apps"):
        footer = dev.get(url).text.split('<footer class="foot">')[1]
        assert '<a href="https://help.example.com/contact">Contact us</a>' in footer, url
        assert 'href="/dev/mail"' in footer and 'href="/dev/sms"' in footer, url
    german = dev.get("/login", headers={"accept-language": "de"}).text.split('<footer class="foot">')[1]
    assert ">Kontakt</a>" in german
    prod = make_client(dev_mode=False, smtp_host="127.0.0.1", support_url="help@example.com", **PROD_SMS)
    footer = prod.get("/login").text.split('<footer class="foot">')[1]
    assert '<a href="mailto:help@example.com">Contact us</a>' in footer
    assert "/dev/" not in footer


def test_every_page_has_one_h1(client: TestClient) -> None:
    """Error pages included: the 404 page showed only an alert, the expired-form page a button."""
    missing = client.get("/no-such-page")
    assert missing.status_code == 404
    assert re.findall(r"<h1>(.*?)</h1>", missing.text) == ["This page does not exist."]
    assert 'role="alert"' not in missing.text  # the message is the heading, not said twice
    expired = client.post("/login", data={"email": "ann@example.org"})
    assert expired.status_code == 403
    assert re.findall(r"<h1>(.*?)</h1>", expired.text) == ["Please start again"]
    assert "Your form has expired. Please try again." in expired.text
    pages = [path for path in TEMPLATES.glob("*.html") if not path.name.startswith("_") and path.name != "base.html"]
    assert pages and [path.name for path in pages if "<h1" not in path.read_text()] == []
