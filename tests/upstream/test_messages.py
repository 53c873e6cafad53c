"""An upstream refusal's message: by reason, translated, naming the provider."""

from __future__ import annotations

import pytest

from vitalkey.domain.errors import UpstreamRefused
from vitalkey.web.render import translate


@pytest.mark.parametrize(
    ("lang", "reason", "text"),
    [
        ("en", "wrong_nonce", "Signing in with Acme SSO did not work: its answer could not be verified."),
        ("de", "expired", "Die Anmeldung mit Acme SSO hat nicht funktioniert"),
        ("fr", "token_exchange_failed", "Acme SSO n’a pas terminé la connexion."),
        ("ja", "unavailable", "現在 Acme SSO に接続できません。"),
        ("zh-Hans", "bad_state", "此登录已过期或已被使用。"),
    ],
)
def test_the_message_names_the_provider_in_the_users_language(lang: str, reason: str, text: str) -> None:
    refused = UpstreamRefused(reason, provider="Acme SSO")
    assert (refused.code, refused.reason) == ("upstream_refused", reason)
    assert text in translate(lang, refused)
