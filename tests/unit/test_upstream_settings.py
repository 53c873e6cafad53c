"""federation_providers and the other federation_* settings: the defaults of each kind, JSON in
the environment or tables in the TOML file, and a clear SettingsError naming the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import ECKey, RSAKey

from vitalkey.adapters.upstream.id_token import allowed_algorithms
from vitalkey.settings import SettingsError, UpstreamConfig, load_settings

APPLE_PEM = ECKey.generate_key("P-256", private=True).as_pem(private=True).decode()
GOOGLE = {"kind": "google", "client_id": "123.apps.googleusercontent.com", "client_secret": "GOCSPX-secret"}
APPLE = {
    "kind": "apple",
    "client_id": "com.example.vitalkey",
    "team_id": "TEAM1",
    "key_id": "KEY1",
    "private_key": APPLE_PEM,
}
ACME = {
    "id": "acme",
    "kind": "oidc",
    "display_name": "Acme SSO",
    "issuer": "https://sso.acme.example/realms/staff",
    "client_id": "vitalkey",
    "client_secret": "acme-secret",
    "scopes": "openid email",
    "logo_url": "https://sso.acme.example/logo.svg",
    "trusted_for_second_factor": True,
}


def providers(*entries: Any, **env: str) -> tuple[UpstreamConfig, ...]:
    environ = {"VITALKEY_FEDERATION_PROVIDERS": json.dumps(list(entries)), **env}
    return load_settings(environ=environ).federation_providers


def refusal(*entries: Any) -> str:
    with pytest.raises(SettingsError) as refused:
        providers(*entries)
    return str(refused.value)


def test_none_by_default() -> None:
    settings = load_settings(environ={})
    assert (settings.federation_providers, settings.federation_leeway_s, settings.federation_jwks_min_refetch_s) == (
        (),
        300,
        60,
    )


def test_each_kind_with_its_defaults() -> None:
    google, apple, acme = providers(GOOGLE, APPLE, ACME)
    assert google == UpstreamConfig(
        id="google",
        kind="google",
        display_name="Google",
        issuer="https://accounts.google.com",
        client_id="123.apps.googleusercontent.com",
        client_secret="GOCSPX-secret",
        scopes=("openid", "email", "profile"),
    )
    assert (apple.id, apple.display_name, apple.issuer, apple.scopes) == (
        "apple",
        "Apple",
        "https://appleid.apple.com",
        ("openid", "name", "email"),
    )
    assert apple.private_key == APPLE_PEM.strip()
    assert (acme.display_name, acme.issuer, acme.scopes, acme.logo_url, acme.trusted_for_second_factor) == (
        "Acme SSO",
        "https://sso.acme.example/realms/staff",
        ("openid", "email"),
        "https://sso.acme.example/logo.svg",
        True,
    )
    assert not google.trusted_for_second_factor
    assert "GOCSPX-secret" not in repr(google) and "PRIVATE KEY" not in repr(apple)  # secrets out of reprs


def test_from_the_toml_file(tmp_path: Path) -> None:
    key_file = tmp_path / "AuthKey_KEY1.p8"
    key_file.write_text(APPLE_PEM)
    config = tmp_path / "vitalkey.toml"
    config.write_text(
        "federation_leeway_s = 120\n"
        "[[federation_providers]]\n"
        'kind = "google"\nclient_id = "g"\nclient_secret = "s"\n'
        "[[federation_providers]]\n"
        f'kind = "apple"\nclient_id = "a"\nteam_id = "T"\nkey_id = "K"\nprivate_key = "{key_file}"\n'
    )
    settings = load_settings(str(config), environ={})
    assert [p.id for p in settings.federation_providers] == ["google", "apple"]
    assert settings.federation_providers[1].private_key == APPLE_PEM  # read from the file, as written
    assert settings.federation_leeway_s == 120


def test_a_loopback_issuer_may_be_plain_http() -> None:
    (local,) = providers({**ACME, "issuer": "http://127.0.0.1:8080"})
    assert local.issuer == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({**GOOGLE, "kind": "github"}, "federation_providers[0].kind: must be one of google, apple, oidc"),
        ({k: v for k, v in GOOGLE.items() if k != "client_id"}, "federation_providers[0] (google).client_id: required"),
        ({k: v for k, v in GOOGLE.items() if k != "client_secret"}, "(google).client_secret: required"),
        ({**GOOGLE, "client_secert": "typo"}, "federation_providers[0]: unknown keys client_secert"),
        ({k: v for k, v in ACME.items() if k != "issuer"}, "(acme).issuer: an https:// URL"),
        ({**ACME, "issuer": "http://sso.acme.example"}, "(acme).issuer: an https:// URL"),
        ({k: v for k, v in ACME.items() if k != "display_name"}, "(acme).display_name: 1 to 64 characters"),
        ({k: v for k, v in ACME.items() if k != "id"}, "federation_providers[0] (no id).id"),
        ({**ACME, "id": "Acme SSO"}, "(Acme SSO).id: 1 to 32 of a-z"),
        ({**ACME, "scopes": ["email"]}, "(acme).scopes: must include openid"),
        ({**ACME, "scopes": 7}, "(acme).scopes: expected a list"),
        ({**ACME, "logo_url": "http://sso.acme.example/logo.svg"}, "(acme).logo_url: must be an https:// URL"),
        ({**ACME, "trusted_for_second_factor": "yes"}, "(acme).trusted_for_second_factor: expected true or false"),
        ({k: v for k, v in APPLE.items() if k != "team_id"}, "(apple).team_id: required for Sign in with Apple"),
        ({**APPLE, "private_key": "/nowhere/AuthKey.p8"}, "(apple).private_key: cannot read the key file"),
        ({**APPLE, "private_key": "-----BEGIN PRIVATE KEY-----\nnonsense\n-----END PRIVATE KEY-----"}, "not a PEM"),
        (
            {**APPLE, "private_key": RSAKey.generate_key(2048, private=True).as_pem(private=True).decode()},
            "(apple).private_key: Sign in with Apple needs an ES256 (P-256) key",
        ),
        ("google", "federation_providers[0]: expected an object"),
    ],
)
def test_a_wrong_provider_stops_the_start_naming_the_field(entry: Any, message: str) -> None:
    assert message in refusal(entry)


def test_ids_are_unique() -> None:
    assert "the id 'google' is used twice" in refusal(GOOGLE, GOOGLE)


def test_json_that_is_not_a_list() -> None:
    with pytest.raises(SettingsError, match="federation_providers: not valid JSON"):
        load_settings(environ={"VITALKEY_FEDERATION_PROVIDERS": "[{"})
    with pytest.raises(SettingsError, match="federation_providers: expected a list"):
        load_settings(environ={"VITALKEY_FEDERATION_PROVIDERS": '{"kind": "google"}'})


@pytest.mark.parametrize(
    ("name", "value"),
    [("federation_leeway_s", "601"), ("federation_leeway_s", "-1"), ("federation_jwks_min_refetch_s", "0")],
)
def test_the_timings_have_bounds(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings(environ={f"VITALKEY_{name.upper()}": value})


@pytest.mark.parametrize(
    ("advertised", "allowed"),
    [
        (["RS256", "HS256", "none"], {"RS256"}),
        (["ES256", "PS256", "EdDSA", "HS512"], {"ES256", "PS256", "EdDSA"}),
        (None, {"RS256"}),  # the specification's default
        (["HS256", "none"], set()),
        ("RS256", {"RS256"}),
    ],
)
def test_id_tokens_algorithms_are_asymmetric_only(advertised: object, allowed: set[str]) -> None:
    assert allowed_algorithms(advertised) == allowed
