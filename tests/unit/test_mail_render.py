"""Mails: subject, text and HTML from templates; what comes from outside is escaped in HTML."""

from vitalkey.adapters.mail.render import MailRenderer


def test_html_part_escapes_brand_name_and_code() -> None:
    renderer = MailRenderer("<b>Acme</b>", "Acme <no-reply@acme.example>", "https://id.acme.example")
    mail = renderer.render(
        "login_code", "en", "ann@example.org", {"code": "<i>1</i>", "minutes": 10, "first_name": "<script>"}, "k1"
    )
    assert "<b>Acme</b>" not in mail.html and "&lt;b&gt;Acme&lt;/b&gt;" in mail.html
    assert "<i>1</i>" not in mail.html and "<script>" not in mail.html
    assert "<script>" in mail.text  # the text part is plain text: nothing to escape


def test_every_language_renders_every_mail() -> None:
    renderer = MailRenderer("VitalKey", "VitalKey <no-reply@vitalkey.example>", "http://127.0.0.1:8000")
    context = {
        "code": "123456",
        "minutes": 10,
        "first_name": "Ann",
        "login_url": "http://x/login",
        "signup_url": "http://x/signup",
    }
    for language in ("en", "de", "fr", "ja", "zh-Hans"):
        subjects = set()
        for template in ("signup_code", "signup_exists", "login_code", "login_unknown"):
            mail = renderer.render(template, language, "ann@example.org", context, f"{template}:{language}")
            assert mail.subject and mail.text.strip() and mail.html.startswith("<!doctype html>")
            subjects.add(mail.subject)
        assert len(subjects) == 4


def test_smtp_envelope_uses_the_ascii_form_of_international_domains() -> None:
    from vitalkey.adapters.mail.senders import ascii_domain

    assert ascii_domain("ann@bücher.example") == "ann@xn--bcher-kva.example"
    assert ascii_domain("ann@example.org") == "ann@example.org"


def test_second_factor_changes_name_the_method_in_each_language() -> None:
    renderer = MailRenderer("VitalKey", "VitalKey <no-reply@vitalkey.example>", "http://127.0.0.1:8000")
    base = {"when": "2026-12-01 10:00 UTC", "first_name": "Ann"}
    cases = [
        ({"event": "enabled", "method": "totp", "method_label": "Authenticator app"}, "Authenticator-App"),
        ({"event": "method_added", "method": "passkey", "method_label": "Passkey", "name": "<Laptop>"}, "Passkey"),
        ({"event": "method_removed", "method": "sms", "method_label": "Text message"}, "SMS"),
        ({"event": "default_changed", "method": "totp", "method_label": "Authenticator app"}, "Authenticator-App"),
    ]
    for details, german in cases:
        english = renderer.render("two_factor_changed", "en", "ann@example.org", {**base, **details}, "k")
        assert details["method_label"] in english.text, english.text
        deutsch = renderer.render("two_factor_changed", "de", "ann@example.org", {**base, **details}, "k")
        assert german in deutsch.text and details["method_label"] not in deutsch.text.replace("Passkey", ""), (
            deutsch.text
        )
    added = renderer.render("two_factor_changed", "en", "ann@example.org", {**base, **cases[1][0]}, "k")
    assert "(<Laptop>)" in added.text and "&lt;Laptop&gt;" in added.html and "<Laptop>" not in added.html
    sms_on = renderer.render(
        "two_factor_changed", "en", "ann@example.org", {**base, "event": "enabled", "phone": "+33 •••• 78"}, "k"
    )
    assert "text message to +33 •••• 78" in sms_on.text
