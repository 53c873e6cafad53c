"""The ID token checks against a real provider (the Google-like oidc-provider): each refusal has
its reason, counted per provider and reason, with the provider's name in its message, and no
token or code in the log.

Tokens that expired or were issued in the future are really issued by oidc-provider, its clock
shifted by the test. Tokens with alg "none", HS256 keyed by the public key, another audience or
issuer, or a forged body come from the test's tampering at the provider's token endpoint
(tests/upstream_provider.py): oidc-provider never makes such tokens itself."""

from __future__ import annotations

import json

import pytest

from tests.upstream.conftest import authorize, finish, refusals, sign_in, upstream_for
from tests.upstream_provider import OidcServer
from vitalkey.domain.errors import UpstreamRefused
from vitalkey.observability import configure_logging
from vitalkey.ports import UpstreamStart


def refused_reason(server: OidcServer, login: str = "ada", **entry: str) -> str:
    upstream = upstream_for(server, **entry)
    with pytest.raises(UpstreamRefused) as refused:
        sign_in(server, upstream, login)
    reason = refused.value.reason
    assert refused.value.code == "upstream_refused"
    assert refused.value.params == {"provider": upstream.display_name, "reason": reason}
    return reason


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("none", "alg_not_allowed"),
        ("hs256_public_key", "alg_not_allowed"),
        ("forged", "bad_signature"),
        ("wrong_audience", "wrong_audience"),
        ("several_audiences", "wrong_audience"),  # and no azp naming us
        ("wrong_issuer", "wrong_issuer"),
    ],
)
def test_a_tampered_id_token_is_refused(google_controls: OidcServer, tamper: str, reason: str) -> None:
    google_controls.control(tamper=tamper)
    before = refusals("google", reason)
    assert refused_reason(google_controls) == reason
    assert refusals("google", reason) == before + 1


def test_an_id_token_signed_hs256_by_the_provider_is_refused(google_controls: OidcServer) -> None:
    """oidc-provider signs this client's ID tokens with HS256 (keyed by the client secret), and
    advertises HS256 in its discovery: still never accepted."""
    assert refused_reason(google_controls, client_id="hs256-client") == "alg_not_allowed"


def test_a_token_without_kid_is_checked_with_the_only_published_key(google_controls: OidcServer) -> None:
    google_controls.control(tamper="no_kid")
    assert sign_in(google_controls, upstream_for(google_controls), "ada").subject == "ada"


def test_an_expired_id_token_is_refused(google_controls: OidcServer) -> None:
    google_controls.control(skew_s=-900, id_token_ttl_s=60)  # expired 14 minutes ago
    assert refused_reason(google_controls) == "expired"


def test_expiry_has_the_leeway(google_controls: OidcServer) -> None:
    google_controls.control(skew_s=-200, id_token_ttl_s=60)  # expired 2 minutes 20 ago: within 5 minutes
    assert sign_in(google_controls, upstream_for(google_controls), "ada").subject == "ada"


def test_an_id_token_issued_six_minutes_ahead_is_refused(google_controls: OidcServer) -> None:
    google_controls.control(skew_s=360)
    assert refused_reason(google_controls) == "issued_in_future"


def test_four_minutes_ahead_is_within_the_leeway(google_controls: OidcServer) -> None:
    google_controls.control(skew_s=240)
    assert sign_in(google_controls, upstream_for(google_controls), "ada").subject == "ada"


def test_a_smaller_leeway_is_honoured(google_controls: OidcServer) -> None:
    google_controls.control(skew_s=90)
    upstream = upstream_for(google_controls, settings={"VITALKEY_FEDERATION_LEEWAY_S": "60"})
    with pytest.raises(UpstreamRefused) as refused:
        sign_in(google_controls, upstream, "ada")
    assert refused.value.reason == "issued_in_future"


def test_an_id_token_for_another_nonce_is_refused(google_server: OidcServer) -> None:
    """A code from another authorization (its ID token carries that one's nonce)."""
    upstream = upstream_for(google_server)
    attempt = authorize(google_server, upstream, "ada")
    other = UpstreamStart(attempt.start.url, attempt.start.state, "another-nonce", attempt.start.code_verifier)
    before = refusals("google", "wrong_nonce")
    with pytest.raises(UpstreamRefused) as refused:
        finish(upstream, attempt, expected=other)
    assert refused.value.reason == "wrong_nonce"
    assert refusals("google", "wrong_nonce") == before + 1


def test_a_refusal_is_logged_without_token_or_code(
    google_server: OidcServer, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("info", json=True)  # on the captured stderr
    upstream = upstream_for(google_server)
    attempt = authorize(google_server, upstream, "ada")
    other = UpstreamStart(attempt.start.url, attempt.start.state, "another-nonce", attempt.start.code_verifier)
    with pytest.raises(UpstreamRefused):
        finish(upstream, attempt, expected=other)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    (line,) = [line for line in lines if line.get("event") == "upstream_refused"]
    assert (line["provider"], line["reason"], line["level"]) == ("google", "wrong_nonce", "warning")
    text = json.dumps(lines)
    for secret in (
        attempt.answer["code"],
        attempt.start.code_verifier,
        attempt.start.nonce,
        google_server.client_secret,
    ):
        assert secret not in text
