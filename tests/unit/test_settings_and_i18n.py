from pathlib import Path

import pytest

from vitalkey.i18n import LANGUAGES, negotiate, supported, translations
from vitalkey.settings import SettingsError, load_settings, parse_limit


def test_environment_beats_toml_beats_defaults(tmp_path: Path) -> None:
    config = tmp_path / "vk.toml"
    config.write_text('brand = "Acme"\nport = 9000\n')
    settings = load_settings(str(config), environ={"VITALKEY_PORT": "9100", "VITALKEY_DEV_MODE": "yes"})
    assert settings.brand == "Acme" and settings.port == 9100 and settings.dev_mode is True
    assert settings.public_url == "http://127.0.0.1:9100"
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    "environ",
    [
        {"VITALKEY_PORT": "eighty"},
        {"VITALKEY_SMTP_SECURITY": "ssl3"},
        {"VITALKEY_MAIL_LIMIT_PER_IP": "many"},
        {"VITALKEY_DEV_MODE": "false"},
        {"VITALKEY_DEV_MODE": "maybe"},
        {"VITALKEY_HOST": "0.0.0.0"},  # dev mode (the outbox shows every code) only on this machine
        {"VITALKEY_PUBLIC_URL": "https://id.example.org"},
        {"VITALKEY_WORKERS": "0"},
        {"VITALKEY_RELAY_BATCH": "0"},
        {"VITALKEY_CODE_MAX_RESENDS": "-1"},
        {"VITALKEY_SESSION_IDLE_S": "0"},
        {"VITALKEY_MAX_BODY_BYTES": "10"},
    ],
)
def test_bad_settings_are_refused_with_a_reason(environ: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        load_settings(environ=environ)


def test_unknown_toml_keys_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "vk.toml"
    config.write_text("prot = 1\n")
    with pytest.raises(SettingsError, match="prot"):
        load_settings(str(config), environ={})


def test_parse_limit() -> None:
    assert parse_limit("10/3600") == (10, 3600)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("de-DE,de;q=0.9", "de"),
        ("fr-CA", "fr"),
        ("ja", "ja"),
        ("zh-CN,zh;q=0.9", "zh-Hans"),
        ("es, fr;q=0.5", "fr"),
        ("en;q=0.2, ja;q=0.8", "ja"),
        ("xx", "en"),
        ("de;q=0", "en"),
        ("de;q=abc, fr", "fr"),
    ],
)
def test_accept_language(header: str | None, expected: str) -> None:
    assert negotiate(header) == expected


def test_supported_tags() -> None:
    assert supported("zh_Hans") == "zh-Hans" and supported("de-AT") == "de" and supported("tlh") is None


def test_every_language_translates_the_sign_in_title() -> None:
    titles = {lang: translations(lang).gettext("Sign in") for lang in LANGUAGES}
    assert titles["en"] == "Sign in"
    assert len(set(titles.values())) == len(LANGUAGES)


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"dev_mode": "false", "smtp_host": "mail.example.org"}, "sms_provider_url is required outside dev mode"),
        ({"sms_provider_url": "https://api.twilio.com"}, "needs sms_account_sid"),
        (
            {"sms_fallback_url": "https://fallback.example", "sms_fallback_account_sid": "AC1"},
            "needs sms_fallback_account_sid, sms_fallback_auth_token and sms_fallback_from",
        ),
        ({"sms_limit_per_range": "lots"}, "count/seconds"),
        ({"sms_daily_cap": "0"}, "sms_daily_cap must be at least 1"),
        ({"admin_token": "short"}, "at least 32 characters"),
        ({"reauth_window_s": "5"}, "reauth_window_s must be at least 60"),
    ],
)
def test_two_factor_settings_are_checked(values: dict[str, str], reason: str) -> None:
    environ = {f"VITALKEY_{name.upper()}": value for name, value in values.items()}
    with pytest.raises(SettingsError, match=reason):
        load_settings(environ=environ)


PRODUCTION = {"dev_mode": "false", "smtp_host": "mail.example.org", "sms_provider_url": "https://sms.example",
              "sms_account_sid": "AC1", "sms_auth_token": "t", "sms_from": "+15550100"}  # fmt: skip


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({**PRODUCTION, "notify_allow_http": "true"}, "refused outside dev mode"),
        ({**PRODUCTION, "notify_allow_local": "true"}, "refused outside dev mode"),
        ({"notify_timeout_s": "0"}, "notify_timeout_s must be more than 0"),
        ({"notify_timeout_s": "31"}, "at most 30"),
        ({"notify_coalesce_s": "-1"}, "notify_coalesce_s must be from 0 to 3600"),
        ({"notify_coalesce_s": "3601"}, "notify_coalesce_s must be from 0 to 3600"),
        ({"export_inline_limit": "-1"}, "export_inline_limit must be from 0 to 1000000"),
        ({"export_link_ttl_s": "59"}, "export_link_ttl_s must be from 60 to 604800"),
        ({"export_link_ttl_s": "604801"}, "export_link_ttl_s must be from 60 to 604800"),
    ],
)
def test_notification_settings_are_checked(values: dict[str, str], reason: str) -> None:
    environ = {f"VITALKEY_{name.upper()}": value for name, value in values.items()}
    with pytest.raises(SettingsError, match=reason):
        load_settings(environ=environ)
    production = load_settings(environ={f"VITALKEY_{name.upper()}": value for name, value in PRODUCTION.items()})
    assert not production.notify_allow_http and not production.notify_allow_local


def test_sms_regions_are_read_as_a_list() -> None:
    settings = load_settings(environ={"VITALKEY_SMS_REGIONS": "FR, DE,US"})
    assert settings.sms_regions == ("FR", "DE", "US")


@pytest.mark.parametrize(
    ("value", "link"),
    [
        ("", "mailto:no-reply@vitalkey.localhost"),  # the default: mail_from's address
        ("https://help.example.com/contact?from=vitalkey", "https://help.example.com/contact?from=vitalkey"),
        ("mailto:help@example.com", "mailto:help@example.com"),
        ("help@example.com", "mailto:help@example.com"),
    ],
)
def test_support_url_becomes_the_contact_link(value: str, link: str) -> None:
    assert load_settings(environ={"VITALKEY_SUPPORT_URL": value}).support_href == link


@pytest.mark.parametrize(
    "value", ["javascript:alert(1)", "http://help.example.com", "https://", "help@", "mailto:a b@example.com", "/help"]
)
def test_support_url_must_be_a_safe_link(value: str) -> None:
    with pytest.raises(SettingsError, match="support_url"):
        load_settings(environ={"VITALKEY_SUPPORT_URL": value})
