"""The portal's settings: VITALKEY_PORTAL_* over a TOML file over the defaults; providers from
[[providers]] tables; clear errors naming the field; a secret key made once."""

from __future__ import annotations

from pathlib import Path

import pytest

from vitalkey_portal.providers import Provider, ProviderKind, Revocation
from vitalkey_portal.settings import SettingsError, load_settings

TOML = """
brand = "Health2Go"
port = 8200
first_sync_days = 30

[[providers]]
slug = "vitalkey"
name = "WITHINGS"
logo = "/static/withings.svg"
authorize_url = "https://id.example.org/oauth2_user/authorize2"
api_url = "https://id.example.org/"
client_id = "abc"
client_secret = "s3cret"
scopes = ["user.info", "user.metrics", "user.activity"]
signs_notifications = true

[[providers]]
slug = "other"
name = "Other"
authorize_url = "https://other.example.com/authorize"
api_url = "https://api.other.example.com"
client_id = "x"
client_secret = "y"
requests_per_minute = 60
revocation = "rfc7009"
revocation_url = "https://other.example.com/revoke"
"""


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "portal.toml"
    path.write_text(text)
    return str(path)


def test_the_environment_wins_over_the_file_and_providers_come_from_it(tmp_path: Path) -> None:
    config = write(tmp_path, TOML)
    settings = load_settings(
        environ={
            "VITALKEY_PORTAL_CONFIG": config,
            "VITALKEY_PORTAL_PORT": "8300",
            "VITALKEY_PORTAL_DATA_DIR": str(tmp_path / "data"),
            "VITALKEY_PORTAL_RUN_WORKER": "false",
        }
    )
    assert (settings.port, settings.first_sync_days, settings.run_worker) == (8300, 30, False)
    assert settings.public_url == "http://127.0.0.1:8300"
    assert settings.database_url == f"sqlite:///{tmp_path / 'data' / 'portal.sqlite3'}"
    first, second = settings.providers
    assert first == Provider(
        slug="vitalkey", name="WITHINGS", logo="/static/withings.svg", kind=ProviderKind.WITHINGS,
        authorize_url="https://id.example.org/oauth2_user/authorize2", api_url="https://id.example.org",
        client_id="abc", client_secret="s3cret", signs_notifications=True,
    )  # fmt: skip
    assert (second.requests_per_minute, second.revocation, second.signs_notifications) == (
        60,
        Revocation.RFC7009,
        False,
    )


def test_a_secret_key_is_made_once_in_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    first = load_settings(environ={"VITALKEY_PORTAL_DATA_DIR": "rel-data"})
    assert first.data_dir == str(tmp_path / "rel-data")  # made absolute
    assert len(first.secret_key) >= 32
    assert (tmp_path / "rel-data" / "secret.key").stat().st_mode & 0o777 == 0o600
    assert load_settings(environ={"VITALKEY_PORTAL_DATA_DIR": "rel-data"}).secret_key == first.secret_key


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"VITALKEY_PORTAL_PORT": "eighty"}, "port"),
        ({"VITALKEY_PORTAL_PORT": "70000"}, "port"),
        ({"VITALKEY_PORTAL_FIRST_SYNC_DAYS": "0"}, "first_sync_days"),
        ({"VITALKEY_PORTAL_POLL_INTERVAL_S": "5"}, "poll_interval_s"),
        ({"VITALKEY_PORTAL_TIMEZONE": "Mars/Olympus"}, "timezone"),
        ({"VITALKEY_PORTAL_PUBLIC_URL": "ftp://portal"}, "public_url"),
        ({"VITALKEY_PORTAL_DATABASE_URL": "mysql://x"}, "database_url"),
        ({"VITALKEY_PORTAL_LOGIN_FAILURES": "five"}, "login_failures"),
        ({"VITALKEY_PORTAL_DEV_MODE": "maybe"}, "dev_mode"),
        ({"VITALKEY_PORTAL_SECRET_KEY": "short"}, "secret_key"),
    ],
)
def test_a_bad_value_is_refused_naming_its_field(tmp_path: Path, environ: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(environ={"VITALKEY_PORTAL_DATA_DIR": str(tmp_path), **environ})


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ('slug = "vitalkey"', "slug"),
        ('api_url = "https://id.example.org/"', "api_url"),
        ('client_secret = "s3cret"', "client_secret"),
        ('scopes = ["user.info", "user.metrics", "user.activity"]', "scopes"),
        ("signs_notifications = true", "signs_notifications"),
    ],
)
def test_a_bad_provider_is_refused_naming_its_field(tmp_path: Path, change: str, named: str) -> None:
    broken = {
        "slug": 'slug = "Vital Key"',
        "api_url": 'api_url = "not a url"',
        "client_secret": 'client_secret = ""',
        "scopes": "scopes = []",
        "signs_notifications": 'signs_notifications = "yes"',
    }
    replacement = broken.get(named, "")
    text = TOML.replace(change, replacement, 1)
    with pytest.raises(SettingsError, match=named):
        load_settings(environ={"VITALKEY_PORTAL_DATA_DIR": str(tmp_path)}, config_file=write(tmp_path, text))


def test_twice_the_same_slug_an_unknown_field_and_a_missing_file_are_refused(tmp_path: Path) -> None:
    twice = TOML.replace('slug = "other"', 'slug = "vitalkey"')
    with pytest.raises(SettingsError, match="'vitalkey' is used twice"):
        load_settings(environ={"VITALKEY_PORTAL_DATA_DIR": str(tmp_path)}, config_file=write(tmp_path, twice))
    typo = TOML.replace('client_id = "x"', 'client_id = "x"\nclient_secert = "y"')
    with pytest.raises(SettingsError, match="client_secert"):
        load_settings(environ={"VITALKEY_PORTAL_DATA_DIR": str(tmp_path)}, config_file=write(tmp_path, typo))
    rfc = TOML.replace('revocation_url = "https://other.example.com/revoke"', "")
    with pytest.raises(SettingsError, match="revocation_url"):
        load_settings(environ={"VITALKEY_PORTAL_DATA_DIR": str(tmp_path)}, config_file=write(tmp_path, rfc))
    with pytest.raises(SettingsError, match="cannot read the config file"):
        load_settings(environ={"VITALKEY_PORTAL_CONFIG": str(tmp_path / "missing.toml")})
    with pytest.raises(SettingsError, match="unknown setting 'prot'"):
        load_settings(environ={"VITALKEY_PORTAL_DATA_DIR": str(tmp_path)}, prot=1)
