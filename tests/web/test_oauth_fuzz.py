"""No request to the OAuth endpoints, however malformed, gets a 500."""

from __future__ import annotations

from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.web.conftest import ClientFactory
from tests.web.oauth_kit import register

FIELDS = [
    "grant_type", "code", "redirect_uri", "client_id", "client_secret", "refresh_token", "scope", "code_verifier",
    "token", "token_type_hint", "action", "nonce", "signature", "timestamp", "userid", "response_type", "state",
    "code_challenge", "code_challenge_method", "prompt", "max_age", "nonce",
]  # fmt: skip
VALUES = st.one_of(
    st.sampled_from(["authorization_code", "refresh_token", "password", "requesttoken", "revoke", "getnonce", "code",
                     "S256", "plain", "none", "login", "consent", "user.info,user.metrics", "openid", "-1", "0", ""]),
    st.text(max_size=80),
)  # fmt: skip
FORMS = st.lists(st.tuples(st.sampled_from(FIELDS), VALUES), max_size=12)


def test_oauth_endpoints_never_fail_with_a_500(make_client: ClientFactory) -> None:
    client: TestClient = make_client()
    partner = register(client.app.state.container)  # type: ignore[attr-defined]

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(form=FORMS, path=st.sampled_from(["/oauth2/token", "/v2/oauth2", "/v2/signature", "/oauth2/revoke",
                                             "/oauth2/introspect", "/oauth2/userinfo"]))  # fmt: skip
    def post(form: list[tuple[str, str]], path: str) -> None:
        fields = [(k, v.replace(partner.client_id[:1], partner.client_id) if k == "client_id" else v) for k, v in form]
        body = urlencode(fields).encode()
        answer = client.post(path, content=body, headers={"content-type": "application/x-www-form-urlencoded"})
        assert answer.status_code < 500, (path, fields, answer.text)

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(query=FORMS)
    def authorize(query: list[tuple[str, str]]) -> None:
        answer = client.get(
            "/oauth2/authorize", params=[*query, ("client_id", partner.client_id)], follow_redirects=False
        )
        assert answer.status_code < 500, (query, answer.text)

    post()
    authorize()


def test_values_authlib_cannot_quote_are_refused_cleanly(make_client: ClientFactory) -> None:
    client: TestClient = make_client()
    partner = register(client.app.state.container)  # type: ignore[attr-defined]
    page = client.get("/oauth2/authorize", params={"client_id": partner.client_id, "response_type": 'co"de'})
    assert page.status_code == 400 and "cannot be completed" in page.text
    for path in ("/oauth2/token", "/oauth2/revoke"):
        answer = client.post(path, data={"grant_type": "ref\\resh", "token": "x", "token_type_hint": "é"})
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"
